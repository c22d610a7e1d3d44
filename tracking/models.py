"""Loading a generator that MLflow holds: ``models:/colorizer@champion``, ``models:/<id>``, ``runs:/...``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from colorize_core.evaluation.photos import Intervals

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def is_mlflow_uri(path: str) -> bool:
    return str(path).startswith(MLFLOW_SCHEMES)


def load_generator(model_uri: str, tracking_uri: str | None = None):
    """The Keras generator behind ``model_uri``, ready for ``colorize_core.inference.Colorizer``."""
    import mlflow
    import mlflow.keras

    from colorize_core.networks.chromagan import GrayToVGGInput  # noqa: F401
    from colorize_core.networks.cic import AnnealedMeanAB  # noqa: F401  registers the custom layers for loading
    from tracking.store import connect

    connect(tracking_uri, create=False)
    try:
        return mlflow.keras.load_model(model_uri)
    except mlflow.exceptions.MlflowException as err:
        raise FileNotFoundError(f"{model_uri}: {err.message}") from None


@dataclass(frozen=True)
class ModelRef:
    """What a model URI names now: the run that logged it and, for a registered model, its version
    (an alias is pinned to the version it points to, since an alias moves)."""

    run_id: str | None
    registered_model: str | None = None
    registered_version: str | None = None


def model_ref(model_uri: str, tracking_uri: str) -> ModelRef:
    """``models:/name@alias``, ``models:/name/3``, ``models:/<logged model id>``, ``runs:/<id>/...``;
    a run id of None when MLflow does not say."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    if model_uri.startswith("runs:/"):
        return ModelRef(model_uri.removeprefix("runs:/").split("/", 1)[0])
    if not model_uri.startswith("models:/"):
        return ModelRef(None)
    ref = model_uri.removeprefix("models:/").strip("/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
        return ModelRef(version.run_id, name, str(version.version))
    if "/" in ref:
        name, number = ref.split("/", 1)
        return ModelRef(client.get_model_version(name, number).run_id, name, number)
    return ModelRef(client.get_logged_model(ref).source_run_id)


def log_evaluation(
    run_id: str,
    tracking_uri: str,
    protocol: str,
    data: str,
    csv_text: str,
    mean: dict[str, float],
    intervals: Intervals | None = None,
) -> None:
    """An evaluation's means as metrics ``eval_<protocol>_<score>`` and its per-photo table as
    ``evaluation/<protocol>/<data folder>.csv`` on the model's run. With ``intervals``, also each score's
    ``..._ci_low``/``..._ci_high``, each paired difference as ``eval_<protocol>_<score>_minus_<baseline>``
    with its bounds, and their table as ``<data folder>-intervals.csv``."""
    import csv
    import io
    import time
    from pathlib import Path

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri)
    now = int(time.time() * 1000)
    values = {f"eval_{protocol}_{k}": v for k, v in mean.items()}
    if intervals is not None:
        values |= evaluation_interval_metrics(protocol, intervals)
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items()])
    client.set_tag(run_id, f"eval_{protocol}_data", data)
    name = Path(data).name or "photos"
    client.log_text(run_id, csv_text, f"evaluation/{protocol}/{name}.csv")
    if intervals is not None:
        text = io.StringIO()
        csv.writer(text).writerows(intervals.rows())
        client.log_text(run_id, text.getvalue(), f"evaluation/{protocol}/{name}-intervals.csv")


def evaluation_interval_metrics(protocol: str, intervals: Intervals) -> dict[str, float]:
    """Metric name -> value for the bounds and the differences; an undefined bound (one photo) is not
    logged at all: there is no interval to record, and a NaN would read as a score."""
    import math

    values = {f"eval_{protocol}_{i.quantity}": i.mean for i in intervals.differences}
    for i in (*intervals.columns, *intervals.differences):
        values[f"eval_{protocol}_{i.quantity}_ci_low"] = i.low
        values[f"eval_{protocol}_{i.quantity}_ci_high"] = i.high
    return {k: v for k, v in values.items() if not math.isnan(v)}
