"""Ray Train launcher: colorize_core's training loop on N workers (TensorflowTrainer, Train V2).

Each worker runs ``worker_loop.run_worker`` with a ``TrainSession``: one process, a
MultiWorkerMirroredStrategy over all workers (Ray's TensorFlow backend writes TF_CONFIG), the custom
GAN step from colorize_core, and its own share of the data. At every epoch end (and every K steps)
every worker writes its checkpoint, rank 0 keeps its own in the run's store (``CheckpointStore``,
the layout every run has), and all call ``ray.train.report``.

``FailureConfig(max_failures)`` restarts a failed worker group; it, and a re-run with the same run
name and storage, resume from the store's latest checkpoint: weights, optimizers and the step.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import ray
import ray.train
from pydantic import BaseModel, ConfigDict, Field
from ray.train import FailureConfig, RunConfig, ScalingConfig

from colorize_core.config import TrainConfig, check_batch_split, replicas
from colorize_core.data.buckets import ray_storage
from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri
from colorize_core.networks.weights import check_sources, is_named
from runner.checkpoint_store import CheckpointStore
from runner.worker_loop import RunResult, read_result, run_worker

if TYPE_CHECKING:
    from ray.train.tensorflow import TensorflowTrainer

    from tracking.trial_run import TrackingContext

log = logging.getLogger(__name__)

# Quiet TensorFlow's C++ start-up lines on every worker; errors still show.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
# Read by Ray Train from the driver's environment and passed on to its controller and workers:
# keep each worker's working directory (relative paths stay valid) and print lines once.
TRAIN_ENV = {"RAY_CHDIR_TO_TRIAL_DIR": "0", "RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}
# On workers, an unreachable tracking server costs a run seconds per delivery, not MLflow's default
# minutes of back-off per call: what is not delivered waits in the run's store (tracking.delivery).
# Workers only: the driver's one-off calls (creating the sweep's run) keep MLflow's patient
# defaults, since a timed-out create that is retried can create the run twice. Set by the user, these win.
TRACKING_RETRY_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


class RayOptions(BaseModel):
    """Where and how wide a training run goes; the training itself is the TrainConfig."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(1, gt=0)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    address: str | None = Field(None, description="An existing cluster; None starts a local Ray.")
    storage: str | None = Field(
        None, description="Local folder or URI (gs://...) holding the run's folder; default: out_dir."
    )
    max_failures: int = Field(3, ge=0, description="Worker-group restarts before the run fails.")
    startup_retries: int = Field(
        5, ge=0, description="Attempts to place the worker group (about a minute each) before failing."
    )

    def storage_path(self, config: TrainConfig) -> str:
        if self.storage:
            return self.storage if is_uri(self.storage) else str(Path(self.storage).resolve())
        return str(Path(config.out_dir).resolve())


class TrainSession:
    """``epoch_end.Session`` in a Ray Train worker: every worker reads the run's store on a resume;
    ``ray.train.report`` (a barrier across the workers) tells Ray Train, and Tune through it."""

    def __init__(self, store: CheckpointStore):
        context = ray.train.get_context()
        self.rank, self.world = context.get_world_rank(), context.get_world_size()
        self.store = store

    def notify(self, metrics: dict) -> None:
        ray.train.report(metrics)


def train_loop_per_worker(loop_config: dict) -> None:
    store = CheckpointStore.for_run(loop_config["storage"], loop_config["config"].name, loop_config["keep"])
    run_worker(
        loop_config["config"], loop_config["tracking"], TrainSession(store), usd_per_hour=loop_config["usd_per_hour"]
    )


def build_trainer(
    config: TrainConfig,
    workers: int,
    cpus_per_worker: float,
    gpus_per_worker: float,
    storage: str,
    *,
    max_failures: int,
    startup_retries: int,
    keep_checkpoints: int,
    callbacks: list | None = None,
    tracking: TrackingContext | None = None,
    usd_per_hour: float | None = None,
) -> TensorflowTrainer:
    """The Ray Train run of one training config: the same for ``chromasweep train`` and a sweep trial."""
    # Imported here: ray.train.tensorflow imports TensorFlow (seconds), which a sweep's driver and
    # its single-worker trials' set-up need not pay for.
    from ray.train.tensorflow import TensorflowTrainer

    check_batch_split(config.data.batch_size, replicas(workers, gpus_per_worker))
    return TensorflowTrainer(
        train_loop_per_worker,
        # The validated models themselves (they pickle): nothing is re-validated on the way down.
        train_loop_config={
            "config": config,
            "tracking": tracking,
            "storage": storage,
            "keep": keep_checkpoints,
            "usd_per_hour": usd_per_hour,
        },
        scaling_config=ScalingConfig(
            num_workers=workers,
            use_gpu=gpus_per_worker > 0,
            resources_per_worker={"CPU": cpus_per_worker, "GPU": gpus_per_worker},
        ),
        run_config=RunConfig(
            name=config.name,
            **ray_storage(storage),
            callbacks=callbacks or [],
            failure_config=FailureConfig(
                max_failures=max_failures,
                # Ray's default retries a worker group that cannot be placed forever; a run that
                # asks for more than the cluster has should fail, not hang.
                controller_failure_limit=startup_retries,
            ),
        ),
    )


def pin_ray_address() -> None:
    """Worker set-up hook: name this cluster in RAY_ADDRESS inside every Ray worker process.

    Ray Train's PlacementGroupCleaner finds its cluster by looking around; with another Ray on the
    machine (``cluster/local-up.sh``, a second sweep) it fails with "Found multiple active Ray
    instances", a stopped trial's placement group is never removed, and the next trial waits for
    its CPU until the worker group start times out."""
    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)


class RayUnreachable(ChromasweepError, ConnectionError):
    """The Ray cluster named by ``--address`` could not be joined."""


def check_address(address: str | None) -> None:
    """Refuse a HOST:PORT where nothing listens at once: Ray itself retries such an address for minutes."""
    host, _, port = (address or "").rpartition(":")
    if not host or "://" in address or not port.isdigit():
        return  # none, auto, local, or a ray:// client address: Ray's own checks
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise RayUnreachable(
            f"--address {address}: nothing answers there ({err.strerror or err}); is the cluster up? "
            f"(`ray status --address {address}`)"
        ) from err


def connect(address: str | None) -> None:
    """Join the cluster at ``address`` (``auto``: the one running here), or start a Ray of our own."""
    if ray.is_initialized():
        return
    env_vars = {**WORKER_ENV, **{key: os.environ.get(key, value) for key, value in TRACKING_RETRY_ENV.items()}}
    runtime_env = {"env_vars": env_vars, "worker_process_setup_hook": "runner.ray_train.pin_ray_address"}
    check_address(address)
    try:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    except (ConnectionError, RuntimeError) as err:
        if address is None:
            raise
        if "auth" in str(err).lower():
            why = (
                "it refused this client's token: set RAY_AUTH_MODE=token and give the cluster's token in "
                "~/.ray/auth_token or RAY_AUTH_TOKEN (cluster/README.md)"
            )
        else:
            why = f"is it running? (`ray status --address {address}`)"
        raise RayUnreachable(f"--address {address}: no Ray cluster could be joined there; {why}") from err


def _warn_if_storage_is_not_shared(storage: str) -> None:
    alive = [n for n in ray.nodes() if n.get("Alive")]
    hosts = {n.get("NodeManagerAddress") for n in alive}
    if len(hosts) > 1 and not is_uri(storage):
        log.warning(
            "the cluster has %d hosts but storage %r is a local path: multi-node runs need shared "
            "storage (a gs:// or s3:// bucket, or a folder every node mounts) or checkpoints are lost "
            "with their node",
            len(hosts),
            storage,
        )


def launch(
    config: TrainConfig, options: RayOptions, restart: bool = False, tracking: TrackingContext | None = None
) -> RunResult:
    """Train ``config`` through Ray Train as the run ``storage/config.name``, resuming it unless
    ``restart``. ``tracking`` makes rank 0 log an MLflow run."""
    from colorize_core.data.datasets import resolve_dataset

    # Check the data, the batch split and the run's folder on the driver: a bad run fails here, in seconds.
    check_batch_split(config.data.batch_size, replicas(options.workers, options.gpus_per_worker))
    resolve_dataset(config.data, config.seed)
    check_sources(config.model.encoder_weights, config.loss.teacher_weights)
    config = absolute_paths(config)
    storage = options.storage_path(config)
    store = CheckpointStore.for_run(storage, config.name, keep=config.keep_checkpoints)
    if restart:
        store.delete()
    store.check_layout()
    os.environ.update({k: v for k, v in TRAIN_ENV.items() if k not in os.environ})
    connect(options.address)
    _warn_if_storage_is_not_shared(storage)

    trainer = build_trainer(
        config,
        options.workers,
        options.cpus_per_worker,
        options.gpus_per_worker,
        storage,
        max_failures=options.max_failures,
        startup_retries=options.startup_retries,
        keep_checkpoints=config.keep_checkpoints,
        tracking=tracking,
    )
    started = time.perf_counter()
    result = trainer.fit()
    return read_result(store, time.perf_counter() - started, str(result.error) if result.error else None)


def absolute_paths(config: TrainConfig) -> TrainConfig:
    """Local paths made absolute, so they mean the same in a worker as on the driver."""
    weights = ["model.encoder_weights", "loss.teacher_weights"]  # these may also name a source (imagenet)
    overrides = {}
    for path in ["out_dir", "data.source", "data.cache_dir", *weights]:
        section, _, leaf = path.rpartition(".")
        value = getattr(getattr(config, section) if section else config, leaf)
        if value and not is_uri(value) and not (path in weights and is_named(value)):
            overrides[path] = str(Path(value).expanduser().resolve())
    return config.with_overrides(overrides)
