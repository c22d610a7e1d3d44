"""A sweep's parent run: the spec, its provenance, and at the end the trial table and Optuna's plots.

Opened on the driver before the first trial; its id goes down to every trial (``TrackingContext``)
so that each trial's rank-0 worker logs a child run under it. One experiment per sweep name, so the
MLflow UI shows a sweep's runs together, children folded under their parent.
"""

from __future__ import annotations

import csv
import io
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Param

from colorize_core.config import flatten
from colorize_core.status import LOST_WHY, RunStatus
from costs.meter import COST_METRIC
from tracking.store import TRAINING_VIEW, children_of, experiment_id, latest_run
from tracking.trial_run import (
    KIND_TAG,
    RUN_TAG,
    STATUS_TAG,
    TrackingContext,
    mlflow_state,
)

SWEEP_PATH_TAG = "chromasweep.sweep_path"  # where the sweep's Tune state lives: how a resume finds its run
COST_BASIS_TAG = "chromasweep.cost_basis"  # how the sweep's cost_usd was estimated
RUN_CAP_TAG = "chromasweep.run_cap"  # set when a resume raised run_cap: params cannot change, so the first stays
VERSIONED = ["chromasweep", "tensorflow", "keras", "ray", "mlflow", "optuna"]


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if out.returncode:
        return "unknown (not a git checkout)"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


class SweepRun:
    def __init__(self, uri: str, sweep_name: str, sweep_path: str, resume: bool):
        self.uri = uri
        self.client = MlflowClient(uri)
        self.experiment_id = experiment_id(self.client, sweep_name)
        self.resumed = False
        found = self._find(sweep_path) if resume else None
        if found:
            self.run_id, self.resumed = found, True
            self.client.update_run(found, status="RUNNING")
        else:
            tags = {KIND_TAG: "sweep", SWEEP_PATH_TAG: sweep_path, STATUS_TAG: RunStatus.RUNNING}
            self.run_id = self.client.create_run(self.experiment_id, run_name=sweep_name, tags=tags).info.run_id

    def _find(self, sweep_path: str) -> str | None:
        query = f"tags.`{KIND_TAG}` = 'sweep' and tags.`{SWEEP_PATH_TAG}` = '{sweep_path}'"
        run = latest_run(self.client, self.experiment_id, query)
        return run.info.run_id if run else None

    def context(self, sample_every: int, sample_images: int) -> TrackingContext:
        return TrackingContext(
            uri=self.uri,
            experiment_id=self.experiment_id,
            parent_run_id=self.run_id,
            sample_every=sample_every,
            sample_images=sample_images,
        )

    def log_start(self, spec: dict, spec_yaml: str, data_source: str) -> None:
        """The spec as an artifact and as params; provenance as tags. Once: a resume keeps them."""
        if self.resumed:
            return
        params = {k: v for k, v in flatten(spec).items() if not k.startswith("chromasweep.base")}
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        tags = {"git_commit": git_commit(), "data_source": data_source}
        tags.update({f"version.{p}": _version(p) for p in VERSIONED})
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)
        self.client.log_text(self.run_id, spec_yaml, "sweep_spec.yaml")

    def log_extension(self, run_cap: int, spec_yaml: str) -> None:
        """A resume that raised run_cap: the new cap, and the spec that raised it beside the first."""
        self.client.set_tag(self.run_id, RUN_CAP_TAG, str(run_cap))
        self.client.log_text(self.run_id, spec_yaml, f"sweep_spec.run_cap_{run_cap}.yaml")

    def log_outcome(
        self, trials: list[dict], objective: str, mode: str, space: dict, best: dict | None, cost_explained: str
    ) -> None:
        """Close every child with its final status; the trial table, Optuna's plots and the sweep's cost
        (the sum of its trials', with how a trial is priced) on the parent.

        ``trials``: one dict per trial with name, status (a RunStatus), params, metric, epochs, history (a list
        of per-epoch metric dicts) and cost_usd; ``space``: the searched parameters' Optuna distributions."""
        self._close_children({t["name"]: t["status"] for t in trials})
        self.client.log_text(self.run_id, _table_csv(trials, space), "trials.csv")
        with tempfile.TemporaryDirectory() as tmp:
            from tracking.optuna_plots import write_plots

            notes = write_plots(trials, objective, mode, space, Path(tmp))
            self.client.log_artifacts(self.run_id, tmp, "optuna")
        for note in notes:
            print(f"[mlflow] {note}", flush=True)
        if best is not None:
            self.client.set_tag(self.run_id, "best_trial", best["name"])
            self.client.log_metric(self.run_id, f"best_{objective}", float(best["metric"]))
        self.client.log_metric(self.run_id, COST_METRIC, sum(t.get(COST_METRIC) or 0.0 for t in trials))
        self.client.set_tag(self.run_id, COST_BASIS_TAG, cost_explained)
        finished = sum(t["status"] is RunStatus.FINISHED for t in trials)
        self.client.set_tag(self.run_id, STATUS_TAG, f"{finished} of {len(trials)} trials finished")
        self.client.set_terminated(self.run_id, "FINISHED")

    def _close_children(self, statuses: dict[str, RunStatus]) -> None:
        """Each trial's run (its latest, if a name has several) with the trial's final status, and the
        runs of trials Tune no longer knows. Tune saves the sweep's state every few seconds; a trial
        started in between by a sweep that was then killed is sampled afresh on resume, under a new
        name. Its run is deleted if it logged nothing, otherwise kept as KILLED and tagged lost."""
        query = children_of(self.run_id)
        closed = set()
        for child in self.client.search_runs(
            [self.experiment_id], query, max_results=10000, order_by=["attributes.start_time DESC"]
        ):
            name, run_id = child.data.tags.get(RUN_TAG), child.info.run_id
            status = statuses.get(name, RunStatus.LOST)
            if name in closed:
                continue
            if status is RunStatus.LOST and not child.data.metrics:
                self.client.delete_run(run_id)
                continue
            closed.add(name)
            self.client.set_tag(run_id, STATUS_TAG, f"{status}: {LOST_WHY}" if status is RunStatus.LOST else status)
            self.client.set_terminated(run_id, mlflow_state(status))

    @classmethod
    def existing(cls, uri: str, run_id: str) -> SweepRun:
        """The sweep's run as it is, without creating or reopening anything (``chromasweep sync``)."""
        self = cls.__new__(cls)
        self.uri, self.client, self.run_id, self.resumed = uri, MlflowClient(uri), run_id, True
        self.experiment_id = self.client.get_run(run_id).info.experiment_id
        return self

    def close_synced(self, statuses: dict[str, RunStatus]) -> bool:
        """Close a run its driver could not close (tracking was down at the sweep's end): the children
        with their final statuses, then the run itself. False if it was closed already."""
        if self.client.get_run(self.run_id).info.status != "RUNNING":
            return False
        self._close_children(statuses)
        finished = sum(s is RunStatus.FINISHED for s in statuses.values())
        self.client.set_tag(
            self.run_id,
            STATUS_TAG,
            f"{finished} of {len(statuses)} trials finished "
            "(closed by chromasweep sync: no trials.csv or Optuna plots)",
        )
        self.client.set_terminated(self.run_id, "FINISHED")
        return True

    def fail(self, error: BaseException) -> None:
        self.client.set_tag(self.run_id, STATUS_TAG, f"failed: {type(error).__name__}: {error}"[:5000])
        self.client.set_terminated(self.run_id, "FAILED")

    @property
    def url_path(self) -> str:
        """The sweep's experiment in the UI's training view: its runs, this one with its trials folded under it."""
        return f"#/experiments/{self.experiment_id}?{TRAINING_VIEW}"


def _table_csv(trials: list[dict], space: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    keys = list(space)
    writer.writerow(["trial", "status", "epochs", "metric", *keys])
    for t in trials:
        writer.writerow(
            [
                t["name"],
                t["status"],
                t["epochs"],
                "" if t["metric"] is None else t["metric"],
                *(t["params"].get(k, "") for k in keys),
            ]
        )
    return out.getvalue()
