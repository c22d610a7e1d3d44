"""The training loop Ray runs for one worker: in a Ray Train worker, or in a Tune trial itself.

``run_worker`` is the same loop in both places: resume from the latest checkpoint (or from a
divergence marker, which is reported again instead of retrained), train with colorize_core's
``Trainer``, and at every epoch end log to MLflow (rank 0), checkpoint, and report. What differs is
the ``Session``: where checkpoints are kept and who hears the reports (``ray_train.TrainSession``:
Ray Train; ``in_trial.TuneSession``: Tune, for single-worker trials that need no worker group).
"""

from __future__ import annotations

import json
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from colorize_core.config import TrainConfig

DIVERGED_MARKER = "DIVERGED.json"
METRICS_FILE = "metrics.json"  # the reported metrics, kept with the checkpoint they belong to


class Session(Protocol):
    rank: int
    world: int

    def latest_checkpoint(self) -> AbstractContextManager[tuple[str, str] | None]:
        """The checkpoint to resume from, as (local directory, where it is kept), or None."""

    def report(self, metrics: dict, directory: str | None = None, name: str | None = None) -> None:
        """Report ``metrics``; with ``directory``, the checkpoint ``name`` they belong to."""


def run_worker(loop_config: dict, session: Session) -> dict:
    """Train ``loop_config["config"]``; returns the last metrics reported (``diverged`` set if so)."""
    import tensorflow as tf

    rank, world = session.rank, session.world
    # The strategy comes first: it must configure TensorFlow's runtime before anything starts it.
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if world > 1 else tf.distribute.get_strategy()

    from colorize_core.trainer import Report, Trainer

    config = TrainConfig.model_validate(loop_config["config"])
    run = _open_tracking(loop_config, config) if rank == 0 else None
    with session.latest_checkpoint() as found:
        marker = Path(found[0]) / DIVERGED_MARKER if found else None
        if marker and marker.is_file():  # the run already diverged: say so again rather than retrain
            metrics = json.loads(marker.read_text())
            _report_diverged(session, metrics)
            if run:
                run.finish("diverged")
            return metrics
        trainer = Trainer(config, strategy, worker_index=rank, progress=False)
        final_step = config.epochs * trainer.steps_per_epoch
        resumed_from, last_metrics = 0, None
        if found:
            resumed_from = trainer.restore_checkpoint(found[0])
            last_metrics = _read_json(Path(found[0]) / METRICS_FILE)
            print(f"[rank {rank}] resumed from checkpoint {found[1]} at step {resumed_from}", flush=True)
        else:
            print(f"[rank {rank}] starting from scratch ({world} workers)", flush=True)
    if resumed_from >= final_step and last_metrics:
        # Finished before its driver was lost (the sweep driver was killed after the last
        # checkpoint): report the final result again, so whoever waits on it hears it.
        if run and not run.has_model():  # killed between the checkpoint and the MLflow log
            _log_epoch(run, trainer, config, last_metrics, final=True)
        session.report(last_metrics)
        return last_metrics

    reported: dict = {}

    def on_report(report: Report) -> None:
        final = report.epoch_end and report.epoch == config.epochs
        metrics = {
            **report.metrics,
            "step": report.step,
            "epoch": report.epoch,
            "diverged": 0,
            # Where this attempt started: after a failure, the checkpoint it resumed from.
            "resumed_from_step": resumed_from,
            "workers": world,
        }
        if run and report.epoch_end:
            # Before the report: once Tune hears it, ASHA may stop this trial at any moment. A crash
            # between here and the checkpoint re-runs the epoch and logs its step again.
            _log_epoch(run, trainer, config, metrics, final)
        with tempfile.TemporaryDirectory() as directory:
            # Every worker writes (a collective under MultiWorkerMirroredStrategy); rank 0's is kept.
            trainer.save_checkpoint(directory)
            if rank == 0:
                (Path(directory) / METRICS_FILE).write_text(json.dumps(metrics))
            if final and rank == 0:
                trainer.export(Path(directory) / "model")
            session.report(metrics, directory, f"checkpoint_step_{report.step:08d}")
        reported.clear()
        reported.update(metrics)

    result = trainer.fit(on_report)
    if result.status == "diverged":
        # Every worker sees the same all-reduced losses, so all of them report this once.
        metrics = {"step": result.step, "diverged": 1, "message": result.message}
        _report_diverged(session, metrics)
        if run:
            run.finish("diverged")
        return metrics
    return reported


def _open_tracking(loop_config: dict, config: TrainConfig):
    """Rank 0's MLflow run, when the launcher asked for tracking (a sweep, or train with a store)."""
    if not loop_config.get("tracking"):
        return None
    from tracking.trial_run import TrackingContext, TrialRun

    return TrialRun(TrackingContext.model_validate(loop_config["tracking"]), config.name, config.model_dump())


def _log_epoch(run, trainer, config: TrainConfig, metrics: dict, final: bool) -> None:
    epoch = int(metrics["epoch"])
    run.log_epoch(epoch, metrics)
    if run.wants_samples(epoch, config.epochs):
        run.log_samples(epoch, trainer.sample_grid(run.context.sample_images))
    if final:
        run.log_model(trainer.gan.generator, trainer.model_info(), epoch)
        run.finish("finished")


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _report_diverged(session: Session, metrics: dict) -> None:
    """Report divergence with a marker checkpoint: a run's result carries the metrics of its latest
    checkpoint, and a restarted or re-run job finds the marker instead of retraining into NaNs."""
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / DIVERGED_MARKER).write_text(json.dumps(metrics))
        session.report(metrics, directory, f"checkpoint_diverged_step_{metrics['step']:08d}")
