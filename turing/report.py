"""The study's figures: per arm, the fooling rate of the included participants' test trials with two
95% intervals, and who was excluded and why. The Wilson interval pools trials as if independent; the
participant bootstrap resamples whole participants, so it widens when people differ. Goals are
judged on the wider of the two.

Rules, in this order: a participant who did not answer every test trial is left out ("unfinished");
one who picked the real photo in more than ``max_attention_failures`` attention checks is left out
("attention"). Attention checks never count as test trials; practice trials never count at all.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np

from turing.store import ArmKind, PairKind, Phase, arms, read_meta, read_settings

GOALS = {"base": 0.05, "target": 0.10, "stretch": 0.15}
# The study's figures as MLflow metrics on the run of the model it tested; promote reads these two.
FOOLING_RATE, FOOLING_CI_LOW = "turing_fooling_rate", "turing_fooling_ci_low"
CIC_RATE = 0.32  # Zhang, Isola, Efros (ECCV 2016), their colorization Turing test
CHANCE = 0.50  # people guessing: the ceiling
Z95 = 1.959963984540054
BOOTSTRAP_DRAWS = 10_000
INTERVAL = (
    "95% intervals: Wilson score over pooled test trials, and a bootstrap over participants "
    f"({BOOTSTRAP_DRAWS} draws); goals are judged on the wider"
)


class Verdict(StrEnum):
    """A goal against the interval, not the point estimate: a few trials decide nothing."""

    MET = "met"  # the whole interval is at or above the goal
    NOT_MET = "not met"  # the whole interval is below it
    UNDECIDED = "undecided"  # the interval straddles it: more participants are needed


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    if trials == 0:
        return (math.nan, math.nan)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def participant_bootstrap(
    per_participant: list[tuple[int, int]], draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the pooled rate when whole participants, (fooled, trials) each, are
    resampled with replacement; undefined for fewer than two participants."""
    if len(per_participant) < 2:
        return (math.nan, math.nan)
    counts = np.array(per_participant, dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(counts), size=(draws, len(counts)))
    rates = counts[picks, 0].sum(axis=1) / counts[picks, 1].sum(axis=1)
    low, high = np.percentile(rates, [2.5, 97.5])
    return (float(low), float(high))


@dataclass
class ArmResult:
    arm: str
    kind: str
    run_id: str | None
    registered_model: str | None
    registered_version: str | None
    excluded: dict[str, str] = field(default_factory=dict)  # participant -> why
    per_image: dict[str, tuple[int, int]] = field(default_factory=dict)  # photo -> (fooled, trials)
    per_participant: list[tuple[int, int]] = field(default_factory=list)  # included: (fooled, trials)

    @property
    def participants(self) -> int:  # included
        return len(self.per_participant)

    @property
    def trials(self) -> int:
        return sum(n for _, n in self.per_participant)

    @property
    def fooled(self) -> int:
        return sum(f for f, _ in self.per_participant)

    @property
    def rate(self) -> float:
        return self.fooled / self.trials if self.trials else math.nan

    @property
    def wilson(self) -> tuple[float, float]:
        return wilson(self.fooled, self.trials)

    @cached_property
    def bootstrap(self) -> tuple[float, float]:  # 10,000 resamples: once, after study_report built the arm
        return participant_bootstrap(self.per_participant)

    @property
    def interval(self) -> tuple[float, float]:
        """The wider of the two: the one goals are judged on."""
        (wl, wh), (bl, bh) = self.wilson, self.bootstrap
        return (wl, wh) if math.isnan(bl) else (min(wl, bl), max(wh, bh))

    def verdict(self, goal: float) -> Verdict:
        low, high = self.interval
        if low >= goal:
            return Verdict.MET
        return Verdict.NOT_MET if high < goal else Verdict.UNDECIDED

    def goals(self) -> dict[str, Verdict]:
        return {name: self.verdict(goal) for name, goal in GOALS.items()}

    def metrics(self) -> dict[str, float]:
        low, high = self.interval
        (wl, wh), (bl, bh) = self.wilson, self.bootstrap
        return {
            FOOLING_RATE: self.rate,
            FOOLING_CI_LOW: low,
            "turing_fooling_ci_high": high,
            "turing_wilson_low": wl,
            "turing_wilson_high": wh,
            "turing_bootstrap_low": bl,
            "turing_bootstrap_high": bh,
            "turing_participants": self.participants,
            "turing_trials": self.trials,
            "turing_excluded": len(self.excluded),
        }

    def summary(self, study: str) -> str:
        """One line for the registered version's tags and promote's output."""
        low, high = self.interval
        return (
            f"{100 * self.rate:.1f}% fooled [{100 * low:.1f}, {100 * high:.1f}] in study {study}, "
            f"{self.trials} trials, {self.participants} participants"
        )


@dataclass
class StudyReport:
    study: str
    settings: dict
    arms: list[ArmResult]


def study_report(db: sqlite3.Connection) -> StudyReport:
    settings = read_settings(db)
    results = {
        a["name"]: ArmResult(a["name"], a["kind"], a["run_id"], a["registered_model"], a["registered_version"])
        for a in arms(db)
    }
    rows = db.execute(
        "SELECT p.id AS participant, pr.kind, pr.photo, t.real_side, a.choice "
        "FROM participants p JOIN trials t ON t.participant = p.id JOIN pairs pr ON pr.id = t.pair "
        "LEFT JOIN answers a ON a.participant = t.participant AND a.idx = t.idx WHERE t.phase = ?",
        (Phase.TEST,),
    ).fetchall()
    by_participant: dict[str, list[sqlite3.Row]] = defaultdict(list)
    arm_of = {row["id"]: row["arm"] for row in db.execute("SELECT id, arm FROM participants")}
    for row in rows:
        by_participant[row["participant"]].append(row)
    for participant, arm in arm_of.items():
        result, trials = results[arm], by_participant[participant]
        unanswered = sum(r["choice"] is None for r in trials)
        if unanswered:
            result.excluded[participant] = f"unfinished ({len(trials) - unanswered} of {len(trials)} answered)"
            continue
        checks = [r for r in trials if r["kind"] == PairKind.ATTENTION]
        failed = sum(r["choice"] == r["real_side"] for r in checks)
        if failed > settings.max_attention_failures:
            result.excluded[participant] = (
                f"attention ({failed} of {len(checks)} checks failed; "
                f"more than {settings.max_attention_failures} excludes)"
            )
            continue
        tests = [r for r in trials if r["kind"] == PairKind.TEST]
        fooled = [r["choice"] == r["real_side"] for r in tests]  # the real photo was picked as the fake
        result.per_participant.append((sum(fooled), len(tests)))
        for r, was_fooled in zip(tests, fooled):
            f, n = result.per_image.get(r["photo"], (0, 0))
            result.per_image[r["photo"]] = (f + was_fooled, n + 1)
    return StudyReport(read_meta(db, "name"), settings.model_dump(), list(results.values()))


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}%"


def format_report(report: StudyReport) -> str:
    lines = [
        (
            f"study {report.study}: fooling rate = share of test trials where the real photo was picked as "
            f"the fake; {INTERVAL}; chance is {_pct(CHANCE)}, CIC reported {_pct(CIC_RATE)}"
        )
    ]
    for r in report.arms:
        low, high = r.interval
        goals = ", ".join(f"{name} {_pct(g)} {r.verdict(g)}" for name, g in GOALS.items())
        (wl, wh), (bl, bh) = r.wilson, r.bootstrap
        lines.append(
            f"\n{r.arm}: {_pct(r.rate)} [{_pct(low)}, {_pct(high)}] fooled, {r.fooled} of {r.trials} test "
            f"trials, {r.participants} participants, {len(r.excluded)} excluded "
            f"(Wilson [{_pct(wl)}, {_pct(wh)}], participant bootstrap [{_pct(bl)}, {_pct(bh)}])"
        )
        if r.trials and r.kind == ArmKind.CONTROL:
            inside = "inside" if low <= CHANCE <= high else "outside"
            lines.append(
                f"  control: real versus real should land near chance; {_pct(CHANCE)} is {inside} the interval"
            )
        elif r.trials:
            versus = {Verdict.MET: "above", Verdict.NOT_MET: "below", Verdict.UNDECIDED: "not distinguishable from"}
            lines.append(
                f"  goals (judged on the interval): {goals}; {versus[r.verdict(CIC_RATE)]} CIC's {_pct(CIC_RATE)}"
            )
        reasons = Counter(why.split(" ", 1)[0] for why in r.excluded.values())
        for participant, why in sorted(r.excluded.items()):
            lines.append(f"  excluded {participant[:8]}: {why}")
        if reasons:
            lines.append("  exclusions: " + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items())))
        for photo, (f, n) in sorted(r.per_image.items()):
            lines.append(f"  image {photo:<28} {f} of {n} fooled ({_pct(f / n)})")
    return "\n".join(lines)
