"""Benchmark 4: orchestration overhead of a sweep.

Both sides are ``sweeps.tune_sweep.run_sweep`` on ``sweeps/specs/demo.yaml`` (one worker per trial),
at least 8 trials, 3 sweeps a side in one invocation, alternating (A B B A A B), each timed from
before Ray starts to the outcome:
- as shipped: each trial trains in its Tune trial's own process (``runner.in_trial``), actors reused;
- ``resources.train_in_trial: false``: each trial fits its own Ray Train ``TensorflowTrainer`` (what
  every trial did before, and what trials of several workers still do).

The trials report per epoch ``train_seconds`` (the training steps, the first step's tracing
included) and ``eval_seconds`` (validation). Tracing is estimated per trial as the first epoch's
extra training time (``analyse``) and counted as overhead: overhead = wall - training steps. Per
trial, from Tune's results: first report's ``time_total_s`` (trial start to end of its first
epoch), later epochs' ``time_this_iter_s``; start-up = first report - first epoch's training and
validation. The fixed per-sweep cost comes from a line through (trials finished, overhead so far)
over every repeat (``fixed_cost``). Ray's state API gives each actor's start (trial actor, Train
controller, Train worker).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import FULL, QUICK, SMOKE, TINY_TRIAL, Goal, Section, Stat, paired_ratio, shrunk_spec

SHIPPED, RAY_TRAIN = "in-trial (shipped)", "Ray Train per trial"
# side: (its storage folder, the spec's resources.train_in_trial)
SIDES = {SHIPPED: ("in-trial", True), RAY_TRAIN: ("ray-train", False)}


@dataclass(frozen=True)
class Settings:
    budget: dict = field(default_factory=dict)  # replaces the spec's budget fields
    constants: dict = field(default_factory=dict)  # replaces or adds the spec's training constants
    tf_imports: int = 3  # fresh processes timed importing TensorFlow
    sides: tuple[str, ...] = (SHIPPED, RAY_TRAIN)
    repeats: int = 3  # sweeps per side, in the order A B B A A B ...


SETTINGS = {
    FULL: Settings({"run_cap": 8}),
    QUICK: Settings({"run_cap": 4, "epochs_per_trial": 2}, TINY_TRIAL, tf_imports=1, repeats=2),
    # The Ray Train side would add a minute to the smoke pass's two (its trial starts a controller
    # and a worker, each importing TensorFlow) for the benchmark code the shipped side runs too.
    # One sweep of two trials of two epochs: every path of the analysis (tracing estimate, regression).
    SMOKE: Settings({"run_cap": 2, "epochs_per_trial": 2}, TINY_TRIAL, tf_imports=1, sides=(SHIPPED,), repeats=1),
}


def order(sides: tuple[str, ...], repeats: int) -> list[str]:
    """A B, B A, A B, ...: each side runs first as often as the other, neighbours pair up."""
    return [label for i in range(repeats) for label in (sides if i % 2 == 0 else sides[::-1])]


def _trial_reports_from_dir(experiment: str) -> dict[str, list[dict]]:
    out = {}
    for result in Path(experiment).glob("*/result.json"):
        lines = [json.loads(x) for x in result.read_text().splitlines() if x.strip()]
        if lines:
            out[result.parent.name] = lines
    return out


def _actor_timeline() -> list[dict]:
    try:
        import ray
        from ray.util.state import list_actors

        # Name our cluster: on a machine where other Ray instances run, auto-detection refuses.
        address = ray.get_runtime_context().gcs_address
        return [
            {
                "class": a.class_name,
                "start": (a.start_time_ms or 0) / 1000,
                "end": (a.end_time_ms or 0) / 1000,
                "pid": a.pid,
                "state": a.state,
            }
            for a in list_actors(address=address, detail=True, limit=1000, raise_on_missing_output=False)
        ]
    except Exception as err:  # noqa: BLE001 - the state API needs the dashboard; the figures do without it
        return [{"error": repr(err)}]


def tf_import_seconds(repeats: int) -> list[float]:
    code = "import time; t=time.perf_counter(); import tensorflow, keras; print(time.perf_counter()-t)"
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                check=False,
                capture_output=True,
                text=True,
                env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": ""},
            ).stdout.strip()
            or "nan"
        )
        for _ in range(repeats)
    ]


def run_side(spec, base, storage: str) -> dict:
    """One sweep, timed; it raises if no trial got as far as a result (its trials' errors are in
    the log), as the figures would then describe nothing."""
    import ray

    from colorize_core.status import RunStatus
    from runner.ray_train import connect
    from sweeps.tune_sweep import run_sweep

    t0, t0_clock = time.perf_counter(), time.time()
    # run_sweep's own connection, made here so the state API below can name this cluster (run_sweep
    # finds it connected): a new local Ray, never one that something else on this machine started.
    connect("local")
    outcome = run_sweep(spec, base, storage)
    wall = time.perf_counter() - t0
    actors = _actor_timeline()
    ray.shutdown()
    statuses = [RunStatus(r.status) for r in outcome.rows]
    if not any(st.ranked for st in statuses):
        raise RuntimeError(f"{storage}: no trial ran to a result: {[str(st) for st in statuses]}")
    reports = _trial_reports_from_dir(outcome.experiment_path)
    if not reports:
        raise RuntimeError(f"{outcome.experiment_path}: no trial folder with a result.json")
    return {
        "wall": wall,
        "tune": outcome.seconds,
        "trials": reports,
        "actors": actors,
        "statuses": statuses,
        "t0_clock": t0_clock,
    }


def analyse(side: dict) -> dict:
    """One sweep's figures. Tracing is not reported by the trials: it is estimated per trial as its
    first epoch's extra training time, first epoch's train_seconds minus its later epochs' median
    (a trial stopped after one epoch: the sweep's later-epoch median); the same steps on the same
    data shape, so the extra is the step's tracing plus the input pipeline's first batches."""
    trials = [sorted(r, key=lambda x: x.get("time_total_s", 0)) for r in side["trials"].values() if r]
    # The trials' own figures: a KeyError here is the product no longer reporting them.
    later = [x["train_seconds"] for reps in trials for x in reps[1:]]
    later_median = statistics.median(later) if later else math.nan
    train = evals = tracing = 0.0
    startups, per_epoch_extra, trial_totals, traces, ends, epochs = [], [], [], [], [], 0
    for reps in trials:
        epochs += len(reps)
        t = [r["train_seconds"] for r in reps]
        e = [r["eval_seconds"] for r in reps]
        steady = statistics.median(t[1:]) if len(t) > 1 else later_median
        trace = max(t[0] - steady, 0.0) if math.isfinite(steady) else 0.0
        traces.append(trace)
        train, evals, tracing = train + sum(t), evals + sum(e), tracing + trace
        startups.append(reps[0].get("time_total_s", 0.0) - t[0] - e[0])
        for r, ti, ei in zip(reps[1:], t[1:], e[1:]):
            per_epoch_extra.append(r.get("time_this_iter_s", 0.0) - ti - ei)
        trial_totals.append(reps[-1].get("time_total_s", 0.0))
        # Tune's timestamp is whole seconds: good enough for a line over minutes.
        ends.append((reps[-1].get("timestamp", 0) - side["t0_clock"], sum(t) - trace))
    steps = train - tracing
    overhead = side["wall"] - steps
    # Cumulative overhead at each trial's last report (time since the start minus the steps run so
    # far), against the number of trials finished: points for the fixed-cost regression.
    points, done = [], 0.0
    for k, (end, trial_steps) in enumerate(sorted(ends), 1):
        done += trial_steps
        points.append((k, end - done))
    return {
        "wall": side["wall"],
        "tune": side["tune"],
        "train": train,
        "tracing": tracing,
        "traces": traces,
        "steps": steps,
        "eval_total": evals,
        "overhead": overhead,
        "overhead_frac": overhead / side["wall"],
        "startups": startups,
        "per_epoch_extra": per_epoch_extra,
        "trial_sum": sum(trial_totals),
        "epochs": epochs,
        "trials": len(trial_totals),
        "points": points,
        "tail": side["wall"] - max((e for e, _ in ends), default=0.0),
    }


def fixed_cost(analysed: list[dict]) -> tuple[float, float, float] | None:
    """(fixed per-sweep cost, overhead per trial, the line's intercept): a least-squares line through
    every repeat's (trials finished, overhead so far) points; the fixed cost is its intercept (before
    the first trial: Ray's start, Tune's set-up) plus the median time after the last report (Tune's
    end, which also holds the last trial's own wrap-up, so it is a slight overestimate)."""
    import numpy as np

    pts = [p for a in analysed for p in a["points"]]
    if len({k for k, _ in pts}) < 2:
        return None
    slope, intercept = np.polyfit([k for k, _ in pts], [y for _, y in pts], 1)
    tail = statistics.median(a["tail"] for a in analysed)
    return float(intercept + tail), float(slope), float(intercept)


def _actor_gaps(actors: list[dict]) -> dict[str, list[float]]:
    """For each Tune trial actor: delay to its Train controller and to its Train worker."""
    if not actors or "error" in actors[0]:
        return {}
    trials = sorted(
        (a for a in actors if a["class"] in ("ImplicitFunc", "FunctionTrainable")),
        key=lambda a: a["start"],
    )
    ctrl = sorted(
        (a for a in actors if "Controller" in (a["class"] or "")),
        key=lambda a: a["start"],
    )
    work = sorted(
        (a for a in actors if "Worker" in (a["class"] or "") and "Train" in (a["class"] or "")),
        key=lambda a: a["start"],
    )
    out = {
        "trial actor -> Train controller": [],
        "Train controller -> Train worker": [],
    }
    for tr in trials:
        c = next((c for c in ctrl if c["start"] >= tr["start"]), None)
        if c:
            out["trial actor -> Train controller"].append(c["start"] - tr["start"])
            w = next((w for w in work if w["start"] >= c["start"]), None)
            if w:
                out["Train controller -> Train worker"].append(w["start"] - c["start"])
    return out


def run(preset: str = FULL) -> Section:
    from sweeps.spec import load_spec

    spec_path = Path(__file__).resolve().parent.parent / "sweeps" / "specs" / "demo.yaml"
    spec, base = load_spec(spec_path)
    settings = SETTINGS[preset]
    spec = shrunk_spec(spec, settings.budget, settings.constants)
    steps = spec.constants.get("steps_per_epoch", base.steps_per_epoch)
    runs = order(settings.sides, settings.repeats)
    section = Section(
        "orchestration",
        "4. Orchestration overhead: a demo sweep's wall time vs its trials' training steps",
        f"{spec_path.name}: {spec.trial_cap} trials x up to {spec.chromasweep.budget.epochs_per_trial} epochs "
        f"of {steps} steps, TPE seed {spec.chromasweep.seed} + ASHA, one trial at a time, "
        f"{spec.chromasweep.resources.workers} worker; "
        f"run_sweep as shipped (training in the trial) and with train_in_trial: false (a Ray Train run per trial), "
        f"{settings.repeats} sweeps each in one invocation, in the order "
        f"{', '.join('A' if r == SHIPPED else 'B' for r in runs)} "
        "(A shipped, B Ray Train); wall from before Ray starts. Overhead = wall - training steps, where steps = the "
        "trials' train_seconds minus tracing, and tracing = each trial's first-epoch extra (first epoch's "
        "train_seconds minus its later epochs' median): tracing, validation, start-up and Ray/Tune are all overhead.",
    )
    started = time.perf_counter()
    sides: dict[str, list[dict]] = {label: [] for label in settings.sides}
    with tempfile.TemporaryDirectory(prefix="bench-orch-") as tmp:
        for i, label in enumerate(runs):
            folder, in_trial = SIDES[label]
            side = spec.changed({"chromasweep.resources.train_in_trial": in_trial})
            sides[label].append(run_side(side, base, f"{tmp}/{folder}-{i}"))
    figures = {label: [analyse(x) for x in xs] for label, xs in sides.items()}
    fixed = {label: fixed_cost(xs) for label, xs in figures.items()}
    for label, xs in figures.items():

        def col(key, xs=xs):
            return [x[key] for x in xs]

        section.add(
            f"{label}: sweep wall",
            col("wall"),
            "s",
            f"{xs[0]['trials']} trials, trial-epochs per sweep {col('epochs')}",
            0,
        )
        section.add(f"{label}: training steps", col("steps"), "s", "train_seconds - tracing", 0)
        section.add(
            f"{label}: tracing (first-epoch extra)",
            col("tracing"),
            "s",
            "per sweep; first epoch's train_seconds minus later epochs' median, summed over trials",
            0,
        )
        section.add(f"{label}: tracing per trial", [t for x in xs for t in x["traces"]], "s", "", 1)
        section.add(f"{label}: validation", col("eval_total"), "s", "sum of the trials' eval_seconds", 0)
        section.add(
            f"{label}: overhead share",
            [x["overhead_frac"] * 100 for x in xs],
            "%",
            "(wall - training steps) / wall; goal <= 15%",
            0,
        )
        section.add(
            f"{label}: start-up per trial",
            [v for x in xs for v in x["startups"]],
            "s",
            "first report - first epoch's training and validation",
            1,
        )
        section.add(
            f"{label}: per-epoch checkpoint+report",
            [v for x in xs for v in x["per_epoch_extra"]],
            "s",
            "later epochs: iteration - training - validation",
            2,
        )
        section.add(
            f"{label}: outside trials",
            [x["wall"] - x["trial_sum"] for x in xs],
            "s",
            "Ray start, Tune, actor (re)starts between trials",
            0,
        )
        if fixed[label]:
            cost, per_trial, intercept = fixed[label]
            section.add(
                f"{label}: fixed per-sweep cost",
                [cost],
                "s",
                f"regression: overhead so far vs trials finished, all {len(xs)} sweeps' points; intercept "
                f"{intercept:.1f} s + median time after the last report",
                1,
            )
            section.add(
                f"{label}: overhead per trial",
                [per_trial],
                "s",
                "the same line's slope: start-up, tracing, validation, checkpoints",
                1,
            )
    section.add(
        "import tensorflow + keras in a fresh process",
        tf_import_seconds(settings.tf_imports),
        "s",
        "paid by every new trial actor, Train controller and Train worker",
        1,
    )
    if RAY_TRAIN in sides:
        for k in ("trial actor -> Train controller", "Train controller -> Train worker"):
            gaps = [v for x in sides[RAY_TRAIN] for v in _actor_gaps(x["actors"]).get(k, [])]
            if gaps:
                section.add(f"{RAY_TRAIN}: {k}", gaps, "s", "Ray state API actor start times", 1)
        a, b = figures[SHIPPED], figures[RAY_TRAIN]
        section.add(
            "sweep wall, in-trial / Ray Train per trial",
            paired_ratio([x["wall"] for x in a], [x["wall"] for x in b]),
            "x",
            "paired by repeat (neighbouring sweeps)",
            2,
        )
    else:
        section.notes.append(f"{RAY_TRAIN}: not run in this ({preset}) pass.")
    for label, xs in sides.items():
        for x in xs:
            if not all(st.ranked for st in x["statuses"]):
                statuses = [str(st) for st in x["statuses"]]
                section.notes.append(
                    f"{label}: trials did not all run: {statuses}; its figures cover the ones that did."
                )
    for label, xs in figures.items():
        share = Stat([x["overhead_frac"] * 100 for x in xs])
        section.goals.append(Goal(f"{label}: overhead <= 15% of sweep wall", share.median <= 15, f"{share.fmt(0)} %"))
        if fixed[label]:
            cost, per_trial, _ = fixed[label]
            steps_per_trial = statistics.median(x["steps"] / max(x["trials"], 1) for x in xs)
            limit = per_trial / (per_trial + steps_per_trial) * 100 if per_trial + steps_per_trial > 0 else math.nan
            section.notes.append(
                f"{label}: fixed {cost:.0f} s per sweep plus {per_trial:.1f} s per trial of overhead, against "
                f"{steps_per_trial:.1f} s of training steps per trial; however many such trials a sweep has, its "
                f"overhead share stays above {limit:.0f}% (the per-trial part alone); only longer trials lower that."
            )
    shipped = figures.get(SHIPPED, [])
    if shipped:
        section.notes.append(
            "Overhead counts tracing, validation, checkpoints, MLflow-free reporting, Ray/Tune and start-up: "
            f"everything but training steps. In the shipped sweep, tracing is "
            f"{statistics.median(x['tracing'] for x in shipped):.0f} s and validation "
            f"{statistics.median(x['eval_total'] for x in shipped):.0f} s (medians per sweep)."
        )
    section.seconds = time.perf_counter() - started
    return section
