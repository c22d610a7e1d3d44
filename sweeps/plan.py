"""A sweep spec compiled into what runs it, without Ray: Optuna's search space and sampler, the
trial cap, the early-termination milestones, and ``chromasweep sweep --dry-run``'s plan and draws.

``search`` hands these same objects to Ray Tune, so a dry run's draws are the sweep's first
trials for as long as the sampler draws at random (TPE's first 10 trials, every random trial, a
grid's order).
"""

from __future__ import annotations

from typing import Any

import optuna
import optuna.distributions as od

from colorize_core.config import flatten
from costs.prices import usd
from sweeps.spec import Method, SweepSpec, trial_rate

# Optuna's TPESampler draws at random for its first n_startup_trials (its default, written out).
TPE_STARTUP_TRIALS = 10


def search_space(spec: SweepSpec) -> dict[str, od.BaseDistribution]:
    if spec.method is Method.GRID:
        return {k: od.CategoricalDistribution(p.choices) for k, p in spec.searched.items()}
    return {k: p.optuna() for k, p in spec.searched.items()}


def sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    seed = spec.chromasweep.seed
    return {
        Method.GRID: lambda: optuna.samplers.GridSampler({k: p.choices for k, p in spec.searched.items()}, seed=seed),
        Method.BAYES: lambda: optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=TPE_STARTUP_TRIALS
        ),
        Method.RANDOM: lambda: optuna.samplers.RandomSampler(seed=seed),
        Method.CMAES: lambda: optuna.samplers.CmaEsSampler(seed=seed),
        Method.NSGA2: lambda: optuna.samplers.NSGAIISampler(seed=seed),
    }[spec.method]()


def milestones(spec: SweepSpec) -> list[int]:
    """The epochs at which trials are compared (W&B's bands, equal to ASHA's rungs: the spec checks
    it); empty without early termination."""
    stop = spec.early_terminate
    return [] if stop is None else stop.bands(spec.chromasweep.budget.epochs_per_trial)


def worst_case_trial_epochs(spec: SweepSpec) -> int | None:
    cap = spec.trial_cap
    return None if cap is None else cap * spec.chromasweep.budget.epochs_per_trial


def describe(spec: SweepSpec) -> list[str]:
    """The compiled plan, as ``--dry-run`` prints it."""
    c = spec.chromasweep
    b, r = c.budget, c.resources
    objectives = ", ".join(
        f"{m.name} ({m.goal.value}{f', target {m.target:g}' if m.target is not None else ''})" for m in spec.objectives
    )
    lines = [f"sweep {spec.name}: {objectives}"]
    sampler_name = type(sampler(spec)).__name__
    lines.append(
        f"  sampler    {spec.method.value} = Optuna {sampler_name}, seed {c.seed}"
        + (f", TPE's first {TPE_STARTUP_TRIALS} trials at random" if spec.method is Method.BAYES else "")
    )
    if spec.early_terminate is None:
        lines.append("  scheduler  none: every trial runs all its epochs")
    else:
        e = spec.early_terminate
        lines.append(
            f"  scheduler  hyperband = Ray ASHA, grace {e.grace} epoch(s), reduction factor {e.eta:g}; "
            f"trials compared at epochs {milestones(spec)}"
        )
    cap = spec.trial_cap
    if spec.method is Method.GRID:
        note = f"grid of {spec.grid_size} configurations"
        if spec.run_cap is not None and spec.run_cap < spec.grid_size:
            note += f", run_cap {spec.run_cap}: only {spec.run_cap} of them run"
        elif spec.run_cap is not None and spec.run_cap > spec.grid_size:
            note += f", run_cap {spec.run_cap}: the grid ends after {spec.grid_size} (a grid never repeats one)"
        lines.append(f"  trials     {cap} ({note})")
    else:
        lines.append(f"  trials     {cap if cap is not None else 'until the time budget ends'}")
    lines.append(
        f"  budget     {b.epochs_per_trial} epochs per trial, {b.max_concurrent} at a time"
        + (f", stop starting trials after {b.time_budget:g} s" if b.time_budget else "")
    )
    lines.append(
        f"  resources  per trial {r.workers} worker(s) x ({r.cpus_per_worker:g} CPU, {r.gpus_per_worker:g} GPU)"
        + (", trained in the trial's own process" if r.workers == 1 and r.train_in_trial else ", a Ray Train run")
        + f"; restarted from its checkpoint up to {r.max_failures} time(s)"
    )
    worst = worst_case_trial_epochs(spec)
    lines.append(f"  worst case {worst if worst is not None else 'unbounded'} trial-epochs (no trial stopped early)")
    lines += describe_cost(spec)
    for key in spec.searched:
        lines.append(f"  search     {key}: {_describe_parameter(spec, key)}")
    for key, value in spec.constants.items():
        lines.append(f"  constant   {key} = {value!r}")
    if c.warm_start:
        lines.append(f"  warm start {len(c.warm_start)} configuration(s) evaluated first")
    if c.warm_start_from:
        lines.append(
            f"  warm start the finished trials of sweep {c.warm_start_from}, read from the tracking store "
            "at launch (so the draws below are the first ones only without it)"
        )
    return lines


def describe_cost(spec: SweepSpec) -> list[str]:
    """A trial's rate, and the sweep's worst-case cost where its budget bounds its time or its spend."""
    b, rate = spec.chromasweep.budget, trial_rate(spec)
    lines = [f"  cost       {usd(rate.usd_per_hour)}/h a trial, an estimate: {rate.basis}"]
    bounds = []
    if b.time_budget:
        worst = b.time_budget / 3600 * b.max_concurrent * rate.usd_per_hour
        bounds.append(
            f"{usd(worst)} (time_budget {b.time_budget / 3600:.3g} h x {b.max_concurrent} trials at a time: "
            "Tune stops every trial when it ends)"
        )
    if b.max_cost_usd:
        bounds.append(f"max_cost_usd {b.max_cost_usd:g} (plus what running trials overrun the estimate by)")
    cap, epoch = worst_case_trial_epochs(spec), spec.chromasweep.cost.epoch_seconds
    if cap and epoch:
        bounds.append(f"{usd(cap * epoch / 3600 * rate.usd_per_hour)} ({cap} trial-epochs x {epoch:g} s)")
    if not bounds:
        epochs = f"{cap} trial-epochs" if cap else "no run_cap, no time_budget: unbounded"
        bounds.append(
            f"{epochs} at an epoch's time, unknown until chromasweep.cost.epoch_seconds states it "
            "(the live table shows each trial's cost as it runs)"
        )
    lines.append("  worst cost " + "; at most ".join(bounds))
    return lines


def _describe_parameter(spec: SweepSpec, key: str) -> str:
    p = spec.searched[key]
    dist = search_space(spec)[key]
    if isinstance(dist, od.CategoricalDistribution):
        return f"one of {list(dist.choices)}"
    scale = "log scale" if getattr(dist, "log", False) else "uniform"
    step = f", step {dist.step:g}" if isinstance(dist, od.FloatDistribution) and dist.step else ""
    return f"{p.distribution.value}: {dist.low:g} .. {dist.high:g}, {scale}{step}"


def draw(spec: SweepSpec, n: int) -> list[dict[str, Any]]:
    """The first ``n`` trial configurations (searched paths, plus epochs), as the sweep's searcher
    asks for them before any result comes back: warm-start points first, then the sampler's draws."""
    directions = [m.goal.value for m in spec.objectives]
    study = optuna.create_study(sampler=sampler(spec), directions=directions, pruner=optuna.pruners.NopPruner())
    for point in spec.chromasweep.warm_start:
        study.enqueue_trial(point)
    space = search_space(spec)
    cap = spec.trial_cap if spec.trial_cap is not None else n
    out = []
    for _ in range(min(n, cap)):
        trial = study.ask(fixed_distributions=space)
        out.append({**trial.params, "epochs": spec.chromasweep.budget.epochs_per_trial})
    return out


def quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


# Beside the spec's keys, the record keeps how many trials the sweep starts: derived, so not compared,
# but what a resumed Tune search takes as its trial count.
TRIAL_CAP = "trial_cap"


def record(spec: SweepSpec) -> dict[str, Any]:
    """The spec as the sweep's folder keeps it, flat, to tell a resumed sweep's spec from its own."""
    kept = flatten(spec.model_dump(mode="json", exclude_none=True, exclude={"description"}))
    return {**kept, TRIAL_CAP: spec.trial_cap}


def changed_keys(spec: SweepSpec, kept: dict[str, Any]) -> list[str]:
    now = record(spec)
    return sorted(k for k in (now.keys() | kept.keys()) - {TRIAL_CAP} if now.get(k) != kept.get(k))


def raised_cap(spec: SweepSpec, kept: dict[str, Any]) -> bool:
    """Whether the one edit is a higher run_cap, which a resumed sweep takes as more trials."""
    old = kept.get("run_cap")
    return changed_keys(spec, kept) == ["run_cap"] and isinstance(old, int) and (spec.run_cap or 0) > old
