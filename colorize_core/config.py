"""Training configuration: every knob of a run, typed, in one place.

A sweep spec's dotted parameter path (``loss.adversarial_weight``) names a field here, and the
training step reads that same field: the path from YAML to loss is one straight read.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from colorize_core.errors import ChromasweepError, describe_invalid


class _Strict(BaseModel):
    # Unknown keys are typos more often than not; refuse them instead of silently ignoring.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(_Strict):
    source: str | None = Field(
        None,
        description="Image folder (ILSVRC layout, class folders or flat) or a prepared TFRecord "
        "folder; None builds the bundled sample dataset.",
    )
    cache_dir: str | None = Field(
        None, description="Where folder sources are prepared as TFRecords; default ~/.cache/chromasweep."
    )
    batch_size: int = Field(16, gt=0, description="Global batch size, split across workers.")
    shuffle_buffer: int = Field(1024, gt=0)
    val_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Held-out share for sources without their own val split."
    )
    max_val_images: int = Field(64, gt=0, description="Validation images scored each epoch.")


class Generator(StrEnum):
    CHROMAGAN = "chromagan"  # colorize_core/networks/chromagan.py: regression of ab, VGG16 encoder, fusion
    CIC = "cic"  # colorize_core/networks/cic.py: classification over ab bins, annealed-mean decoding


class CicBins(StrEnum):
    PUBLISHED_313 = "published-313"  # the paper's centres, found on ImageNet (colorize_core/networks/cic_bins.py)
    GAMUT_261 = "gamut-261"  # the grid cells that hold an 8-bit sRGB colour, computed (cic.ab_bins)


class ModelConfig(_Strict):
    generator: Generator = Field(Generator.CHROMAGAN, description="The generator's family: chromagan or cic.")
    image_size: int = Field(224, ge=32, description="Training crop side; a multiple of 32.")
    width: float = Field(1.0, gt=0.0, le=1.0, description="Channel width multiplier; 1 is the paper's model.")
    num_classes: int | None = Field(
        None, gt=1, description="Class head size; None takes it from the dataset (1000 for the teacher)."
    )
    encoder_weights: str | None = Field(
        None,
        description="Pretrained VGG16 convolutions for chromagan's encoder: imagenet, hed-bsds500 (bundled, "
        "offline), gs://BUCKET/FILE or a local file (see colorize_core/networks/weights.py); None is random init.",
    )
    temperature: float = Field(
        0.38, gt=0.0, le=1.0, description="cic: the annealed mean's temperature (1 the mean, towards 0 the mode)."
    )
    bins: CicBins = Field(
        CicBins.PUBLISHED_313,
        description="cic: the ab bins it classifies into: published-313 (the paper's) "
        "or gamut-261 (the 10-wide grid cells that hold an 8-bit sRGB colour; a subset of the 313).",
    )

    @model_validator(mode="after")
    def _size_is_multiple_of_32(self) -> ModelConfig:
        if self.image_size % 32:
            raise ValueError(f"model.image_size must be a multiple of 32, got {self.image_size}")
        if self.generator is Generator.CIC and self.encoder_weights:
            raise ValueError("model.encoder_weights loads VGG16 into chromagan's encoder; cic has no VGG16 encoder")
        return self


class LossConfig(_Strict):
    ab_weight: float = Field(1.0, ge=0.0, description="chromagan: weight of the ab MSE.")
    semantic: Literal["teacher", "labels", "off"] = "labels"
    semantic_weight: float = Field(0.003, ge=0.0)
    teacher_weights: str | None = Field(
        None,
        description="VGG16 classifier weights for the teacher: imagenet, gs://BUCKET/FILE or a local file; "
        "required when semantic is 'teacher'.",
    )
    adversarial_weight: float = Field(0.1, ge=0.0, description="chromagan: weight of the critic's term.")
    cic_adversarial_weight: float = Field(
        0.0, ge=0.0, description="cic: weight of the critic's term on the decoded ab; 0 (the paper's) trains no critic."
    )
    rebalance_mix: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="cic: λ, the uniform share mixed into the colour prior before "
        "inverting it; 1 weighs every bin alike (no rebalancing).",
    )
    gradient_penalty: float = Field(10.0, ge=0.0)

    @model_validator(mode="after")
    def _teacher_needs_weights(self) -> LossConfig:
        if self.semantic == "teacher" and not self.teacher_weights:
            raise ValueError(
                "loss.semantic is 'teacher' but loss.teacher_weights is not set: give imagenet or a VGG16 "
                "classifier weights file, or use semantic 'labels' or 'off'"
            )
        return self


class OptimConfig(_Strict):
    generator_lr: float = Field(2e-5, gt=0.0)
    critic_lr: float = Field(2e-5, gt=0.0)
    beta1: float = Field(0.5, ge=0.0, lt=1.0)
    beta2: float = Field(0.999, ge=0.0, lt=1.0)
    # Keras's default, as the reference. Adam's step is about lr * g / (|g| + epsilon): where |g| is far
    # below epsilon it is linear in g, so a larger epsilon damps weights whose gradient is only noise.
    epsilon: float = Field(1e-7, gt=0.0)
    critic_steps: int = Field(1, ge=1, description="Critic updates per generator update.")


# Fields only one generator family reads, which the other's trials silently ignore: a sweep that
# searches one across both families would spend trials on a value that changes nothing
# (sweeps/spec.py refuses it). model.encoder_weights is not here: cic refuses it outright.
FAMILY_ONLY: dict[str, Generator] = {
    "loss.ab_weight": Generator.CHROMAGAN,
    "loss.adversarial_weight": Generator.CHROMAGAN,
    "model.temperature": Generator.CIC,
    "model.bins": Generator.CIC,
    "loss.cic_adversarial_weight": Generator.CIC,
    "loss.rebalance_mix": Generator.CIC,
}


class TrainConfig(_Strict):
    name: str = "chromagan"
    seed: int = 0
    epochs: int = Field(10, gt=0)
    steps_per_epoch: int | None = Field(
        None, gt=0, description="Cap on steps per epoch; None is one pass over the training split."
    )
    checkpoint_every_steps: int | None = Field(
        None, gt=0, description="Checkpoint every K steps as well as at every epoch end."
    )
    log_every_steps: int = Field(
        10,
        gt=0,
        description="Read the losses back from the device every K steps (and at each checkpoint): "
        "each read waits for the device. A non-finite loss is caught at the next read.",
    )
    keep_checkpoints: int = Field(3, gt=0)
    mixed_precision: bool = False
    out_dir: str = "runs"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def with_overrides(self, overrides: dict[str, object]) -> TrainConfig:
        """A copy with dotted-path fields replaced, validated as a whole."""
        tree = self.model_dump()
        for path, value in overrides.items():
            node = tree
            *parents, leaf = path.split(".")
            for key in parents:
                if not isinstance(node.get(key), dict):
                    raise ConfigError(f"unknown config path {path!r}: {key!r} is not a section")
                node = node[key]
            if leaf not in node:
                raise ConfigError(f"unknown config path {path!r}: no field {leaf!r}")
            node[leaf] = value
        return TrainConfig.model_validate(tree)


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"loss": {"adversarial_weight": 0.1}} -> {"loss.adversarial_weight": 0.1}: the dotted paths
    ``TrainConfig.with_overrides`` takes, and sweeps and MLflow params use."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class ConfigError(ChromasweepError, ValueError):
    """A configuration that cannot be used, with the file and key that are wrong."""


def replicas(workers: int, gpus_per_worker: float) -> int:
    """Model replicas in a run: one per worker, or one per GPU where a worker has several."""
    return workers * max(1, int(gpus_per_worker))


def check_batch_split(batch_size: int, replica_count: int, over: str = "") -> None:
    """Refuse a global batch that does not split evenly over the replicas (each gets its share);
    ``over`` names where the replica count comes from."""
    if batch_size % replica_count:
        raise ConfigError(
            f"data.batch_size {batch_size} does not split evenly over {over or f'{replica_count} replicas'}; "
            f"use a multiple of {replica_count}"
        )


def load_config(path: str | Path | None = None, overrides: dict[str, object] | None = None) -> TrainConfig:
    """Read a YAML training config (None: the built-in defaults) and apply dotted overrides."""
    tree: dict = {}
    if path is not None:
        path = Path(path)
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: a folder; give a training config file (YAML)") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: expected a mapping of config sections, got {type(tree).__name__}")
        if {"method", "parameters"} <= tree.keys():
            raise ConfigError(
                f"{path}: a sweep spec (it has method and parameters), not a training config: "
                f"run it with `chromasweep sweep {path}`"
            )
    try:
        config = TrainConfig.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(f"{path or 'config'}: {describe_invalid(err, show_input=True)}") from None
    if overrides:
        try:
            config = config.with_overrides(overrides)
        except ValidationError as err:
            raise ConfigError(f"overrides: {describe_invalid(err, show_input=True)}") from None
    return config


def demo_config() -> TrainConfig:
    """The small model the demo and tests train in minutes on 2 CPU cores."""
    return load_config(Path(__file__).parent / "configs" / "demo.yaml")
