"""Benchmark 3: search efficiency on the demo problem.

TPE + ASHA (``sweeps/specs/demo.yaml`` as shipped) against random search without early stopping,
the same trial budget, one pair of sweeps per search seed (10 seeds in the full run). Both run the
spec's own ``searcher()``/``scheduler()`` from ``sweeps.search`` over the in-process trainable
(``benchmarks.inprocess``), one trial at a time as the spec says, on a fast trial (a small model,
few steps) so that many seeds fit; validation scores every image of the sample dataset's val split.

Per seed: did TPE + ASHA reach random search's best objective, within a tolerance of one standard
error of the validation mean (per-image values, standard deviation / sqrt(n), median over every
epoch's validation), and how many trial-epochs and wall seconds (from the start of Tuner.fit, in
the order reports arrived) it needed; against random's whole sweep (what a user pays to know
random's best) and, in hindsight, against the point where random first reached its own best.
A seed that never reached it counts as an infinite ratio, so the median says whether most did.
"""

from __future__ import annotations

import json
import math
import statistics
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
    paired_ratio,
    shrunk_spec,
)

# A trial small enough for 10 seeds x 2 arms on 2 cores (each trial still pays its step's tracing,
# 3-10 s here): the objective still spreads by about 1 dB PSNR between configs after a few epochs.
# Every val image: far more than any val split here holds.
FAST_TRIAL = {
    "steps_per_epoch": 5,
    "model.image_size": 32,
    "model.width": 0.125,
    "data.batch_size": 8,
    "data.max_val_images": 10_000,
}
TPE, RANDOM = "tpe+asha", "random, no early stop"


@dataclass(frozen=True)
class Settings:
    seeds: tuple[int, ...]  # search seeds; each runs both methods
    budget: dict = field(default_factory=dict)  # replaces the spec's budget fields
    constants: dict = field(default_factory=dict)  # replaces or adds the spec's training constants


SETTINGS = {
    # The spec's own shape (4 trials x 3 epochs): about 27 minutes for 10 seeds at 10 s a trace.
    FULL: Settings(tuple(range(10)), {}, FAST_TRIAL),
    QUICK: Settings((0, 1, 2), {"run_cap": 3, "epochs_per_trial": 2}, FAST_TRIAL),
    SMOKE: Settings((0,), {"run_cap": 1, "epochs_per_trial": 1}, TINY_TRIAL),
}


def _chronological(run) -> list[dict]:
    reports = [rep for t in run.trials for rep in t["reports"]]
    return sorted(reports, key=lambda rep: rep.get("bench_time") or rep.get("timestamp", 0) or 0)


def _value(rep: dict, metric: str) -> float | None:
    v = rep.get(metric)
    return v if v is not None and math.isfinite(v) else None


def _per_image(rep: dict) -> list[float]:
    raw = rep.get("bench_val_values")
    return json.loads(raw) if isinstance(raw, str) else []


def standard_error(values: list[float]) -> float:
    """Standard error of the mean of per-image values."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")


def summarise(run, metric: str) -> dict:
    reports = _chronological(run)
    values = [v for rep in reports if (v := _value(rep, metric)) is not None]
    return {
        "best": max(values) if values else float("nan"),
        "epochs": len(reports),
        "reports": reports,
        "wall": run.wall_s,
        "started_at": run.started_at,
        "seed": run.seed,
    }


def first_reaching(r: dict, metric: str, target: float) -> tuple[int, float, dict] | None:
    """(trial-epochs, wall seconds since Tuner.fit started, the report) of the first report at or
    above ``target``, or None."""
    for i, rep in enumerate(r["reports"], 1):
        v = _value(rep, metric)
        if v is not None and v >= target - 1e-9:
            return i, rep.get("bench_time", r["started_at"]) - r["started_at"], rep
    return None


def epochs_to_target(reports: list[dict], metric: str, target: float) -> int | None:
    hit = first_reaching({"reports": reports, "started_at": 0.0}, metric, target)
    return hit[0] if hit else None


def plan(preset: str, trials: int | None = None):
    """The sweeps to run: the demo spec at the preset's budget (``trials``: its trial count instead),
    its base config, a section describing them, and per method a function from a search seed to
    that method's spec."""
    from sweeps.plan import TPE_STARTUP_TRIALS
    from sweeps.spec import load_spec

    spec_path = Path(__file__).resolve().parent.parent / "sweeps" / "specs" / "demo.yaml"
    spec, base = load_spec(spec_path)
    settings = SETTINGS[preset]
    budget = settings.budget | ({"run_cap": trials} if trials else {})
    spec = shrunk_spec(spec, budget, settings.constants)
    b, n = spec.chromasweep.budget, spec.trial_cap
    c = spec.constants
    # Optuna's TPE samples at random for its first TPE_STARTUP_TRIALS: below that, both arms draw
    # the same kind of random configs and the difference is ASHA's alone; the title says which.
    if n <= TPE_STARTUP_TRIALS:
        title = (
            f"3. Search efficiency: ASHA (TPE still in its {TPE_STARTUP_TRIALS} random start-up trials) "
            f"vs random search without early stopping, {n} trials"
        )
    else:
        title = (
            f"3. Search efficiency: TPE + ASHA vs random search without early stopping, {n} trials "
            f"(TPE model-based from trial {TPE_STARTUP_TRIALS + 1})"
        )
    section = Section(
        "search",
        title,
        f"{spec_path.name}: {n} trials x up to {b.epochs_per_trial} epochs of {c.get('steps_per_epoch')} steps "
        f"({c.get('model.image_size', base.model.image_size)} px, width {c.get('model.width', base.model.width)}, "
        f"batch {c.get('data.batch_size', base.data.batch_size)}), one at a time; {len(settings.seeds)} seeds "
        f"{list(settings.seeds)}, each running both arms back to back; in-process trials (benchmarks/inprocess.py) "
        f"with the spec's own searcher() and scheduler(); objective {spec.objectives[0].name}; validation on "
        "every image of the val split.",
    )
    methods = {
        TPE: lambda s: spec.changed({"method": "bayes", "chromasweep.seed": s}),
        RANDOM: lambda s: spec.changed({"method": "random", "chromasweep.seed": s, "early_terminate": None}),
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


def _ratio(hits: list, whole: list[float]) -> Stat:
    """Per seed, the reached figure over random's, a seed that never reached counting as infinite;
    the median with its bootstrap interval (seeds resampled)."""
    return paired_ratio([math.inf if h is None else h for h in hits], whole)


def _fmt_stat(s: Stat, digits: int = 2) -> str:
    ci = f" [95% CI {s.ci(digits)}]" if s.interval else ""
    return f"{s.median:.{digits}f}{ci}"


def run(preset: str = FULL, trials: int | None = None) -> Section:
    """``trials``: the sweeps' trial budget instead of the preset's."""
    import ray

    from benchmarks.inprocess import run_inprocess_sweep

    spec, base, section, methods = plan(preset, trials)
    seeds, metric = SETTINGS[preset].seeds, spec.objectives[0].name
    unit = "dB" if "psnr" in metric else ""
    started = time.perf_counter()
    runs: dict[str, list] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for i, seed in enumerate(seeds):
            # Alternate which arm goes first, so a drift in the machine's speed favours neither.
            order = list(methods.items()) if i % 2 == 0 else list(methods.items())[::-1]
            for m, make in order:
                run_ = run_inprocess_sweep(make(seed), base, f"{tmp}/{m.split(',')[0]}-{seed}")
                runs[m].append(summarise(run_, metric))
    ray.shutdown()
    tpe, rnd = runs[TPE], runs[RANDOM]

    # The tolerance: one standard error of the validation mean, over every epoch's validation.
    per_sweep_se, images = [], []
    for r in tpe + rnd:
        ses = [standard_error(v) for rep in r["reports"] if len(v := _per_image(rep)) > 1]
        images += [len(_per_image(rep)) for rep in r["reports"]]
        if ses:
            per_sweep_se.append(statistics.median(ses))
    tol = statistics.median(per_sweep_se) if per_sweep_se else 0.0
    section.add("validation images scored per epoch", images, "images", "the val split's every image", 0)
    section.add(
        f"standard error of the mean {metric}",
        per_sweep_se,
        unit,
        "per-image standard deviation / sqrt(images); a sample per sweep (its epochs' median); "
        "the median is the tolerance",
        3,
    )

    for m, rs in runs.items():
        section.add(
            f"{m}: best {metric}",
            [r["best"] for r in rs],
            unit,
            "per seed: " + ", ".join(f"{r['best']:.3f}" for r in rs),
            3,
        )
        section.add(f"{m}: trial-epochs spent", [r["epochs"] for r in rs], "epochs", "", 0)
        section.add(f"{m}: sweep wall time", [r["wall"] for r in rs], "s", "Tuner.fit", 0)

    hits = [first_reaching(a, metric, b["best"] - tol) for a, b in zip(tpe, rnd)]
    own = [first_reaching(b, metric, b["best"]) for b in rnd]
    reached = [h for h in hits if h]
    per_seed = ", ".join("-" if h is None else str(h[0]) for h in hits)
    section.add(
        f"{TPE}: trial-epochs to reach random's best - tolerance",
        [h[0] for h in reached],
        "epochs",
        f"reached in {len(reached)}/{len(hits)} seeds; per seed: {per_seed}",
        1,
    )
    section.add(
        f"{TPE}: wall to reach random's best - tolerance", [h[1] for h in reached], "s", "from Tuner.fit's start", 0
    )
    section.add(f"{RANDOM}: trial-epochs to its own best", [h[0] for h in own if h], "epochs", "hindsight", 1)
    ep = _ratio([h and h[0] for h in hits], [b["epochs"] for b in rnd])
    wall = _ratio([h and h[1] for h in hits], [b["wall"] for b in rnd])
    ep_own = _ratio([h and h[0] for h in hits], [o[0] if o else math.nan for o in own])
    section.add(
        "trial-epochs to reach / random's trial-epochs spent", ep, "x", "per seed, paired; never reached = inf", 2
    )
    section.add("wall to reach / random's sweep wall", wall, "x", "per seed, paired; never reached = inf", 2)
    section.add(
        "trial-epochs to reach / random's trial-epochs to its own best",
        ep_own,
        "x",
        "hindsight: random stopped the moment it peaked",
        2,
    )
    gap = Stat([a["best"] - b["best"] for a, b in zip(tpe, rnd)])
    section.add(f"best {metric}, {TPE} minus random", gap, unit, "paired by seed", 3)
    # The standard error of that difference on the same images (per-image differences), for scale.
    paired_se = []
    for a, b in zip(tpe, rnd):
        best_a = max(a["reports"], key=lambda rep: _value(rep, metric) or -math.inf, default=None)
        best_b = max(b["reports"], key=lambda rep: _value(rep, metric) or -math.inf, default=None)
        va, vb = (_per_image(best_a) if best_a else []), (_per_image(best_b) if best_b else [])
        if len(va) == len(vb) > 1:
            paired_se.append(standard_error([x - y for x, y in zip(va, vb)]))
    if paired_se:
        section.add(
            "standard error of that difference (same images)", paired_se, unit, "per seed, best report of each arm", 3
        )

    section.goals.append(
        Goal(
            f"{TPE} reaches random search's best (within {tol:.3f}{' ' + unit if unit else ''}, one standard error) "
            "in at most half random's trial-epochs (median over seeds)",
            ep.median <= 0.5,
            f"trial-epochs ratio {_fmt_stat(ep)}, wall ratio {_fmt_stat(wall)}; reached in {len(reached)}/{len(hits)} "
            f"seeds, n={len(hits)}",
        )
    )
    from sweeps.plan import TPE_STARTUP_TRIALS

    if spec.trial_cap <= TPE_STARTUP_TRIALS:
        section.notes.append(
            f"With {spec.trial_cap} trials TPE never leaves its {TPE_STARTUP_TRIALS} random start-up trials "
            "(sweeps.plan.TPE_STARTUP_TRIALS): both arms sample at random, and the difference measured is ASHA's."
        )
    # If the tolerance covers random's whole spread of trial results, "reaching" says little.
    spreads = []
    for b in rnd:
        finals = {}
        for rep in b["reports"]:
            if (v := _value(rep, metric)) is not None:
                finals[rep.get("trial_id")] = v  # chronological: the trial's last report wins
        if len(finals) > 1:
            spreads.append(max(finals.values()) - min(finals.values()))
    if spreads:
        spread = statistics.median(spreads)
        section.notes.append(
            f"Random search's trials end {spread:.3f} apart (best - worst final value, median over seeds) against "
            f"the tolerance {tol:.3f}"
            + (
                ": the tolerance covers most of it, so reaching random's best within it "
                "is easy; a larger validation set would tighten it."
                if tol >= spread / 2
                else "."
            )
        )
    section.notes.append(
        f"Tolerance {tol:.3f}{' ' + unit if unit else ''}: one standard error of the validation mean over "
        f"{statistics.median(images) if images else 0:.0f} images; differences below it are not told apart by "
        "this validation set."
    )
    section.seconds = time.perf_counter() - started
    return section
