"""The one training loop, wherever a run's worker is: in this process (``chromasweep train
--in-process``), in a Tune trial (one-worker sweep trials), or in a Ray Train worker.

``run_worker`` resumes from the run's latest checkpoint (a divergence marker is reported again
instead of retrained; a run that already finished reports its result again), trains with
colorize_core's ``Trainer``, and hands every report to the epoch-end protocol (``epoch_end``).
What differs between places is only the ``Session``: its rank, its run's ``CheckpointStore``, and who
hears the reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from colorize_core.config import TrainConfig
from colorize_core.model_files import MODEL_DIR
from colorize_core.report import EpochReport
from colorize_core.status import RunStatus
from costs.meter import CostMeter
from runner.checkpoint_store import CheckpointStore
from runner.epoch_end import EpochEnd, Session, deliver_from_store, report_diverged
from runner.run_folder import DIVERGED_MARKER, HISTORY_FILE, METRICS_FILE

if TYPE_CHECKING:
    from colorize_core.training.warm import WarmCache
    from tracking.trial_run import TrackingContext


def run_worker(
    config: TrainConfig,
    tracking: TrackingContext | None,
    session: Session,
    progress: bool = False,
    warm: WarmCache | None = None,
    usd_per_hour: float | None = None,
) -> dict:
    """Train ``config``; returns the last metrics reported (``diverged`` set if so). ``tracking``
    makes rank 0 log an MLflow run; ``warm``: the process's compiled steps, when it runs many;
    ``usd_per_hour``: the whole run's price (a sweep trial's), which adds ``cost_usd`` to each report."""
    import tensorflow as tf

    meter = CostMeter(usd_per_hour) if usd_per_hour is not None else None  # from here: set-up costs too

    rank, world = session.rank, session.world
    # The strategy comes first: it must configure TensorFlow's runtime before anything starts it.
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if world > 1 else tf.distribute.get_strategy()

    from colorize_core.training.trainer import prepare_trainer

    delivery = _open_tracking(tracking, config, session.store) if rank == 0 else None
    with session.store.latest() as found:
        marker = Path(found[0]) / DIVERGED_MARKER if found else None
        if marker and marker.is_file():  # the run already diverged: say so again rather than retrain
            metrics = json.loads(marker.read_text())
            _deliver_end(delivery, session, RunStatus.DIVERGED)
            session.notify(metrics)
            return metrics
        trainer = prepare_trainer(config, strategy, worker_index=rank, progress=progress, warm=warm)
        final_step = config.epochs * trainer.steps_per_epoch
        resumed_from, last_metrics, history = 0, None, []
        if found:
            resumed_from = trainer.restore_checkpoint(found[0])
            last_metrics = _read_json(Path(found[0]) / METRICS_FILE)
            history = _read_json(Path(found[0]) / HISTORY_FILE) or []
            print(f"[rank {rank}] resumed from checkpoint {found[1]} at step {resumed_from}", flush=True)
            finished_model = Path(found[0]) / MODEL_DIR
            if rank == 0 and finished_model.is_dir() and session.store.model_location() is None:
                session.store.publish_model(str(finished_model))  # killed between keeping and publishing
        else:
            print(f"[rank {rank}] starting from scratch ({world} workers)", flush=True)
    if resumed_from >= final_step and last_metrics:
        # Finished before its driver was lost (the sweep driver was killed after the last
        # checkpoint): report the final result again, so whoever waits on it hears it; MLflow gets
        # whatever it missed (killed between the checkpoint and the delivery).
        if delivery:
            deliver_from_store(delivery, session.store, trainer, RunStatus.FINISHED)
        session.notify(last_metrics)
        return last_metrics

    if meter and last_metrics:
        meter.spent = EpochReport.read(last_metrics).cost_usd or 0.0  # what the attempts before this one spent
    epoch_end = EpochEnd(session, trainer, config, delivery, resumed_from, history, meter=meter)
    result = trainer.fit(epoch_end)
    if result.status is RunStatus.DIVERGED:
        # Every worker sees the same all-reduced losses, so all of them report this once.
        metrics = EpochReport.divergence(result.step, result.message).as_dict()
        report_diverged(session, metrics)
        _deliver_end(delivery, session, RunStatus.DIVERGED)
        return metrics
    return epoch_end.last


def _open_tracking(tracking: TrackingContext | None, config: TrainConfig, store: CheckpointStore):
    """Rank 0's delivery to its MLflow run, when the launcher asked for tracking (a sweep, or train
    with a store); where the run is tracked is written to its store first, for ``chromasweep sync``."""
    if tracking is None:
        return None
    from runner.run_record import write_address
    from tracking.delivery import Delivery
    from tracking.trial_run import TrialRun

    tree = config.model_dump(mode="json")
    write_address(store, tracking, config.name, tree)
    return Delivery(TrialRun(tracking, config.name, tree))


def _deliver_end(delivery, session: Session, status: RunStatus) -> None:
    if delivery:
        from runner.run_record import durable, write_status

        write_status(session.store, status)
        delivery.deliver(durable(session.store, status), force=True)


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


@dataclass
class RunResult:
    """How a run ended, read back from its store: the same for every way it was trained."""

    status: RunStatus  # FINISHED or DIVERGED (or ERROR, with ``error``)
    metrics: dict  # the last metrics reported
    history: list[dict]  # every epoch's metrics, oldest first
    checkpoint_path: str | None
    model_path: str | None
    seconds: float
    error: str | None = None


def read_result(store: CheckpointStore, seconds: float, error: str | None = None) -> RunResult:
    names = store.complete()
    latest = names[-1] if names else None
    metrics = history = None
    if latest:  # only its small files: a full-size checkpoint in a bucket is hundreds of MB
        metrics = store.read_json(f"{latest}/{METRICS_FILE}") or store.read_json(f"{latest}/{DIVERGED_MARKER}")
        history = store.read_json(f"{latest}/{HISTORY_FILE}")
    metrics, history = metrics or {}, history or []
    if error:
        status = RunStatus.ERROR
    else:
        status = RunStatus.DIVERGED if EpochReport.read(metrics).diverged else RunStatus.FINISHED
    location = store.location(latest) if latest else None
    return RunResult(status, metrics, history, location, store.model_location(), seconds, error)
