"""Benchmark 4: orchestration overhead of a sweep.

Both sides are ``sweeps.tune_sweep.run_sweep`` on ``sweeps/specs/demo.yaml`` (one worker per trial),
in one invocation, timed from before Ray starts to the outcome:
- as shipped: each trial trains in its Tune trial's own process (``sweeps.in_trial``), actors reused;
- ``resources.train_in_trial: false``: each trial fits its own Ray Train ``TensorflowTrainer`` (what
  every trial did before, and what trials of several workers still do).

Pure training time is what the trials' own loops report each epoch (``train_seconds``: the training
steps, first-step tracing included; ``eval_seconds``: validation). Overhead = wall - pure training.
Per trial, from Tune's results: first report's ``time_total_s`` (trial start to end of its first
epoch), later epochs' ``time_this_iter_s``; start-up = first report - first epoch's training and
validation. Ray's state API gives each actor's start (trial actor, Train controller, Train worker).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import FULL, QUICK, SMOKE, TINY_TRIAL, Goal, Section, shrunk_spec

SHIPPED, RAY_TRAIN = "in-trial (shipped)", "Ray Train per trial"
# side: (its storage folder, the spec's resources.train_in_trial)
SIDES = {SHIPPED: ("in-trial", True), RAY_TRAIN: ("ray-train", False)}


@dataclass(frozen=True)
class Settings:
    budget: dict = field(default_factory=dict)  # replaces the spec's budget fields
    constants: dict = field(default_factory=dict)  # replaces or adds the spec's training constants
    tf_imports: int = 3  # fresh processes timed importing TensorFlow
    sides: tuple[str, ...] = (SHIPPED, RAY_TRAIN)


SETTINGS = {
    FULL: Settings(),
    QUICK: Settings({"run_cap": 2, "epochs_per_trial": 2}, tf_imports=1),
    # The Ray Train side would add a minute to the smoke pass's two (its trial starts a controller
    # and a worker, each importing TensorFlow) for the benchmark code the shipped side runs too.
    SMOKE: Settings({"run_cap": 1, "epochs_per_trial": 1}, TINY_TRIAL, tf_imports=1, sides=(SHIPPED,)),
}


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
            {"class": a.class_name, "start": (a.start_time_ms or 0) / 1000, "end": (a.end_time_ms or 0) / 1000,
             "pid": a.pid, "state": a.state}
            for a in list_actors(address=address, detail=True, limit=1000, raise_on_missing_output=False)
        ]  # fmt: skip
    except Exception as err:  # noqa: BLE001 - the state API needs the dashboard; the figures do without it
        return [{"error": repr(err)}]


def tf_import_seconds(repeats: int) -> list[float]:
    code = "import time; t=time.perf_counter(); import tensorflow, keras; print(time.perf_counter()-t)"
    return [float(subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                                 env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": ""}).stdout.strip() or "nan")
            for _ in range(repeats)]  # fmt: skip


def run_side(spec, base, storage: str) -> dict:
    """One sweep, timed; it raises if no trial got as far as a result (its trials' errors are in
    the log), as the figures would then describe nothing."""
    import ray

    from colorize_core.status import RunStatus
    from sweeps.ray_train import connect
    from sweeps.tune_sweep import run_sweep

    t0 = time.perf_counter()
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
    return {"wall": wall, "tune": outcome.seconds, "trials": reports, "actors": actors, "statuses": statuses}


def analyse(side: dict) -> dict:
    train, evals, startups, per_epoch_extra, trial_totals, epochs = 0.0, 0.0, [], [], [], 0
    for reps in side["trials"].values():
        reps = sorted(reps, key=lambda r: r.get("time_total_s", 0))
        if not reps:
            continue
        epochs += len(reps)
        # The trials' own figures: a KeyError here is the product no longer reporting them.
        t = [r["train_seconds"] for r in reps]
        e = [r["eval_seconds"] for r in reps]
        train, evals = train + sum(t), evals + sum(e)
        startups.append(reps[0].get("time_total_s", 0.0) - t[0] - e[0])
        for r, ti, ei in zip(reps[1:], t[1:], e[1:]):
            per_epoch_extra.append(r.get("time_this_iter_s", 0.0) - ti - ei)
        trial_totals.append(reps[-1].get("time_total_s", 0.0))
    overhead = side["wall"] - train
    return {
        "wall": side["wall"],
        "tune": side["tune"],
        "train": train,
        "eval_total": evals,
        "overhead": overhead,
        "overhead_frac": overhead / side["wall"],
        "startups": startups,
        "per_epoch_extra": per_epoch_extra,
        "trial_sum": sum(trial_totals),
        "epochs": epochs,
        "trials": len(trial_totals),
    }


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
        (
            a
            for a in actors
            if "Worker" in (a["class"] or "") and "Train" in (a["class"] or "")
        ),
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
    section = Section(
        "orchestration",
        "4. Orchestration overhead: a demo sweep's wall time vs its trials' training",
        f"{spec_path.name}: {spec.trial_cap} trials x up to {spec.chromasweep.budget.epochs_per_trial} epochs of {steps} "
        f"steps, TPE seed {spec.chromasweep.seed} + ASHA, one trial at a time, {spec.chromasweep.resources.workers} worker; run_sweep "
        "as shipped (training in the trial) then with train_in_trial: false (a Ray Train run per trial), "
        "same invocation; wall from before Ray starts.",
    )
    started = time.perf_counter()
    sides = {}
    with tempfile.TemporaryDirectory(prefix="bench-orch-") as tmp:
        for label in settings.sides:
            folder, in_trial = SIDES[label]
            side = spec.changed({"chromasweep.resources.train_in_trial": in_trial})
            sides[label] = run_side(side, base, f"{tmp}/{folder}")
    figures = {label: analyse(side) for label, side in sides.items()}
    for label, x in figures.items():
        section.add(f"{label}: sweep wall", [x["wall"]], "s",
                    f"Tuner.fit {x['tune']:.0f} s; {x['trials']} trials, {x['epochs']} trial-epochs", 0)
        section.add(f"{label}: pure training", [x["train"]], "s", "sum of the trials' train_seconds", 0)
        section.add(f"{label}: validation", [x["eval_total"]], "s", "sum of the trials' eval_seconds", 0)
        section.add(f"{label}: overhead share", [x["overhead_frac"] * 100], "%",
                    "(wall - pure training) / wall; goal <= 15%", 0)
        section.add(f"{label}: start-up per trial", x["startups"], "s",
                    "first report - first epoch's training and validation", 1)
        section.add(f"{label}: per-epoch checkpoint+report", x["per_epoch_extra"], "s",
                    "later epochs: iteration - training - validation", 2)
        section.add(f"{label}: outside trials", [x["wall"] - x["trial_sum"]], "s",
                    "Ray start, Tune, actor (re)starts between trials", 0)  # fmt: skip
    section.add("import tensorflow + keras in a fresh process", tf_import_seconds(settings.tf_imports), "s",
                "paid by every new trial actor, Train controller and Train worker", 1)  # fmt: skip
    if RAY_TRAIN in sides:
        for k, v in _actor_gaps(sides[RAY_TRAIN]["actors"]).items():
            section.add(f"{RAY_TRAIN}: {k}", v, "s", "Ray state API actor start times", 1)
        ratio = figures[SHIPPED]["wall"] / figures[RAY_TRAIN]["wall"]
        section.add("sweep wall, in-trial / Ray Train per trial", [ratio], "x", "", 2)
    else:
        section.notes.append(f"{RAY_TRAIN}: not run in this ({preset}) pass.")
    for label, side in sides.items():
        if not all(st.ranked for st in side["statuses"]):
            statuses = [str(st) for st in side["statuses"]]
            section.notes.append(f"{label}: trials did not all run: {statuses}; its figures cover the ones that did.")
    for label, x in figures.items():
        section.goals.append(Goal(f"{label}: overhead <= 15% of sweep wall", x["overhead_frac"] <= 0.15,
                                  f"{x['overhead_frac'] * 100:.0f}%"))  # fmt: skip
    section.notes.append(
        "Overhead counts validation, checkpoints, MLflow-free reporting, Ray/Tune and start-up: everything "
        f"but training steps. Validation alone is {figures[SHIPPED]['eval_total']:.0f} s of the shipped sweep."
    )
    section.seconds = time.perf_counter() - started
    return section
