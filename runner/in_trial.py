"""Single-worker sweep trials train in the Tune trial's own process.

A trial of one worker gains nothing from a nested Ray Train run but its start-up: a controller
actor and a worker actor, each importing TensorFlow (``benchmarks/RESULTS.md``, section 4, measures
both ways). Here the trial runs the same loop
(``worker_loop.run_worker``) itself, with the trial's CPUs and GPUs reserved for it; the sweep
reuses trial actors, so TensorFlow is imported once per actor, not three times per trial. Its run
folder (``storage/<trial>``) has the same layout as every other run's; Tune retries a crashed trial
and ``Tuner.restore`` a killed sweep's, both from the latest checkpoint there.

A reused actor also keeps its compiled steps and validation batches (``colorize_core.training.warm``): a trial
of the architecture it ran before starts from its own seed's fresh state without tracing again.
"""

from __future__ import annotations

from ray import tune

from colorize_core.config import TrainConfig
from colorize_core.report import EpochReport
from runner.checkpoint_store import CheckpointStore
from runner.worker_loop import RunResult, read_result, run_worker

_warm = None  # this actor's WarmCache, for the trials it runs one after another (Tune's reuse_actors)


class TuneSession:
    """``epoch_end.Session`` in a Tune trial: one worker, reports go to Tune."""

    rank, world = 0, 1

    def __init__(self, store: CheckpointStore):
        self.store = store

    def notify(self, metrics: dict) -> None:
        # Tune and Optuna learn of a divergence from the trial's error (TrainingDiverged): a report
        # without the objective would only confuse the searcher.
        if not EpochReport.read(metrics).diverged:
            tune.report(metrics)


def _set_op_threads(side_by_side: int) -> None:
    """TensorFlow's op threads: this node's CPUs shared among the trials that may run at once, and
    never fewer than the CPUs Ray reserved for this one. By default TensorFlow takes every core, so
    two trials at a time would each run as many threads as the machine has; held to its one reserved
    CPU, a trial that runs alone would leave the other cores idle."""
    import ray
    import tensorflow as tf

    context = ray.get_runtime_context()
    reserved = int(context.get_assigned_resources().get("CPU", 0))
    node = next((n for n in ray.nodes() if n["NodeID"] == context.get_node_id()), {})
    threads = max(reserved, int(node.get("Resources", {}).get("CPU", 0)) // side_by_side)
    if threads >= 1:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def train_in_trial(
    config: TrainConfig, storage: str, tracking, keep_checkpoints: int, side_by_side: int, usd_per_hour: float
) -> RunResult:
    """Train ``config`` here, resuming from its checkpoints under ``storage/<config.name>``;
    ``side_by_side``: how many trials the sweep runs at once; ``usd_per_hour``: the trial's price."""
    global _warm
    from colorize_core.training.warm import WarmCache  # TensorFlow: only in the trial's process, never the driver's

    if _warm is None:  # this actor's first trial: TensorFlow's runtime starts now
        _set_op_threads(side_by_side)
        _warm = WarmCache()
    store = CheckpointStore.for_run(storage, config.name, keep=keep_checkpoints)
    store.check_layout()
    run_worker(config, tracking, TuneSession(store), warm=_warm, usd_per_hour=usd_per_hour)
    return read_result(store, 0.0)
