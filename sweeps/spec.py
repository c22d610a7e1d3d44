"""Sweep specs: W&B's sweep configuration, extended; checked whole before Ray starts.

Every key W&B defines means here what it means in W&B; chromasweep's own settings live under one
key W&B never uses, ``chromasweep:``. The README's "Sweeps" section maps each key.

    name: demo
    method: bayes                                   # grid | random | bayes (TPE) | cmaes | nsga2
    metric: {name: val_psnr, goal: maximize}        # goal defaults to the metric's own direction
    parameters:
      loss:
        parameters:
          adversarial_weight: {distribution: log_uniform_values, min: 0.03, max: 0.3}
      optim.generator_lr: {values: [1.0e-4, 2.0e-4]}   # a dotted path is the same as nesting
      model.width: {value: 0.25}
    early_terminate: {type: hyperband, min_iter: 1, eta: 2}
    run_cap: 4
    chromasweep:
      base: ../../colorize_core/configs/demo.yaml   # the training config trials start from
      seed: 0
      budget: {epochs_per_trial: 3, max_concurrent: 1}
      resources: {workers: 1, cpus_per_worker: 1, gpus_per_worker: 0}

A parameter's path is the dotted path of a TrainConfig field: the same path the loss reads.
Anything that would be read with another meaning than W&B's is refused, naming the key and what
to write instead.
"""

from __future__ import annotations

import math
import types
import typing
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import optuna.distributions as od
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
    FAMILY_ONLY,
    ConfigError,
    Generator,
    TrainConfig,
    check_batch_split,
    demo_config,
    load_config,
    replicas,
)
from colorize_core.errors import ChromasweepError, describe_invalid, error_message, key_path
from colorize_core.metric_registry import OBJECTIVES, REGISTRY, Goal
from costs.prices import CostError, Rate, load_prices, price_trial


class SpecError(ChromasweepError, ValueError):
    """A sweep spec that cannot run, naming the file, the key and what was expected."""


class _Strict(BaseModel):
    # Unknown keys are refused; so are inf and nan, which no budget, bound or resource means.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# W&B keys that have no meaning here: a trial is this project's training function, in this Ray cluster.
NOT_HERE = {
    "program": "a trial runs chromasweep's own training function; there is no script to launch",
    "command": "a trial runs chromasweep's own training function; there is no command line to build",
    "entity": "runs are tracked in MLflow (--tracking-uri), not a W&B entity",
    "project": "runs are tracked in MLflow; the experiment is the sweep's name",
    "job": "a trial runs chromasweep's own training function, not a W&B Launch job",
    "image_uri": "trials run in the Ray cluster's own image",
    "controller": "Ray Tune on the driver is the controller",
    "scheduler": "W&B's custom scheduler has no counterpart; early termination is early_terminate",
    "apiVersion": "not a W&B Launch resource",
    "kind": "not a W&B Launch resource",
}
# The previous spelling of chromasweep's spec, refused with the key to write now.
MOVED = {
    "search": "'method: bayes' (TPE; or grid, random, cmaes, nsga2) and 'chromasweep: {seed: N}'",
    "early_stop": (
        "'early_terminate: {type: hyperband, min_iter: GRACE_EPOCHS, eta: REDUCTION_FACTOR}' (or leave it out)"
    ),
    "budget": (
        "'run_cap: MAX_TRIALS' and "
        "'chromasweep: {budget: {epochs_per_trial: ..., max_concurrent: ..., time_budget: ...}}'"
    ),
    "resources": "'chromasweep: {resources: {...}}'",
    "tracking": "'chromasweep: {tracking: {...}}'",
    "base": "'chromasweep: {base: ...}'",
    "metrics": "'chromasweep: {metrics: [...]}' (several objectives, each with name and goal)",
}
# Fields the sweep itself sets on every trial.
SET_BY_SWEEP = {
    "epochs": "the trial length is chromasweep.budget.epochs_per_trial",
    "name": "each trial is named after its Tune trial",
    "out_dir": "trials write under the sweep's --storage",
}


class Method(StrEnum):
    GRID = "grid"
    RANDOM = "random"
    BAYES = "bayes"  # Optuna's TPE sampler
    CMAES = "cmaes"
    NSGA2 = "nsga2"


class Metric(_Strict):
    name: str
    goal: Goal | None = None
    target: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_impute(cls, data: Any) -> Any:
        for key in ("impute", "impute_while_running"):
            if isinstance(data, dict) and key in data:
                raise ValueError(
                    f"{key}: W&B's bayes imputes failed runs' metric; here a failed trial is told to "
                    "Optuna as failed and a running one as running: remove it"
                )
        return data

    @field_validator("name")
    @classmethod
    def _reported(cls, name: str) -> str:
        if name not in REGISTRY:
            raise ValueError(f"no trial reports metric {name!r}; objectives a trial reports: {sorted(OBJECTIVES)}")
        if name not in OBJECTIVES:
            raise ValueError(
                f"{name!r} is reported but is not an objective ({REGISTRY[name].meaning}); "
                f"objectives: {sorted(OBJECTIVES)}"
            )
        return name

    @model_validator(mode="after")
    def _direction(self) -> Metric:
        known = REGISTRY[self.name].goal
        if self.goal is None:
            self.goal = known  # W&B would minimize; the registry knows which way is better
        elif self.goal != known:
            raise ValueError(
                f"goal {self.goal.value} for {self.name}, which is better when it is "
                f"{'higher' if known is Goal.MAXIMIZE else 'lower'}; write goal: {known.value} or leave it out"
            )
        return self

    @property
    def mode(self) -> str:
        return REGISTRY[self.name].mode


# W&B's distributions this project samples exactly, and the others with the nearest one that it does.
class Distribution(StrEnum):
    CONSTANT = "constant"
    CATEGORICAL = "categorical"
    INT_UNIFORM = "int_uniform"
    UNIFORM = "uniform"
    Q_UNIFORM = "q_uniform"
    LOG_UNIFORM = "log_uniform"  # bounds are natural-log exponents
    LOG_UNIFORM_VALUES = "log_uniform_values"
    INV_LOG_UNIFORM_VALUES = "inv_log_uniform_values"


NEAREST = {
    "normal": "uniform",
    "q_normal": "q_uniform",
    "log_normal": "log_uniform",
    "q_log_normal": "log_uniform",
    "beta": "uniform",
    "q_beta": "q_uniform",
    "q_log_uniform": "log_uniform",
    "q_log_uniform_values": "log_uniform_values",
    "inv_log_uniform": "inv_log_uniform_values",
    "categorical_w_probabilities": "categorical",
}
INTEGER = {Distribution.INT_UNIFORM}
RANGES = {d for d in Distribution if d not in (Distribution.CONSTANT, Distribution.CATEGORICAL)}


class Parameter(_Strict):
    """One W&B parameter: ``value``, ``values`` or a ``distribution`` with ``min``/``max`` (``q``)."""

    value: Any = None
    values: list[Any] | None = Field(None, min_length=1)
    probabilities: list[float] | None = None
    distribution: Distribution | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _supported(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("distribution"), str) and data["distribution"] in NEAREST:
            name = data["distribution"]
            raise ValueError(
                f"distribution {name} cannot be sampled exactly by Optuna's samplers; "
                f"the nearest one that can is {NEAREST[name]}"
            )
        if isinstance(data, dict) and "probabilities" in data:
            raise ValueError(
                "probabilities: Optuna's samplers draw 'values' uniformly, they cannot weight them; drop probabilities"
            )
        return data

    @model_validator(mode="after")
    def _kind(self) -> Parameter:
        given = self.model_fields_set
        if self.distribution is None:  # W&B's inference
            if "value" in given:
                self.distribution = Distribution.CONSTANT
            elif "values" in given:
                self.distribution = Distribution.CATEGORICAL
            elif {"min", "max"} <= given and self.min is not None and self.max is not None:
                whole = all(float(v).is_integer() for v in (self.min, self.max))  # refined in _parameter
                self.distribution = Distribution.INT_UNIFORM if whole else Distribution.UNIFORM
            else:
                raise ValueError("expected 'value', 'values', or 'min' and 'max' (with an optional 'distribution')")
        d = self.distribution
        needs = {Distribution.CONSTANT: {"value"}, Distribution.CATEGORICAL: {"values"}}.get(d, {"min", "max"})
        allowed = needs | {"distribution"} | ({"q"} if d is Distribution.Q_UNIFORM else set())
        if missing := needs - given:
            raise ValueError(f"distribution {d.value} needs {sorted(missing)}")
        if d is Distribution.CATEGORICAL and self.values is None:
            raise ValueError("'values' needs a list of at least one value, got null")
        if extra := given - allowed:
            raise ValueError(f"distribution {d.value} takes {sorted(needs)}, not {sorted(extra)}")
        if d in RANGES:
            if self.min is None or self.max is None:
                raise ValueError(
                    f"distribution {d.value} needs numbers for 'min' and 'max', got min {self.min}, max {self.max}"
                )
            self._check_bounds()
        return self

    def _check_bounds(self) -> None:
        d, lo, hi = self.distribution, self.min, self.max
        if lo > hi:
            raise ValueError(f"min {lo:g} is above max {hi:g}")
        if d is Distribution.INT_UNIFORM and not (lo.is_integer() and hi.is_integer()):
            raise ValueError(f"int_uniform needs whole-number bounds, got {lo:g}..{hi:g}")
        if d in (Distribution.LOG_UNIFORM_VALUES, Distribution.INV_LOG_UNIFORM_VALUES) and lo <= 0:
            hint = (
                f"; or, for exponents of e, write distribution: log_uniform "
                f"(min {lo:g} is e^{lo:g} = {math.exp(lo):.3g})"
                if d is Distribution.LOG_UNIFORM_VALUES
                else ""
            )
            raise ValueError(f"{d.value} needs positive bounds, got min {lo:g}{hint}")
        if d is Distribution.LOG_UNIFORM and hi > 700:
            raise ValueError(
                f"log_uniform bounds are exponents of e (W&B's meaning): max {hi:g} overflows; "
                f"for the values themselves write distribution: log_uniform_values"
            )
        if d is Distribution.Q_UNIFORM:
            q = self.q or 1.0
            if not (_multiple(lo, q) and _multiple(hi, q)):
                raise ValueError(
                    f"q_uniform: min {lo:g} and max {hi:g} must be multiples of q {q:g}, so that "
                    "Optuna's grid of steps is W&B's round(x/q)*q"
                )

    @property
    def choices(self) -> list[Any]:
        """The values a grid enumerates (and the only ones a categorical parameter takes)."""
        if self.distribution is Distribution.CATEGORICAL:
            return list(self.values)
        if self.distribution is Distribution.CONSTANT:
            return [self.value]
        if self.distribution is Distribution.INT_UNIFORM:
            return list(range(int(self.min), int(self.max) + 1))
        if self.distribution is Distribution.Q_UNIFORM:  # W&B's grid: np.arange(min, max, q), max left out
            q = self.q or 1.0
            return [round(self.min + i * q, 12) for i in range(round((self.max - self.min) / q))]
        raise ValueError(f"{self.distribution.value} is continuous: it has no finite list of values")

    def contains(self, value: Any) -> bool:
        """Whether the parameter can take ``value`` (a warm-start point, an earlier sweep's trial)."""
        if self.distribution in RANGES:
            low, high = self.bounds
            return isinstance(value, (int, float)) and low <= value <= high
        return value in self.choices

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value a range draws."""
        if self.distribution is Distribution.LOG_UNIFORM:
            return math.exp(self.min), math.exp(self.max)
        return self.min, self.max

    def optuna(self) -> od.BaseDistribution:
        """The Optuna distribution that draws this parameter as W&B would."""
        d = self.distribution
        if d is Distribution.CATEGORICAL:
            return od.CategoricalDistribution(self.values)
        if d is Distribution.INT_UNIFORM:
            return od.IntDistribution(int(self.min), int(self.max))
        if d is Distribution.UNIFORM:
            return od.FloatDistribution(self.min, self.max)
        if d is Distribution.Q_UNIFORM:
            return od.FloatDistribution(self.min, self.max, step=self.q or 1.0)
        # log_uniform: e^U(min, max); log_uniform_values: log X ~ U(log min, log max); the inverse of a
        # log-uniform draw on [1/max, 1/min] is log-uniform on [min, max]: all three are Optuna's log scale.
        low, high = self.bounds
        return od.FloatDistribution(low, high, log=True)


def _multiple(x: float, q: float) -> bool:
    return math.isclose(x / q, round(x / q), abs_tol=1e-9)


class Hyperband(_Strict):
    """W&B's hyperband early termination, run as Ray Tune's ASHA with one bracket (README: "Early
    termination"). Both compare trials at the same epochs (W&B's bands, ASHA's rungs), by the value
    at that epoch (W&B's strict mode, its default), and keep the best 1/eta of those that got there."""

    type: Literal["hyperband"]
    min_iter: int | None = Field(None, ge=1)
    max_iter: int | None = Field(None, ge=1)
    s: int | None = Field(None, ge=1)
    eta: float = Field(3.0, gt=1)
    strict: bool = True

    @model_validator(mode="after")
    def _form(self) -> Hyperband:
        if not self.strict:
            raise ValueError(
                "strict: false compares a trial's best value so far; ASHA compares the value at the "
                "milestone (W&B's strict: true, its default): leave strict out"
            )
        if self.min_iter is None and (self.max_iter is None or self.s is None):
            raise ValueError("hyperband needs min_iter, or max_iter with s")
        if self.min_iter is not None and self.max_iter is not None:
            raise ValueError("give min_iter, or max_iter with s, not both")
        return self

    def bands(self, epochs: int) -> list[int]:
        """W&B's milestones below a trial's last epoch (wandb/sweeps, hyperband_stopping.py)."""
        return [b for b in self._bands(epochs) if b < epochs]

    def _bands(self, epochs: int) -> list[int]:
        """W&B's milestones, ascending: max_iter / eta^k (k = 1..s, while at least 1), or
        min_iter * eta^k (from k = 0, up to the trial's last epoch)."""
        if self.max_iter is not None:
            bands, band = [], float(self.max_iter)
            for _ in range(self.s):
                band /= self.eta
                if band < 1:
                    break
                bands.append(int(band))
            return sorted(bands)
        bands, k = [], 0
        while (band := int(self.min_iter * self.eta**k)) < epochs:
            bands.append(band)
            k += 1
        return bands

    @property
    def grace(self) -> int:
        """ASHA's grace period: W&B's first milestone (max_iter itself when max_iter / eta is below 1)."""
        if self.min_iter is not None:
            return self.min_iter
        return (self._bands(0) or [self.max_iter])[0]


class Budget(_Strict):
    epochs_per_trial: int = Field(3, gt=0)
    max_concurrent: int = Field(1, gt=0)
    time_budget: float | None = Field(
        None, gt=0, description="Seconds; Tune stops the sweep, its running trials too, after it."
    )
    max_cost_usd: float | None = Field(
        None,
        gt=0,
        description="The sweep stops drawing trials once what they spent, what the running ones will spend "
        "and one more trial would pass it (an estimate: chromasweep.cost, costs/budget.py).",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_trials" in data:
            raise ValueError("max_trials is W&B's run_cap now: write 'run_cap: N' at the top level")
        return data


class Resources(_Strict):
    workers: int = Field(1, gt=0)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    max_failures: int = Field(
        2,
        ge=0,
        description="Restarts of a crashed trial (its process, or a Ray Train worker's node) from its latest "
        "checkpoint before it counts as an error; Spot workers want more.",
    )
    train_in_trial: bool = Field(
        True,
        description="A one-worker trial trains in the Tune trial's own process (no Ray Train worker group "
        "to start: 9.5 s of overhead a trial against 50.6, benchmarks/RESULTS.md section 4); "
        "false fits a Ray Train run per trial, as wider trials do.",
    )

    @model_validator(mode="after")
    def _one_gpu_each(self) -> Resources:
        if self.gpus_per_worker > 1:
            raise ValueError(
                f"gpus_per_worker {self.gpus_per_worker:g}: a worker trains one replica on one GPU, "
                f"the others would sit idle; write workers: {self.workers * math.ceil(self.gpus_per_worker)}, "
                "gpus_per_worker: 1"
            )
        return self


class Tracking(_Strict):
    """What each trial's MLflow run gets beyond its metrics."""

    sample_every: int = Field(1, ge=1, description="Epochs between sample grids; the last epoch always gets one.")
    sample_images: int = Field(4, ge=1, le=16, description="Validation images in each sample grid.")


class Cost(_Strict):
    """How each trial is priced: the share of a node of ``node_type`` it books, for its wall time, at
    the price table's rate (costs/prices.py). An estimate from list prices, not a bill."""

    node_type: str = Field("local", description="A node type of the price table (costs/prices.yaml).")
    spot: bool = Field(False, description="Priced as Spot (preemptible) nodes.")
    price_file: str | None = Field(None, description="A price table of your own, replacing or adding node types.")
    epoch_seconds: float | None = Field(
        None, gt=0, description="Your estimate of one epoch's wall time, for --dry-run's worst case by run_cap."
    )


class Options(_Strict):
    """chromasweep's own settings, under the one key W&B never uses."""

    base: str | dict | None = None
    seed: int = Field(0, ge=0, lt=2**32, description="The sampler's seed (numpy's range).")
    metrics: list[Metric] | None = Field(None, min_length=2)
    budget: Budget = Budget()
    resources: Resources = Resources()
    tracking: Tracking = Tracking()
    cost: Cost = Cost()
    warm_start: list[dict[str, Any]] = Field(
        default_factory=list, description="Configurations the search evaluates first (dotted paths to values)."
    )
    warm_start_from: str | None = Field(
        None,
        description="A sweep in the tracking store: its finished trials are told to the sampler before "
        "the first draw (those whose values lie in this spec's space).",
    )


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    method: Method
    metric: Metric | None = None
    parameters: dict[str, Parameter] = Field(min_length=1)
    early_terminate: Hyperband | None = None
    run_cap: int | None = Field(None, gt=0)
    chromasweep: Options = Options()

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in data:
            if key in NOT_HERE:
                raise ValueError(f"{key}: W&B's key has no meaning here ({NOT_HERE[key]}); remove it")
            if key in MOVED:
                raise ValueError(f"{key}: the previous spec format; write {MOVED[key]} (README, Sweeps)")
        if data.get("method") == "tpe":
            raise ValueError("method: tpe is written 'method: bayes' (chromasweep's bayes is Optuna's TPE)")
        if isinstance(data.get("early_terminate"), dict) and data["early_terminate"].get("type") != "hyperband":
            raise ValueError(
                f"early_terminate.type: {data['early_terminate'].get('type')!r}; W&B's only type is hyperband"
            )
        return data

    @field_validator("parameters", mode="before")
    @classmethod
    def _flatten(cls, parameters: Any) -> Any:
        if not isinstance(parameters, dict):
            raise ValueError(f"expected a mapping of config paths to parameters, got {type(parameters).__name__}")
        return {key: _parameter(key, p) for key, p in _flat_parameters(parameters, "").items()}

    @model_validator(mode="after")
    def _whole(self) -> SweepSpec:
        if (self.metric is None) == (self.chromasweep.metrics is None):
            raise ValueError("give exactly one of 'metric' (one objective) or 'chromasweep.metrics' (several)")
        if self.chromasweep.metrics is not None and self.chromasweep.warm_start_from is not None:
            raise ValueError("chromasweep.warm_start_from takes one objective ('metric'), not 'chromasweep.metrics'")
        if self.method is Method.GRID and self.chromasweep.warm_start_from is not None:
            raise ValueError("chromasweep.warm_start_from: a grid runs every configuration anyway; leave it out")
        if self.chromasweep.metrics is not None and self.method not in (Method.NSGA2, Method.RANDOM, Method.BAYES):
            raise ValueError(
                f"method {self.method.value} takes one objective; use nsga2 or bayes for chromasweep.metrics"
            )
        if self.method is Method.GRID:
            continuous = [
                k
                for k, p in self.searched.items()
                if p.distribution not in (Distribution.CATEGORICAL, Distribution.INT_UNIFORM, Distribution.Q_UNIFORM)
            ]
            if continuous:
                raise ValueError(
                    f"method grid enumerates values; {continuous} are continuous distributions: "
                    "give them 'values' (or int_uniform / q_uniform)"
                )
        elif self.run_cap is None and self.chromasweep.budget.time_budget is None:
            raise ValueError(
                f"run_cap: method {self.method.value} draws trials until stopped (as in W&B); "
                "write run_cap: N, or chromasweep.budget.time_budget in seconds"
            )
        stop, epochs = self.early_terminate, self.chromasweep.budget.epochs_per_trial
        if stop is not None:
            bands = stop.bands(epochs)
            if not bands:
                raise ValueError(
                    f"early_terminate: its first milestone, epoch {stop.grace}, is not before the last "
                    f"epoch of a trial (chromasweep.budget.epochs_per_trial {epochs}): no trial could "
                    "be stopped early; lower min_iter or drop early_terminate"
                )
            rungs = asha_rungs(stop.grace, stop.eta, epochs)
            if bands != rungs:
                raise ValueError(
                    f"early_terminate: W&B would compare trials at epochs {bands}, Ray's ASHA at {rungs}; "
                    "write min_iter with a whole-number eta (milestones min_iter * eta^k)"
                )
        return self

    def changed(self, changes: dict[str, Any]) -> SweepSpec:
        """A copy with spec keys replaced by dotted path (``run_cap``, ``chromasweep.budget.epochs_per_trial``,
        ``parameters.optim.critic_lr`` with a parameter mapping), checked as a whole again."""
        tree = self.model_dump(mode="json", exclude_unset=True)
        for path, value in changes.items():
            if path.startswith("parameters."):
                tree["parameters"][path.removeprefix("parameters.")] = value
                continue
            node, (*parents, leaf) = tree, path.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        return SweepSpec.model_validate(tree)

    @property
    def objectives(self) -> list[Metric]:
        return self.chromasweep.metrics if self.chromasweep.metrics is not None else [self.metric]

    @property
    def searched(self) -> dict[str, Parameter]:
        return {k: p for k, p in self.parameters.items() if p.distribution is not Distribution.CONSTANT}

    @property
    def constants(self) -> dict[str, Any]:
        return {k: p.value for k, p in self.parameters.items() if p.distribution is Distribution.CONSTANT}

    @property
    def grid_size(self) -> int | None:
        return math.prod(len(p.choices) for p in self.searched.values()) if self.method is Method.GRID else None

    @property
    def trial_cap(self) -> int | None:
        """How many trials the sweep starts at most; None: until its time budget ends."""
        if self.method is Method.GRID:
            return min(self.run_cap or self.grid_size, self.grid_size)  # a grid never repeats a configuration
        return self.run_cap


def trial_rate(spec: SweepSpec) -> Rate:
    """What one trial of this spec costs per hour of its wall time (costs/prices.py)."""
    c, r = spec.chromasweep.cost, spec.chromasweep.resources
    return price_trial(load_prices(c.price_file), c.node_type, c.spot, r.workers, r.cpus_per_worker, r.gpus_per_worker)


def asha_rungs(grace: int, eta: float, epochs: int) -> list[float]:
    """The epochs below a trial's last at which Ray's ASHA (one bracket) compares trials:
    grace * eta^k, as ray.tune.schedulers.async_hyperband._Bracket lays them out."""
    count = int(math.log(epochs / grace) / math.log(eta) + 1)
    rungs = sorted(grace * eta**k for k in range(count))
    return [int(r) if float(r).is_integer() else r for r in rungs if r < epochs]


def _flat_parameters(tree: dict, prefix: str) -> dict[str, Any]:
    """W&B's nested ``parameters:`` blocks, and section-level ``value`` dicts, as dotted paths."""
    out = {}
    for key, p in tree.items():
        path = f"{prefix}{key}"
        if isinstance(p, dict) and "parameters" in p:
            if set(p) != {"parameters"} or not isinstance(p["parameters"], dict):
                raise ValueError(f"{path}: a nested block holds only 'parameters:' (a mapping), got keys {sorted(p)}")
            out.update(_flat_parameters(p["parameters"], f"{path}."))
        elif isinstance(p, dict) and set(p) == {"value"} and isinstance(p["value"], dict):
            if "value" in p["value"]:  # {value: {value: ...}} would unfold forever; no config field is named so
                raise ValueError(f"{path}: a section's 'value' maps its field names to values; 'value' is not a field")
            # W&B would replace the whole section; merging field by field is what the writer means.
            out.update(_flat_parameters({k: {"value": v} for k, v in p["value"].items()}, f"{path}."))
        else:
            out[path] = p
    return out


def _parameter(key: str, p: Any) -> Parameter:
    if not isinstance(p, dict):
        raise ValueError(f"{key}: expected a mapping such as {{value: {p!r}}} (W&B's form), got {p!r}")
    if isinstance(p.get("values"), list) and any(isinstance(v, dict) for v in p["values"]):
        raise ValueError(
            f"{key}: 'values' of whole sections are not merged field by field; search each field as its own parameter"
        )
    try:
        param = Parameter.model_validate(p)
    except ValidationError as err:
        raise ValueError(f"{key}: {describe_invalid(err)}") from None
    if param.distribution is Distribution.INT_UNIFORM and "distribution" not in p:
        # W&B infers int_uniform only from integer-typed bounds; 1.0 stays a float.
        if not all(isinstance(p[b], int) for b in ("min", "max")):
            param = Parameter.model_validate({**p, "distribution": "uniform"})
    return param


def load_spec(path: str | Path) -> tuple[SweepSpec, TrainConfig]:
    """Read and check a spec and its base config; every problem is a SpecError naming the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: sweep spec not found") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: a folder; give one spec file in it, such as {path / 'demo.yaml'}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise SpecError(
            f"{path}: expected a mapping with name, method, metric, parameters, ...; got {type(raw).__name__}"
        )
    if where := _contains_itself(raw):
        raise SpecError(f"{path}: {where}: a YAML alias inside its own anchor; the spec would be infinitely deep")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(f"{path}: {describe_invalid(err, place=_spec_place)}") from None
    base = _base_config(spec, path)
    try:
        check_against_config(spec, base)
        trial_rate(spec)
    except (ConfigError, CostError) as err:
        raise SpecError(f"{path}: {err}") from None
    return spec, base


def _contains_itself(node: Any, inside: tuple[int, ...] = (), where: str = "") -> str | None:
    """The key path where a mapping or list holds itself (YAML allows it: ``a: &x {b: *x}``), if any."""
    if not isinstance(node, (dict, list)):
        return None
    if id(node) in inside:
        return where or "the top level"
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        if found := _contains_itself(child, (*inside, id(node)), f"{where}.{key}" if where else str(key)):
            return found
    return None


def check_against_config(spec: SweepSpec, base: TrainConfig) -> None:
    """Every parameter names a field, every value it can take fits that field, and the batch splits."""
    for key, p in spec.parameters.items():
        where = f"parameters.{key}"
        if key in SET_BY_SWEEP:
            raise ConfigError(f"{where}: {SET_BY_SWEEP[key]}, not a parameter")
        kind = _field_type(key)
        if p.distribution in RANGES and kind is not int and kind is not float:
            raise ConfigError(
                f"{where}: a field of type {getattr(kind, '__name__', kind)} takes 'values' or 'value', "
                f"not distribution {p.distribution.value}"
            )
        if kind is int and p.distribution in RANGES - INTEGER:
            raise ConfigError(
                f"{where}: an integer field; distribution {p.distribution.value} draws fractions. "
                "Write distribution: int_uniform (or values)"
            )
        samples = list(p.bounds) if p.distribution in RANGES else p.choices
        for value in samples:
            if kind is int and p.distribution in INTEGER:
                value = int(value)
            _fits(base, where, key, value)
    _searched_where_read(spec, base)
    for i, point in enumerate(spec.chromasweep.warm_start):
        where = f"chromasweep.warm_start[{i}]"
        if set(point) != set(spec.searched):
            raise ConfigError(
                f"{where}: give every searched parameter, exactly: {sorted(spec.searched)}; got {sorted(point)}"
            )
        for key, value in point.items():
            if not spec.searched[key].contains(value):
                raise ConfigError(f"{where}.{key}: {value!r} is outside parameters.{key}")
            _fits(base, where, key, value)
        _fits_together(base.with_overrides(spec.constants), where, point)  # cic refuses encoder_weights
    r = spec.chromasweep.resources
    count = replicas(r.workers, r.gpus_per_worker)
    batches = spec.searched.get("data.batch_size")
    for batch in batches.choices if batches is not None else [base.with_overrides(spec.constants).data.batch_size]:
        check_batch_split(batch, count, over=f"chromasweep.resources.workers ({count} replicas)")


def _searched_where_read(spec: SweepSpec, base: TrainConfig) -> None:
    """A parameter only one generator family reads is searched only in a sweep of that family."""
    if "model.generator" in spec.searched:
        families = {Generator(v) for v in spec.searched["model.generator"].choices}
    else:
        families = {base.with_overrides(spec.constants).model.generator}
    for key in spec.searched:
        family = FAMILY_ONLY.get(key)
        if family is None or families == {family}:
            continue
        others = " and ".join(sorted(f.value for f in families - {family}))
        own = {"loss.adversarial_weight": "; cic's critic weight is loss.cic_adversarial_weight"}.get(key, "")
        raise ConfigError(
            f"parameters.{key}: only {family.value} trials read it, so this sweep's {others} trials would "
            f"draw it for nothing; search it in a sweep of {family.value} trials alone{own}"
        )


def _fits(base: TrainConfig, where: str, key: str, value: Any) -> None:
    try:
        base.with_overrides({key: value})
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    except ValidationError as err:
        raise ConfigError(f"{where}: {value!r}: {describe_invalid(err, place=lambda e: '')}") from None


def _fits_together(base: TrainConfig, where: str, point: dict[str, Any]) -> None:
    try:
        base.with_overrides(point)
    except ValidationError as err:
        given = ", ".join(f"{k}: {v!r}" for k, v in point.items())
        raise ConfigError(f"{where}: {{{given}}} together: {describe_invalid(err, place=lambda e: '')}") from None


def _field_type(path: str) -> Any:
    """The Python type of a TrainConfig field (int, float, bool, str, or a Literal), by dotted path."""
    model: Any = TrainConfig
    *parents, leaf = path.split(".")
    for key in parents:
        field = model.model_fields.get(key) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            raise ConfigError(f"parameters.{path}: unknown config path {path!r}: {key!r} is not a section")
        model = field.annotation
    field = model.model_fields.get(leaf)
    if field is None:
        raise ConfigError(f"parameters.{path}: unknown config path {path!r}: no field {leaf!r}")
    kind = field.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        kind = options[0] if len(options) == 1 else kind
    return kind


def _base_config(spec: SweepSpec, path: Path) -> TrainConfig:
    base = spec.chromasweep.base
    try:
        if base is None:
            return demo_config()
        if isinstance(base, dict):
            return TrainConfig.model_validate(base)
        return load_config((path.parent / base).resolve())
    except ConfigError as err:
        raise SpecError(f"{path}: chromasweep.base: {err}") from None
    except ValidationError as err:
        raise SpecError(f"{path}: chromasweep.base: {describe_invalid(err, place=_spec_place)}") from None


def _spec_place(error: dict) -> str:
    """Where a spec error is: its key path, except that a check of one parameter names it first
    thing in its message, continued from 'parameters.'."""
    where = key_path(error)
    message = error_message(error)
    if where == "parameters" and not message.startswith("expected") and error["type"] != "missing":
        return "parameters."
    return where
