"""Tracking under load: 16 trial loggers (real processes) and a polling driver write to one store at
once for a minute, against the default sqlite file and against an `mlflow server` in front of sqlite,
as the GCP head runs it. Nothing is lost and no run fails."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import mlflow_ui_running
from mlflow import MlflowClient

from colorize_core.metric_registry import REGISTRY
from sweeps.naming import trial_name
from tracking.store import connect, experiment_id
from tracking.trial_run import KIND_TAG, SAMPLES_DIR

pytestmark = pytest.mark.e2e  # starts Ray, a server or a real training run: `make test`, not `make test-fast`

LOGGER = Path(__file__).with_name("tracking_load_logger.py")
LOGGERS, SECONDS = 16, 60


def load(uri: str, cwd: Path) -> tuple[int, float]:
    """16 loggers for SECONDS under one parent run while this process polls as the sweep's console does;
    checks every run and returns (epochs logged in all, seconds the loggers ran)."""
    client = MlflowClient(connect(uri))
    eid = experiment_id(client, "load")
    parent = client.create_run(eid, run_name="load", tags={KIND_TAG: "sweep"}).info.run_id
    started = time.monotonic()
    names = [trial_name(f"{i:02d}") for i in range(LOGGERS)]
    logs = {name: cwd / f"{name}.log" for name in names}  # files: a full pipe would block a logger
    loggers = []
    for name in names:
        with logs[name].open("w") as out:
            loggers.append(
                subprocess.Popen(
                    [sys.executable, str(LOGGER), uri, eid, parent, name, str(SECONDS)],
                    cwd=cwd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    polls = 0
    while any(p.poll() is None for p in loggers):
        client.search_runs([eid], f"tags.`mlflow.parentRunId` = '{parent}'")
        polls += 1
        time.sleep(2)
    seconds = time.monotonic() - started
    outputs = {name: logs[name].read_text() for name in names}
    for p, out in zip(loggers, outputs.values()):
        assert p.returncode == 0, out[-3000:]
    logged = {name: int(out.split("logged ")[-1].split()[0]) for name, out in outputs.items()}
    assert polls > 10 and min(logged.values()) > 10, (polls, logged)

    runs = client.search_runs([eid], f"tags.`mlflow.parentRunId` = '{parent}'", max_results=100)
    assert sorted(r.info.run_name for r in runs) == sorted(logged)
    for run in runs:
        n = logged[run.info.run_name]
        assert run.info.status == "FINISHED", run.info
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_psnr")]
        assert sorted(steps) == list(range(1, n + 1)), (run.info.run_name, n, len(steps))
        assert len(client.list_artifacts(run.info.run_id, SAMPLES_DIR)) == n // 10
    return sum(logged.values()), seconds


@pytest.mark.parametrize("front", ["sqlite file", "mlflow server"])
def test_sixteen_trials_log_at_once_for_a_minute_and_nothing_is_lost(tmp_path, front):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    if front == "sqlite file":
        epochs, seconds = load(store, tmp_path)
    else:
        with mlflow_ui_running(store, tmp_path) as url:
            epochs, seconds = load(url, tmp_path)
    # Each logger logs for SECONDS once it has started; the wall time adds 16 interpreters' start-up.
    print(
        f"{front}: {LOGGERS} loggers x {SECONDS} s, {epochs} epoch reports ({epochs / SECONDS:.1f} per second, "
        f"{len(REGISTRY) + 1} metrics each), {seconds:.0f} s wall"
    )
