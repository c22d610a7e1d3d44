"""Single-worker sweep trials train in the Tune trial's own process.

A trial of one worker gains nothing from a nested Ray Train run but its start-up: a controller
actor and a worker actor, each importing TensorFlow, 17 s per trial of the demo sweep against 1 s
here (``benchmarks/RESULTS.md``, section 4). Here the trial runs the same loop
(``worker_loop.run_worker``) itself, with the trial's CPUs and GPUs reserved for it; the sweep
reuses trial actors, so TensorFlow is imported once per actor, not three times per trial. Its run
folder (``storage/<trial>``) has the same layout as every other run's; Tune retries a crashed trial
and ``Tuner.restore`` a killed sweep's, both from the latest checkpoint there.
"""

from __future__ import annotations

from ray import tune

from colorize_core.config import TrainConfig
from sweeps.checkpoint_store import CheckpointStore
from sweeps.worker_loop import RunResult, read_result, run_worker


class TuneSession:
    """``epoch_end.Session`` in a Tune trial: one worker, reports go to Tune."""

    rank, world = 0, 1

    def __init__(self, store: CheckpointStore):
        self.store = store

    def notify(self, metrics: dict) -> None:
        # Tune and Optuna learn of a divergence from the trial's error (TrialDiverged): a report
        # without the objective would only confuse the searcher.
        if not metrics.get("diverged"):
            tune.report(metrics)


def train_in_trial(config: TrainConfig, storage: str, tracking, keep_checkpoints: int) -> RunResult:
    """Train ``config`` here, resuming from its checkpoints under ``storage/<config.name>``."""
    import keras

    keras.backend.clear_session()  # a reused trial actor: free the previous trial's models and graphs
    store = CheckpointStore.for_run(storage, config.name, keep=keep_checkpoints)
    store.check_layout()
    run_worker(config, tracking, TuneSession(store))
    return read_result(store, 0.0)
