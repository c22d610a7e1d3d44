"""Promotion: a sweep's best finished trial becomes a registered model version, and the alias
``@champion`` moves to it only if it beats the current champion on the held-out split.

Both models are scored now, by the same code, on the same images (the candidate's held-out split),
so the decision does not rest on numbers logged under different conditions. The decision and its
reason are tags on the new version either way, beside the lineage: sweep, trial, runs, data, commit.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from colorize_core.errors import ChromasweepError
from colorize_core.metric_registry import HELD_OUT_SCORES as METRICS
from colorize_core.metric_registry import Goal
from colorize_core.model_files import MODEL_INFO
from colorize_core.status import RunStatus
from tracking.store import children_of, connect, latest_run
from tracking.trial_run import KIND_TAG, MODEL_URI_TAG, STATUS_TAG
from tracking.turing_results import STUDY_TAG

UNITS = {"psnr": " dB"}


class PromotionError(ChromasweepError, ValueError):
    """Nothing can be promoted: no such sweep, no finished trial with a model, a bad metric."""


def parse_goal(text: str) -> float:
    """A fooling-rate goal as a fraction: '10%' or '0.10', or a goal's name (base, target, stretch).
    A bare number of 1 or more (is '10' ten per cent or a thousand?) is refused."""
    from turing.report import GOALS

    value = text.strip()
    try:
        goal = GOALS[value] if value in GOALS else float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        goal = float("nan")
    if not 0 < goal < 1:
        names = ", ".join(f"{k} ({v:.0%})" for k, v in GOALS.items())
        raise PromotionError(f"expected a fooling rate such as 10% or 0.10, or one of {names}; got {text!r}")
    return goal


def turing_gate(trial, goal: float) -> str | None:
    """Why the trial's model may not become champion under a Turing goal, or None when its reported
    study's whole interval is at or above ``goal``."""
    from turing.report import FOOLING_CI_LOW, FOOLING_RATE

    metrics, study = trial.data.metrics, trial.data.tags.get(STUDY_TAG)
    if study is None or FOOLING_CI_LOW not in metrics:
        return (
            f"no Turing study reported for {trial.info.run_name}'s model (run {trial.info.run_id}), and "
            f"--require-turing {goal:.0%} asks for one: 'chromasweep turing create STUDY --model "
            f"runs:/{trial.info.run_id}/model --images HELD_OUT', then 'chromasweep turing report STUDY'"
        )
    low = metrics[FOOLING_CI_LOW]
    if low < goal:
        return (
            f"study {study}: {metrics.get(FOOLING_RATE, float('nan')):.1%} fooled, the interval's lower end "
            f"{low:.1%} is below the goal {goal:.0%}; more participants or a better model"
        )
    return None


@dataclass
class Promotion:
    model_name: str
    version: str
    promoted: bool
    reason: str
    candidate_scores: dict[str, float]
    champion_version: str | None
    champion_scores: dict[str, float] | None
    trial: str


def find_sweep_run(client: MlflowClient, sweep: str):
    """The latest parent run of the sweep named ``sweep`` (its experiment), or a run id."""
    experiment = client.get_experiment_by_name(sweep)
    if experiment is not None:
        run = latest_run(client, experiment.experiment_id, f"tags.`{KIND_TAG}` = 'sweep'")
        if run is not None:
            return run
    try:
        run = client.get_run(sweep)
        if run.data.tags.get(KIND_TAG) == "sweep":
            return run
    except MlflowException:
        pass
    known = sorted(e.name for e in client.search_experiments() if e.name != "Default")
    raise PromotionError(f"no sweep {sweep!r} in {client.tracking_uri}; sweeps there: {known or 'none'}")


def finished_trials(client: MlflowClient, sweep_run) -> list:
    """The sweep run's finished children, by run name."""
    query = f"{children_of(sweep_run.info.run_id)} and tags.`{STATUS_TAG}` = '{RunStatus.FINISHED}'"
    children = client.search_runs([sweep_run.info.experiment_id], query, max_results=1000)
    return sorted(children, key=lambda r: r.info.run_name)


def trial_models(client: MlflowClient, sweep: str) -> list[tuple[str, str]]:
    """(label, model URI) of each finished trial of ``sweep`` that logged a model; the label is the run's
    name and the parameters that differ between these trials (what the sweep varied)."""
    sweep_run = find_sweep_run(client, sweep)
    found = [r for r in finished_trials(client, sweep_run) if MODEL_URI_TAG in r.data.tags]
    if not found:
        raise PromotionError(
            f"sweep {sweep_run.info.run_name!r} ({sweep_run.info.run_id}) has no finished trial with a logged model"
        )
    keys = sorted({k for r in found for k in r.data.params})
    varied = [k for k in keys if len({r.data.params.get(k) for r in found}) > 1 and k != "name"]
    labels = [" ".join([r.info.run_name, *(f"{k}={r.data.params.get(k)}" for k in varied)]) for r in found]
    return [(label, r.data.tags[MODEL_URI_TAG]) for label, r in zip(labels, found, strict=True)]


def best_trial(client: MlflowClient, sweep_run, metric: str):
    """The finished child with a logged model and the best final ``val_<metric>``."""
    children = finished_trials(client, sweep_run)
    key = f"val_{metric}"
    ranked = [r for r in children if MODEL_URI_TAG in r.data.tags and key in r.data.metrics]
    if not ranked:
        raise PromotionError(
            f"sweep {sweep_run.info.run_name!r} ({sweep_run.info.run_id}) has no finished trial with a logged "
            f"model and metric {key!r} ({len(children)} finished trials)"
        )
    sign = 1 if METRICS[metric] is Goal.MAXIMIZE else -1
    return max(ranked, key=lambda r: sign * r.data.metrics[key])


def _beats(candidate: float, champion: float, metric: str) -> bool:
    return candidate > champion if METRICS[metric] is Goal.MAXIMIZE else candidate < champion


def _fmt(value: float, metric: str) -> str:
    return f"{value:.4f}{UNITS.get(metric, '')}"


def promote(
    sweep: str,
    metric: str = "auc_rebalanced",
    model_name: str = "colorizer",
    tracking_uri: str | None = None,
    alias: str = "champion",
    max_images: int | None = None,
    require_turing: float | None = None,
) -> Promotion:
    """Register the sweep's best trial; ``alias`` moves to it if it beats the current holder on the
    held-out split and, with ``require_turing`` (a fooling rate), if its reported study's whole
    interval is at or above that rate."""
    if metric not in METRICS:
        raise PromotionError(f"--metric {metric!r}: expected one of {sorted(METRICS)}")
    from colorize_core.config import TrainConfig
    from colorize_core.evaluation.held_out import evaluate_heldout
    from tracking.models import load_generator

    uri = connect(tracking_uri, create=False)
    client = MlflowClient(uri)
    sweep_run = find_sweep_run(client, sweep)
    trial = best_trial(client, sweep_run, metric)
    model_uri = trial.data.tags[MODEL_URI_TAG]
    info = mlflow.artifacts.load_dict(f"runs:/{trial.info.run_id}/{MODEL_INFO}")
    config = TrainConfig.model_validate(info["config"])

    candidate = evaluate_heldout(load_generator(model_uri, uri), config.data, config.seed, max_images)
    champion_version, champion = None, None
    try:
        current = client.get_model_version_by_alias(model_name, alias)
        champion_version = current.version
        champion = evaluate_heldout(
            load_generator(f"models:/{model_name}/{current.version}", uri), config.data, config.seed, max_images
        )
    except MlflowException:
        pass  # no registered model yet, or no version holds the alias

    label = f"held-out {metric}"
    if champion is None:
        promoted = True
        reason = f"no current {model_name}@{alias}; {label} {_fmt(candidate[metric], metric)}"
    elif _beats(candidate[metric], champion[metric], metric):
        promoted = True
        reason = (
            f"{label} {_fmt(candidate[metric], metric)} beats {alias} v{champion_version}'s "
            f"{_fmt(champion[metric], metric)}"
        )
    else:
        promoted = False
        reason = (
            f"{label} {_fmt(candidate[metric], metric)} does not beat {alias} v{champion_version}'s "
            f"{_fmt(champion[metric], metric)}; {alias} stays on v{champion_version}"
        )
    if promoted and require_turing is not None:
        refused = turing_gate(trial, require_turing)
        if refused:
            promoted = False
            stays = f"{alias} stays on v{champion_version}" if champion_version else f"no version holds {alias}"
            reason = f"{reason}, but {refused}; {stays}"

    parent_tags = sweep_run.data.tags
    tags = {
        "sweep": sweep_run.info.run_name,
        "sweep_run_id": sweep_run.info.run_id,
        "trial": trial.info.run_name,
        "trial_run_id": trial.info.run_id,
        "data_source": parent_tags.get("data_source", config.data.source or "sample dataset"),
        "git_commit": parent_tags.get("git_commit", "unknown"),
        "promotion_metric": metric,
        **({"promotion_turing_goal": f"{require_turing:g}"} if require_turing is not None else {}),
        "promotion": "promoted" if promoted else "not promoted",
        "promotion_reason": reason,
        **{f"heldout_{k}": f"{v:.6g}" for k, v in candidate.items()},
    }
    version = mlflow.register_model(model_uri, model_name, tags=tags)
    if promoted:
        client.set_registered_model_alias(model_name, alias, version.version)
    return Promotion(
        model_name, version.version, promoted, reason, candidate, champion_version, champion, trial.info.run_name
    )
