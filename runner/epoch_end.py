"""The epoch-end protocol: what a run does, in order, every time the training loop reports.

    1. sample      rank 0, at an epoch end of a tracked run: the sample grid, into the run's store.
    2. checkpoint  every worker writes one (a collective under MultiWorkerMirroredStrategy); rank
                   0's also holds the metrics, the history so far and, at the last epoch, the model.
    3. keep        rank 0 copies its checkpoint into the run's store: from here the epoch is durable
                   (``.complete``), and ``metrics.jsonl`` says so too.
    4. publish     rank 0, at the last epoch: the model to the run's ``model/``.
    5. deliver     rank 0, at an epoch end: MLflow is brought up to the store (``tracking.delivery``):
                   each epoch once, whatever was missed before; an unreachable server costs no
                   training, the record waits in the store. Before the report: once Tune hears it,
                   ASHA may stop the trial at any moment.
    6. notify      every worker: the session tells whoever waits (Tune, Ray Train; nobody in process).

Each step is a method, so each can be tested without Ray; ``EpochEnd.__call__`` is the order.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from colorize_core.config import TrainConfig
from colorize_core.model_files import MODEL_DIR
from colorize_core.report import EpochReport
from colorize_core.status import RunStatus
from runner.checkpoint_store import CheckpointStore
from runner.run_folder import DIVERGED_MARKER, HISTORY_FILE, METRICS_FILE, METRICS_LOG, checkpoint_name, diverged_name
from runner.run_record import durable, save_sample, write_status

if TYPE_CHECKING:
    from colorize_core.training.trainer import Report, Trainer
    from costs.meter import CostMeter
    from tracking.delivery import Delivery


class Session(Protocol):
    """Where a run's worker is: its place among the workers, its run's store, and who hears reports."""

    rank: int
    world: int
    store: CheckpointStore

    def notify(self, metrics: dict) -> None:
        """Tell whoever waits on this run; called on every worker once the report is durable."""


class EpochEnd:
    def __init__(
        self,
        session: Session,
        trainer: Trainer,
        config: TrainConfig,
        delivery: Delivery | None,
        resumed_from: int = 0,
        history: list[dict] | None = None,
        meter: CostMeter | None = None,
    ):
        self.session, self.trainer, self.config, self.delivery = session, trainer, config, delivery
        self.meter = meter
        self.resumed_from = resumed_from
        self.history = list(history or [])
        self.last: dict = {}

    @property
    def chief(self) -> bool:
        return self.session.rank == 0

    def __call__(self, report: Report) -> None:
        final = report.epoch_end and report.epoch == self.config.epochs
        metrics = self.metrics(report)
        if report.epoch_end:
            self.history.append(metrics)
            self.sample(int(report.epoch))
        with tempfile.TemporaryDirectory() as directory:
            self.checkpoint(directory, metrics, final)
            if self.chief:
                self.keep(directory, checkpoint_name(report.step), report.epoch_end)
                if final:
                    self.publish(directory)
        if report.epoch_end:
            self.deliver(final)
        self.session.notify(metrics)
        self.last = metrics

    def metrics(self, report: Report) -> dict:
        return EpochReport.read(
            {
                **report.metrics,
                "step": report.step,
                "epoch": report.epoch,
                "resumed_from_step": self.resumed_from,
                "workers": self.session.world,
                "cost_usd": self.meter.reading() if self.meter else None,
            }
        ).as_dict()

    def sample(self, epoch: int) -> None:
        if self.delivery and self.chief and self.delivery.run.wants_samples(epoch, self.config.epochs):
            grid = self.trainer.sample_grid(self.delivery.run.context.sample_images)
            save_sample(self.session.store, epoch, png_bytes(grid))

    def deliver(self, final: bool) -> None:
        if self.delivery and self.chief:
            deliver_from_store(self.delivery, self.session.store, self.trainer, RunStatus.FINISHED if final else None)

    def checkpoint(self, directory: str, metrics: dict, final: bool) -> None:
        self.trainer.save_checkpoint(directory)  # on every worker: a collective
        if self.chief:
            (Path(directory) / METRICS_FILE).write_text(json.dumps(metrics))
            (Path(directory) / HISTORY_FILE).write_text(json.dumps(self.history))
            if final:
                self.trainer.export(Path(directory) / MODEL_DIR)

    def keep(self, directory: str, name: str, epoch_end: bool) -> None:
        store = self.session.store
        store.save(directory, name)
        if epoch_end:  # only an epoch end adds a line; mid-epoch reports leave the log as it is
            store.write_text(METRICS_LOG, "".join(json.dumps(m) + "\n" for m in self.history))

    def publish(self, directory: str) -> None:
        self.session.store.publish_model(str(Path(directory) / MODEL_DIR))


def png_bytes(grid) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    return buffer.getvalue()


def deliver_from_store(delivery: Delivery, store: CheckpointStore, trainer: Trainer, status: RunStatus | None) -> bool:
    """Deliver the store's record, the final model from ``trainer`` itself (no reload) once published."""
    if status is not None:  # kept first: if MLflow cannot hear it now, sync can later
        write_status(store, status)
    model = (lambda: (trainer.gan.generator, trainer.model_info())) if store.model_location() else None
    return delivery.deliver(durable(store, status, model), force=status is not None)


def report_diverged(session: Session, metrics: dict) -> None:
    """Divergence as a marker checkpoint: a restarted or re-run job finds it and reports it again
    instead of retraining into NaNs."""
    if session.rank == 0:
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / DIVERGED_MARKER).write_text(json.dumps(metrics))
            session.store.save(directory, diverged_name(EpochReport.read(metrics).step))
    session.notify(metrics)
