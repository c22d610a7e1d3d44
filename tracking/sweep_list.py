"""The sweeps in a tracking store, one summary each, for ``chromasweep sweeps``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities import ViewType

from colorize_core.status import RunStatus
from costs.meter import COST_METRIC
from tracking.store import children_of, latest_run
from tracking.sweep_run import RUN_CAP_TAG, SWEEP_PATH_TAG
from tracking.trial_run import KIND_TAG, STATUS_TAG


@dataclass(frozen=True)
class SweepSummary:
    name: str
    run_id: str
    state: str  # MLflow's run state: RUNNING, FINISHED, FAILED, KILLED
    finished: int
    stopped: int  # early, by the scheduler
    failed: int  # diverged, errored or lost to an interruption
    cap: str  # run_cap, or "-" when the sweep ran until its time budget
    objective: str
    best: float | None
    best_trial: str | None
    started: dt.datetime
    storage: str
    cost_usd: float | None  # the sum of its trials' estimates; None: the sweep has not closed


def finished_trials(uri: str, sweep_name: str) -> list[tuple[dict[str, str], dict[str, float]]]:
    """The params and last metrics of the trials of ``sweep_name``'s latest run that finished or were
    stopped early (their metrics are valid); raises LookupError if the store has no such sweep."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(sweep_name)
    parent = latest_run(client, experiment.experiment_id, f"tags.`{KIND_TAG}` = 'sweep'") if experiment else None
    if parent is None:
        raise LookupError(f"no sweep named {sweep_name!r} in the tracking store {uri}")
    ranked = {RunStatus.FINISHED.value, RunStatus.STOPPED_EARLY.value}
    return [(c.data.params, c.data.metrics) for c in _trials(client, parent) if c.data.tags.get(STATUS_TAG) in ranked]


def list_sweeps(uri: str) -> list[SweepSummary]:
    """Every sweep's parent run in the store, newest first."""
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    if not experiments:
        return []
    parents = client.search_runs(experiments, f"tags.`{KIND_TAG}` = 'sweep'", order_by=["attributes.start_time DESC"])
    out = []
    for run in parents:
        statuses = [c.data.tags.get(STATUS_TAG, "") for c in _trials(client, run)]
        objective = run.data.params.get("metric.name", "")
        out.append(
            SweepSummary(
                name=run.info.run_name,
                run_id=run.info.run_id,
                state=run.info.status,
                finished=statuses.count(RunStatus.FINISHED),
                stopped=statuses.count(RunStatus.STOPPED_EARLY),
                failed=sum(s.startswith((RunStatus.DIVERGED, RunStatus.ERROR, RunStatus.LOST)) for s in statuses),
                cap=run.data.tags.get(RUN_CAP_TAG) or run.data.params.get("run_cap", "-"),
                objective=objective,
                best=run.data.metrics.get(f"best_{objective}"),
                best_trial=run.data.tags.get("best_trial"),
                started=dt.datetime.fromtimestamp(run.info.start_time / 1000),
                storage=run.data.tags.get(SWEEP_PATH_TAG, ""),
                cost_usd=run.data.metrics.get(COST_METRIC),
            )
        )
    return out


def _trials(client: MlflowClient, sweep_run) -> list:
    """The trial runs under a sweep's parent run."""
    return client.search_runs([sweep_run.info.experiment_id], children_of(sweep_run.info.run_id))
