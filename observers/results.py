"""A machine observer's figures on one arm: the line that states them, the metric names they go to
MLflow under and the file they are kept in, each saying it is a machine's and not a person's."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from observers.base import NAME
from turing.report import wilson

# Every machine metric starts so, and no human figure of turing/report.py does: promote's
# turing_fooling_rate / turing_fooling_ci_low can never be written by a machine.
MACHINE_PREFIX = "turing_machine_"
# Beside study.sqlite, not in it: nothing that reads the participants' tables can count a machine.
RESULTS_FILE = "machine-observers.json"
NOTE = (
    "machine observers, not people: fooled = share of an arm's test pairs where the observer picked the "
    "colorization as the real photo; Wilson 95% interval; never counted in the study's human figures"
)


def machine_metric_names(observer: str) -> dict[str, str]:
    """``turing_machine_<observer>_fooling_rate`` and its interval and count, '-' written '_'."""
    if not NAME.fullmatch(observer):
        raise ValueError(f"observer name {observer!r}: expected lowercase words joined by '-'")
    stem = MACHINE_PREFIX + observer.replace("-", "_")
    return {
        "rate": f"{stem}_fooling_rate",
        "ci_low": f"{stem}_fooling_ci_low",
        "ci_high": f"{stem}_fooling_ci_high",
        "trials": f"{stem}_trials",
    }


@dataclass(frozen=True)
class MachineResult:
    observer: str
    arm: str
    arm_kind: str
    run_id: str | None  # the MLflow run of the arm's model, where the study names one
    fooled: int
    trials: int

    @property
    def rate(self) -> float:
        return self.fooled / self.trials if self.trials else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.fooled, self.trials)

    def metrics(self) -> dict[str, float]:
        names = machine_metric_names(self.observer)
        low, high = self.interval
        return {names["rate"]: self.rate, names["ci_low"]: low, names["ci_high"]: high, names["trials"]: self.trials}

    def line(self) -> str:
        if not self.trials:
            return f"machine observer {self.observer}, arm {self.arm}: no test pairs (not a human figure)"
        low, high = self.interval
        return (
            f"machine observer {self.observer}, arm {self.arm}: fooled {self.fooled}/{self.trials} = "
            f"{100 * self.rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}] (not a human figure)"
        )


def write_results(study: Path, name: str, results: list[MachineResult]) -> Path:
    """``STUDY/machine-observers.json``, replaced whole (a reader never sees half of it)."""
    path = Path(study) / RESULTS_FILE
    body = {
        "study": name,
        "note": NOTE,
        "results": [{**asdict(r), "rate": r.rate, "interval": list(r.interval)} for r in results],
    }
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(body, indent=1) + "\n")
    os.replace(partial, path)
    return path
