"""The training loop: epochs of distributed GAN steps, evaluation, checkpoints, the final model.

Plain TensorFlow, so it runs in a notebook: ``prepare_trainer(config).fit()``. Every launcher
(``runner.worker_loop``: in this process, a Tune trial or a Ray Train worker) passes its strategy, its
worker's place and an ``on_report`` hook; the loop is the same.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from colorize_core.config import Generator, TrainConfig, check_batch_split
from colorize_core.data.datasets import PreparedDataset, resolve_dataset
from colorize_core.data.pipeline import make_dataset
from colorize_core.data.sources import DatasetError
from colorize_core.evaluation.grids import sample_grid
from colorize_core.evaluation.scores import evaluate, make_scorer
from colorize_core.model_files import MODEL_FILE, MODEL_INFO
from colorize_core.networks.cic import bin_counts, rebalancing_weights
from colorize_core.networks.gan import AdversarialColorizer
from colorize_core.status import RunStatus, TrainingDiverged
from colorize_core.training.warm import Compiled, WarmCache, architecture

log = logging.getLogger(__name__)


@dataclass
class Report:
    """What the loop tells its caller at every checkpoint point: an epoch end or every K steps."""

    epoch: int  # epochs completed (fractional mid-epoch: 2.5 is half-way through the third)
    step: int
    metrics: dict[str, float]
    epoch_end: bool


@dataclass
class TrainResult:
    status: RunStatus  # FINISHED or DIVERGED
    step: int
    history: list[dict[str, float]] = field(default_factory=list)
    message: str = ""


def set_precision(mixed: bool) -> str:
    """Set Keras's global dtype policy for the models built next; returns its name."""
    if not mixed:
        name = "float32"
    elif tf.config.list_physical_devices("GPU"):
        name = "mixed_float16"
    else:  # CPUs have no fast float16; bfloat16 needs no loss scaling
        name = "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(name)
    return name


def compile_distributed_step(strategy: tf.distribute.Strategy, gan: AdversarialColorizer, jit_compile: bool = False):
    """``gan.train_step`` on every replica of ``strategy``, losses summed: the compiled training step.
    ``jit_compile``: XLA (the benchmarks set it explicitly; training leaves it off)."""

    @tf.function(jit_compile=jit_compile)
    def distributed_step(batch):
        per_replica = strategy.run(gan.train_step, args=(batch,))
        # Each replica's losses are already divided by the global batch: their sum is the mean.
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

    return distributed_step


def prepare_trainer(
    config: TrainConfig,
    strategy: tf.distribute.Strategy | None = None,
    worker_index: int = 0,
    progress: bool = True,
    warm: WarmCache | None = None,
) -> Trainer:
    """The steps before a run, in order: the dataset (prepared and cached on first use), the
    precision policy, the seed (same seed, same initial weights), then the trainer. ``warm``: a
    long-lived process's compiled steps and validation batches, taken over when the shape matches."""
    dataset = resolve_dataset(config.data, config.seed, progress=progress and worker_index == 0)
    policy = set_precision(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    return Trainer(config, dataset, strategy, worker_index, progress, policy=policy, warm=warm)


class Trainer:
    """Builds the GAN under the current precision policy and trains it; ``prepare_trainer`` takes the
    steps before it."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: PreparedDataset,
        strategy: tf.distribute.Strategy | None = None,
        worker_index: int = 0,
        progress: bool = True,
        policy: str = "float32",
        warm: WarmCache | None = None,
    ):
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.worker_index = worker_index
        self.is_chief = worker_index == 0
        self.progress = progress and self.is_chief
        self.prepared, self.meta = dataset

        self.global_batch = config.data.batch_size
        check_batch_split(self.global_batch, self.strategy.num_replicas_in_sync)
        train_count = self.meta.counts.get("train", 0)
        if config.steps_per_epoch is None and train_count < self.global_batch:
            raise DatasetError(
                f"{config.data.source or 'sample dataset'}: {train_count} training images, fewer than one "
                f"batch of {self.global_batch}; lower data.batch_size or set steps_per_epoch"
            )
        self.steps_per_epoch = config.steps_per_epoch or train_count // self.global_batch
        self.num_classes = self._num_classes()

        bin_weights = None
        if config.model.generator is Generator.CIC:
            bins = config.model.bins
            bin_weights, _ = rebalancing_weights(bin_counts(self.prepared, bins), config.loss.rebalance_mix, bins)
        with self.strategy.scope():
            # Built from the seed in any case: a warm start copies these values, so a run starts from
            # the same state whether or not its architecture was compiled before in this process.
            gan = AdversarialColorizer(
                config,
                self.num_classes,
                self.global_batch,
                loss_scaling=policy == "mixed_float16",
                bin_weights=bin_weights,
            )
            gan.build_optimizers()
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # Only the default strategy's steps are kept: a distributed run owns its worker processes.
        self._warm = warm if self.strategy is tf.distribute.get_strategy() else None
        if self._warm is None:
            self.compiled = self._compile(gan)
        else:
            key = architecture(config, self.num_classes, self.global_batch, policy)
            self.compiled = self._warm.compiled(key, gan, self._compile)
        self.gan, self.train_step, self._scorer = self.compiled.gan, self.compiled.train_step, self.compiled.scorer
        self._val: list | None = None
        self.checkpoint = tf.train.Checkpoint(
            generator=self.gan.generator,
            critic=self.gan.critic,
            g_optimizer=self.gan.g_optimizer,
            d_optimizer=self.gan.d_optimizer,
            step=self.step,
        )

    def _compile(self, gan: AdversarialColorizer) -> Compiled:
        return Compiled(gan, compile_distributed_step(self.strategy, gan), make_scorer(gan.generator))

    def _num_classes(self) -> int:
        if self.config.loss.semantic == "teacher":
            return 1000  # the VGG16 teacher's ImageNet classes
        return self.config.model.num_classes or max(self.meta.num_classes, 2)

    # -- data -------------------------------------------------------------------------------
    def train_batches(self, epoch: int, skip: int = 0):
        """Epoch ``epoch``'s batches from step ``skip`` on, each worker reading its own share."""
        c = self.config

        def dataset_fn(ctx: tf.distribute.InputContext):
            ds = make_dataset(
                self.prepared,
                "train",
                c.model.image_size,
                ctx.get_per_replica_batch_size(self.global_batch),
                training=True,
                seed=c.seed,
                epoch=epoch,
                shuffle_buffer=c.data.shuffle_buffer,
                num_shards=ctx.num_input_pipelines,
                shard_index=ctx.input_pipeline_id,
                repeat=True,
            )
            # Every worker runs exactly steps_per_epoch steps, or the collectives would wait forever.
            return ds.skip(skip).take(self.steps_per_epoch - skip)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def val_batches(self) -> list[dict[str, tf.Tensor]]:
        """The validation batches (deterministic centre crops), decoded once and kept."""
        if self._val is None:
            split = "val" if self.meta.counts.get("val") else "train"
            size, batch, take = (
                self.config.model.image_size,
                min(self.config.data.batch_size, 32),
                self.config.data.max_val_images,
            )

            def build():
                return make_dataset(self.prepared, split, size, batch, training=False, take=take)

            key = json.dumps([self.prepared, split, size, batch, take])
            self._val = self._warm.val_batches(key, build) if self._warm else list(build())
        return self._val

    def sample_grid(self, count: int = 4) -> np.ndarray:
        """``count`` validation images spread evenly over the split (centre crops, the same ones
        every time: neighbours are often crops of one photo) as a sample grid."""
        L, ab = [], []
        for batch in self.val_batches():
            L.append(batch["L"].numpy())
            ab.append(batch["ab"].numpy())
        L, ab = np.concatenate(L), np.concatenate(ab)
        pick = np.unique(np.linspace(0, len(L) - 1, min(count, len(L))).round().astype(int))
        return sample_grid(self.gan.generator, tf.constant(L[pick]), tf.constant(ab[pick]))

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, directory: str | Path) -> str:
        """Write generator, critic, both optimizers and the step (which is the data position)."""
        return self.checkpoint.write(str(Path(directory) / "ckpt"))

    def restore_checkpoint(self, directory: str | Path) -> int:
        path = tf.train.latest_checkpoint(str(directory)) or str(Path(directory) / "ckpt")
        self.checkpoint.read(path).assert_existing_objects_matched()
        return int(self.step.numpy())

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, on_report: Callable[[Report], None] | None = None) -> TrainResult:
        c = self.config
        every = c.checkpoint_every_steps
        history: list[dict[str, float]] = []
        step = int(self.step.numpy())
        start_epoch, skip = divmod(step, self.steps_per_epoch)
        for epoch in range(start_epoch, c.epochs):
            t0, losses_sum, n = time.perf_counter(), {}, 0
            bar = tqdm(
                total=self.steps_per_epoch,
                initial=skip,
                desc=f"epoch {epoch + 1}/{c.epochs}",
                unit="step",
                disable=not self.progress,
                leave=False,
            )
            # Losses stay on the device, summed, and are read back (one wait for the device) every
            # log_every_steps and before a report: NaN and inf survive the sum, so no divergence is missed.
            window, unread, last = {}, 0, {}
            batches = self.train_batches(epoch, skip)
            for i, batch in enumerate(batches, skip + 1):
                last = self.train_step(batch)
                window = {k: window.get(k, 0.0) + v for k, v in last.items()}
                self.step.assign_add(1)
                step, unread = step + 1, unread + 1
                report = bool(every and step % every == 0 and step % self.steps_per_epoch and on_report)
                if not (report or unread == c.log_every_steps or i == self.steps_per_epoch):
                    continue
                sums = {k: float(v) for k, v in window.items()}
                if not all(math.isfinite(v) for v in sums.values()):
                    bar.close()
                    err = TrainingDiverged.in_steps(step - unread + 1, step, {k: v / unread for k, v in sums.items()})
                    log.error("%s", err)
                    return TrainResult(RunStatus.DIVERGED, step, history, str(err))
                for k, v in sums.items():
                    losses_sum[k] = losses_sum.get(k, 0.0) + v
                n += unread
                bar.update(unread)
                bar.set_postfix(ab_mse=f"{sums['ab_mse'] / unread:.4f}", critic=f"{sums['critic_loss'] / unread:.3f}")
                window, unread = {}, 0
                if report:
                    losses = {k: float(v) for k, v in last.items()}
                    on_report(Report(step / self.steps_per_epoch, step, losses, epoch_end=False))
            bar.close()
            seconds = time.perf_counter() - t0
            metrics = {f"train_{k}": v / max(n, 1) for k, v in losses_sum.items()}
            metrics["images_per_second"] = n * self.global_batch / seconds if n else 0.0
            # Where an epoch's time goes, so a sweep's overhead can be told from its training.
            metrics["train_seconds"] = seconds
            if self.is_chief:
                t0 = time.perf_counter()
                metrics.update(
                    {f"val_{k}": v for k, v in evaluate(self.gan.generator, self.val_batches(), self._scorer).items()}
                )
                metrics["eval_seconds"] = time.perf_counter() - t0
            metrics["epoch"] = epoch + 1
            history.append(metrics)
            if self.is_chief:
                print(_epoch_line(epoch + 1, c.epochs, step, metrics), flush=True)
            if on_report:
                on_report(Report(epoch + 1, step, metrics, epoch_end=True))
            skip = 0
        return TrainResult(RunStatus.FINISHED, step, history)

    # -- the final model --------------------------------------------------------------------
    def export(self, directory: str | Path) -> Path:
        """The generator as a Keras file plus what inference needs to know about it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.gan.generator.save(directory / MODEL_FILE)
        (directory / MODEL_INFO).write_text(json.dumps(self.model_info(), indent=1))
        return directory

    def model_info(self) -> dict:
        """What inference and promotion need to know about the generator besides its weights."""
        return {
            "image_size": self.config.model.image_size,
            "class_names": self.meta.class_names,
            "config": self.config.model_dump(),
            "step": int(self.step.numpy()),
        }


def _epoch_line(epoch: int, epochs: int, step: int, m: dict[str, float]) -> str:
    parts = [f"epoch {epoch}/{epochs}", f"step {step}", f"ab_mse {m['train_ab_mse']:.4f}"]
    parts.append(f"critic {m['train_critic_loss']:.3f}")
    if "val_psnr" in m:
        parts.append(f"val PSNR {m['val_psnr']:.2f} dB (gray {m['val_gray_psnr']:.2f})")
        parts.append(f"SSIM {m['val_ssim']:.3f}")
        parts.append(f"colorfulness gap {m['val_colorfulness_gap']:.1f}")
    parts.append(f"{m['images_per_second']:.1f} img/s")
    return " | ".join(parts)
