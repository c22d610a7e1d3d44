"""Single-worker sweep trials train in the Tune trial's own process.

A trial of one worker gains nothing from a nested Ray Train run but its start-up: a controller
actor and a worker actor, each importing TensorFlow (``benchmarks/RESULTS.md``, section 4, measures
both ways). Here the trial runs the same loop
(``worker_loop.run_worker``) itself, with the trial's CPUs and GPUs reserved for it; the sweep
reuses trial actors, so TensorFlow is imported once per actor, not three times per trial. Its run
folder (``storage/<trial>``) has the same layout as every other run's; Tune retries a crashed trial
and ``Tuner.restore`` a killed sweep's, both from the latest checkpoint there.

A reused actor also keeps its compiled steps and validation batches (``colorize_core.warm``): a trial
of the architecture it ran before starts from its own seed's fresh state without tracing again.
"""

from __future__ import annotations

from ray import tune

from colorize_core.config import TrainConfig
from runner.checkpoint_store import CheckpointStore
from runner.worker_loop import RunResult, read_result, run_worker

_warm = None  # this actor's WarmCache, for the trials it runs one after another (Tune's reuse_actors)


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


def _threads_for_reserved_cpus() -> None:
    """TensorFlow's op threads as many as the CPUs Ray reserved for this trial (by default it takes
    every core, so two trials at a time would each run twice the threads the machine has)."""
    import ray
    import tensorflow as tf

    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 0))
    if cpus >= 1:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(cpus)


def train_in_trial(config: TrainConfig, storage: str, tracking, keep_checkpoints: int) -> RunResult:
    """Train ``config`` here, resuming from its checkpoints under ``storage/<config.name>``."""
    global _warm
    from colorize_core.warm import WarmCache  # TensorFlow: only in the trial's process, never the driver's

    if _warm is None:  # this actor's first trial: TensorFlow's runtime starts now
        _threads_for_reserved_cpus()
        _warm = WarmCache()
    store = CheckpointStore.for_run(storage, config.name, keep=keep_checkpoints)
    store.check_layout()
    run_worker(config, tracking, TuneSession(store), warm=_warm)
    return read_result(store, 0.0)
