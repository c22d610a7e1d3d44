"""Benchmark 3: search efficiency on the demo problem.

TPE + ASHA (``sweeps/specs/demo.yaml`` as shipped) against random search without early stopping,
the same trial budget, three search seeds. Both run the spec's own ``searcher()``/``scheduler()``
from ``sweeps.tune_sweep`` over the in-process trainable (``benchmarks.inprocess``), one trial
at a time as the spec says. For every sweep: the best validation PSNR reached, the trial-epochs it
spent, and the trial-epochs spent (in the order they ran) until a report first reached the target
PSNR. The target is the median over seeds of random search's best PSNR, unless given.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    FULL,
    QUICK,
    SMOKE,
    TINY_TRIAL,
    Goal,
    Section,
    Stat,
    shrunk_spec,
)


@dataclass(frozen=True)
class Settings:
    seeds: tuple[int, ...]  # search seeds; each runs both methods
    budget: dict = field(default_factory=dict)  # replaces the spec's budget fields
    constants: dict = field(default_factory=dict)  # replaces or adds the spec's training constants


SETTINGS = {
    FULL: Settings((0, 1, 2)),
    QUICK: Settings((0, 1), {"run_cap": 2, "epochs_per_trial": 2}),
    SMOKE: Settings((0,), {"run_cap": 1, "epochs_per_trial": 1}, TINY_TRIAL),
}


def _chronological(run) -> list[dict]:
    reports = [rep for t in run.trials for rep in t["reports"]]
    return sorted(reports, key=lambda rep: rep.get("timestamp", 0) or 0)


def summarise(run, metric: str) -> dict:
    reports = _chronological(run)
    values = [
        rep.get(metric)
        for rep in reports
        if rep.get(metric) is not None and math.isfinite(rep.get(metric))
    ]
    return {
        "best": max(values) if values else float("nan"),
        "epochs": len(reports),
        "reports": reports,
    }


def epochs_to_target(reports: list[dict], metric: str, target: float) -> int | None:
    for i, rep in enumerate(reports, 1):
        v = rep.get(metric)
        if v is not None and math.isfinite(v) and v >= target - 1e-9:
            return i
    return None


def plan(preset: str, trials: int | None = None):
    """The sweeps to run: the demo spec at the preset's budget (``trials``: its trial count instead),
    its base config, a section describing them, and per method a function from a search seed to
    that method's spec."""
    from sweeps.spec import load_spec

    spec_path = (
        Path(__file__).resolve().parent.parent / "sweeps" / "specs" / "demo.yaml"
    )
    spec, base = load_spec(spec_path)
    settings = SETTINGS[preset]
    budget = settings.budget | ({"run_cap": trials} if trials else {})
    spec = shrunk_spec(spec, budget, settings.constants)
    b, trial_count = spec.chromasweep.budget, spec.trial_cap
    section = Section(
        "search",
        "3. Search efficiency: TPE + ASHA vs random search without early stopping"
        + (f", {trial_count} trials" if trials else ""),
        f"{spec_path.name}: {trial_count} trials x up to {b.epochs_per_trial} epochs of "
        f"{spec.constants.get('steps_per_epoch')} steps, one at a time; seeds {list(settings.seeds)}; in-process "
        f"trials (benchmarks/inprocess.py) with the spec's own searcher() and scheduler(); metric "
        f"{spec.objectives[0].name}.",
    )
    methods = {
        "tpe+asha": lambda s: spec.changed({"method": "bayes", "chromasweep.seed": s}),
        "random, no early stop": lambda s: spec.changed(
            {"method": "random", "chromasweep.seed": s, "early_terminate": None}
        ),
    }
    return spec, base, section, methods


def set_up_only(preset: str, trials: int | None = None, why: str = "") -> Section:
    """What ``run`` does before its sweeps start: every sweep's spec compiled for Tune. Nothing is
    measured; the section says so, and ``why``."""
    from benchmarks.inprocess import tune_config
    from sweeps.plan import search_space

    _, _, section, methods = plan(preset, trials)
    compiled = [
        (search_space(make(seed)), tune_config(make(seed)))
        for seed in SETTINGS[preset].seeds
        for make in methods.values()
    ]
    section.skipped = f"sweeps not run, set-up only ({len(compiled)} sweeps compiled for Tune){why}"
    return section


def run(preset: str = FULL, trials: int | None = None, target: float | None = None) -> Section:
    """``trials``: the sweeps' trial budget instead of the spec's (or the preset's)."""
    import ray

    from benchmarks.inprocess import run_inprocess_sweep

    spec, base, section, methods = plan(preset, trials)
    seeds, metric = SETTINGS[preset].seeds, spec.objectives[0].name
    started = time.perf_counter()
    runs: dict[str, list] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for seed in seeds:
            for m, make in methods.items():
                run_ = run_inprocess_sweep(
                    make(seed), base, f"{tmp}/{m.split(',')[0]}-{seed}"
                )
                runs[m].append(
                    summarise(run_, metric) | {"wall": run_.wall_s, "seed": seed}
                )
    ray.shutdown()
    if target is None:
        target = Stat([r["best"] for r in runs["random, no early stop"]]).median
    for m, rs in runs.items():
        section.add(
            f"{m}: best {metric}",
            [r["best"] for r in rs],
            "dB",
            "per seed: " + ", ".join(f"{r['best']:.2f}" for r in rs),
            2,
        )
        section.add(
            f"{m}: trial-epochs spent", [r["epochs"] for r in rs], "epochs", "", 0
        )
        hits = [epochs_to_target(r["reports"], metric, target) for r in rs]
        reached = [h for h in hits if h is not None]
        section.add(
            f"{m}: trial-epochs to reach {target:.2f} dB",
            reached,
            "epochs",
            f"reached in {len(reached)}/{len(rs)} seeds: "
            + ", ".join("-" if h is None else str(h) for h in hits),
            1,
        )
        section.add(f"{m}: sweep wall time", [r["wall"] for r in rs], "s", "", 0)
    tpe, rnd = runs["tpe+asha"], runs["random, no early stop"]
    best_gap = Stat([a["best"] - b_["best"] for a, b_ in zip(tpe, rnd)])
    section.add("best PSNR, tpe+asha minus random", best_gap, "dB", "paired by seed", 2)
    ep_ratio = Stat([a["epochs"] / b_["epochs"] for a, b_ in zip(tpe, rnd)])
    section.add("trial-epochs, tpe+asha / random", ep_ratio, "x", "paired by seed", 2)
    hit_t = [epochs_to_target(r["reports"], metric, target) for r in tpe]
    hit_r = [epochs_to_target(r["reports"], metric, target) for r in rnd]
    paired = [a / b_ for a, b_ in zip(hit_t, hit_r) if a and b_]
    if paired:
        section.add(
            "trial-epochs to target, tpe+asha / random",
            paired,
            "x",
            "seeds where both reached it",
            2,
        )
    same_best = best_gap.median >= -0.1  # within 0.1 dB
    half = ep_ratio.median <= 0.5
    section.goals.append(Goal(
        "same best PSNR for at most half the trial-epochs", same_best and half,
        f"best PSNR gap {best_gap.median:+.2f} dB (median over seeds), trial-epochs ratio {ep_ratio.median:.2f}",
    ))  # fmt: skip
    from sweeps.plan import TPE_STARTUP_TRIALS as startup_trials
    if spec.trial_cap <= startup_trials:
        section.notes.append(
            f"With {spec.trial_cap} trials TPE never leaves its {startup_trials} random start-up trials "
            "(sweeps.plan.TPE_STARTUP_TRIALS): both arms sample at random, and the difference measured is ASHA's."
        )
    section.notes.append(f"Target PSNR {target:.2f} dB.")
    section.seconds = time.perf_counter() - started
    return section
