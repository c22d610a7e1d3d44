"""Machine observers answer a study: each fits on an arm's practice pairs, as a participant of that
arm practises, then picks the real side of every test pair of the arm, shown in one order drawn
from the study's seed (as a participant's trial draws it). Reads the study; writes nothing to it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from observers.base import Labelled, Observer, ObserverError
from observers.classifier import ColourStatsClassifier
from observers.results import MachineResult
from observers.rule import ColourfulnessRule
from turing.store import IMAGES_DIR, ArmKind, PairKind, Side, arms, connect, read_meta, read_settings

OBSERVERS: dict[str, type[Observer]] = {o.name: o for o in (ColourfulnessRule, ColourStatsClassifier)}


def _image(study: Path, name: str) -> np.ndarray:
    path = Path(study) / IMAGES_DIR / name
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as err:
        raise ObserverError(f"{path}: cannot read the pair's image ({err})") from None


def observe(
    study: Path, observers: Sequence[type[Observer]] = tuple(OBSERVERS.values())
) -> tuple[str, list[MachineResult]]:
    """The study's name and, per arm and observer, how often the observer was fooled on test pairs."""
    study = Path(study)
    with connect(study) as db:  # SELECTs only
        name, seed, arm_rows = read_meta(db, "name"), read_settings(db).seed, arms(db)
        pairs = db.execute(
            "SELECT id, arm, kind, real_left, real_right FROM pairs WHERE kind IN (?, ?) ORDER BY id",
            (PairKind.PRACTICE, PairKind.TEST),
        ).fetchall()
    # Attention pairs are left out of fitting although their real side is known: each is a test
    # photo's real colours beside gray, the very thing sessions keep from a participant who tests it.
    first_model = next(a["name"] for a in arm_rows if a["kind"] == ArmKind.MODEL)
    results = []
    for arm in arm_rows:
        practises_on = arm["name"] if arm["kind"] == ArmKind.MODEL else first_model  # as sessions.start
        practice = [
            Labelled(p["id"], _image(study, p[column]), side)
            for p in pairs
            if p["kind"] == PairKind.PRACTICE and p["arm"] == practises_on
            for column, side in (("real_left", Side.LEFT), ("real_right", Side.RIGHT))
        ]
        tests = [p for p in pairs if p["kind"] == PairKind.TEST and p["arm"] == arm["name"]]
        shown = {p["id"]: random.Random(f"{seed}:{p['id']}").choice(list(Side)) for p in tests}
        for kind in observers:
            observer = kind()
            try:
                observer.fit(practice)
            except ObserverError as err:
                raise ObserverError(f"{study}, arm {arm['name']}: {err}") from None
            fooled = sum(
                observer.pick(_image(study, p["real_left" if shown[p["id"]] == Side.LEFT else "real_right"]))
                != shown[p["id"]]
                for p in tests
            )
            results.append(MachineResult(kind.name, arm["name"], arm["kind"], arm["run_id"], fooled, len(tests)))
    return name, results
