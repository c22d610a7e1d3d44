"""The colorization Turing test as its users run it: `chromasweep turing create`, a participant's whole
session in a real headless Chromium against `chromasweep turing serve`, and `chromasweep turing report`
into MLflow; beside it the server under 50 concurrent participants, tampering, a killed server, and the
report's arithmetic on a hand-made answer set."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import mlflow_ui_running
from PIL import Image
from servers import free_port

from turing import sessions
from turing.create import Arm, create_study
from turing.report import (
    CIC_RATE,
    GOALS,
    Verdict,
    participant_bootstrap,
    study_report,
    wilson,
)
from turing.settings import StudySettings
from turing.store import DB_FILE, IMAGES_DIR, Side, connect, read_meta

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "chromasweep.cli"]


def held_out(sample_photos) -> Path:
    return sample_photos / "ILSVRC" / "Data" / "CLS-LOC" / "val"  # 24 colour photos the models never saw


def synthetic_photos(folder: Path, count: int, side: int = 64) -> list[Path]:
    """Smooth random colour images: enough photos for a 40-trial session without training data."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        small = rng.integers(0, 255, (4, 4, 3), dtype=np.uint8)
        path = folder / f"photo{i:03d}.png"
        Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC).save(path)
        paths.append(path)
    return paths


def tint(image: np.ndarray) -> np.ndarray:
    """A stand-in colorizer for tests that need no network: the real photo with its channels rotated."""
    return np.roll(image, 1, axis=-1)


@contextmanager
def serving(study: Path, *extra: str):
    """`chromasweep turing serve STUDY` as a user starts it; yields its URL and the process."""
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "turing", "serve", str(study), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(url + "/", timeout=5).status_code in (200, 403):
                break
        except requests.ConnectionError:
            pass
        assert server.poll() is None, server.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the study server did not answer within 2 minutes"
        time.sleep(0.3)
    try:
        yield url, server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def table(study: Path, name: str) -> list[tuple]:
    db = sqlite3.connect(study / DB_FILE)
    try:
        return sorted(db.execute(f"SELECT * FROM {name}").fetchall())
    finally:
        db.close()


def snapshot(study: Path) -> dict[str, list[tuple]]:
    return {name: table(study, name) for name in ("participants", "trials", "answers")}


def take_session(
    url: str, choose=lambda trial: random.choice(list(Side)), token: str | None = None
) -> tuple[str, list[float]]:
    """One simulated participant through the JSON API; returns their id and each answer's latency."""
    http = requests.Session()
    reply = http.post(f"{url}/api/sessions", json={"token": token}, timeout=60)
    assert reply.status_code == 201, reply.text
    participant, latencies = reply.json()["participant"], []
    while True:
        trial = http.get(f"{url}/api/s/{participant}/next", timeout=60)
        assert trial.status_code == 200, trial.text
        trial = trial.json()
        if trial["done"]:
            return participant, latencies
        body = {"idx": trial["idx"], "choice": choose(trial)}
        started = time.perf_counter()
        reply = http.post(f"{url}/api/s/{participant}/answer", json=body, timeout=60)
        latencies.append(time.perf_counter() - started)
        assert reply.status_code == 200, reply.text
        again = http.post(f"{url}/api/s/{participant}/answer", json=body, timeout=60)  # a double click
        assert again.status_code == 200 and again.json()["stored"] is False, again.text


@pytest.fixture(scope="module")
def tinted_template(sample_photos, tmp_path_factory):
    study = tmp_path_factory.mktemp("studies") / "tinted"
    settings = StudySettings(
        practice_trials=2, test_trials=6, attention_checks=2, max_attention_failures=1, control_arm=True, image_size=64
    )
    create_study(study, [Arm("tint", tint)], sorted(held_out(sample_photos).glob("*")), settings, log=lambda _: None)
    return study


@pytest.fixture
def tinted_study(tinted_template, tmp_path):
    """A fresh copy of one small study, with no participant yet."""
    import shutil

    return Path(shutil.copytree(tinted_template, tmp_path / "tinted"))


# ---------------------------------------------------------------------------------------------------
# The report's arithmetic, on answers whose fooling rate is known by construction


def test_wilson_interval_matches_its_published_values():
    # Wilson (1927) / Newcombe (1998), method 3: 81 of 263 gives 0.2553 to 0.3662.
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 10)[0] == 0.0 and round(wilson(0, 10)[1], 4) == 0.2775
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_the_participant_bootstrap_widens_when_people_differ_and_not_when_they_agree():
    # 5 people never fooled and 5 always: 50% either way, but the pooled Wilson interval treats the
    # 100 answers as independent coin flips.
    split = [(0, 10)] * 5 + [(10, 10)] * 5
    assert participant_bootstrap(split) == (0.2, 0.8) and wilson(50, 100) == pytest.approx((0.404, 0.596), abs=1e-3)
    alike = [(2, 10)] * 10  # everyone at 20%: resampling people changes nothing
    assert participant_bootstrap(alike) == (0.2, 0.2)
    assert all(math.isnan(x) for x in participant_bootstrap([(3, 10)]))  # one person: undefined


def test_a_participant_never_sees_one_photo_twice(tinted_study):
    # An attention check shows a photo's real colours beside gray: seen before or after a test pair
    # of the same photo, it would tell which side of that pair is real.
    with connect(tinted_study, write=True) as db:
        for _ in range(40):
            sessions.start(db)
        plans = db.execute(
            "SELECT t.participant, p.photo, t.phase, p.kind FROM trials t JOIN pairs p ON p.id = t.pair"
        ).fetchall()
    by_participant: dict[str, list[str]] = {}
    for row in plans:
        by_participant.setdefault(row["participant"], []).append(row["photo"])
    assert len(by_participant) == 40
    assert all(len(photos) == len(set(photos)) == 2 + 6 + 2 for photos in by_participant.values())


def test_the_report_counts_only_included_test_trials(tinted_study, tmp_path):
    study = tinted_study

    def run_participant(fool: int, fail_checks: int, stop_after: int | None = None) -> str:
        """A participant on the model arm who is fooled on ``fool`` test trials and picks the real
        photo in ``fail_checks`` attention checks."""
        with connect(study, write=True) as db:
            while True:
                participant = sessions.start(db)
                if db.execute("SELECT arm FROM participants WHERE id = ?", (participant,)).fetchone()[0] == "tint":
                    break  # the control arm got this one; start another
        fooled = failed = answered = 0
        while stop_after is None or answered < stop_after:
            with connect(study, write=True) as db:
                trial = sessions.next_trial(db, participant)
                if isinstance(trial, str):
                    break
                row = db.execute(
                    "SELECT t.real_side, p.kind FROM trials t JOIN pairs p ON p.id = t.pair "
                    "WHERE t.participant = ? AND t.idx = ?",
                    (participant, trial.idx),
                ).fetchone()
                real = Side(row[0])
                if row[1] == "attention":
                    pick, failed = (real, failed + 1) if failed < fail_checks else (real.other, failed)
                elif row[1] == "test":
                    pick, fooled = (real, fooled + 1) if fooled < fool else (real.other, fooled)
                else:
                    pick = real.other
                sessions.answer(db, participant, trial.idx, pick)
                answered += 1
        return participant

    included = [run_participant(fool=n, fail_checks=f) for n, f in ((3, 0), (1, 1), (0, 0))]
    attention = run_participant(fool=6, fail_checks=2)  # both checks failed: excluded
    unfinished = run_participant(fool=2, fail_checks=0, stop_after=5)  # left after 2 practice + 3 tests

    with connect(study) as db:
        report = study_report(db)
    tint_arm = next(a for a in report.arms if a.arm == "tint")
    assert (tint_arm.fooled, tint_arm.trials, tint_arm.participants) == (4, 18, 3)
    assert tint_arm.rate == pytest.approx(4 / 18)
    assert tint_arm.wilson == pytest.approx(wilson(4, 18))  # [9.0%, 45.2%]
    assert sorted(tint_arm.per_participant) == [(0, 6), (1, 6), (3, 6)]
    # One resample in 27 is three copies of the participant who was never fooled: the bootstrap's low
    # end is 0, so the interval goals are judged on is [0%, 50%].
    assert tint_arm.bootstrap == (0.0, 0.5) and tint_arm.interval == (0.0, pytest.approx(0.5))
    assert set(tint_arm.excluded) == {attention, unfinished}
    assert tint_arm.excluded[attention].startswith("attention (2 of 2 checks failed")
    assert tint_arm.excluded[unfinished] == "unfinished (3 of 8 answered)"
    assert sum(n for _, n in tint_arm.per_image.values()) == 18
    assert sum(f for f, _ in tint_arm.per_image.values()) == 4
    # 22% [0%, 50%]: three participants decide no goal; on Wilson alone the base goal would look met.
    assert tint_arm.goals() == {"base": Verdict.UNDECIDED, "target": Verdict.UNDECIDED, "stretch": Verdict.UNDECIDED}
    assert tint_arm.verdict(CIC_RATE) is Verdict.UNDECIDED and tint_arm.verdict(0.55) is Verdict.NOT_MET
    assert set(GOALS.values()) == {0.05, 0.10, 0.15}
    assert len(included) == 3


# ---------------------------------------------------------------------------------------------------
# Nothing served says which image is real


def test_real_and_fake_differ_only_in_their_pixels(tinted_study):
    with connect(tinted_study) as db:
        pairs = db.execute("SELECT kind, real_left, real_right FROM pairs").fetchall()
    names = {n for _, left, right in pairs for n in (left, right)}
    assert names == {p.name for p in (tinted_study / IMAGES_DIR).iterdir()}
    for _, left, right in pairs:
        a, b = (tinted_study / IMAGES_DIR / left), (tinted_study / IMAGES_DIR / right)
        assert a.stat().st_size == b.stat().st_size  # both orders of a pair: one length
        with Image.open(a) as ia, Image.open(b) as ib:
            assert ia.size == ib.size == (2 * 64 + 16, 64) and ia.format == ib.format == "JPEG"
            assert ia.quantization == ib.quantization  # one encoder setting
            assert not ia.getexif() and not ib.getexif()
            assert not {"exif", "icc_profile", "comment", "xmp"} & (set(ia.info) | set(ib.info))
    assert all(len(n) == 36 and n.endswith(".jpg") for n in names)

    with serving(tinted_study) as (url, _):
        participant = requests.post(f"{url}/api/sessions", json={}, timeout=30).json()["participant"]
        seen_headers = set()
        while True:
            trial = requests.get(f"{url}/api/s/{participant}/next", timeout=30).json()
            if trial["done"]:
                break
            assert set(trial) == {"done", "idx", "phase", "number", "of", "image"}
            image = requests.get(url + trial["image"], timeout=30)
            assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
            seen_headers.add(
                tuple(sorted(k.lower() for k in image.headers if k.lower() not in ("date", "content-length")))
            )
            reply = requests.post(
                f"{url}/api/s/{participant}/answer", json={"idx": trial["idx"], "choice": "left"}, timeout=30
            ).json()
            if trial["phase"] == "test":
                assert reply == {"stored": True}  # no feedback, no truth
            else:
                assert set(reply) == {"stored", "fake"}
        assert len(seen_headers) == 1 and not {"etag", "last-modified"} & set(next(iter(seen_headers)))


# ---------------------------------------------------------------------------------------------------
# The server under tampering, load and a kill


def test_requests_that_do_not_fit_get_a_4xx_and_change_nothing(tinted_study, tmp_path):
    study = tinted_study
    with serving(study) as (url, _):
        participant = requests.post(f"{url}/api/sessions", json={}, timeout=30).json()["participant"]
        first = requests.get(f"{url}/api/s/{participant}/next", timeout=30).json()
        assert (
            requests.post(
                f"{url}/api/s/{participant}/answer", json={"idx": first["idx"], "choice": "right"}, timeout=30
            ).status_code
            == 200
        )
        before = snapshot(study)

        answer = f"{url}/api/s/{participant}/answer"
        cases = {
            "unknown session": (requests.post, f"{url}/api/s/nobody/answer", {"idx": 0, "choice": "left"}, 404),
            "unknown session's trial": (requests.get, f"{url}/api/s/nobody/next", None, 404),
            "unknown session's page": (requests.get, f"{url}/s/nobody", None, 404),
            "a trial not yet shown": (requests.post, answer, {"idx": first["idx"] + 1, "choice": "left"}, 409),
            "out of order": (requests.post, answer, {"idx": first["idx"] + 3, "choice": "left"}, 409),
            "a trial not in the session": (requests.post, answer, {"idx": 999, "choice": "left"}, 404),
            "a changed answer": (requests.post, answer, {"idx": first["idx"], "choice": "left"}, 409),
            "neither image": (requests.post, answer, {"idx": first["idx"] + 1, "choice": "middle"}, 422),
            "a negative trial": (requests.post, answer, {"idx": -1, "choice": "left"}, 422),
            "an extra field": (requests.post, answer, {"idx": 1, "choice": "left", "correct": True}, 422),
            "an image name from outside": (requests.get, f"{url}/img/..%2F{DB_FILE}", None, 404),
            "an unknown image": (requests.get, f"{url}/img/{'0' * 32}.jpg", None, 404),
        }
        for what, (method, target, body, status) in cases.items():
            reply = method(target, json=body, timeout=30) if body is not None else method(target, timeout=30)
            assert reply.status_code == status, (what, reply.status_code, reply.text)
        # A Host header the server was not started for (DNS rebinding) is turned away.
        assert requests.get(f"{url}/", headers={"Host": "evil.example"}, timeout=30).status_code == 400
        assert snapshot(study) == before
        # The same answer again (a retry) is acknowledged and stores nothing.
        again = requests.post(answer, json={"idx": first["idx"], "choice": "right"}, timeout=30)
        assert again.status_code == 200 and again.json()["stored"] is False
        assert snapshot(study) == before


def test_a_study_can_require_its_link_token_and_binding_beyond_loopback_needs_allowed_hosts(sample_photos, tmp_path):
    study = tmp_path / "private"
    settings = StudySettings(
        practice_trials=1,
        test_trials=2,
        attention_checks=0,
        max_attention_failures=0,
        image_size=64,
        require_token=True,
    )
    create_study(study, [Arm("tint", tint)], sorted(held_out(sample_photos).glob("*")), settings, log=lambda _: None)
    with connect(study) as db:
        token = read_meta(db, "token")
    with serving(study) as (url, _):
        assert requests.get(f"{url}/", timeout=30).status_code == 403
        assert requests.get(f"{url}/?token=wrong", timeout=30).status_code == 403
        assert requests.post(f"{url}/api/sessions", json={"token": "wrong"}, timeout=30).status_code == 403
        assert table(study, "participants") == []
        assert requests.get(f"{url}/?token={token}", timeout=30).status_code == 200
        take_session(url, token=token)
    assert len(table(study, "answers")) == 3
    refused = subprocess.run(
        [*CLI, "turing", "serve", str(study), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and "--allowed-host" in refused.stderr


def test_bad_study_settings_name_the_option_and_write_nothing(sample_photos, tmp_path):
    study = tmp_path / "never"
    # Settings that contradict themselves are a usage mistake (2); a photo folder too small for them, a refusal (1).
    for args, status, message in (
        (["--image-size", "100"], 2, "--image-size: Input should be a multiple of 16"),
        (
            ["--attention-checks", "2", "--max-attention-failures", "2"],
            2,
            "--max-attention-failures 2 excludes nobody with --attention-checks 2",
        ),
        (["--tests", "30"], 1, "24 usable colour photos (0 left out), but a session needs 44"),
    ):
        proc = subprocess.run(
            [
                *CLI,
                "turing",
                "create",
                str(study),
                "--model",
                "models:/colorizer@champion",
                "--images",
                str(held_out(sample_photos)),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == status and message in proc.stderr, (args, proc.stderr[-2000:])
        assert not study.exists()


@pytest.mark.e2e
def test_fifty_participants_at_once_each_answer_stored_exactly_once(tmp_path):
    study = tmp_path / "crowd"
    photos = synthetic_photos(tmp_path / "photos", 44)
    settings = StudySettings(
        practice_trials=0, test_trials=40, attention_checks=0, max_attention_failures=0, image_size=64
    )
    create_study(study, [Arm("tint", tint)], photos, settings, log=lambda _: None)
    results, errors = [], []

    def participant(url: str) -> None:
        try:
            results.append(take_session(url))
        except BaseException as err:  # noqa: BLE001  reported below with the others
            errors.append(repr(err))

    with serving(study) as (url, _):
        threads = [threading.Thread(target=participant, args=(url,)) for _ in range(50)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=900)
        elapsed = time.perf_counter() - started
    assert not errors, errors[:3]
    assert len(results) == 50
    answers = table(study, "answers")
    assert len(answers) == 50 * 40 == len({(a[0], a[1]) for a in answers})
    assert {p for p, _ in results} == {a[0] for a in answers}
    latencies = sorted(x for _, lat in results for x in lat)
    p95 = latencies[int(0.95 * len(latencies)) - 1]
    print(
        f"\n50 participants x 40 answers (each sent twice) in {elapsed:.1f} s; answer latency "
        f"median {1000 * statistics.median(latencies):.0f} ms, p95 {1000 * p95:.0f} ms"
    )


@pytest.mark.e2e
def test_a_killed_server_loses_no_committed_answer_and_the_participant_resumes(tinted_study, tmp_path):
    study = tinted_study
    with serving(study) as (url, server):
        participant = requests.post(f"{url}/api/sessions", json={}, timeout=30).json()["participant"]
        for _ in range(4):
            trial = requests.get(f"{url}/api/s/{participant}/next", timeout=30).json()
            assert (
                requests.post(
                    f"{url}/api/s/{participant}/answer", json={"idx": trial["idx"], "choice": "left"}, timeout=30
                ).status_code
                == 200
            )
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    assert [a[1] for a in table(study, "answers")] == [0, 1, 2, 3]
    with serving(study) as (url, _):
        trial = requests.get(f"{url}/api/s/{participant}/next", timeout=30).json()
        assert trial["idx"] == 4  # where they stopped
        assert (
            requests.post(
                f"{url}/api/s/{participant}/answer", json={"idx": 4, "choice": "right"}, timeout=30
            ).status_code
            == 200
        )
    assert [a[1] for a in table(study, "answers")] == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------------------------------
# A person's session in a real browser, from a model in MLflow to its fooling rate in MLflow


@pytest.fixture
def champion(tmp_path):
    """A colorizer logged to MLflow as training logs one, registered as colorizer@champion."""
    import mlflow
    from mlflow import MlflowClient

    from colorize_core.networks.chromagan import build_generator
    from colorize_core.status import RunStatus
    from tracking.trial_run import TrialRun, train_context

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = TrialRun(train_context(uri, "train", "study-model", restart=False), "study-model", {"model": {"width": 0.25}})
    model_uri = run.log_model(build_generator(64, 0.25, 10), {"image_size": 64}, epoch=1)
    run.finish(RunStatus.FINISHED)
    version = mlflow.register_model(model_uri, "colorizer")
    MlflowClient(uri).set_registered_model_alias("colorizer", "champion", version.version)
    return uri, run.run_id, version.version


@pytest.mark.e2e
def test_a_person_takes_the_study_in_a_browser_and_the_fooling_rate_reaches_mlflow(
    champion, sample_photos, browser, tmp_path
):
    from mlflow import MlflowClient
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    uri, run_id, version = champion
    study = tmp_path / "champion-study"
    created = subprocess.run(
        [
            *CLI,
            "turing",
            "create",
            str(study),
            "--model",
            "models:/colorizer@champion",
            "--images",
            str(held_out(sample_photos)),
            "--practice",
            "2",
            "--tests",
            "4",
            "--attention-checks",
            "0",
            "--max-attention-failures",
            "0",
            "--display-ms",
            "1500",
            "--tracking-uri",
            uri,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert created.returncode == 0, created.stderr[-3000:]
    assert f"turing serve {study}" in created.stdout
    shots = ROOT / "runs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 60)

    with serving(study) as (url, _):
        browser.get(url + "/")
        assert "Which photo was coloured by a computer?" in browser.title
        start = browser.find_element(By.ID, "start")
        assert not start.is_enabled()  # consent first
        browser.find_element(By.ID, "consent").click()
        start.click()
        seen = {"practice": 0, "test": 0}
        while True:
            wait.until(
                lambda b: b.find_element(By.ID, "pair").is_displayed() or b.find_element(By.ID, "end").is_displayed()
            )
            if browser.find_element(By.ID, "end").is_displayed():
                break
            progress = browser.find_element(By.ID, "progress").text
            phase = "practice" if progress.startswith("Practice") else "test"
            if phase == "test" and seen["test"] == 0:
                browser.save_screenshot(str(shots / "turing-trial.png"))  # the pair, while it is shown
            wait.until(lambda b: b.find_element(By.ID, "choices").is_displayed())
            pair = browser.find_element(By.ID, "pair")
            assert not pair.is_displayed()  # hidden after its time, measured by the page itself
            assert 1500 <= int(pair.get_attribute("data-displayed-ms")) < 1500 + 1000
            browser.find_element(By.ID, random.choice(["left", "right"])).click()
            seen[phase] += 1
            if phase == "practice":
                feedback = wait.until(lambda b: b.find_element(By.ID, "feedback").text)
                assert "coloured by the computer" in feedback
                browser.find_element(By.ID, "continue").click()
            else:
                wait.until(lambda b: not b.find_element(By.ID, "choices").is_displayed())
        code = browser.find_element(By.ID, "code").text
        assert seen == {"practice": 2, "test": 4} and len(code) == 8
        browser.save_screenshot(str(shots / "turing-end.png"))

        with connect(study) as db:
            admin = read_meta(db, "admin_token")
        browser.get(f"{url}/admin/{admin}/report")
        text = browser.find_element(By.ID, "report").text
        assert "models:/colorizer@champion" in text
        browser.save_screenshot(str(shots / "turing-report.png"))

    reported = subprocess.run(
        [*CLI, "turing", "report", str(study), "--tracking-uri", uri, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert reported.returncode == 0, reported.stderr[-3000:]
    arm = json.loads(reported.stdout)["arms"][0]
    assert arm["arm"] == "models:/colorizer@champion" and arm["run_id"] == run_id
    assert (arm["participants"], arm["trials"], arm["excluded"]) == (1, 4, {})
    client = MlflowClient(uri)
    metrics = client.get_run(run_id).data.metrics
    assert metrics["turing_trials"] == 4 and metrics["turing_fooling_rate"] == pytest.approx(arm["fooled"] / 4)
    tags = client.get_model_version("colorizer", version).tags
    assert tags["turing.study"] == "champion-study" and "fooled" in tags["turing.summary"]

    # The MLflow UI shows the fooling rate on the model's run.
    with mlflow_ui_running(uri, tmp_path) as ui:
        experiment = client.get_run(run_id).info.experiment_id
        browser.get(f"{ui}/#/experiments/{experiment}/runs/{run_id}")
        metric = wait.until(lambda b: b.find_elements(By.XPATH, "//*[text()='turing_fooling_rate']"))[0]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", metric)
        browser.save_screenshot(str(shots / "turing-mlflow-run.png"))
    assert (shots / "turing-trial.png").stat().st_size > 5_000
