"""A training run's MLflow run, written by its rank-0 worker: params, epoch metrics, sample grids, model.

A sweep trial is a child of the sweep's run (``mlflow.parentRunId``); a plain ``chromasweep train``
run has no parent. The run is found again by its name tag, so a worker that restarts from a
checkpoint (a failure, ``Tuner.restore``) continues its own run instead of starting a duplicate.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from pydantic import BaseModel

from colorize_core.config import flatten
from colorize_core.model_files import MODEL_INFO
from colorize_core.status import RunStatus
from tracking import learning_curves
from tracking.store import latest_run

log = logging.getLogger(__name__)

RUN_TAG = "chromasweep.run"  # the training run's name: trial-<tune id>, or the config's name
KIND_TAG = "chromasweep.kind"  # "sweep" on a parent, "trial" or "train" on a training run
STATUS_TAG = "chromasweep.status"
MODEL_URI_TAG = "chromasweep.model_uri"
MODEL_NAME = "generator"  # the logged model's name inside its run
SAMPLES_DIR = "samples"  # sample grids, samples/epoch_NNN.png, in the run's artifacts and its store


def sample_name(epoch: int) -> str:
    return f"{SAMPLES_DIR}/epoch_{epoch:03d}.png"


def mlflow_state(status: RunStatus) -> str:
    """The MLflow run state a run ends in: a trial stopped early by the scheduler, or lost to an
    interrupted sweep, was killed, not failed."""
    return {RunStatus.FINISHED: "FINISHED", RunStatus.STOPPED_EARLY: "KILLED", RunStatus.LOST: "KILLED"}.get(
        status, "FAILED"
    )


class TrackingContext(BaseModel):
    """What a worker needs to log: handed from the driver through the Ray Train loop config."""

    uri: str
    experiment_id: str
    parent_run_id: str | None = None
    sample_every: int = 1  # epochs between sample grids; the last epoch always gets one
    sample_images: int = 4


def find_run(client: MlflowClient, experiment_id: str, name: str, parent_run_id: str | None) -> str | None:
    query = f"tags.`{RUN_TAG}` = '{name}'"
    if parent_run_id:
        query += f" and tags.`mlflow.parentRunId` = '{parent_run_id}'"
    run = latest_run(client, experiment_id, query)
    return run.info.run_id if run else None


def train_context(uri: str, experiment: str, run_name: str, restart: bool) -> TrackingContext:
    """Tracking for a single ``chromasweep train`` run (no parent). ``restart`` retires the runs of
    that name, so the new attempt gets its own run instead of continuing theirs."""
    from tracking.store import experiment_id

    client = MlflowClient(uri)
    eid = experiment_id(client, experiment)
    if restart:
        while (old := find_run(client, eid, run_name, None)) is not None:
            client.set_tag(old, RUN_TAG, f"{run_name} (replaced {time.strftime('%Y-%m-%d %H:%M:%S')})")
            if client.get_run(old).info.status == "RUNNING":
                client.set_terminated(old, "KILLED")
    return TrackingContext(uri=uri, experiment_id=eid)


class _KerasFlavor:
    """``mlflow.keras`` with its model folder made first: MLflow 3.17's Keras flavour writes the input
    example before it creates the folder (FileNotFoundError: .../input_example.json)."""

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(path, **kwargs):
        import mlflow.keras

        os.makedirs(path, exist_ok=True)
        kwargs.pop("validate_serving_input", None)  # Model.log's own switch, which it passes on to here
        mlflow.keras.save_model(path=path, **kwargs)


class TrialRun:
    def __init__(self, context: TrackingContext, name: str, config: dict, live: bool = True):
        """``config``: the run's training config as a tree, logged flattened as params. Nothing is sent
        yet: the run is found or made by the first delivery, so an unreachable server costs no training.
        ``live``: the run is training now (a found run is marked RUNNING again); not so for a delivery
        after the fact (``chromasweep sync``), which leaves its state to the final status."""
        self.context, self.name, self.config, self.live = context, name, config, live
        self.client = MlflowClient(context.uri)
        mlflow.set_tracking_uri(context.uri)  # log_model goes through the fluent API
        self._run_id: str | None = None
        batch = flatten(config).get(learning_curves.BATCH_PARAM)
        self.batch_size = int(batch) if batch else None  # None: a config without it (tests, older records)

    @property
    def run_id(self) -> str:
        if self._run_id is None:
            self._run_id = self._open()
        return self._run_id

    def _open(self) -> str:
        context, name = self.context, self.name
        run_id = find_run(self.client, context.experiment_id, name, context.parent_run_id)
        if run_id:
            if self.live:
                self.client.update_run(run_id, status="RUNNING")
                print(f"[mlflow] continuing run {run_id} ({name})", flush=True)
            return run_id
        tags = {RUN_TAG: name, KIND_TAG: "trial" if context.parent_run_id else "train", STATUS_TAG: RunStatus.RUNNING}
        if context.parent_run_id:
            tags["mlflow.parentRunId"] = context.parent_run_id
        run_id = self.client.create_run(context.experiment_id, run_name=name, tags=tags).info.run_id
        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in flatten(self.config).items()])
        return run_id

    def logged_epochs(self) -> set[int]:
        """The epochs MLflow already holds (by the ``epoch`` metric each epoch's batch carries)."""
        return {int(m.step) for m in self.client.get_metric_history(self.run_id, "epoch")}

    def logged_samples(self) -> set[str]:
        return {a.path for a in self.client.list_artifacts(self.run_id, SAMPLES_DIR)}

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Every number of an epoch's report, at step = epoch (the x-axis of the MLflow charts)."""
        now = int(time.time() * 1000)
        batch = [
            Metric(k, float(v), now, epoch)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ]
        if self.batch_size and learning_curves.STEP in metrics:  # the UI can chart any metric against this
            seen = learning_curves.images_seen(metrics[learning_curves.STEP], self.batch_size)
            batch.append(Metric(learning_curves.IMAGES_SEEN, seen, now, epoch))
        self.client.log_batch(self.run_id, metrics=batch)

    def log_learning_curves(self) -> bool:
        """The run's learning curves, redrawn from what MLflow holds (``tracking.learning_curves``)."""
        return learning_curves.log_learning_curves(self.client, self.run_id, self.batch_size)

    def wants_samples(self, epoch: int, last_epoch: int) -> bool:
        return epoch == last_epoch or epoch % self.context.sample_every == 0

    def log_sample_png(self, name: str, png: bytes) -> None:
        """A sample grid already encoded (``sample_name(epoch)``), as the run's store keeps it."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, os.path.basename(name))
            with open(path, "wb") as f:
                f.write(png)
            self.client.log_artifact(self.run_id, path, os.path.dirname(name))

    def log_model(self, generator, info: dict, epoch: int) -> str:
        """The final colorizer (L in [-1, 1] -> ab in [-1, 1]) as an MLflow Keras model, with its
        signature and an input example."""
        import keras
        import tensorflow as tf
        from mlflow.models import Model, ModelSignature
        from mlflow.types.schema import Schema, TensorSpec

        size = int(info["image_size"])
        # What inference needs, L -> ab: the class head only trains the shared features.
        colorizer = keras.Model(generator.inputs, generator.outputs[0], name="colorizer")
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, size, size, 1), "L")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, size, size, 2), "ab")]),
        )
        # A mid-gray L plane in the generator's normalised range [-1, 1].
        example = np.zeros((1, size, size, 1), np.float32)
        with mlflow.start_run(run_id=self.run_id, log_system_metrics=False):
            logged = Model.log(
                artifact_path=None,
                flavor=_KerasFlavor,
                model=colorizer,
                name=MODEL_NAME,
                signature=signature,
                input_example=example,
                # Listed, not inferred: inference re-imports the model in a subprocess (slow).
                pip_requirements=[f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"],
                metadata={"image_size": size, "class_names": info.get("class_names", [])},
                step=epoch,
                # Not re-loaded and run on the example at every trial's end (about a second each):
                # the tests load logged models and colorize with them.
                validate_serving_input=False,
            )
            mlflow.log_dict(info, MODEL_INFO)
        self.client.set_tag(self.run_id, MODEL_URI_TAG, logged.model_uri)
        return logged.model_uri

    def has_model(self) -> bool:
        return MODEL_URI_TAG in self.client.get_run(self.run_id).data.tags

    def finish(self, status: RunStatus) -> None:
        self.client.set_tag(self.run_id, STATUS_TAG, status)
        self.client.set_terminated(self.run_id, mlflow_state(status))
