"""A Turing study's figures in MLflow: metrics on the run that logged the model, tags on the
registered version the study tested (the version an alias pointed to when the study was made)."""

from __future__ import annotations

import math
import time

from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from tracking.models import ModelRef, model_ref

VERSION_TAG_PREFIX = "turing."
STUDY_TAG = "turing_study"  # on the run of the model a study tested: the study's name
MACHINE_STUDY_TAG = "turing_machine_study"  # the study machine observers answered (not people: not STUDY_TAG)


def resolve(model_uri: str, tracking_uri: str) -> ModelRef:
    """``model_uri`` pinned for a study, or one line naming what MLflow lacks."""
    try:
        return model_ref(model_uri, tracking_uri)
    except MlflowException as err:
        raise FileNotFoundError(f"{model_uri}: {err.message}") from None


def log_study_result(tracking_uri: str, study: str, ref: ModelRef, metrics: dict[str, float], summary: str) -> None:
    client = MlflowClient(tracking_uri)
    now = int(time.time() * 1000)
    metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}  # undefined (no trials): not logged
    if ref.run_id:
        client.log_batch(ref.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
        client.set_tag(ref.run_id, STUDY_TAG, study)
    if ref.registered_model and ref.registered_version:
        tags = {
            "study": study,
            "summary": summary,
            **{k.removeprefix("turing_"): f"{v:.6g}" for k, v in metrics.items()},
        }
        for key, value in tags.items():
            client.set_model_version_tag(ref.registered_model, ref.registered_version, VERSION_TAG_PREFIX + key, value)


def log_machine_observers(tracking_uri: str, study: str, run_id: str, metrics: dict[str, float]) -> None:
    """Machine observers' figures (observers/) on the model's run: ``turing_machine_*`` metrics only,
    and their own study tag, so promote's human figures and STUDY_TAG are never touched."""
    from observers.results import MACHINE_PREFIX

    wrong = sorted(k for k in metrics if not k.startswith(MACHINE_PREFIX))
    if wrong:
        raise ValueError(f"{wrong}: a machine observer's metric must start with {MACHINE_PREFIX!r}")
    now = int(time.time() * 1000)
    client = MlflowClient(tracking_uri)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if math.isfinite(v)])
    client.set_tag(run_id, MACHINE_STUDY_TAG, study)


def latest_study(tracking_uri: str, model_name: str, version: str) -> str | None:
    """The one-line result of the latest study of this registered version, if one was reported."""
    tags = MlflowClient(tracking_uri).get_model_version(model_name, version).tags
    return tags.get(VERSION_TAG_PREFIX + "summary")
