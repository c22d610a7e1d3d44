"""Loading a generator that MLflow holds: ``models:/colorizer@champion``, ``models:/<id>``, ``runs:/...``."""

from __future__ import annotations

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def is_mlflow_uri(path: str) -> bool:
    return str(path).startswith(MLFLOW_SCHEMES)


def load_generator(model_uri: str, tracking_uri: str | None = None):
    """The Keras generator behind ``model_uri``, ready for ``colorize_core.inference.Colorizer``."""
    import mlflow
    import mlflow.keras

    from colorize_core.model import GrayToVGGInput  # noqa: F401  registers the custom layer for loading
    from tracking.store import connect

    connect(tracking_uri)
    try:
        return mlflow.keras.load_model(model_uri)
    except mlflow.exceptions.MlflowException as err:
        raise FileNotFoundError(f"{model_uri}: {err.message}") from None
