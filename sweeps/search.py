"""What a sweep searches with: Optuna's sampler behind Tune's concurrency limiter and trial generator,
and ASHA for W&B's hyperband; each made resumable from a sweep's saved state, and a raised run_cap
or a reached target honoured (``tune_sweep`` runs them)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna.distributions as od
from optuna.trial import TrialState, create_trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils.util import flatten_dict

from colorize_core.errors import ChromasweepError
from colorize_core.report import EpochReport
from costs.budget import CostBudget
from sweeps.plan import TRIAL_CAP, sampler, search_space
from sweeps.spec import SweepSpec


class WarmStartError(ChromasweepError, ValueError):
    pass


# The spec a sweep started with, in its folder beside Tune's state.
SPEC_RECORD = "chromasweep-spec.json"


class CappedSearch(OptunaSearch):
    """Optuna's search, ending the sweep once a trial reaches the metric's ``target`` (W&B: no new
    trials start, running ones finish) or once one more trial would pass the cost ``budget``."""

    def __init__(self, *args, target: float | None = None, budget: CostBudget | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._target, self._reached = target, False
        self._budget, self._spent_out = budget, None  # the budget's refusal, once it refused

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._ot_trials:  # else a restored trial this searcher never drew: told at its end
            super().on_trial_result(trial_id, result)
        self._count_cost(trial_id, result)
        value = result.get(self._first_metric)
        if self._target is not None and value is not None and math.isfinite(value):
            better = value >= self._target if self._first_mode == "max" else value <= self._target
            self._reached = self._reached or better

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._count_cost(trial_id, result, done=True)
        if trial_id in self._ot_trials or trial_id in self._completed_trials:
            super().on_trial_complete(trial_id, result, error)
        else:
            self._tell_restored(trial_id, result or {}, error)

    def _tell_restored(self, trial_id: str, result: dict, error: bool) -> None:
        """Tell Optuna how a trial ended that Tune restored but this searcher's saved state never drew.
        Tune saves its trial list and its searcher as two files, so a driver killed between them leaves
        the list newer; Optuna's own searcher then raises KeyError on the trial's first result, inside
        Tune's ``actor_manager._actor_task_resolved``. The trial's config says what was drawn."""
        self._completed_trials.add(trial_id)
        config = flatten_dict(result.get("config") or {})
        params = {name: config[name] for name in self._space if name in config}
        if len(params) < len(self._space):
            return
        values = [result.get(m) for m in (self.metric if isinstance(self.metric, list) else [self.metric])]
        done = not error and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
        state = TrialState.COMPLETE if done else TrialState.FAIL if error else TrialState.PRUNED
        self._ot_study.add_trial(
            create_trial(state=state, values=values if done else None, params=params, distributions=self._space)
        )

    def _count_cost(self, trial_id: str, result: dict | None, done: bool = False) -> None:
        if self._budget:
            report = EpochReport.read(result)
            self._budget.observe(trial_id, report.cost_usd, report.completed_epochs)
            if done:
                self._budget.close(trial_id)

    def suggest(self, trial_id: str):
        if self._budget and not self._spent_out and (why := self._budget.refusal()):
            self._spent_out = why
            print(f"[budget] {why}", flush=True)
        return Searcher.FINISHED if self._reached or self._spent_out else super().suggest(trial_id)

    @property
    def _first_metric(self) -> str:
        return self.metric[0] if isinstance(self.metric, list) else self.metric

    @property
    def _first_mode(self) -> str:
        return self.mode[0] if isinstance(self.mode, list) else self.mode


class RestoringLimiter(ConcurrencyLimiter):
    """Tune's concurrency limiter, passing on the end of a trial it never started (a trial restored
    newer than the searcher's state, see ``CappedSearch._tell_restored``), which Tune's drops."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self.live_trials:
            super().on_trial_complete(trial_id, result, error)
        else:
            self.searcher.on_trial_complete(trial_id, result=result, error=error)


class ExtendableSearch(SearchGenerator):
    """Tune's trial generator, which on resume takes its trial count from the spec record in the sweep's
    folder: Tune would keep the count it saved, so a raised run_cap could not extend the sweep."""

    def restore_from_dir(self, dirpath: str) -> None:
        super().restore_from_dir(dirpath)
        cap = json.loads((Path(dirpath) / SPEC_RECORD).read_text()).get(TRIAL_CAP)
        if cap is not None and cap > self._total_samples:
            # A target already reached stays reached: the searcher answers FINISHED again.
            self._total_samples, self._finished = cap, False
        # Tune's trial list is saved apart from this state (see CappedSearch), and it is the truth:
        # the trials drawn are the trials it holds, and those running are those it will run. A limiter
        # newer than the list would count a trial Tune never saved as running, for ever.
        trials = tune_trials(Path(dirpath))
        if trials is not None:
            self._counter = len(trials)
            if isinstance(self.searcher, ConcurrencyLimiter):
                self.searcher.live_trials = {t for t, status in trials.items() if status not in ("TERMINATED", "ERROR")}


def tune_trials(dirpath: Path) -> dict[str, str] | None:
    """Each trial's status in Tune's newest experiment state in ``dirpath``; None if there is none or
    its format is not the one Ray 2.60 writes."""
    states = sorted(dirpath.glob("experiment_state-*.json"))
    if not states:
        return None
    try:
        trials = [json.loads(state) for state, _ in json.loads(states[-1].read_text())["trial_data"]]
        return {t["trial_id"]: t["status"] for t in trials}
    except (KeyError, TypeError, ValueError):
        return None


def search_algorithm(spec: SweepSpec, evaluated: list[tuple[dict, float]]) -> ExtendableSearch:
    """What Tune's max_concurrent_trials would build, with our generator around it."""
    limited = RestoringLimiter(searcher(spec, evaluated), max_concurrent=spec.chromasweep.budget.max_concurrent)
    return ExtendableSearch(limited)


def searcher(spec: SweepSpec, evaluated: list[tuple[dict, float]] = ()) -> CappedSearch:
    """The spec's search; ``evaluated``: (config, objective) pairs it learns from before its first draw."""
    names = [m.name for m in spec.objectives]
    modes = [m.mode for m in spec.objectives]
    single = len(names) == 1
    search = CappedSearch(
        space=search_space(spec),
        metric=names[0] if single else names,
        mode=modes[0] if single else modes,
        sampler=sampler(spec),
        points_to_evaluate=spec.chromasweep.warm_start or None,
        target=spec.objectives[0].target,
        budget=CostBudget(b.max_cost_usd, b.epochs_per_trial) if (b := spec.chromasweep.budget).max_cost_usd else None,
    )
    for point, value in evaluated:
        search.add_evaluated_point(point, value)
    return search


def earlier_trials(spec: SweepSpec, tracking_uri: str | None, say) -> list[tuple[dict, float]]:
    """``chromasweep.warm_start_from``'s finished trials that lie in this spec's space, typed by it."""
    source = spec.chromasweep.warm_start_from
    if source is None:
        return []
    if tracking_uri is None:
        raise WarmStartError(f"chromasweep.warm_start_from: {source!r} is read from a tracking store; give one")
    from tracking.sweep_list import finished_trials

    try:
        trials = finished_trials(tracking_uri, source)
    except LookupError as err:
        raise WarmStartError(f"chromasweep.warm_start_from: {err}") from None
    space, metric = search_space(spec), spec.objectives[0].name
    kept = []
    for params, metrics in trials:
        point = {k: _typed(d, params.get(k)) for k, d in space.items()}
        if metric in metrics and all(v is not None and spec.searched[k].contains(v) for k, v in point.items()):
            kept.append((point, metrics[metric]))
    say(f"warm start: {len(kept)} of the {len(trials)} finished trials of sweep {source} lie in this space")
    return kept


def _typed(distribution, text: str | None):
    """An MLflow param (a string) as a value of ``distribution``; None if it is not one."""
    if text is None:
        return None
    if isinstance(distribution, od.CategoricalDistribution):
        return next((c for c in distribution.choices if str(c) == text), None)
    try:
        return int(text) if isinstance(distribution, od.IntDistribution) else float(text)
    except ValueError:
        return None


def scheduler(spec: SweepSpec):
    # W&B's hyperband as ASHA with one bracket, at the same milestones (spec.Hyperband, asha_rungs).
    # It ranks by one number, the first objective; its time unit is the epoch (W&B's iteration is
    # one logged value, and a trial logs its metric once per epoch).
    stop = spec.early_terminate
    if stop is None:
        return FIFOScheduler()
    first = spec.objectives[0]
    return ASHAScheduler(
        time_attr="epoch",
        metric=first.name,
        mode=first.mode,
        max_t=spec.chromasweep.budget.epochs_per_trial,
        grace_period=stop.grace,
        reduction_factor=stop.eta,
        # Let a trial that reached the last epoch end by itself, so it exports its model.
        stop_last_trials=False,
    )
