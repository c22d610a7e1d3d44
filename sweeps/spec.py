"""Sweep specs: one YAML file says what to search; it is checked whole before Ray starts.

The schema follows W&B sweeps where it can (``metric``, ``parameters`` with ``values``,
``distribution``/``min``/``max`` and ``value``), so a spec reads familiar:

    name: demo
    base: ../../colorize_core/configs/demo.yaml   # the training config trials start from
    metric: {name: val_psnr, goal: maximize}
    search: {method: tpe, seed: 0}
    parameters:
      loss.adversarial_weight: {distribution: log_uniform, min: 0.01, max: 1.0}
      optim.generator_lr: {values: [1.0e-4, 2.0e-4]}
      model.width: 0.25                           # a constant
    early_stop: {type: asha, grace_epochs: 1, reduction_factor: 2}
    budget: {max_trials: 4, max_concurrent: 1, epochs_per_trial: 3}
    resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}

A parameter's key is the dotted path of a TrainConfig field: the same path the loss reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from colorize_core.config import (
    ConfigError,
    TrainConfig,
    check_batch_split,
    demo_config,
    load_config,
    replicas,
)
from colorize_core.metric_registry import OBJECTIVES, REGISTRY


class SpecError(ValueError):
    """A sweep spec that cannot run, naming the file, the key and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metric(_Strict):
    name: str
    goal: Literal["maximize", "minimize"] = "maximize"

    @field_validator("name")
    @classmethod
    def _reported(cls, name: str) -> str:
        if name not in REGISTRY:
            raise ValueError(f"no trial reports metric {name!r}; objectives a trial reports: {sorted(OBJECTIVES)}")
        if name not in OBJECTIVES:
            raise ValueError(f"{name!r} is reported but is not an objective ({REGISTRY[name].meaning}); "
                             f"objectives: {sorted(OBJECTIVES)}")  # fmt: skip
        return name

    @property
    def mode(self) -> str:
        return "max" if self.goal == "maximize" else "min"


class Search(_Strict):
    method: Literal["tpe", "random", "grid", "cmaes", "nsga2"] = "tpe"
    seed: int = 0


class Values(_Strict):
    values: list[Any] = Field(min_length=1)


class Distribution(_Strict):
    distribution: Literal["uniform", "log_uniform", "int_uniform"]
    min: float
    max: float

    @model_validator(mode="after")
    def _bounds(self) -> "Distribution":
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.distribution == "log_uniform" and self.min <= 0:
            raise ValueError(f"log_uniform needs positive bounds, got min {self.min}")
        if self.distribution == "int_uniform" and (self.min != int(self.min) or self.max != int(self.max)):
            raise ValueError(f"int_uniform needs whole-number bounds, got {self.min}..{self.max}")
        return self


class Constant(_Strict):
    value: Any


Parameter = Union[Values, Distribution, Constant]


class EarlyStop(_Strict):
    type: Literal["asha", "none"] = "asha"
    grace_epochs: int = Field(1, ge=1)
    reduction_factor: float = Field(2.0, gt=1)


class Budget(_Strict):
    max_trials: int = Field(8, gt=0)
    max_concurrent: int = Field(1, gt=0)
    epochs_per_trial: int = Field(3, gt=0)
    time_budget: float | None = Field(None, gt=0, description="Seconds; the sweep stops starting trials after it.")


class Resources(_Strict):
    workers: int = Field(1, gt=0)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    train_in_trial: bool = Field(
        True,
        description="A one-worker trial trains in the Tune trial's own process (no Ray Train worker group "
        "to start: ~20 s less per trial); false fits a Ray Train run per trial, as wider trials do.",
    )


class Tracking(_Strict):
    """What each trial's MLflow run gets beyond its metrics."""

    sample_every: int = Field(1, ge=1, description="Epochs between sample grids; the last epoch always gets one.")
    sample_images: int = Field(4, ge=1, le=16, description="Validation images in each sample grid.")


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    base: str | dict | None = None
    metric: Metric | None = None
    metrics: list[Metric] | None = None
    search: Search = Search()
    parameters: dict[str, Parameter] = Field(min_length=1)
    early_stop: EarlyStop = EarlyStop()
    budget: Budget = Budget()
    resources: Resources = Resources()
    tracking: Tracking = Tracking()

    @field_validator("parameters", mode="before")
    @classmethod
    def _parse_parameters(cls, parameters: Any) -> Any:
        """Each entry by its keys, so that an error names one parameter and one expectation."""
        if not isinstance(parameters, dict):
            raise ValueError(f"expected a mapping of config paths to parameters, got {type(parameters).__name__}")
        parsed = {}
        for key, p in parameters.items():
            if not isinstance(p, dict):
                p = {"value": p}
            kind = Values if "values" in p else Distribution if "distribution" in p else Constant if "value" in p else None
            if kind is None:
                raise ValueError(f"{key}: expected 'values', 'distribution' with 'min'/'max', or 'value'; got {p}")
            try:
                parsed[key] = kind.model_validate(p)
            except ValidationError as err:
                problems = "; ".join(_describe(e, top="") for e in err.errors())
                raise ValueError(f"{key}: {problems}") from None
        return parsed

    @model_validator(mode="after")
    def _objectives(self) -> "SweepSpec":
        if (self.metric is None) == (self.metrics is None):
            raise ValueError("give exactly one of 'metric' (one objective) or 'metrics' (several)")
        if self.metrics is not None and self.search.method not in ("nsga2", "random", "tpe"):
            raise ValueError(f"search.method {self.search.method!r} takes one objective; use nsga2 or tpe for 'metrics'")
        if self.search.method == "grid":
            searched = [k for k, p in self.parameters.items() if isinstance(p, Distribution)]
            if searched:
                raise ValueError(f"grid search needs 'values' for every parameter; {searched} are distributions")
        return self

    @property
    def objectives(self) -> list[Metric]:
        return self.metrics if self.metrics is not None else [self.metric]

    @property
    def searched(self) -> dict[str, Parameter]:
        return {k: p for k, p in self.parameters.items() if not isinstance(p, Constant)}

    @property
    def constants(self) -> dict[str, Any]:
        return {k: p.value for k, p in self.parameters.items() if isinstance(p, Constant)}

    def example_overrides(self) -> dict[str, Any]:
        """One value per parameter, for checking that every path and value fits the config."""
        out = dict(self.constants)
        for key, p in self.searched.items():
            if isinstance(p, Values):
                out[key] = p.values[0]
            else:
                out[key] = int(p.min) if p.distribution == "int_uniform" else p.min
        return out


def load_spec(path: str | Path) -> tuple[SweepSpec, TrainConfig]:
    """Read and check a spec and its base config; every problem is a SpecError naming the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: sweep spec not found") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping with name, metric, parameters, ...; got {type(raw).__name__}")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(f"{path}: " + "; ".join(_describe(e) for e in err.errors())) from None
    base = _base_config(spec, path)
    for key, value in spec.example_overrides().items():
        try:
            base.with_overrides({key: value})
        except ConfigError as err:
            raise SpecError(f"{path}: parameters.{key}: {err}") from None
        except ValidationError as err:
            raise SpecError(f"{path}: parameters.{key}: " + "; ".join(e["msg"] for e in err.errors())) from None
    trial = base.with_overrides(spec.example_overrides())
    count = replicas(spec.resources.workers, spec.resources.gpus_per_worker)
    batches = spec.parameters.get("data.batch_size")
    for batch in batches.values if isinstance(batches, Values) else [trial.data.batch_size]:
        try:
            check_batch_split(batch, count, over=f"resources.workers ({count} replicas)")
        except ConfigError as err:
            raise SpecError(f"{path}: {err}") from None
    if isinstance(spec.parameters.get("epochs"), (Values, Distribution)):
        raise SpecError(f"{path}: parameters.epochs: the trial length is budget.epochs_per_trial, not a parameter")
    return spec, base


def _base_config(spec: SweepSpec, path: Path) -> TrainConfig:
    try:
        if spec.base is None:
            return demo_config()
        if isinstance(spec.base, dict):
            return TrainConfig.model_validate(spec.base)
        return load_config((path.parent / spec.base).resolve())
    except ConfigError as err:
        raise SpecError(f"{path}: base: {err}") from None
    except ValidationError as err:
        raise SpecError(f"{path}: base: " + "; ".join(_describe(e) for e in err.errors())) from None


def _describe(error: dict, top: str = "(top level): ") -> str:
    where = ".".join(str(p) for p in error["loc"] if not str(p).startswith(("Values", "Distribution", "Constant")))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}" if where else f"{top}{message}"
