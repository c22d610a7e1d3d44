"""What one more trial costs a sweep beyond its own training and validation, measured from outside.

The demo sweep's shape (``sweeps/specs/demo.yaml``) with random search, no early stopping and 2 epochs
a trial, run as a user runs it (``chromasweep sweep``, MLflow on, a sqlite store of its own) at 2 and
at 8 trials. A sweep's overhead is its command's wall time minus its steady work: every epoch at its
trial's fastest logged ``train_seconds`` (so the first epoch's tracing counts as overhead) plus every
``eval_seconds`` (validation is work). Per extra trial: (overhead at 8 - overhead at 2) / 6; and the
8-trial sweep's overhead share. ``--against TREE`` runs another checkout's code the same way (its
folder first on PYTHONPATH), interleaved A B B A, so the two are measured under the same load.

    .venv/bin/python -m benchmarks.trial_overhead --repeats 2 --against /path/to/old/checkout
    .venv/bin/python -m benchmarks.trial_overhead --concurrent 2    # two trials at a time

Nothing that starts Ray may run beside it; each sweep takes one to three minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.provenance import code_state

HERE = Path(__file__).resolve().parents[1]
SMALL, LARGE = 2, 8


def spec_for(tree: Path, trials: int, concurrent: int, out: Path) -> Path:
    spec = yaml.safe_load((tree / "sweeps/specs/demo.yaml").read_text())
    spec.update(name=f"overhead-{trials}", method="random", run_cap=trials)
    spec.pop("early_terminate", None)
    spec["chromasweep"]["base"] = str(tree / "colorize_core/configs/demo.yaml")
    spec["chromasweep"]["budget"] = {"epochs_per_trial": 2, "max_concurrent": concurrent}
    # The machine's cores shared among the trials at a time; each trial's TensorFlow threads follow.
    spec["chromasweep"]["resources"]["cpus_per_worker"] = max(1, (os.cpu_count() or 1) // concurrent)
    path = out / f"spec-{trials}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def steady_work(db: Path, sweep: str) -> tuple[float, int]:
    """(seconds of training at each trial's fastest epoch plus all validation, trials finished)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_experiment_by_name(sweep)
    runs = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    work = 0.0
    for run in runs:
        train = [m.value for m in client.get_metric_history(run.info.run_id, "train_seconds")]
        evals = [m.value for m in client.get_metric_history(run.info.run_id, "eval_seconds")]
        work += len(train) * min(train) + sum(evals)
    return work, len(runs)


def one_sweep(tree: Path, trials: int, concurrent: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        out = Path(tmp)
        spec = spec_for(tree, trials, concurrent, out)
        db = out / "mlflow.db"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        command = [sys.executable, "-m", "chromasweep.cli", "sweep", str(spec)]
        command += ["--storage", str(out / "runs"), "--tracking-uri", f"sqlite:///{db}"]
        t0 = time.perf_counter()
        with open(out / "console.txt", "w") as console:
            done = subprocess.run(command, cwd=out, env=env, stdout=console, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - t0
        if done.returncode:
            tail = (out / "console.txt").read_text()[-3000:]
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")
        work, finished = steady_work(db, f"overhead-{trials}")
    if finished != trials:
        raise SystemExit(f"{trials}-trial sweep finished {finished} trials")
    return {"trials": trials, "wall": wall, "work": work, "overhead": wall - work}


def measure(tree: Path, concurrent: int) -> dict:
    small, large = one_sweep(tree, SMALL, concurrent), one_sweep(tree, LARGE, concurrent)
    if concurrent > 1:  # overlapping trials: their summed work is no share of the wall time
        return {"wall_2": small["wall"], "wall_8": large["wall"], "sweeps": [small, large]}
    return {
        "per_extra_trial": (large["overhead"] - small["overhead"]) / (LARGE - SMALL),
        "share_at_8": large["overhead"] / large["wall"],
        "wall_8": large["wall"],
        "sweeps": [small, large],
    }


def summary(label: str, results: list[dict]) -> str:
    def spread(key: str, fmt: str) -> str:
        values = [r[key] for r in results]
        med = statistics.median(values)
        return f"{format(med, fmt)} [{format(min(values), fmt)}, {format(max(values), fmt)}]"

    if "per_extra_trial" not in results[0]:
        return f"{label}: 2-trial wall {spread('wall_2', '.0f')} s, 8-trial wall {spread('wall_8', '.0f')} s"
    return (
        f"{label}: per extra trial {spread('per_extra_trial', '.2f')} s, overhead share at 8 trials "
        f"{spread('share_at_8', '.0%')}, 8-trial wall {spread('wall_8', '.0f')} s (median [min, max] of {len(results)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--against", type=Path, help="another checkout to measure the same way, interleaved")
    parser.add_argument("--concurrent", type=int, default=1, help="trials at a time")
    parser.add_argument("--json", type=Path, help="write every sweep's figures here")
    args = parser.parse_args()
    trees = {"this tree": HERE} | ({f"{args.against}": args.against.resolve()} if args.against else {})
    labels = list(trees)
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    for i in range(args.repeats):
        for label in labels if i % 2 == 0 else labels[::-1]:
            result = measure(trees[label], args.concurrent)
            runs[label].append(result)
            print(f"{label} #{len(runs[label])}: {json.dumps({k: v for k, v in result.items() if k != 'sweeps'})}")
    state = code_state(HERE)
    dirty = " with uncommitted changes" if state["dirty"] else ""
    command = shlex.join(["python", "-m", "benchmarks.trial_overhead", *sys.argv[1:]])
    print(f"commit {(state['commit'] or '?')[:10]}{dirty}; {command}; {args.concurrent} trial(s) at a time")
    for label in labels:
        print(summary(label, runs[label]))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
