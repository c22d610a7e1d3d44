"""MLflow as a user meets it: a sweep leaves a parent run with a child per trial, `promote` moves
@champion only for a better model, `predict` loads the champion, and an unreachable server is
reported before any training. Everything runs against a real sqlite store."""

import contextlib
import csv
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import mlflow_ui_running
from mlflow import MlflowClient

from colorize_core.status import RunStatus

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "colorize_core" / "configs" / "demo.yaml"

SPEC = """
name: tracked
method: random
metric: {{name: val_psnr, goal: maximize}}
parameters:
  loss.adversarial_weight: {{distribution: log_uniform_values, min: 0.01, max: 0.2}}
  optim.generator_lr: {{values: [2.0e-4, 4.0e-4]}}
  data.source: {{value: {source}}}
  steps_per_epoch: {{value: 4}}
run_cap: 2
chromasweep:
  base: {base}
  seed: 3
  budget: {{max_concurrent: 1, epochs_per_trial: 2}}
  tracking: {{sample_every: 1, sample_images: 3}}
"""


def chromasweep(*args, uri, cwd, timeout=1500, ray=None):
    """A command tracked in ``uri``; a sweep on the session's shared Ray cluster if ``ray``."""
    return subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", *map(str, args), "--tracking-uri", uri, *(ray.args() if ray else [])],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=ray.env() if ray else None,
    )


@pytest.fixture(scope="module")
def tracked_sweep(prepared_sample, tmp_path_factory, shared_ray):
    """One small sweep (2 trials x 2 epochs), tracked in its own sqlite store."""
    home = tmp_path_factory.mktemp("tracked")
    spec = home / "tracked.yaml"
    spec.write_text(SPEC.format(base=DEMO_CONFIG, source=prepared_sample))
    uri = f"sqlite:///{home}/mlflow.db"
    proc = chromasweep("sweep", spec, "--storage", home / "storage", uri=uri, cwd=home, ray=shared_ray)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"home": home, "spec": spec, "uri": uri, "stdout": proc.stdout, "source": prepared_sample, "ray": shared_ray}


@pytest.fixture
def tracked_store(tracked_sweep, monkeypatch):
    """The sweep's store as this process's MLflow store, as a user's MLFLOW_TRACKING_URI would make it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracked_sweep["uri"])
    mlflow.set_tracking_uri(tracked_sweep["uri"])
    return tracked_sweep


def runs_of(client, experiment_name):
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("chromasweep.kind") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return experiment, parents, children


@pytest.mark.e2e
def test_the_console_shows_one_table_and_the_log_keeps_the_rest(tracked_sweep):
    out, home = tracked_sweep["stdout"], tracked_sweep["home"]
    log = home / "storage" / "tracked" / "console.log"
    assert f"full log: {log}" in out
    assert "sweep tracked: 2 of 2 trials started, val_psnr (maximize)" in out  # the live table's last frame
    assert re.search(r"spent ~[\d.]+ USD", out) and re.search(r"\bcost\b", out)  # the caption and the column
    ray_line = "Connected to Ray cluster"  # the session's shared cluster; "Started a local Ray instance" alone
    for noise in ("Trial status", "tensorflow", "ExperimentalWarning", ray_line):
        assert noise not in out, noise
    kept = log.read_text()
    assert "Trial status" in kept or "Trial trial_fn" in kept or "run_trial" in kept
    assert ray_line in kept


@pytest.mark.e2e
def test_sweeps_lists_each_sweep_with_its_trials_and_best(tracked_sweep):
    listed = chromasweep("sweeps", uri=tracked_sweep["uri"], cwd=tracked_sweep["home"], timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["sweep", "state", "finished/stopped/failed", "of"]
    assert re.match(
        r"tracked\s+finished\s+2/0/0 of 2\s+val_psnr [\d.]+\s+trial-[0-9a-f]{8}\s+[\d.]+ USD\s+"
        r"\d{4}-\d\d-\d\d \d\d:\d\d\s+\S+/storage/tracked$",
        row,
    ), row


@pytest.mark.e2e
def test_a_sweep_is_one_parent_run_with_a_child_per_trial(tracked_store):
    tracked_sweep = tracked_store
    client = MlflowClient(tracked_sweep["uri"])
    _, parents, children = runs_of(client, "tracked")
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)

    # The parent: the spec as params and artifact, provenance tags, the trial table, Optuna's plots.
    assert parent.data.params["method"] == "random" and parent.data.params["run_cap"] == "2"
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", parent.data.tags["git_commit"])
    assert Path(parent.data.tags["data_source"]) == Path(tracked_sweep["source"]).resolve()
    assert parent.data.tags["version.ray"] == "2.60.0" and parent.data.tags["version.mlflow"] == "3.17.2"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"sweep_spec.yaml", "trials.csv", "optuna"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "optuna")}
    assert {
        f"optuna/{p}.{ext}" for p in ("optimization_history", "parallel_coordinate") for ext in ("html", "png")
    } <= plots
    table = Path(
        mlflow.artifacts.download_artifacts(
            run_id=parent.info.run_id, artifact_path="trials.csv", tracking_uri=tracked_sweep["uri"]
        )
    ).read_text()
    assert table.count("finished") == 2 and "loss.adversarial_weight" in table.splitlines()[0]

    # What the sweep cost: the sum of its trials' estimates, each from its wall time at this machine's rate.
    trial_costs = [child.data.metrics["cost_usd"] for child in children]
    assert all(c > 0 for c in trial_costs) and parent.data.metrics["cost_usd"] == pytest.approx(sum(trial_costs))
    assert "an estimate: each trial's wall time x 1 worker(s) x" in parent.data.tags["chromasweep.cost_basis"]
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags["chromasweep.status"] == RunStatus.FINISHED
        assert float(child.data.params["loss.adversarial_weight"]) <= 0.2  # the sampled value, by its spec path
        for metric in (
            "val_psnr",
            "val_ssim",
            "val_colorfulness",
            "val_colorfulness_gap",
            "images_per_second",
            "train_ab_mse",
            "train_critic_loss",
            "cost_usd",
        ):
            history = client.get_metric_history(child.info.run_id, metric)
            assert sorted(m.step for m in history) == [1, 2], metric
        samples = {a.path for a in client.list_artifacts(child.info.run_id, "samples")}
        assert samples == {"samples/epoch_001.png", "samples/epoch_002.png"}
        grid = mlflow.artifacts.download_artifacts(
            run_id=child.info.run_id, artifact_path="samples/epoch_002.png", tracking_uri=tracked_sweep["uri"]
        )
        from PIL import Image

        with Image.open(grid) as image:  # 3 rows (images) of gray | prediction | truth, 64 px each
            assert image.size == (3 * 64 + 2 * 4, 3 * 64 + 2 * 4)
        model = mlflow.models.get_model_info(child.data.tags["chromasweep.model_uri"])
        assert model.flavors.keys() >= {"keras", "python_function"}
        assert model.signature.inputs.inputs[0].shape == (-1, 64, 64, 1)
        assert model.saved_input_example_info is not None


@pytest.mark.e2e
def test_running_the_sweep_again_resumes_it_without_duplicate_runs(tracked_sweep):
    proc = chromasweep(
        "sweep",
        tracked_sweep["spec"],
        "--storage",
        tracked_sweep["home"] / "storage",
        uri=tracked_sweep["uri"],
        cwd=tracked_sweep["home"],
        ray=tracked_sweep["ray"],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming sweep tracked" in proc.stdout and "MLflow: continuing run" in proc.stdout
    _, parents, children = runs_of(MlflowClient(tracked_sweep["uri"]), "tracked")
    assert len(parents) == 1 and len(children) == 2


def _register_broken_champion(uri, best_model_uri):
    """A previous champion that is clearly worse: the best trial's model with its colour output
    pinned to saturation (ab ~ (+1, -1) everywhere)."""
    import keras

    from tracking.models import load_generator
    from tracking.store import experiment_id
    from tracking.trial_run import TrackingContext, TrialRun

    model = load_generator(best_model_uri, uri)
    last_conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][-1]
    kernel, bias = last_conv.get_weights()
    last_conv.set_weights([np.zeros_like(kernel), np.array([20.0, -20.0], np.float32)])
    client = MlflowClient(uri)
    context = TrackingContext(uri=uri, experiment_id=experiment_id(client, "older-sweep"))
    run = TrialRun(context, "saturated", {})
    logged = run.log_model(model, {"image_size": 64}, epoch=1)
    version = mlflow.register_model(logged, "colorizer")
    client.set_registered_model_alias("colorizer", "champion", version.version)
    return version.version


@pytest.mark.e2e
def test_promote_moves_the_champion_only_for_a_better_model_and_predict_loads_it(tracked_store, tmp_path):
    tracked_sweep = tracked_store
    uri, home = tracked_sweep["uri"], tracked_sweep["home"]
    client = MlflowClient(uri)
    _, _, children = runs_of(client, "tracked")
    best = max(children, key=lambda c: c.data.metrics["val_psnr"])
    old = _register_broken_champion(uri, best.data.tags["chromasweep.model_uri"])

    first = chromasweep("promote", "tracked", "--metric", "psnr", uri=uri, cwd=home)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"{best.info.run_name}: held-out PSNR" in first.stdout
    assert re.search(rf"champion -> version (\d+): held-out psnr .* beats champion v{old}'s", first.stdout), (
        first.stdout
    )
    champion = client.get_model_version_by_alias("colorizer", "champion")
    assert champion.version != old
    tags = champion.tags
    assert tags["promotion"] == "promoted" and "beats" in tags["promotion_reason"]
    assert (
        tags["sweep"] == "tracked" and tags["trial"] == best.info.run_name and tags["trial_run_id"] == best.info.run_id
    )
    assert tags["data_source"] and tags["git_commit"]

    assert "Turing test: no study reported yet" in first.stdout

    # A Turing study of the champion reported (as `chromasweep turing report` logs one): promote shows it.
    from tracking.models import ModelRef
    from tracking.turing_results import log_study_result

    summary = "12.5% fooled [6.5, 22.8] in study pilot, 80 trials, 2 participants"
    log_study_result(
        uri, "pilot", ModelRef(champion.run_id, "colorizer", champion.version), {"turing_fooling_rate": 0.125}, summary
    )

    # The same trial again: equal on the held-out split is not better, so the alias stays.
    second = chromasweep("promote", "tracked", "--metric", "psnr", uri=uri, cwd=home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"champion version {champion.version}, Turing test: {summary}" in second.stdout
    assert "not promoted: held-out psnr" in second.stdout and f"champion stays on v{champion.version}" in second.stdout
    assert client.get_model_version_by_alias("colorizer", "champion").version == champion.version
    newest = max(client.search_model_versions("name = 'colorizer'"), key=lambda v: int(v.version))
    assert newest.tags["promotion"] == "not promoted" and "does not beat" in newest.tags["promotion_reason"]

    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).convert("L").save(tmp_path / "gray.png")
    predicted = chromasweep(
        "predict",
        "--model",
        "models:/colorizer@champion",
        tmp_path / "gray.png",
        "--out",
        tmp_path / "out",
        uri=uri,
        cwd=home,
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    with Image.open(tmp_path / "out" / "gray.png") as out:
        assert out.size == (512, 512) and out.mode == "RGB"

    # Evaluated on photos it never saw, under ChromaGAN's protocol: the means land on its own run.
    (tmp_path / "photos").mkdir()
    Image.fromarray(data.astronaut()).save(tmp_path / "photos" / "astronaut.png")
    Image.fromarray(data.coffee()).save(tmp_path / "photos" / "coffee.png")
    scored = chromasweep(
        "evaluate", "--model", "models:/colorizer@champion", "--data", tmp_path / "photos", uri=uri, cwd=home
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "protocol 224" in scored.stdout and f"logged to MLflow run {best.info.run_id}" in scored.stdout
    logged = client.get_run(best.info.run_id).data
    assert {"eval_224_psnr", "eval_224_gray_psnr", "eval_224_mean_ab_psnr"} <= set(logged.metrics)
    assert logged.tags["eval_224_data"] == str((tmp_path / "photos").resolve())

    # Every finished trial of the sweep on the same photos: one table, and each trial's figures on its run.
    compared = chromasweep(
        "evaluate",
        "--sweep",
        "tracked",
        "--data",
        tmp_path / "photos",
        "--out",
        tmp_path / "sweep.csv",
        uri=uri,
        cwd=home,
    )
    assert compared.returncode == 0, compared.stderr[-3000:]
    header, gray, constant, *trials = list(csv.reader((tmp_path / "sweep.csv").open()))
    assert header[:3] == ["model", "psnr", "psnr_minus_gray"] and [gray[0], constant[0]] == ["(gray)", "(mean_ab)"]
    finished = [c for c in children if c.data.tags.get("chromasweep.status") == RunStatus.FINISHED]
    assert sorted(t[0].split()[0] for t in trials) == sorted(c.info.run_name for c in finished)  # then what varied
    assert all(t[2].split()[-1] in {"above", "below", "tie"} for t in trials)
    for child in finished:
        assert "eval_224_psnr_minus_gray_ci_low" in client.get_run(child.info.run_id).data.metrics
    both = chromasweep(
        "evaluate",
        "--sweep",
        "tracked",
        "--model",
        "models:/colorizer@champion",
        "--data",
        tmp_path / "photos",
        uri=uri,
        cwd=home,
    )
    assert both.returncode == 2 and "give one of --model (one model) or --sweep" in both.stderr


@pytest.mark.e2e
def test_promote_with_require_turing_moves_the_champion_only_for_a_study_that_meets_the_goal(tracked_store):
    from tracking.models import ModelRef
    from tracking.turing_results import log_study_result
    from turing.report import FOOLING_CI_LOW, FOOLING_RATE

    uri, home = tracked_store["uri"], tracked_store["home"]
    client = MlflowClient(uri)
    _, _, children = runs_of(client, "tracked")
    best = max(children, key=lambda c: c.data.metrics["val_psnr"])
    old = _register_broken_champion(uri, best.data.tags["chromasweep.model_uri"])

    def promote():
        proc = chromasweep("promote", "tracked", "--metric", "psnr", "--require-turing", "10%", uri=uri, cwd=home)
        assert proc.returncode == 0, proc.stderr[-3000:]
        newest = max(client.search_model_versions("name = 'colorizer'"), key=lambda v: int(v.version))
        return proc.stdout, newest, client.get_model_version_by_alias("colorizer", "champion").version

    # Better on the held-out split, but no study yet: registered, the alias stays, the output says how.
    out, newest, champion = promote()
    assert champion == old and newest.tags["promotion"] == "not promoted"
    assert "beats champion" in out and f"no Turing study reported for {best.info.run_name}'s model" in out
    assert (
        f"turing create STUDY --model runs:/{best.info.run_id}/model" in out
        and newest.tags["promotion_turing_goal"] == "0.1"
    )

    # A hand-made study of the trial's model, as `chromasweep turing report` logs one: 12% fooled,
    # but its interval reaches down to 6%, so it does not show the 10% goal met.
    def study(name, rate, low, high):
        log_study_result(
            uri,
            name,
            ModelRef(best.info.run_id, None, None),
            {FOOLING_RATE: rate, FOOLING_CI_LOW: low, "turing_fooling_ci_high": high},
            f"{rate:.1%} fooled [{low:.1%}, {high:.1%}] in study {name}",
        )

    study("pilot", 0.12, 0.06, 0.20)
    out, newest, champion = promote()
    assert champion == old and newest.tags["promotion"] == "not promoted"
    assert "study pilot: 12.0% fooled, the interval's lower end 6.0% is below the goal 10%" in out
    assert f"champion stays on v{old}" in newest.tags["promotion_reason"]

    study("main", 0.16, 0.11, 0.22)  # a larger study: the whole interval at or above 10%
    out, newest, champion = promote()
    assert champion == newest.version != old and newest.tags["promotion"] == "promoted", out
    # The study's figures are on the champion's run, where the MLflow UI shows them.
    run = client.get_run(newest.run_id)
    assert run.data.metrics[FOOLING_CI_LOW] == 0.11 and run.data.tags["turing_study"] == "main"

    refused = chromasweep("promote", "tracked", "--require-turing", "10", uri=uri, cwd=home)
    assert (
        refused.returncode == 2 and "'--require-turing': expected a fooling rate such as 10% or 0.10" in refused.stderr
    )


@pytest.mark.e2e
def test_promote_names_what_is_missing(tracked_sweep):
    proc = chromasweep("promote", "no-such-sweep", uri=tracked_sweep["uri"], cwd=tracked_sweep["home"])
    assert proc.returncode == 1
    assert "no sweep 'no-such-sweep'" in proc.stderr and "tracked" in proc.stderr


def test_an_unreachable_tracking_server_is_reported_before_any_training(tmp_path, prepared_sample):
    spec = tmp_path / "tracked.yaml"
    spec.write_text(SPEC.format(base=DEMO_CONFIG, source=prepared_sample))
    started = time.monotonic()
    proc = chromasweep(
        "sweep", spec, "--storage", tmp_path / "storage", uri="http://127.0.0.1:9", cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 1
    assert "MLflow tracking server http://127.0.0.1:9 is not reachable" in proc.stderr
    assert time.monotonic() - started < 60 and not (tmp_path / "storage").exists()


@pytest.fixture
def mlflow_ui(tracked_sweep):
    """`chromasweep ui` serving the sweep's store; stopped afterwards."""
    with mlflow_ui_running(tracked_sweep["uri"], tracked_sweep["home"]) as url:
        yield url


@pytest.mark.e2e
def test_the_mlflow_ui_shows_the_sweep_its_trials_and_a_sample_grid(tracked_sweep, mlflow_ui, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = ROOT / "runs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    experiment = MlflowClient(tracked_sweep["uri"]).get_experiment_by_name("tracked")
    wait = WebDriverWait(browser, 60)

    # MLflow 3.17 takes the view from the browser's GenAI/Model training switch (GenAI until a user
    # flips it), not from the experiment's mlflow.experimentKind tag: the link asks for training.
    browser.get(f"{mlflow_ui}/#/experiments/{experiment.experiment_id}?workflowType=machine_learning")
    # The training view: the experiment opens on its runs, the sidebar without GenAI pages.
    runs_page = "//a[@aria-current='page'][normalize-space()='Runs']"
    wait.until(lambda b: b.find_elements(By.XPATH, runs_page))
    assert f"/experiments/{experiment.experiment_id}/runs" in browser.current_url
    assert not browser.find_elements(By.XPATH, "//a[normalize-space()='Evaluation runs']")

    # The sweep's parent run, its children folded under it.
    parent_link = "//a[span[text()='tracked']]"
    wait.until(lambda b: b.find_elements(By.XPATH, parent_link))
    trial_links = "//a[span[starts-with(text(), 'trial-')]]"
    assert not browser.find_elements(By.XPATH, trial_links)  # folded
    expand = wait.until(lambda b: b.find_elements(By.XPATH, f"{parent_link}/ancestor::div[@role='gridcell']//button"))
    expand[0].click()
    children = wait.until(lambda b: b.find_elements(By.XPATH, trial_links))
    names = sorted(a.text for a in children)
    assert len(names) == 2 and all(re.fullmatch(r"trial-[0-9a-f]{8}", n) for n in names)
    browser.save_screenshot(str(shots / "mlflow-sweep-runs.png"))
    trial_urls = [a.get_attribute("href") for a in children]  # the chart view re-renders the table

    # One click away: the metric charts, a card per metric with a line per run.
    browser.find_element(By.XPATH, "//label[.//input[@name='runs-view-mode'][@value='CHART']]").click()
    cards = "//div[@data-testid='experiment-view-compare-runs-card'][.//*[contains(@class, 'js-plotly-plot')]]"
    wait.until(lambda b: b.find_elements(By.XPATH, cards))
    # Cards below the fold are not drawn until scrolled to: the charts' search brings up the objective's.
    browser.find_element(By.CSS_SELECTOR, "input[placeholder='Search metric charts']").send_keys("val_psnr")
    val_psnr = f"{cards}[.//h4[@title='val_psnr']]"
    legend = lambda c: c.get_attribute("textContent")  # noqa: E731 - the legend scrolls: .text misses runs out of view
    chart = wait.until(lambda b: [c for c in b.find_elements(By.XPATH, val_psnr) if all(n in legend(c) for n in names)])
    assert chart[0].is_displayed()
    browser.save_screenshot(str(shots / "mlflow-sweep-training-view.png"))

    # A child's artifacts: its last sample grid rendered as an image.
    browser.get(trial_urls[0] + "/artifacts/samples/epoch_002.png")
    wait.until(lambda b: "samples/epoch_002.png" in b.find_element(By.TAG_NAME, "body").text)
    grid = wait.until(
        lambda b: [
            i
            for i in b.find_elements(By.TAG_NAME, "img")
            if b.execute_script("return arguments[0].naturalWidth", i) == 3 * 64 + 2 * 4
        ]
    )
    assert grid[0].is_displayed()
    browser.save_screenshot(str(shots / "mlflow-trial-sample-grid.png"))
    assert (shots / "mlflow-trial-sample-grid.png").stat().st_size > 10_000


@pytest.mark.e2e
def test_a_new_sweep_learns_from_the_finished_trials_of_an_earlier_one(tracked_sweep, tmp_path):
    from sweeps.search import WarmStartError, earlier_trials, searcher
    from sweeps.spec import load_spec

    text = SPEC.format(base=DEMO_CONFIG, source=tracked_sweep["source"]).replace("name: tracked", "name: follow-up")
    narrower = text.replace("min: 0.01, max: 0.2", "min: 0.01, max: 0.02")  # may leave earlier trials outside
    spec_path = tmp_path / "follow-up.yaml"
    spec_path.write_text(text + "  warm_start_from: tracked\n")
    spec, _ = load_spec(spec_path)
    notes = []
    evaluated = earlier_trials(spec, tracked_sweep["uri"], notes.append)
    assert len(evaluated) == 2 and notes == [
        "warm start: 2 of the 2 finished trials of sweep tracked lie in this space"
    ]
    for point, value in evaluated:
        assert set(point) == {"loss.adversarial_weight", "optim.generator_lr"} and point["optim.generator_lr"] in (
            2.0e-4,
            4.0e-4,
        )
        assert 10 < value < 40  # a val_psnr in dB
    study = searcher(spec, evaluated)._ot_study
    assert [t.value for t in study.trials] == [v for _, v in evaluated]  # told to Optuna before the first draw

    spec_path.write_text(narrower + "  warm_start_from: tracked\n")
    spec, _ = load_spec(spec_path)
    inside = [p for p in evaluated if p[0]["loss.adversarial_weight"] <= 0.02]
    assert len(earlier_trials(spec, tracked_sweep["uri"], notes.append)) == len(inside)
    spec_path.write_text(text + "  warm_start_from: no-such-sweep\n")
    spec, _ = load_spec(spec_path)
    with pytest.raises(WarmStartError, match="no sweep named 'no-such-sweep' in the tracking store"):
        earlier_trials(spec, tracked_sweep["uri"], notes.append)


def test_images_seen_is_each_epochs_steps_times_the_global_batch():
    from tracking.learning_curves import x_axis

    steps_per_epoch, batch = 4, 16
    xs, label = x_axis({epoch: epoch * steps_per_epoch for epoch in (1, 2, 3)}, batch)
    assert xs == {epoch: epoch * steps_per_epoch * batch for epoch in (1, 2, 3)} and label == "images seen"
    assert x_axis({1: 4}, None) == ({}, "epoch")  # a run logged without its batch size: drawn against epochs


def _curve_epoch(epoch, steps_per_epoch=4):
    """An epoch's report as a trial delivers it, reduced to what the curves read."""
    return {
        "epoch": epoch,
        "step": epoch * steps_per_epoch,
        "val_psnr": 20.0 + epoch,
        "val_gray_psnr": 21.0,
        "val_auc_rebalanced": 0.5 + epoch / 100,
        "val_gray_auc_rebalanced": 0.45,
        "train_ab_mse": 0.1,
    }


def test_each_delivery_redraws_the_trials_learning_curves_against_images_seen(isolated_tracking, tmp_path):
    from PIL import Image

    from tracking.delivery import Delivery, Durable
    from tracking.learning_curves import ARTIFACT, IMAGES_SEEN
    from tracking.store import experiment_id
    from tracking.trial_run import TrackingContext, TrialRun

    client = MlflowClient(isolated_tracking)
    context = TrackingContext(uri=isolated_tracking, experiment_id=experiment_id(client, "curves"))
    delivery = Delivery(TrialRun(context, "trial-curves", {"data": {"batch_size": 16}, "steps_per_epoch": 4}))
    history = [_curve_epoch(1), _curve_epoch(2)]
    assert delivery.deliver(Durable(list(history)))
    run_id = delivery.run.run_id
    assert [a.path for a in client.list_artifacts(run_id)] == [ARTIFACT]

    history.append(_curve_epoch(3))  # the next epoch: the same artifact, redrawn with it
    assert delivery.deliver(Durable(list(history), status=RunStatus.FINISHED))
    assert [a.path for a in client.list_artifacts(run_id)] == [ARTIFACT]
    png = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=ARTIFACT, tracking_uri=isolated_tracking, dst_path=str(tmp_path)
        )
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with Image.open(png) as image:
        assert image.width > image.height  # two panels side by side
    seen = {m.step: m.value for m in client.get_metric_history(run_id, IMAGES_SEEN)}
    assert seen == {1: 64, 2: 128, 3: 192}  # epoch x 4 steps x 16 images


def test_a_run_without_validation_scores_gets_no_curves(isolated_tracking):
    from tracking.learning_curves import log_learning_curves
    from tracking.store import experiment_id
    from tracking.trial_run import TrackingContext, TrialRun

    client = MlflowClient(isolated_tracking)
    run = TrialRun(TrackingContext(uri=isolated_tracking, experiment_id=experiment_id(client, "curves")), "bare", {})
    run.log_epoch(1, {"epoch": 1, "step": 4, "train_ab_mse": 0.1})
    assert not log_learning_curves(client, run.run_id, None)
    assert client.list_artifacts(run.run_id) == []
    assert client.get_metric_history(run.run_id, "images_seen") == []  # no batch size, no images seen


def test_experiments_carry_mlflows_model_training_mark(isolated_tracking):
    from tracking.store import EXPERIMENT_KIND, experiment_id

    client = MlflowClient(isolated_tracking)
    key, value = EXPERIMENT_KIND
    assert client.get_experiment(experiment_id(client, "new-sweep")).tags[key] == value == "custom_model_development"
    older = client.create_experiment("older-sweep")  # made before the mark existed
    assert experiment_id(client, "older-sweep") == older and client.get_experiment(older).tags[key] == value


@pytest.mark.e2e
def test_the_ui_stops_with_its_server_when_stopped_as_a_service(tmp_path):
    """SIGTERM to `chromasweep ui` alone (systemd, `kill PID`) stops the MLflow server it started."""
    from servers import _answers, free_port

    port = free_port()
    command = [sys.executable, "-m", "chromasweep.cli", "ui", "--port", str(port), "--tracking-uri"]
    with (tmp_path / "ui.log").open("wb") as log:
        launcher = subprocess.Popen(
            [*command, f"sqlite:///{tmp_path}/mlflow.db"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while not _answers("127.0.0.1", port):
            assert launcher.poll() is None and time.monotonic() < deadline, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(0.5)
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _answers("127.0.0.1", port):
            assert time.monotonic() < deadline, "the MLflow server outlived `chromasweep ui`"
            time.sleep(0.5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            launcher.kill()
