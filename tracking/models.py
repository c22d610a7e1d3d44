"""Loading a generator that MLflow holds: ``models:/colorizer@champion``, ``models:/<id>``, ``runs:/...``."""

from __future__ import annotations

from dataclasses import dataclass

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def is_mlflow_uri(path: str) -> bool:
    return str(path).startswith(MLFLOW_SCHEMES)


def load_generator(model_uri: str, tracking_uri: str | None = None):
    """The Keras generator behind ``model_uri``, ready for ``colorize_core.inference.Colorizer``."""
    import mlflow
    import mlflow.keras

    from colorize_core.cic import AnnealedMeanAB  # noqa: F401  registers the custom layers for loading
    from colorize_core.model import GrayToVGGInput  # noqa: F401
    from tracking.store import connect

    connect(tracking_uri)
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


def log_evaluation(run_id: str, tracking_uri: str, protocol: str, data: str, csv_text: str, mean: dict[str, float]) -> None:
    """An evaluation's means as metrics ``eval_<protocol>_<score>`` and its per-photo table as
    ``evaluation/<protocol>/<data folder>.csv`` on the model's run."""
    import time
    from pathlib import Path

    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri)
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"eval_{protocol}_{k}", v, now, 0) for k, v in mean.items()])
    client.set_tag(run_id, f"eval_{protocol}_data", data)
    client.log_text(run_id, csv_text, f"evaluation/{protocol}/{Path(data).name or 'photos'}.csv")
