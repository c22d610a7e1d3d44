"""The tracking server goes away: training never stops, nothing is lost, and MLflow gets every epoch
exactly once when it is back (at the next delivery, at the sweep's end, or through `chromasweep
sync`). A real `mlflow server` on loopback, stopped and started again on the same store and port."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import mlflow_ui_running
from mlflow import MlflowClient
from servers import free_port

from colorize_core.status import RunStatus
from tracking.delivery import Delivery, Durable
from tracking.store import experiment_id
from tracking.trial_run import TrackingContext, TrialRun

pytestmark = pytest.mark.e2e  # starts Ray, a server or a real training run: `make test`, not `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
# The MLflow client's own retries, lowered so that an outage outlasts them within a test.
FAST_FAIL = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}


def test_epochs_trained_during_an_outage_are_delivered_once_each_when_the_server_is_back(tmp_path, monkeypatch):
    for key, value in FAST_FAIL.items():
        monkeypatch.setenv(key, value)
    store, port = f"sqlite:///{tmp_path}/mlflow.db", free_port()
    history = [{"epoch": 1, "val_psnr": 20.0}]
    with mlflow_ui_running(store, tmp_path, port) as url:
        eid = experiment_id(MlflowClient(url), "outage")
        delivery = Delivery(
            TrialRun(TrackingContext(uri=url, experiment_id=eid), "trial-x", {"lr": 1e-4}), retry_after_s=0
        )
        assert delivery.deliver(Durable(list(history)))

    for epoch in (2, 3):  # the server is gone: each attempt fails fast, the epochs wait
        history.append({"epoch": epoch, "val_psnr": 20.0 + epoch})
        started = time.perf_counter()
        assert not delivery.deliver(Durable(list(history)))
        assert time.perf_counter() - started < 20

    with mlflow_ui_running(store, tmp_path, port) as url:  # back, on the same store and port
        history.append({"epoch": 4, "val_psnr": 24.0})
        assert delivery.deliver(Durable(list(history), status=RunStatus.FINISHED))
        assert delivery.deliver(Durable(list(history), status=RunStatus.FINISHED))  # again: nothing twice
        client = MlflowClient(url)
        run_id = delivery.run.run_id
        assert [m.step for m in client.get_metric_history(run_id, "val_psnr")] == [1, 2, 3, 4]
        assert client.get_run(run_id).info.status == "FINISHED"


SPEC = """
name: outage
method: random
metric: {{name: val_psnr, goal: maximize}}
parameters:
  optim.generator_lr: {{values: [1.0e-4, 4.0e-4]}}
  data.source: {{value: {source}}}
  steps_per_epoch: {{value: 4}}
run_cap: 2
chromasweep:
  base: {base}
  seed: 0
  budget: {{max_concurrent: 1, epochs_per_trial: 2}}
"""


def test_a_sweep_finishes_through_a_tracking_outage_and_sync_delivers_the_rest(tmp_path, prepared_sample, shared_ray):
    spec = tmp_path / "outage.yaml"
    spec.write_text(SPEC.format(source=prepared_sample, base=ROOT / "colorize_core" / "configs" / "demo.yaml"))
    store, port, storage = f"sqlite:///{tmp_path}/mlflow.db", free_port(), tmp_path / "storage"
    with mlflow_ui_running(store, tmp_path, port) as url:
        sweep = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chromasweep.cli",
                "sweep",
                str(spec),
                "--storage",
                str(storage),
                "--tracking-uri",
                url,
                *shared_ray.args(),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
            env=shared_ray.env(),
        )
        client = MlflowClient(url)
        deadline = time.monotonic() + 600
        while True:  # the first trial's first epoch reached MLflow: now the server goes away
            experiment = client.get_experiment_by_name("outage")
            runs = client.search_runs([experiment.experiment_id]) if experiment else []
            if any("epoch" in r.data.metrics for r in runs):
                break
            assert sweep.poll() is None, sweep.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "no epoch reached MLflow in 10 minutes"
            time.sleep(1)
    outage_started = time.monotonic()
    out, _ = sweep.communicate(timeout=1200)
    outage = time.monotonic() - outage_started
    assert sweep.returncode == 0, out[-3000:]
    assert "tracking unreachable: 3 run(s) incomplete in MLflow" in out, out[-3000:]  # 2 trials and the sweep
    assert f"chromasweep sync {storage / 'outage'}" in out

    with mlflow_ui_running(store, tmp_path, port) as url:
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("outage")
        before = sum(
            len(client.get_metric_history(r.info.run_id, "val_psnr"))
            for r in client.search_runs([experiment.experiment_id])
        )
        synced = subprocess.run(
            [sys.executable, "-m", "chromasweep.cli", "sync", str(storage / "outage")],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        assert synced.returncode == 0, synced.stderr[-3000:]
        assert "2 run(s) complete in MLflow" in synced.stdout
        runs = client.search_runs([experiment.experiment_id])
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(children) == 2 and all(r.info.status == "FINISHED" for r in runs), [r.info.status for r in runs]
        for child in children:
            assert [m.step for m in client.get_metric_history(child.info.run_id, "val_psnr")] == [1, 2]
            assert child.data.tags["chromasweep.model_uri"]
            samples = {a.path for a in client.list_artifacts(child.info.run_id, "samples")}
            assert samples == {f"samples/epoch_{e:03d}.png" for e in (1, 2)}
        print(
            f"outage of {outage:.0f} s survived; {2 * len(children) - before} of {2 * len(children)} epochs "
            "delivered by sync"
        )
