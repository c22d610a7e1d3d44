"""Benchmark 4: orchestration overhead of a sweep.

Product: ``sweeps.tune_sweep.run_sweep`` on ``sweeps/specs/demo.yaml`` as shipped (each trial a Tune
function trainable fitting its own Ray Train ``TensorflowTrainer`` with one worker), timed from
before Ray starts to the outcome. Alternative: the same spec, searcher, scheduler and trial configs,
each trial training in its Tune actor (``benchmarks.inprocess``, actors reused), timed the same way.

Pure training time is what the trials' own loops report: per epoch, steps x batch / images_per_second
(the training steps, first-step tracing included). Overhead = wall - sum of pure training.
Per trial, from Tune's results: first report's ``time_total_s`` (trial start to end of its first
epoch), later epochs' ``time_this_iter_s``; start-up = first report - first epoch's training -
validation (validation measured in the in-process trials, the same model and data in both).
Ray's state API gives each actor's start (trial actor, Train controller, Train worker).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Goal, Section


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


def pin_ray_address() -> None:
    """Worker set-up hook: name this cluster in RAY_ADDRESS inside every Ray worker process.

    Ray Train's PlacementGroupCleaner looks its cluster up through the state API; with another Ray
    instance on the machine (a test run, ``cluster/local-up.sh``) and no RAY_ADDRESS it fails
    ("Found multiple active Ray instances"), the finished trials' placement groups are never
    removed, and the third trial of the demo sweep waits for a CPU until it errors.
    """
    import os

    import ray

    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)


def _train_seconds(rep: dict, steps: int, batch: int) -> float:
    ips = rep.get("images_per_second") or 0
    return steps * batch / ips if ips else 0.0


def tf_import_seconds(repeats: int) -> list[float]:
    code = "import time; t=time.perf_counter(); import tensorflow, keras; print(time.perf_counter()-t)"
    return [float(subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                                 env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": ""}).stdout.strip() or "nan")
            for _ in range(repeats)]  # fmt: skip


def run_product(spec, base, storage: str) -> dict:
    import ray

    from sweeps.ray_train import WORKER_ENV
    from sweeps.tune_sweep import run_sweep

    t0 = time.perf_counter()
    # run_sweep's own ray.init call, made here so the state API below can name this cluster, with
    # a hook that does the same for Ray Train's placement-group cleaner (see pin_ray_address).
    ray.init(
        runtime_env={
            "env_vars": WORKER_ENV,
            "worker_process_setup_hook": "benchmarks.orchestration.pin_ray_address",
        }
    )
    outcome = run_sweep(spec, base, storage)
    wall = time.perf_counter() - t0
    actors = _actor_timeline()
    ray.shutdown()
    reports = _trial_reports_from_dir(outcome.experiment_path)
    return {"wall": wall, "tune": outcome.seconds, "trials": reports, "actors": actors,
            "statuses": [r.status for r in outcome.rows]}  # fmt: skip


def run_alternative(spec, base, storage: str) -> dict:
    import ray

    from benchmarks.inprocess import ENV, run_inprocess_sweep
    from colorize_core.datasets import resolve_dataset

    t0 = time.perf_counter()
    resolve_dataset(base.data, base.seed, progress=False)
    ray.init(
        runtime_env={
            "env_vars": ENV,
            "worker_process_setup_hook": "benchmarks.orchestration.pin_ray_address",
        }
    )
    run = run_inprocess_sweep(spec, base, storage, trial_cpus=1.0, reuse_actors=True)
    wall = time.perf_counter() - t0
    actors = _actor_timeline()
    ray.shutdown()
    return {"wall": wall, "tune": run.wall_s, "trials": {str(i): t["reports"] for i, t in enumerate(run.trials)},
            "actors": actors}  # fmt: skip


def analyse(side: dict, steps: int, batch: int, eval_s: float) -> dict:
    train, startups, per_epoch_extra, trial_totals, epochs = 0.0, [], [], [], 0
    for reps in side["trials"].values():
        reps = sorted(reps, key=lambda r: r.get("time_total_s", 0))
        if not reps:
            continue
        epochs += len(reps)
        t = [_train_seconds(r, steps, batch) for r in reps]
        train += sum(t)
        first = reps[0].get("time_total_s", 0.0)
        startups.append(first - t[0] - eval_s)
        for r, ti in zip(reps[1:], t[1:]):
            per_epoch_extra.append(r.get("time_this_iter_s", 0.0) - ti - eval_s)
        trial_totals.append(reps[-1].get("time_total_s", 0.0))
    overhead = side["wall"] - train
    return {
        "wall": side["wall"],
        "tune": side["tune"],
        "train": train,
        "overhead": overhead,
        "overhead_frac": overhead / side["wall"],
        "startups": startups,
        "per_epoch_extra": per_epoch_extra,
        "trial_sum": sum(trial_totals),
        "epochs": epochs,
        "trials": len(trial_totals),
        "eval_total": eval_s * epochs,
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


def run(quick: bool = False) -> Section:
    from sweeps.spec import load_spec

    spec_path = (
        Path(__file__).resolve().parent.parent / "sweeps" / "specs" / "demo.yaml"
    )
    spec, base = load_spec(spec_path)
    if quick:
        spec = spec.model_copy(
            update={
                "budget": spec.budget.model_copy(
                    update={"max_trials": 2, "epochs_per_trial": 2}
                )
            }
        )
    steps, batch = (
        spec.constants.get("steps_per_epoch", base.steps_per_epoch),
        base.data.batch_size,
    )
    section = Section(
        "orchestration",
        "4. Orchestration overhead: a demo sweep's wall time vs its trials' training",
        f"{spec_path.name}: {spec.budget.max_trials} trials x up to {spec.budget.epochs_per_trial} epochs of {steps} "
        f"steps, TPE seed {spec.search.seed} + ASHA, one trial at a time, {spec.resources.workers} worker; product "
        "run_sweep (Ray Train per trial) then the in-process alternative, same invocation; wall from before Ray starts.",
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-orch-") as tmp:
        product = run_product(spec, base, f"{tmp}/product")
        alt = run_alternative(spec, base, f"{tmp}/alt")
    # Validation time per epoch, measured inside the in-process trials (same model, same data).
    evals = [
        r["bench_epoch_wall_s"] - r["bench_train_s"]
        for reps in alt["trials"].values()
        for r in reps[1:]
    ]
    eval_s = statistics.median(evals) if evals else 0.0
    a, b = analyse(product, steps, batch, eval_s), analyse(alt, steps, batch, eval_s)
    for label, x in (("product (Ray Train per trial)", a), ("in-process trials", b)):
        section.add(
            f"{label}: sweep wall",
            [x["wall"]],
            "s",
            f"Tuner.fit {x['tune']:.0f} s; {x['trials']} trials, {x['epochs']} trial-epochs",
            0,
        )
        section.add(
            f"{label}: pure training",
            [x["train"]],
            "s",
            "sum of steps x batch / images_per_second",
            0,
        )
        section.add(
            f"{label}: validation",
            [x["eval_total"]],
            "s",
            f"{eval_s:.2f} s per epoch",
            0,
        )
        section.add(
            f"{label}: overhead share",
            [x["overhead_frac"] * 100],
            "%",
            "(wall - pure training) / wall; goal <= 15%",
            0,
        )
        section.add(
            f"{label}: start-up per trial",
            x["startups"],
            "s",
            "first report - first epoch's training - validation",
            1,
        )
        section.add(
            f"{label}: per-epoch checkpoint+report",
            x["per_epoch_extra"],
            "s",
            "later epochs: iteration - training - validation",
            2,
        )
        section.add(
            f"{label}: outside trials",
            [x["wall"] - x["trial_sum"]],
            "s",
            "Ray start, Tune, actor (re)starts between trials",
            0,
        )
    first = next(iter(alt["trials"].values()), [])
    if first:
        r = first[0]
        section.add(
            "in-process: first trial's imports (TF, keras, colorize_core)",
            [r["bench_imported"] - r["bench_entered"]],
            "s",
            "paid once per reused actor",
            1,
        )
        builds = [
            reps[0]["bench_built"] - reps[0]["bench_imported"]
            for reps in alt["trials"].values()
            if reps
        ]
        section.add(
            "in-process: Trainer set-up per trial (data, model, optimizers)",
            builds,
            "s",
            "",
            1,
        )
    section.add(
        "import tensorflow + keras in a fresh process",
        tf_import_seconds(1 if quick else 3),
        "s",
        "paid by every Ray Train worker",
        1,
    )
    for k, v in _actor_gaps(product["actors"]).items():
        section.add(f"product: {k}", v, "s", "Ray state API actor start times", 1)
    section.add("sweep wall, in-process / product", [b["wall"] / a["wall"]], "x", "", 2)
    statuses = product.get("statuses", [])
    if any(st not in ("finished", "stopped early") for st in statuses):
        section.notes.append(
            f"Product trials did not all run: {statuses}; its figures cover the ones that did."
        )
    section.goals.append(
        Goal(
            "product: overhead <= 15% of sweep wall",
            a["overhead_frac"] <= 0.15,
            f"{a['overhead_frac'] * 100:.0f}%",
        )
    )
    section.goals.append(
        Goal(
            "in-process alternative: overhead <= 15% of sweep wall",
            b["overhead_frac"] <= 0.15,
            f"{b['overhead_frac'] * 100:.0f}%",
        )
    )
    section.notes.append(
        "Overhead counts validation, checkpoints, Ray/Tune and start-up: everything but training steps. "
        f"Validation alone is {a['eval_total']:.0f} s of the product sweep."
    )
    section.seconds = time.perf_counter() - started
    return section
