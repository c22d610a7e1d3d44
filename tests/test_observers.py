"""Machine observers of a Turing study (observers/, `chromasweep turing observe`): the colourfulness
rule and a colour-statistics classifier answer a small study of synthetic photos, and their figures
stay apart from the people's: no participant row, no answer, no human metric in MLflow."""

from __future__ import annotations

import dataclasses
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from test_turing import snapshot, table, tint

from chromasweep.cli import cli
from observers.base import Labelled, ObserverError, halves
from observers.classifier import ColourStatsClassifier
from observers.colour import colourfulness
from observers.results import MACHINE_PREFIX, RESULTS_FILE, MachineResult, machine_metric_names
from observers.rule import ColourfulnessRule
from observers.study import OBSERVERS, observe
from turing import sessions
from turing.create import GAP, Arm, create_study, side_by_side
from turing.report import FOOLING_CI_LOW, FOOLING_RATE, ArmResult, study_report
from turing.settings import StudySettings
from turing.store import CONTROL_ARM, PairKind, Side, connect

SETTINGS = StudySettings(
    practice_trials=16, test_trials=30, attention_checks=2, max_attention_failures=1, control_arm=True, image_size=64
)
TABLES = ("meta", "arms", "pairs", "participants", "trials", "answers")


def warm_photos(folder: Path, count: int, side: int = 64) -> list[Path]:
    """Smooth random colour images with a warm cast, as daylight photos often have: rotating their
    channels (``tint``) is then a colour shift that statistics can learn, not a relabelling."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        small = rng.normal([160, 125, 90], 35, (4, 4, 3)).clip(0, 255).astype(np.uint8)
        path = folder / f"photo{i:03d}.png"
        Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC).save(path)
        paths.append(path)
    return paths


def _around_gray(image: np.ndarray, gain: float) -> np.ndarray:
    gray = image.astype(np.float64).mean(axis=-1, keepdims=True)
    return (gray + gain * (image - gray)).clip(0, 255).round().astype(np.uint8)


def desaturate(image: np.ndarray) -> np.ndarray:
    """A colorizer's classic failure: the right hues, washed out."""
    return _around_gray(image, 0.3)


def oversaturate(image: np.ndarray) -> np.ndarray:
    return _around_gray(image, 2.5)


@pytest.fixture(scope="module")
def study_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("observed")
    photos = warm_photos(root / "photos", SETTINGS.practice_trials + SETTINGS.test_trials + SETTINGS.attention_checks)
    arms = [Arm("desaturated", desaturate), Arm("oversaturated", oversaturate), Arm("tint", tint)]
    create_study(root / "study", arms, photos, SETTINGS, log=lambda _: None)
    return root / "study"


@pytest.fixture
def study(study_template, tmp_path):
    return Path(shutil.copytree(study_template, tmp_path / "study"))


def by_arm(results: list[MachineResult], observer: str) -> dict[str, MachineResult]:
    return {r.arm: r for r in results if r.observer == observer}


def take_sessions(study: Path, count: int) -> None:
    """``count`` participants who answer every trial at random, in process."""
    rng = random.Random(7)
    for _ in range(count):
        with connect(study, write=True) as db:
            participant = sessions.start(db)
            while not isinstance(trial := sessions.next_trial(db, participant), str):
                sessions.answer(db, participant, trial.idx, rng.choice(list(Side)))


# ---------------------------------------------------------------------------------------------------
# The pieces


def test_numpy_colourfulness_agrees_with_colorize_cores():
    from colorize_core.evaluation.scores import colorfulness as tf_colorfulness

    rng = np.random.default_rng(3)
    images = [
        rng.integers(0, 256, (32, 48, 3), dtype=np.uint8),
        np.full((32, 48, 3), 128, np.uint8),
        oversaturate(rng.integers(60, 200, (32, 48, 3), dtype=np.uint8)),
        np.asarray(Image.fromarray(rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)).resize((48, 32))),
    ]
    theirs = tf_colorfulness(np.stack(images)).numpy()
    ours = [colourfulness(image) for image in images]
    assert ours == pytest.approx(theirs, rel=1e-4, abs=1e-3)
    assert ours[1] == 0.0 and ours[2] > ours[3] > 0


def test_halves_are_the_two_squares_of_a_pair_as_create_writes_it():
    rng = np.random.default_rng(0)
    left, right = (
        np.asarray(Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((64, 64))) for _ in range(2)
    )
    import io

    with Image.open(io.BytesIO(side_by_side(left, right, 92))) as image:
        pair = np.asarray(image.convert("RGB"))
    assert pair.shape[1] - 2 * pair.shape[0] == GAP  # the gap it skips is create's
    got_left, got_right = halves(pair)
    assert np.abs(got_left.astype(int) - left).mean() < 3 and np.abs(got_right.astype(int) - right).mean() < 3
    with pytest.raises(ObserverError, match="two squares"):
        halves(pair[:, :100])


def test_machine_metric_names_can_never_be_the_human_figures():
    human = set(ArmResult("m", "model", None, None, None, per_participant=[(1, 4)]).metrics())
    assert {FOOLING_RATE, FOOLING_CI_LOW} <= human
    assert not any(k.startswith(MACHINE_PREFIX) for k in human)
    for name in OBSERVERS:
        names = machine_metric_names(name)
        assert all(n.startswith(MACHINE_PREFIX) and "-" not in n for n in names.values())
        assert not set(names.values()) & human
    assert machine_metric_names("colourfulness-rule")["rate"] == "turing_machine_colourfulness_rule_fooling_rate"
    for bad in ("", "Rule", "a_b", "-x", "fooling-rate/../x"):
        with pytest.raises(ValueError, match="observer name"):
            machine_metric_names(bad)


def test_the_classifier_refuses_to_pick_before_it_has_practice_pairs_of_both_kinds():
    pair = np.zeros((16, 40, 3), np.uint8)
    with pytest.raises(ObserverError, match="fit it on practice pairs"):
        ColourStatsClassifier().pick(pair)
    with pytest.raises(ObserverError, match="real photo on each side"):
        ColourStatsClassifier().fit([Labelled(1, pair, Side.LEFT)])


# ---------------------------------------------------------------------------------------------------
# A study answered by machines


def test_the_colourfulness_rule_loses_to_oversaturation_and_beats_desaturation(study):
    name, results = observe(study, [ColourfulnessRule])
    rule = by_arm(results, "colourfulness-rule")
    assert name == "study" and set(rule) == {"desaturated", "oversaturated", "tint", CONTROL_ARM}
    tests = SETTINGS.practice_trials + SETTINGS.test_trials + SETTINGS.attention_checks - SETTINGS.practice_trials
    assert all(r.trials == tests for r in rule.values())
    assert rule["desaturated"].rate <= 0.05  # it picks the more colourful real photo
    assert rule["oversaturated"].rate >= 0.9  # the more colourful fake fools it
    low, high = rule["oversaturated"].interval
    assert low > 0.5 and (low, high) != (rule["desaturated"].interval)


def test_the_classifier_fitted_on_practice_pairs_beats_chance_on_a_tint(study):
    _, results = observe(study, [ColourfulnessRule, ColourStatsClassifier])
    classifier = by_arm(results, "colour-stats-classifier")["tint"]
    assert classifier.interval[1] < 0.5, classifier.line()  # the whole interval below chance: it tells them apart
    assert classifier.rate <= by_arm(results, "colourfulness-rule")["tint"].rate


def test_observers_fit_on_practice_pairs_only_and_never_on_a_test_pairs_answer(study):
    seen: list[Labelled] = []

    class Spy(ColourStatsClassifier):
        name = "spy"

        def fit(self, practice):
            seen.extend(practice)
            super().fit(practice)

    observe(study, [Spy])
    with connect(study) as db:
        kinds = dict(db.execute("SELECT id, kind FROM pairs").fetchall())
        practice = {r[0]: r[1] for r in db.execute("SELECT id, arm FROM pairs WHERE kind = ?", (PairKind.PRACTICE,))}
    assert seen and {kinds[p.pair] for p in seen} == {PairKind.PRACTICE}
    # Each arm's practice pairs, in both orders; the control arm practises on the first model's, as people do.
    assert len(seen) == 4 * 2 * SETTINGS.practice_trials
    assert {practice[p.pair] for p in seen} == {"desaturated", "oversaturated", "tint"}


def test_observe_leaves_the_peoples_answers_and_figures_as_they_were(study):
    take_sessions(study, 5)
    before = {name: table(study, name) for name in TABLES}
    with connect(study) as db:
        report = dataclasses.asdict(study_report(db))
    assert len(before["answers"]) == 5 * (SETTINGS.practice_trials + SETTINGS.test_trials + SETTINGS.attention_checks)

    run = CliRunner().invoke(cli, ["turing", "observe", str(study)])
    assert run.exit_code == 0, run.output
    lines = [line for line in run.stdout.splitlines() if line.startswith("machine observer ")]
    assert len(lines) == 2 * 4 and all(line.endswith("(not a human figure)") for line in lines)
    assert "machine observers, not people" in run.stdout and not any("participant" in line for line in lines)
    print("\n" + run.stdout)

    assert {name: table(study, name) for name in TABLES} == before
    assert snapshot(study)["participants"] == before["participants"]
    with connect(study) as db:
        assert dataclasses.asdict(study_report(db)) == report
    kept = (study / RESULTS_FILE).read_text()
    assert '"note": "machine observers, not people' in kept and "colour-stats-classifier" in kept


def test_an_unknown_observer_or_a_folder_that_is_no_study_is_refused(study, tmp_path):
    unknown = CliRunner().invoke(cli, ["turing", "observe", str(study), "--observer", "a-person"])
    assert unknown.exit_code == 2 and "colourfulness-rule" in unknown.output
    missing = CliRunner().invoke(cli, ["turing", "observe", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "empty").mkdir()
    no_study = CliRunner().invoke(cli, ["turing", "observe", str(tmp_path / "empty")])
    assert no_study.exit_code == 1 and "not a study folder" in no_study.output
    assert not (study / RESULTS_FILE).exists()


def test_machine_figures_reach_the_models_run_beside_no_human_figure(study, isolated_tracking):
    from mlflow import MlflowClient

    from tracking.promote import turing_gate
    from tracking.turing_results import MACHINE_STUDY_TAG, STUDY_TAG, log_machine_observers

    client = MlflowClient(isolated_tracking)
    run_id = client.create_run(client.create_experiment("models")).info.run_id
    with connect(study, write=True) as db:  # as `turing create --model runs:/...` would have stored it
        db.execute("UPDATE arms SET run_id = ? WHERE name = 'tint'", (run_id,))

    run = CliRunner().invoke(cli, ["turing", "observe", str(study), "--tracking-uri", isolated_tracking])
    assert run.exit_code == 0, run.output
    logged = client.get_run(run_id).data
    expected = {k: v for r in observe(study)[1] if r.arm == "tint" for k, v in r.metrics().items()}
    assert logged.metrics == pytest.approx(expected) and len(expected) == 2 * 4
    assert FOOLING_RATE not in logged.metrics and FOOLING_CI_LOW not in logged.metrics
    assert logged.tags.get(MACHINE_STUDY_TAG) == "study" and STUDY_TAG not in logged.tags
    assert "no Turing study reported" in turing_gate(client.get_run(run_id), 0.05)  # promote still wants people
    with pytest.raises(ValueError, match=MACHINE_PREFIX):
        log_machine_observers(isolated_tracking, "study", run_id, {FOOLING_RATE: 0.5})


def test_observers_import_neither_mlflow_nor_ray_nor_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, observers.study, observers.results; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'ray', 'tensorflow', 'keras'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
