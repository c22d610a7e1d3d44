"""Shared pieces: timing statistics, the machine and versions, and how a figure is recorded."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# How big a run is: ``full`` (the figures in RESULTS.md), ``quick`` (fewer repeats, smaller sweeps)
# and ``smoke`` (every code path once at a toy size, for CI: the figures mean nothing).
FULL, QUICK, SMOKE = "full", "quick", "smoke"
PRESETS = (FULL, QUICK, SMOKE)

# A sweep trial at a toy size: one step of a tiny model per epoch, a couple of validation images.
TINY_TRIAL = {
    "steps_per_epoch": 1,
    "model.image_size": 32,
    "model.width": 0.125,
    "data.batch_size": 2,
    "data.max_val_images": 2,
}


@dataclass
class Stat:
    """Repeated measurements of one figure: median, spread (min-max) and the samples; for a paired
    ratio also the bootstrap 95% interval of its median (``paired_ratio``)."""

    samples: list[float]
    interval: tuple[float, float] | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def low(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def high(self) -> float:
        return max(self.samples) if self.samples else float("nan")

    def spread(self, digits: int = 1) -> str:
        """min-max, or empty for a single sample."""
        return f"{self.low:.{digits}f}-{self.high:.{digits}f}" if len(self.samples) > 1 else ""

    def ci(self, digits: int = 1) -> str:
        """The bootstrap 95% interval, or empty where there is none."""
        return f"{self.interval[0]:.{digits}f}-{self.interval[1]:.{digits}f}" if self.interval else ""

    def fmt(self, digits: int = 1) -> str:
        if not self.samples:
            return "n/a"
        if len(self.samples) == 1:
            return f"{self.median:.{digits}f} (n=1)"
        ci = f" 95% CI {self.ci(digits)}" if self.interval else ""
        return f"{self.median:.{digits}f} [{self.low:.{digits}f}-{self.high:.{digits}f}] n={len(self.samples)}{ci}"


@dataclass
class Figure:
    """One line of the results table."""

    name: str
    value: Stat
    unit: str
    note: str = ""
    digits: int = 1

    def to_json(self) -> dict:
        d = asdict(self)
        d["value"] = {"samples": self.value.samples, "median": self.value.median, "interval": self.value.interval}
        return d


@dataclass
class Goal:
    text: str
    met: bool | None  # None: not measurable here
    detail: str


@dataclass
class Section:
    """What one benchmark hands back: its figures, the goals it checks and a closing note."""

    key: str
    title: str
    setup: str
    figures: list[Figure] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str = ""  # why nothing was measured ("no GPU"), or empty

    def add(
        self,
        name: str,
        samples: list[float] | Stat,
        unit: str,
        note: str = "",
        digits: int = 1,
    ) -> Stat:
        stat = samples if isinstance(samples, Stat) else Stat(list(samples))
        self.figures.append(Figure(name, stat, unit, note, digits))
        return stat

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "title": self.title,
            "setup": self.setup,
            "seconds": self.seconds,
            "figures": [f.to_json() for f in self.figures],
            "goals": [asdict(g) for g in self.goals],
            "notes": self.notes,
            "skipped": self.skipped,
        }

    @staticmethod
    def from_json(d: dict) -> Section:
        s = Section(
            d["key"],
            d["title"],
            d["setup"],
            seconds=d.get("seconds", 0.0),
            notes=d.get("notes", []),
            skipped=d.get("skipped", ""),
        )
        for f in d["figures"]:
            s.figures.append(
                Figure(
                    f["name"],
                    Stat(f["value"]["samples"], _interval(f["value"].get("interval"))),
                    f["unit"],
                    f.get("note", ""),
                    f.get("digits", 1),
                )
            )
        s.goals = [Goal(**g) for g in d.get("goals", [])]
        return s


def shrunk_spec(spec, budget: dict, constants: dict | None = None):
    """``spec`` (a ``sweeps.spec.SweepSpec``) with ``run_cap`` and ``chromasweep.budget`` fields
    (``budget``) replaced and training constants added or replaced: a smaller sweep of the same kind.
    A trial too short to stop early runs without early termination."""
    changes = {k if k == "run_cap" else f"chromasweep.budget.{k}": v for k, v in budget.items()}
    changes.update({f"parameters.{k}": {"value": v} for k, v in (constants or {}).items()})
    epochs = budget.get("epochs_per_trial", spec.chromasweep.budget.epochs_per_trial)
    if spec.early_terminate is not None and not spec.early_terminate.bands(epochs):
        changes["early_terminate"] = None
    return spec.changed(changes)


def _interval(v) -> tuple[float, float] | None:
    return (float(v[0]), float(v[1])) if v else None


def ratio_samples(a: list[float], b: list[float]) -> list[float]:
    """Pairwise ratios a[i]/b[i] of interleaved repeats: each pair ran back to back."""
    return [x / y for x, y in zip(a, b, strict=True) if y]


MIN_PAIRS = 10  # paired repeats a ratio needs before its interval means anything


def paired_ratio(a: list[float], b: list[float], resamples: int = 10_000) -> Stat:
    """The ratios a[i]/b[i] of paired repeats, with a percentile-bootstrap 95% interval of their
    median (resampling pairs, so each pair's shared moment of the machine stays together)."""
    import numpy as np
    from scipy.stats import bootstrap

    ratios = ratio_samples(a, b)
    if len(ratios) < 2 or len(set(ratios)) < 2:
        return Stat(ratios)
    res = bootstrap(
        (np.array(ratios),),
        np.median,
        n_resamples=resamples,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    ci = res.confidence_interval
    return Stat(ratios, (float(ci.low), float(ci.high)))


def goal(text: str, stat: Stat, target: float) -> Goal:
    """Met when the median reaches ``target``; the detail says where the interval lies."""
    kind = "95% CI" if stat.interval else "spread, no interval"
    lo, hi = stat.interval or (stat.low, stat.high)
    where = "above" if lo >= target else "below" if hi < target else "contains"
    detail = f"{stat.median:.2f} ({kind} {lo:.2f}-{hi:.2f}, {where} {target:g}; n={len(stat.samples)})"
    return Goal(text, stat.median >= target, detail)


class MachineBusy(RuntimeError):
    """The machine's load at the start of a benchmark was above its core count."""


def check_load(allow: bool = False) -> str:
    """The 1-minute load average against the core count: refuses (``MachineBusy``) when the load is
    above the cores, unless ``allow``, in which case it returns the flag every table then carries."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load <= cores:
        return ""
    msg = f"load average {load:.2f} at start on {cores} cores: timings shared the machine with other work"
    if not allow:
        raise MachineBusy(f"{msg}; wait for a quiet machine, or pass --allow-load to flag the figures instead")
    return msg


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    flags, clock = "", "?"
    try:
        text = Path("/proc/cpuinfo").read_text()
        mhz = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("cpu MHz")]
        clock = f"{float(mhz[0]):.0f} MHz" if mhz else "?"
        have = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in text]
        flags = " ".join(have)
    except OSError:
        pass
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "cpu_flags": flags,
        "clock": clock,
        "os": f"{platform.system()} {platform.release()}",
        "load_at_start": load,
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in (
        "tensorflow",
        "keras",
        "ray",
        "optuna",
        "mlflow",
        "numpy",
        "opencv-python-headless",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def gpus() -> list[str]:
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]
