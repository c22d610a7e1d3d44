"""Single-worker sweep trials train in the Tune trial's own process.

A trial of one worker gains nothing from a nested Ray Train run but its start-up: a controller
actor and a worker actor, each importing TensorFlow, 17 s per trial of the demo sweep against 1 s
here, for trials that train 15-25 s (``benchmarks/RESULTS.md``, section 4). Here the trial runs the same loop
(``worker_loop.run_worker``) itself, with the trial's CPUs and GPUs reserved for it; the sweep
reuses trial actors, so TensorFlow is imported once per actor, not three times per trial.

What Ray Train did for these trials is done here: checkpoints in ``storage/<trial>`` (a
``CheckpointStore``), resuming from the latest after a crash (Tune retries the trial) or a killed
sweep (``Tuner.restore``), and the same reports, MLflow run and published model.
"""

from __future__ import annotations

from ray import tune

from colorize_core.config import TrainConfig
from sweeps.checkpoint_store import CheckpointStore
from sweeps.worker_loop import run_worker


class TuneSession:
    """``worker_loop.Session`` in a Tune trial: one worker, checkpoints in a ``CheckpointStore``."""

    rank, world = 0, 1

    def __init__(self, store: CheckpointStore):
        self.store = store

    def latest_checkpoint(self):
        return self.store.latest()

    def report(self, metrics: dict, directory: str | None = None, name: str | None = None) -> None:
        if directory:
            self.store.save(directory, name)
        # Tune and Optuna learn of a divergence from the trial's error (TrialDiverged): a report
        # without the objective would only confuse the searcher.
        if not metrics.get("diverged"):
            tune.report(metrics)


def train_in_trial(config: TrainConfig, storage: str, tracking: dict | None, keep_checkpoints: int) -> tuple[dict, str | None]:
    """Train ``config`` here, resuming from its checkpoints under ``storage/<config.name>``; returns
    the last metrics and the latest checkpoint's location."""
    import keras

    keras.backend.clear_session()  # a reused trial actor: free the previous trial's models and graphs
    store = CheckpointStore(f"{storage.rstrip('/')}/{config.name}", keep=keep_checkpoints)
    metrics = run_worker({"config": config.model_dump(), "tracking": tracking}, TuneSession(store))
    return metrics, store.latest_location()
