"""Sweeps as a user runs them: a YAML spec, `chromasweep sweep`, a table of trials at the end."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
import pytest
from conftest import mlflow_server_running
from PIL import Image

from colorize_core.data.buckets import filesystem
from colorize_core.model_files import MODEL_DIR, MODEL_FILE
from colorize_core.status import RunStatus
from runner.run_folder import STATUS_FILE
from sweeps.naming import trial_name
from sweeps.spec import SpecError, load_spec

pytestmark = pytest.mark.e2e  # starts Ray, a server or a real training run: `make test`, not `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "colorize_core" / "configs" / "demo.yaml"


def write_spec(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
name: tiny
method: bayes
metric: {{name: val_psnr, goal: maximize}}
parameters:
  loss.adversarial_weight: {{distribution: log_uniform_values, min: 0.01, max: 0.5}}
  optim.generator_lr: {{values: [1.0e-4, 4.0e-4]}}
  data.source: {{value: {source}}}
  steps_per_epoch: {{value: 4}}
early_terminate: {{type: hyperband, min_iter: 1, eta: 2}}
run_cap: 4
chromasweep:
  base: {base}
  seed: 0
  budget: {{max_concurrent: 1, epochs_per_trial: 3}}
"""
EARLY_TERMINATE = "early_terminate: {type: hyperband, min_iter: 1, eta: 2}\n"


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", *map(str, args)], capture_output=True, text=True, timeout=600
    )


def sweep(*args, ray=None, **kwargs):
    """``chromasweep sweep ARGS``, on the session's shared Ray cluster if ``ray``, else on its own."""
    return subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", "sweep", *map(str, args), *(ray.args() if ray else [])],
        capture_output=True,
        text=True,
        timeout=1500,
        env=ray.env() if ray else None,
        **kwargs,
    )


def test_a_missing_data_source_is_one_line_naming_the_path_before_ray_starts(tmp_path):
    missing = tmp_path / "no-such-photos"
    spec = write_spec(tmp_path, GOOD.format(base=DEMO_CONFIG, source=missing))
    proc = sweep(spec, "--storage", tmp_path / "storage")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("Error:")]
    assert str(spec) in line and str(missing) in line
    assert not (tmp_path / "storage").exists()


STATUSES = "|".join(RunStatus)


def table(stdout):
    """The trial rows of the closing table: trial id -> (status, epochs, metric)."""
    rows = {}
    after = stdout.split("sorted by", 1)[1].splitlines()[2:]
    for line in after:
        m = re.match(rf"^([0-9a-f]{{8}})\s+({STATUSES})\s+(\d+)\s+(\S+)", line)
        if m:
            rows[m[1]] = (RunStatus(m[2]), int(m[3]), m[4])
    return rows


def test_refused_before_the_first_trial_when_the_cluster_can_never_place_one(tmp_path, prepared_sample, shared_ray):
    text = GOOD.format(base=DEMO_CONFIG, source=prepared_sample) + "  resources: {workers: 16, cpus_per_worker: 1}\n"
    proc = sweep(write_spec(tmp_path, text), "--storage", tmp_path / "storage", ray=shared_ray)
    assert proc.returncode == 1
    assert "resources: each trial needs 16.1 CPUs" in proc.stderr
    assert not list((tmp_path / "storage").glob("*/trials/*"))


def test_a_sweep_runs_its_trials_and_asha_stops_some_early(tmp_path, prepared_sample, shared_ray):
    spec = write_spec(tmp_path, GOOD.format(base=DEMO_CONFIG, source=prepared_sample))
    proc = sweep(spec, "--storage", tmp_path / "storage", ray=shared_ray)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = table(proc.stdout)
    assert len(rows) == 4
    statuses = [status for status, _, _ in rows.values()]
    assert RunStatus.STOPPED_EARLY in statuses and RunStatus.FINISHED in statuses
    assert all(epochs < 3 for status, epochs, _ in rows.values() if status is RunStatus.STOPPED_EARLY)
    best = re.search(r"best trial: ([0-9a-f]{8}) .*model: (\S+)", proc.stdout)
    assert best and rows[best[1]][0].ranked
    metrics = [float(m) for _, _, m in rows.values()]
    assert float(rows[best[1]][2]) == max(metrics)
    # A best trial that ASHA stopped has no model: the next line names the one promote would take.
    exported = re.search(r"best trial with a model \(.*\): ([0-9a-f]{8}) .*model: (\S+)", proc.stdout)
    if rows[best[1]][0] is RunStatus.FINISHED:
        assert exported is None and best[2] != "none"
    else:
        assert exported and rows[exported[1]][0] is RunStatus.FINISHED and Path(exported[2]).is_dir(), proc.stdout

    # --dry-run drew these very trials: TPE's first trials are its seeded random draws.
    dry = subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", "sweep", str(spec), "--dry-run", "--samples", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    drawn = [json.loads(line) for line in dry.stdout.splitlines() if line.startswith("{")]
    configs = [json.loads(p.read_text()) for p in sorted((tmp_path / "storage" / "tiny").glob("*/params.json"))]

    def as_set(trials):
        return sorted(tuple(sorted((k, round(v, 12)) for k, v in t.items() if k != "epochs")) for t in trials)

    assert as_set(drawn) == as_set(configs), (drawn, configs)

    # One worker per trial: each trial trained in its Tune trial's own process, no Ray Train run,
    # its checkpoints (the newest two) kept beside its model, as a Ray Train run keeps them.
    trials = tmp_path / "storage" / "tiny" / "trials"
    assert not list(trials.glob("*/checkpoint_manager_snapshot.json"))
    for trial, (status, epochs, _) in rows.items():
        kept = sorted(p.parent.name for p in (trials / trial_name(trial)).glob("checkpoint_step_*/.complete"))
        assert kept[-1] == f"checkpoint_step_{epochs * 4:08d}" and len(kept) == min(epochs, 2)
        assert (trials / trial_name(trial) / MODEL_DIR / MODEL_FILE).is_file() == (status is RunStatus.FINISHED)


def test_a_diverging_trial_is_marked_and_the_sweep_goes_on_in_a_bucket(tmp_path, prepared_sample, bucket):
    """Everything in a bucket (a GCS emulator), as on the GCP cluster: Tune's state, the trials'
    checkpoints and models, and MLflow's artifacts behind an ``mlflow server``; then promote and
    predict take the champion from there."""
    text = (
        GOOD.format(base=DEMO_CONFIG, source=prepared_sample)
        .replace("method: bayes", "method: grid")
        .replace(
            "loss.adversarial_weight: {distribution: log_uniform_values, min: 0.01, max: 0.5}",
            "optim.critic_lr: {values: [2.0e-4, 1.0e+12]}",
        )
        .replace("optim.generator_lr: {values: [1.0e-4, 4.0e-4]}", "optim.generator_lr: {value: 2.0e-4}")
        .replace("run_cap: 4", "")
        .replace(EARLY_TERMINATE, "")
        .replace("epochs_per_trial: 3", "epochs_per_trial: 1")
    )
    storage = f"{bucket}/sweeps"
    with mlflow_server_running(tmp_path / "mlflow.db", f"{bucket}/mlflow") as tracking:
        spec = write_spec(tmp_path, text)
        proc = sweep(spec, "--storage", storage, "--tracking-uri", tracking)
        again = sweep(spec, "--storage", storage, "--tracking-uri", tracking)  # Tune restores it from the bucket
        promoted = cli("promote", "tiny", "--metric", "psnr", "--tracking-uri", tracking)
        Image.fromarray(np.full((48, 40), 100, np.uint8)).save(tmp_path / "gray.png")
        predicted = cli(
            "predict",
            "--model",
            "models:/colorizer@champion",
            tmp_path / "gray.png",
            "--out",
            tmp_path / "out",
            "--tracking-uri",
            tracking,
        )
        synced = cli("sync", f"{storage}/tiny")  # reads the trials' records from the bucket: all delivered
    rows = table(proc.stdout)
    assert sorted(status for status, _, _ in rows.values()) == [RunStatus.DIVERGED, RunStatus.FINISHED], proc.stdout[
        -2000:
    ]
    diverged = next(t for t, (status, _, _) in rows.items() if status is RunStatus.DIVERGED)
    assert rows[diverged][2] == "-"  # no metric, never the best
    assert f"best trial: {diverged}" not in proc.stdout
    assert proc.returncode == 0

    from runner.checkpoint_store import CheckpointStore

    finished = next(t for t in rows if t != diverged)
    trials = f"{storage}/tiny/trials"
    model = CheckpointStore.for_run(trials, trial_name(finished), keep=2).model_location()
    assert model == f"{trials}/{trial_name(finished)}/{MODEL_DIR}" and f"model: {model}" in proc.stdout
    marker = CheckpointStore.for_run(trials, trial_name(diverged), keep=2)
    assert marker.model_location() is None and "diverged" in marker.latest_location()
    assert CheckpointStore(f"{storage}/tiny", keep=1).read_json("driver.json")["heartbeat"] == 0.0  # released

    assert again.returncode == 0 and f"resuming sweep tiny from {storage}/tiny" in again.stdout, again.stderr[-3000:]
    assert table(again.stdout) == rows  # nothing trained again
    assert synced.returncode == 0 and re.search(r"^\d+ run\(s\) complete in MLflow$", synced.stdout, re.M), synced
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    assert re.search(r"champion -> version \d+", promoted.stdout), promoted.stdout
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    with Image.open(tmp_path / "out" / "gray.png") as colored:
        assert colored.size == (40, 48) and colored.mode == "RGB"
    fs, path = filesystem(f"{bucket}/mlflow")  # the logged model is in the bucket, not beside the store
    stored = [i.path for i in fs.get_file_info(pafs.FileSelector(path, recursive=True))]
    assert any(p.endswith("MLmodel") for p in stored) and any(p.endswith(".keras") for p in stored), stored


def test_a_killed_sweep_resumes_and_accounts_for_every_trial_once(
    tmp_path, prepared_sample, isolated_tracking, shared_ray
):
    # Three trials of two epochs: the fewest that leave trials both finished and unstarted at the kill.
    spec = write_spec(
        tmp_path,
        GOOD.format(base=DEMO_CONFIG, source=prepared_sample)
        .replace(EARLY_TERMINATE, "")
        .replace("run_cap: 4", "run_cap: 3")
        .replace("epochs_per_trial: 3", "epochs_per_trial: 2"),
    )
    storage = tmp_path / "storage"
    driver = subprocess.Popen(
        [sys.executable, "-m", "chromasweep.cli", "sweep", str(spec), "--storage", str(storage)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    trials = storage / "tiny" / "trials"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not list(trials.glob(f"*/{MODEL_DIR}/{MODEL_FILE}")):
        time.sleep(1)
    finished_before = {p.parent.parent.name: p.stat().st_mtime for p in trials.glob(f"*/{MODEL_DIR}/{MODEL_FILE}")}
    assert finished_before, "no trial finished within 10 minutes"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started (its own), at once
    driver.wait()

    proc = sweep(spec, "--storage", storage, "--resume", ray=shared_ray)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming sweep tiny" in proc.stdout
    rows = table(proc.stdout)
    assert len(rows) == 3 and all(status is RunStatus.FINISHED for status, _, _ in rows.values())
    for trial, mtime in finished_before.items():  # finished trials were not trained again
        assert (trials / trial / MODEL_DIR / MODEL_FILE).stat().st_mtime == mtime
    # A trial started in the second before the kill, before Tune saved its state, is drawn afresh on
    # resume: its folder is removed if it saved no checkpoint, or kept and marked lost.
    folders = {p.name: json.loads((p / STATUS_FILE).read_text())["status"] for p in trials.glob("trial-*")}
    assert {name for name, status in folders.items() if status != RunStatus.LOST} == {trial_name(t) for t in rows}

    # MLflow: the resumed sweep continued its own runs, one per trial, every epoch logged.
    from mlflow import MlflowClient

    client = MlflowClient(isolated_tracking)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    parents = [r for r in runs if r.data.tags.get("chromasweep.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("chromasweep.kind") == "trial"]
    # A trial started in the seconds before the kill, before Tune saved its state, is sampled afresh
    # on resume: its run is deleted if it logged nothing, or kept as KILLED and tagged lost.
    lost = [r for r in children if r.data.tags["chromasweep.status"].startswith("lost")]
    assert all(r.info.status == "KILLED" and r.data.metrics for r in lost)
    children = [r for r in children if r not in lost]
    assert len(parents) == 1 and len(children) == 3
    assert sorted(c.info.run_name for c in children) == sorted(trial_name(t) for t in rows)
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags["chromasweep.model_uri"]
        # Each epoch exactly once, the epoch re-run after the kill included.
        assert sorted(m.step for m in client.get_metric_history(child.info.run_id, "val_psnr")) == [1, 2]

    # Run again with an edited search space: refused, naming what changed, before Ray starts.
    edited = write_spec(tmp_path, spec.read_text().replace("min: 0.01, max: 0.5", "min: 0.02, max: 0.5"), "edited.yaml")
    proc = sweep(edited, "--storage", storage)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "changed: parameters.loss.adversarial_weight.min (0.01 -> 0.02)" in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr + proc.stdout

    assert "with 'chromasweep: {warm_start_from: tiny}' to start from what this one learned" in proc.stderr

    # A raised run_cap is the one edit a sweep takes: its three trials stay as they are, a fourth is drawn.
    raised = write_spec(tmp_path, spec.read_text().replace("run_cap: 3", "run_cap: 4"), "raised.yaml")
    proc = sweep(raised, "--storage", storage, ray=shared_ray)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "run_cap 3 -> 4: sweep tiny goes on to 4 trials" in proc.stdout
    extended = table(proc.stdout)
    assert len(extended) == 4 and rows.keys() < extended.keys()
    assert all(status is RunStatus.FINISHED for status, _, _ in extended.values())
    for trial, mtime in finished_before.items():
        assert (trials / trial / MODEL_DIR / MODEL_FILE).stat().st_mtime == mtime
    (parent,) = client.search_runs([parents[0].info.experiment_id], "tags.`chromasweep.kind` = 'sweep'")
    assert parent.data.tags["chromasweep.run_cap"] == "4" and parent.data.params["run_cap"] == "3"


def test_max_cost_usd_stops_drawing_trials_once_one_more_would_pass_it(
    tmp_path, prepared_sample, isolated_tracking, shared_ray
):
    # This machine priced at 100 USD a second: whatever its speed, one trial costs more than the budget,
    # so the first trial runs (nothing is known before it reports) and no second one is drawn.
    prices = write_spec(
        tmp_path,
        "as_of: 2026-12\nsource: a test's own rate\nnode_types:\n  local: {vcpus: null, gpus: 0, on_demand: 360000}\n",
        "prices.yaml",
    )
    spec = write_spec(
        tmp_path,
        GOOD.format(base=DEMO_CONFIG, source=prepared_sample)
        .replace(EARLY_TERMINATE, "")
        .replace("run_cap: 4", "run_cap: 3")
        .replace("epochs_per_trial: 3}", "epochs_per_trial: 2, max_cost_usd: 0.5}")
        + f"  cost: {{node_type: local, price_file: {prices}}}\n",
    )
    proc = sweep(spec, "--storage", tmp_path / "storage", ray=shared_ray)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (trial,) = table(proc.stdout)
    assert "max_cost_usd 0.5: 1 of 3 trials drawn before the budget stopped the sweep" in proc.stdout
    cost = float(re.search(rf"^{trial}\s+finished\s+2\s+\S+\s+([\d.]+) USD", proc.stdout, re.M)[1])
    assert cost > 0.5 and f"cost: {cost:.2f} USD in all, an estimate" in proc.stdout
    # The trial's own record agrees, epoch by epoch, and the searcher said why it stopped.
    history = [
        json.loads(line)
        for line in (tmp_path / "storage/tiny/trials" / trial_name(trial) / "metrics.jsonl").read_text().splitlines()
    ]
    assert 0 < history[0]["cost_usd"] < history[1]["cost_usd"] == pytest.approx(cost, abs=0.005)
    log = (tmp_path / "storage" / "tiny" / "console.log").read_text()
    assert "[budget] max_cost_usd 0.5: spent" in log and "would pass it; no new trials" in log


def test_several_metrics_compile_to_a_multi_objective_search(tmp_path):
    from optuna.samplers import NSGAIISampler
    from ray.tune.schedulers import ASHAScheduler

    from sweeps.plan import search_space
    from sweeps.search import scheduler, searcher

    text = (
        GOOD.format(base=DEMO_CONFIG, source="null")
        .replace("metric: {name: val_psnr, goal: maximize}\n", "")
        .replace("method: bayes", "method: nsga2")
        + "  metrics: [{name: val_psnr, goal: maximize}, {name: val_colorfulness_gap, goal: minimize}]\n"
    )
    spec, _ = load_spec(write_spec(tmp_path, text))
    search = searcher(spec)
    assert search.metric == ["val_psnr", "val_colorfulness_gap"] and search.mode == ["max", "min"]
    assert isinstance(search._sampler, NSGAIISampler)
    asha = scheduler(spec)  # early stopping ranks by the first objective
    assert isinstance(asha, ASHAScheduler) and asha.metric == "val_psnr"
    space = search_space(spec)
    assert set(space) == {"loss.adversarial_weight", "optim.generator_lr"}
    assert space["loss.adversarial_weight"].low == 0.01 and space["optim.generator_lr"].choices == (1.0e-4, 4.0e-4)

    with pytest.raises(SpecError, match="give exactly one of 'metric'"):
        load_spec(
            write_spec(
                tmp_path,
                GOOD.format(base=DEMO_CONFIG, source="null").replace("metric: {name: val_psnr, goal: maximize}\n", ""),
                "no-metric.yaml",
            )
        )
