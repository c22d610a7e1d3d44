"""A run's tracking record as its store keeps it, and its delivery to MLflow from there.

    tracking.json, metrics.jsonl, samples/, status.json of the run's folder (``run_folder``)

The trial delivers as it goes (``epoch_end``); the sweep's driver delivers what is left at its end;
``chromasweep sync`` delivers whatever is still pending later, from the store alone.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from colorize_core.status import RunStatus
from runner.checkpoint_store import CheckpointStore
from runner.run_folder import ADDRESS_FILE, METRICS_LOG, STATUS_FILE
from tracking.delivery import Delivery, Durable
from tracking.trial_run import SAMPLES_DIR, TrackingContext, TrialRun, sample_name


def write_address(store: CheckpointStore, context: TrackingContext, name: str, config: dict) -> None:
    store.write_text(ADDRESS_FILE, json.dumps({"context": context.model_dump(), "name": name, "config": config}))


def write_status(store: CheckpointStore, status: RunStatus) -> None:
    store.write_text(STATUS_FILE, json.dumps({"status": status.value}))


def save_sample(store: CheckpointStore, epoch: int, png: bytes) -> None:
    store.write_bytes(sample_name(epoch), png)


def durable(
    store: CheckpointStore, status: RunStatus | None = None, model: Callable[[], tuple[object, dict]] | None = None
) -> Durable:
    """The store's record; ``status`` and ``model`` default to what the store says (its status file,
    its published model)."""
    text = store.read_text(METRICS_LOG) if store.has_file(METRICS_LOG) else ""
    history = [json.loads(line) for line in text.splitlines() if line.strip()]
    samples = {
        int(name.removeprefix("epoch_").removesuffix(".png")): (lambda n=name: store.read_bytes(f"{SAMPLES_DIR}/{n}"))
        for name in store.files_in(SAMPLES_DIR)
        if name.startswith("epoch_") and name.endswith(".png")
    }
    if status is None:
        found = store.read_json(STATUS_FILE)
        status = RunStatus(found["status"]) if found else None
    if model is None and store.model_location() is not None:
        model = functools.partial(_published_model, store)
    return Durable(history, samples, model, status)


def _published_model(store: CheckpointStore) -> tuple[object, dict]:
    # Colorizer.load registers the custom layers the generator holds.
    from colorize_core.inference import Colorizer
    from colorize_core.model_files import MODEL_DIR, MODEL_FILE, MODEL_INFO

    with tempfile.TemporaryDirectory() as local:
        for name in (MODEL_FILE, MODEL_INFO):
            (Path(local) / name).write_bytes(store.read_bytes(f"{MODEL_DIR}/{name}"))
        return Colorizer.load(local).generator, json.loads((Path(local) / MODEL_INFO).read_text())


def sync_run(store: CheckpointStore, tracking_uri: str | None = None) -> bool | None:
    """Deliver the run's pending record; True when MLflow holds all of it, False when it could not be
    reached, None when the run was never tracked."""
    address = store.read_json(ADDRESS_FILE)
    if address is None:
        return None
    context = TrackingContext.model_validate(address["context"])
    if tracking_uri:
        context = context.model_copy(update={"uri": tracking_uri})
    if not reachable(context.uri):
        return False
    run = TrialRun(context, address["name"], address["config"], live=False)
    return Delivery(run).deliver(durable(store), force=True)


def reachable(uri: str) -> bool:
    """Whether the tracking store answers now (a quick probe, before MLflow's own patient retries)."""
    from tracking.store import TrackingUnavailable, connect

    try:
        connect(uri)
    except TrackingUnavailable:
        return False
    return True


def run_stores(experiment: str) -> list[CheckpointStore]:
    """Every trial's store of the sweep at ``experiment`` (STORAGE/NAME)."""
    root = f"{experiment.rstrip('/')}/trials"
    return [CheckpointStore(f"{root}/{name}", keep=2) for name in CheckpointStore(root, keep=1).subfolders()]


def sync_sweep(experiment: str, tracking_uri: str | None = None) -> tuple[int, list[str]]:
    """Deliver every trial of the sweep at ``experiment`` (or the one run there, a ``chromasweep
    train`` run's folder), then close the sweep's MLflow run if its driver could not; returns (runs
    now complete, runs still pending)."""
    from tracking.sweep_run import SweepRun

    complete, pending, statuses, parents = 0, [], {}, set()
    single = CheckpointStore(experiment, keep=2)
    for store in [single] if single.has_file(ADDRESS_FILE) else run_stores(experiment):
        address = store.read_json(ADDRESS_FILE)
        if address is None:
            continue
        done = sync_run(store, tracking_uri)
        complete += bool(done)
        if not done:
            pending.append(address["name"])
        status = store.read_json(STATUS_FILE)
        if status:
            statuses[address["name"]] = RunStatus(status["status"])
        context = address["context"]
        if context.get("parent_run_id"):
            parents.add((tracking_uri or context["uri"], context["parent_run_id"]))
    if not pending:
        for uri, run_id in parents:
            try:
                SweepRun.existing(uri, run_id).close_synced(statuses)
            except Exception as err:  # noqa: BLE001
                pending.append(f"sweep run {run_id} ({type(err).__name__})")
    return complete, pending
