"""The epoch-end protocol step by step, without Ray or TensorFlow: what happens in which order, on
which worker, and what a failure at each step leaves behind."""

import json
from pathlib import Path

import pytest

from colorize_core.config import demo_config
from colorize_core.metric_registry import unknown
from colorize_core.model_files import MODEL_DIR, MODEL_FILE
from colorize_core.training.trainer import Report
from runner.checkpoint_store import CheckpointStore, LayoutError
from runner.epoch_end import EpochEnd, report_diverged
from tracking.delivery import Delivery

CONFIG = demo_config().with_overrides({"epochs": 2})


class Events(list):
    """What happened, in order, across the trainer, the tracking run and the session."""


class Trainer:
    """The trainer's side of the protocol: checkpoint and export files, written for real."""

    gan = type("Gan", (), {"generator": None})

    def __init__(self, events):
        self.events = events

    def model_info(self):
        return {}

    def save_checkpoint(self, directory):
        self.events.append("checkpoint")
        Path(directory, "ckpt").write_text("weights")

    def export(self, directory):
        self.events.append("export")
        Path(directory).mkdir()
        Path(directory, MODEL_FILE).write_text("model")


class Run:
    """The MLflow run's side, as ``tracking.delivery`` uses it; ``down`` makes every call fail."""

    name = "trial-x"

    def __init__(self, events, down=False):
        self.events, self.down = events, down
        self.epochs, self.model = set(), False

    def _call(self):
        if self.down:
            raise ConnectionError("tracking server unreachable")

    def logged_epochs(self):
        self._call()
        return set(self.epochs)

    def log_epoch(self, epoch, metrics):
        self._call()
        self.epochs.add(epoch)
        self.events.append(f"log epoch {epoch}")

    def wants_samples(self, epoch, last):
        return False

    def log_learning_curves(self):
        self._call()
        return True

    def has_model(self):
        self._call()
        return self.model

    def log_model(self, generator, info, epoch):
        self._call()
        self.model = True
        self.events.append("log model")

    def finish(self, status):
        self._call()
        self.events.append(f"finish {status}")


class Session:
    """A worker's session over a real store; records what was durable when it was notified."""

    def __init__(self, events, store, rank=0, world=1):
        self.events, self.store, self.rank, self.world = events, store, rank, world

    def notify(self, metrics):
        durable = self.store.complete()[-1:] if self.store.complete() else []
        published = self.store.model_location() is not None
        self.events.append(("notify", metrics["step"], durable, published))


class Recorded(CheckpointStore):
    def __init__(self, events, root):
        super().__init__(root, keep=2)
        self.events = events

    def save(self, directory, name):
        self.events.append(f"keep {name}")
        return super().save(directory, name)

    def publish_model(self, model_dir):
        self.events.append("publish")
        return super().publish_model(model_dir)


def _protocol(tmp_path, rank=0, world=1, run_down=False, meter=None):
    events = Events()
    store = Recorded(events, str(tmp_path / "run"))
    store.check_layout()
    session = Session(events, store, rank, world)
    trainer = Trainer(events)
    delivery = Delivery(Run(events, run_down), retry_after_s=0)
    protocol = EpochEnd(session, trainer, CONFIG, delivery, resumed_from=0, meter=meter)
    return protocol, events, store


def _report(epoch, step, epoch_end=True):
    return Report(epoch, step, {"train_ab_mse": 0.1, "val_psnr": 20.0}, epoch_end)


def test_the_last_epoch_checkpoints_keeps_publishes_delivers_and_only_then_notifies(tmp_path):
    protocol, events, store = _protocol(tmp_path)
    protocol(_report(1, 4))
    events.clear()
    protocol(_report(2, 8))
    assert events == [
        "checkpoint",
        "export",
        "keep checkpoint_step_00000008",
        "publish",
        "log epoch 2",
        "log model",
        "finish finished",
        ("notify", 8, ["checkpoint_step_00000008"], True),
    ]
    assert json.loads((tmp_path / "run" / "status.json").read_text()) == {"status": "finished"}  # for a later sync
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    kept = tmp_path / "run" / "checkpoint_step_00000008"
    assert [m["epoch"] for m in json.loads((kept / "history.json").read_text())] == [1, 2]
    assert json.loads((kept / "metrics.json").read_text())["step"] == 8
    assert (tmp_path / "run" / MODEL_DIR / MODEL_FILE).is_file()


def test_a_tracking_outage_costs_no_training_and_the_next_delivery_sends_what_waited(tmp_path):
    protocol, events, store = _protocol(tmp_path, run_down=True)
    protocol(_report(1, 4))  # the server is down: the epoch is still kept and reported
    assert events == ["checkpoint", "keep checkpoint_step_00000004", ("notify", 4, ["checkpoint_step_00000004"], False)]
    events.clear()
    protocol.delivery.run.down = False
    protocol(_report(2, 8))
    assert [
        e for e in events if isinstance(e, str) and not e.startswith(("checkpoint", "keep", "export", "publish"))
    ] == ["log epoch 1", "log epoch 2", "log model", "finish finished"]


def test_a_mid_epoch_report_keeps_a_checkpoint_but_logs_nothing(tmp_path):
    protocol, events, store = _protocol(tmp_path)
    protocol(_report(0.5, 2, epoch_end=False))
    assert events == ["checkpoint", "keep checkpoint_step_00000002", ("notify", 2, ["checkpoint_step_00000002"], False)]
    assert protocol.history == []


def test_other_workers_write_their_checkpoint_and_report_but_keep_log_and_publish_nothing(tmp_path):
    protocol, events, store = _protocol(tmp_path, rank=1, world=2)
    protocol(_report(2, 8))
    assert events == ["checkpoint", ("notify", 8, [], False)]
    assert protocol.last["workers"] == 2


def test_every_reported_metric_is_in_the_registry(tmp_path):
    from costs.meter import CostMeter

    clock = iter([0.0, 36.0])  # started, then read 36 s later: at 10 USD/h, 0.10 USD on top of 0.5 spent
    protocol, _, _ = _protocol(tmp_path, meter=CostMeter(10.0, spent=0.5, clock=lambda: next(clock)))
    protocol(_report(1, 4))
    assert protocol.last["cost_usd"] == pytest.approx(0.6)
    assert unknown(protocol.last) == []
    assert unknown({"val_made_up": 1.0}) == ["val_made_up"]


def test_divergence_is_a_marker_checkpoint_that_outranks_the_weights(tmp_path):
    protocol, events, store = _protocol(tmp_path)
    protocol(_report(1, 4))
    report_diverged(protocol.session, {"step": 4, "diverged": 1, "message": "non-finite"})
    assert store.complete()[-1] == "checkpoint_diverged_step_00000004"
    assert events[-1] == ("notify", 4, ["checkpoint_diverged_step_00000004"], False)


def test_a_run_folder_of_an_older_layout_is_refused_and_restart_clears_it(tmp_path):
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)  # what `train --in-process` used to write
    store = CheckpointStore(str(tmp_path / "old"), keep=2)
    with pytest.raises(LayoutError, match=r"old: written by an older chromasweep \(checkpoints without"):
        store.check_layout()
    assert (tmp_path / "old" / "checkpoints").is_dir()  # refused, not touched
    store.delete()
    store.check_layout()
    assert not (tmp_path / "old").exists()  # made by the first checkpoint, not before
    (tmp_path / "ckpt").mkdir()
    store.save(str(tmp_path / "ckpt"), "checkpoint_step_00000001")
    assert json.loads((tmp_path / "old" / "chromasweep-run.json").read_text()) == {"layout": 2}
    CheckpointStore(str(tmp_path / "old"), keep=2).check_layout()  # its own layout: accepted
