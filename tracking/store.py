"""Where runs are tracked: an MLflow tracking URI, checked before any training starts.

The embedded default is a sqlite file in the working directory (``sqlite:///mlflow.db``) with
artifacts in ``mlartifacts/`` beside it; ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` points at a
server instead (``http://127.0.0.1:5000``, as on the GCP head behind an SSH tunnel).
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri

DEFAULT_URI = "sqlite:///mlflow.db"
ARTIFACTS_DIR = "mlartifacts"


class TrackingUnavailable(ChromasweepError, RuntimeError):
    """The tracking store cannot be reached or opened; names the URI tried."""


def resolve_uri(uri: str | None = None) -> str:
    """The URI to use: the argument, else ``MLFLOW_TRACKING_URI``, else the local sqlite file.

    A relative sqlite path is made absolute, so Ray workers (other processes, maybe another
    working directory) write to the same file as the driver."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    elif not is_uri(uri):
        raise TrackingUnavailable(
            f"tracking URI {uri!r}: MLflow 3 refuses a plain folder store; use sqlite:///path/mlflow.db "
            "or a server address such as http://127.0.0.1:5000"
        )
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def artifact_root(uri: str) -> str | None:
    """Where a new experiment's artifacts go: beside a sqlite file; a server decides its own."""
    db = sqlite_path(uri)
    return (db.parent / ARTIFACTS_DIR).as_uri() if db else None


def connect(uri: str | None = None, timeout: float = 10.0, *, create: bool = True) -> str:
    """Resolve, check and select the tracking URI; raises TrackingUnavailable naming it.

    ``create=False`` is for commands that only read what a sweep wrote (a registered model, a
    sweep's runs): a local store that does not exist is refused rather than made empty."""
    given = uri or os.environ.get("MLFLOW_TRACKING_URI")
    uri = resolve_uri(uri)
    db = sqlite_path(uri)
    if db is not None and not create and not db.exists():
        where = f"--tracking-uri {given}" if given else f"the default {DEFAULT_URI}, in the folder you run from"
        raise TrackingUnavailable(
            f"no MLflow store at {db} ({where}): run this where the sweep ran or point --tracking-uri "
            "(or MLFLOW_TRACKING_URI) at its store; a models:/NAME@ALIAS exists once 'chromasweep promote' "
            "registered it"
        )
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TrackingUnavailable(f"tracking store {uri}: cannot create {db.parent}: {err}") from None
    elif uri.startswith(("http://", "https://")):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
        except requests.RequestException as err:
            raise TrackingUnavailable(f"MLflow tracking server {uri} is not reachable: {err}") from None
    try:
        # Creates (and migrates) a new sqlite store here, once, before workers race to open it.
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:  # noqa: BLE001 - any failure here means the store is unusable
        raise TrackingUnavailable(f"tracking store {uri} cannot be opened: {err}") from None
    mlflow.set_tracking_uri(uri)
    return uri


# MLflow's own mark of a model-training experiment. MLflow 3.17's UI does not read it yet: it opens
# every experiment in the view of the browser's GenAI / Model training switch (GenAI until flipped,
# then remembered), so the links we print ask for the training view (TRAINING_VIEW).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
TRAINING_VIEW = "workflowType=machine_learning"


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment ``name``, created on first use with its artifacts next to a local store, and
    marked as model training (an older one gets the mark too)."""
    key, value = EXPERIMENT_KIND
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(key) != value:
            client.set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id
    root = artifact_root(client.tracking_uri)
    return client.create_experiment(name, artifact_location=f"{root}/{name}" if root else None, tags={key: value})


def children_of(parent_run_id: str) -> str:
    """The MLflow filter for the runs under ``parent_run_id`` (a sweep's trials)."""
    return f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'"


def latest_run(client: MlflowClient, experiment_id: str, query: str):
    """The most recently started run of the experiment matching ``query`` (an MLflow filter), or None."""
    runs = client.search_runs([experiment_id], query, max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None
