"""Ray Train launcher: colorize_core's training loop on N workers (TensorflowTrainer, Train V2).

Each worker runs ``worker_loop.run_worker`` with a ``TrainSession``: one process, a
MultiWorkerMirroredStrategy over all workers (Ray's TensorFlow backend writes TF_CONFIG), the custom
GAN step from colorize_core, and its own share of the data. At every epoch end (and every K steps)
every worker writes its checkpoint and calls ``ray.train.report``; rank 0's checkpoint is the one
Ray persists.

Recovery is Ray's: ``FailureConfig(max_failures)`` restarts a failed worker group, and re-running
with the same run name and storage loads the run's snapshot; either way ``ray.train.get_checkpoint``
hands the latest checkpoint to the new workers, which restore weights, optimizers and the step.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import ray
import ray.train
from pydantic import BaseModel, ConfigDict, Field
from ray.train import Checkpoint, CheckpointConfig, FailureConfig, RunConfig, ScalingConfig

from colorize_core.config import ConfigError, TrainConfig
from sweeps.worker_loop import run_worker

if TYPE_CHECKING:
    from ray.train.tensorflow import TensorflowTrainer

log = logging.getLogger(__name__)

# Quiet TensorFlow's C++ start-up lines on every worker; errors still show.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}
# Read by Ray Train from the driver's environment and passed on to its controller and workers:
# keep each worker's working directory (relative paths stay valid) and print lines once.
TRAIN_ENV = {"RAY_CHDIR_TO_TRIAL_DIR": "0", "RAY_TRAIN_ENABLE_PRINT_PATCH": "0"}


def is_uri(path: str) -> bool:
    """A bucket or other remote URI (gs://, s3://) rather than a local path."""
    return "://" in path


class RayOptions(BaseModel):
    """Where and how wide a training run goes; the training itself is the TrainConfig."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(1, gt=0)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    address: str | None = Field(None, description="An existing cluster; None starts a local Ray.")
    storage: str | None = Field(None, description="Local folder or URI (gs://...); default: out_dir.")
    max_failures: int = Field(3, ge=0, description="Worker-group restarts before the run fails.")
    startup_retries: int = Field(
        5, ge=0, description="Attempts to place the worker group (about a minute each) before failing."
    )

    def storage_path(self, config: TrainConfig) -> str:
        if self.storage:
            return self.storage if is_uri(self.storage) else str(Path(self.storage).resolve())
        return str(Path(config.out_dir).resolve())


class TrainSession:
    """``worker_loop.Session`` in a Ray Train worker: Ray persists rank 0's checkpoints under the
    run's storage, and hands the latest to restarted or re-run workers."""

    def __init__(self):
        context = ray.train.get_context()
        self.rank, self.world = context.get_world_rank(), context.get_world_size()

    @contextmanager
    def latest_checkpoint(self):
        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as directory:
            yield directory, checkpoint.path

    def report(self, metrics: dict, directory: str | None = None, name: str | None = None) -> None:
        checkpoint = Checkpoint.from_directory(directory) if directory and self.rank == 0 else None
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=name if directory else None)


def train_loop_per_worker(loop_config: dict) -> None:
    run_worker(loop_config, TrainSession())


def check_batch_split(config: TrainConfig, workers: int, gpus_per_worker: float) -> None:
    replicas = workers * max(1, int(gpus_per_worker))
    if config.data.batch_size % replicas:
        raise ConfigError(
            f"data.batch_size {config.data.batch_size} does not split evenly over {replicas} replicas "
            f"({workers} workers x {max(1, int(gpus_per_worker))} devices); the global batch must be a multiple"
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
    tracking: dict | None = None,
) -> TensorflowTrainer:
    """The Ray Train run of one training config: the same for ``chromasweep train`` and a sweep trial."""
    # Imported here: ray.train.tensorflow imports TensorFlow (seconds), which a sweep's driver and
    # its single-worker trials' set-up need not pay for.
    from ray.train.tensorflow import TensorflowTrainer

    check_batch_split(config, workers, gpus_per_worker)
    return TensorflowTrainer(
        train_loop_per_worker,
        train_loop_config={"config": config.model_dump(), "tracking": tracking},
        scaling_config=ScalingConfig(
            num_workers=workers,
            use_gpu=gpus_per_worker > 0,
            resources_per_worker={"CPU": cpus_per_worker, "GPU": gpus_per_worker},
        ),
        run_config=RunConfig(
            name=config.name,
            storage_path=storage,
            callbacks=callbacks or [],
            failure_config=FailureConfig(
                max_failures=max_failures,
                # Ray's default retries a worker group that cannot be placed forever; a run that
                # asks for more than the cluster has should fail, not hang.
                controller_failure_limit=startup_retries,
            ),
            checkpoint_config=CheckpointConfig(num_to_keep=keep_checkpoints),
        ),
    )


@dataclass
class LaunchResult:
    status: str  # "finished" or "diverged"
    metrics: dict
    history: list[dict]  # the metrics of every kept checkpoint, oldest first
    checkpoint_path: str | None
    model_path: str | None
    seconds: float
    error: str | None = None


def pin_ray_address() -> None:
    """Worker set-up hook: name this cluster in RAY_ADDRESS inside every Ray worker process.

    Ray Train's PlacementGroupCleaner finds its cluster by looking around; with another Ray on the
    machine (``cluster/local-up.sh``, a second sweep) it fails with "Found multiple active Ray
    instances", a stopped trial's placement group is never removed, and the next trial waits for
    its CPU until the worker group start times out."""
    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)


def connect(address: str | None) -> None:
    if ray.is_initialized():
        return
    runtime_env = {"env_vars": WORKER_ENV, "worker_process_setup_hook": "sweeps.ray_train.pin_ray_address"}
    ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)


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


def launch(config: TrainConfig, options: RayOptions, restart: bool = False, tracking: dict | None = None) -> LaunchResult:
    """Train ``config`` through Ray Train; resumes the run ``config.name`` found in storage.
    ``tracking`` (a ``tracking.trial_run.TrackingContext``) makes rank 0 log an MLflow run."""
    from colorize_core.datasets import resolve_dataset

    # Check the data and the batch split on the driver: a bad run fails here, in seconds.
    check_batch_split(config, options.workers, options.gpus_per_worker)
    resolve_dataset(config.data, config.seed)
    config = absolute_paths(config)
    os.environ.update({k: v for k, v in TRAIN_ENV.items() if k not in os.environ})
    connect(options.address)
    storage = options.storage_path(config)
    _warn_if_storage_is_not_shared(storage)
    if restart and not is_uri(storage):
        shutil.rmtree(Path(storage) / config.name, ignore_errors=True)

    trainer = build_trainer(
        config, options.workers, options.cpus_per_worker, options.gpus_per_worker, storage,
        max_failures=options.max_failures, startup_retries=options.startup_retries,
        keep_checkpoints=config.keep_checkpoints, tracking=tracking,
    )  # fmt: skip
    started = time.perf_counter()
    result = trainer.fit()
    seconds = time.perf_counter() - started
    metrics = dict(result.metrics or {})
    checkpoint = result.checkpoint.path if result.checkpoint else None
    model = publish_model(checkpoint, storage, config.name)
    status = "diverged" if metrics.get("diverged") else "finished"
    history = sorted((m for _, m in result.best_checkpoints or []), key=lambda m: m.get("step", 0))
    error = str(result.error) if result.error else None
    return LaunchResult(status, metrics, history, checkpoint, model, seconds, error)


def absolute_paths(config: TrainConfig) -> TrainConfig:
    """Local paths made absolute, so they mean the same in a worker as on the driver."""
    fields = ["out_dir", "data.source", "data.cache_dir", "model.encoder_weights", "loss.teacher_weights"]
    overrides = {}
    for path in fields:
        section, _, leaf = path.rpartition(".")
        value = getattr(getattr(config, section) if section else config, leaf)
        if value and not is_uri(value):
            overrides[path] = str(Path(value).expanduser().resolve())
    return config.with_overrides(overrides)


def publish_model(checkpoint: str | None, storage: str, name: str) -> str | None:
    """The final model of a run: copied beside its checkpoints (which rotate) when storage is local."""
    if not checkpoint or not _has_model(checkpoint):
        return None
    model = f"{checkpoint}/model"
    if is_uri(model):
        return model
    stable = Path(storage) / name / "model"
    # Copy beside and rename: whoever sees ``model/`` (a user, a resumed sweep) sees it whole, and
    # a driver killed mid-copy leaves only a ``.partial`` folder that the next publish replaces.
    partial = stable.with_name("model.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(model, partial)
    shutil.rmtree(stable, ignore_errors=True)
    partial.rename(stable)
    return str(stable)


def _has_model(checkpoint_path: str) -> bool:
    return is_uri(checkpoint_path) or os.path.isfile(os.path.join(checkpoint_path, "model", "generator.keras"))
