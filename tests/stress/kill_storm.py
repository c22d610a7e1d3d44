"""A kill storm (issue 14; a script, not in CI: it runs for half an hour or more on 2 cores).

    .venv/bin/python tests/stress/kill_storm.py --kills 20 --out /tmp/storm [--seed 0] [--baseline] [--bucket]

One small sweep on the bundled sample photos is SIGKILLed (the driver and the local Ray it started,
as a crashed laptop or a lost head node would) at a random moment, then resumed with
``chromasweep sweep --resume``, again and again until it has been killed ``--kills`` times; the
last resume runs to the end. Then it checks what a user would: every trial of ``run_cap`` finished,
one MLflow run per trial with each epoch exactly once, no run left RUNNING. It prints, per kill, when
it came and whether the next resume printed a traceback, and at the end: kills survived, trials lost,
duplicated runs, runs tagged lost (trials Tune had not saved before a kill, drawn again), tracebacks
with their last line, and the wall time of the stormed sweep. ``--baseline`` first runs the same
sweep once without kills (under another name), so the cost per kill is measured, not guessed.
``--bucket`` keeps the sweep's storage in a bucket on a GCS emulator (``tests/gcs_emulator.py``)
instead of a local folder. Each driver runs with ``--verbose``, so that Ray's and Tune's output
(tracebacks included) lands in that driver's own log, which survives its kill.
Exit status 0 only if nothing was lost or duplicated.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from colorize_core.status import RunStatus
from tracking.trial_run import KIND_TAG, STATUS_TAG

ROOT = Path(__file__).resolve().parents[2]
SPEC = """
name: {name}
method: random
metric: {{name: val_psnr, goal: maximize}}
parameters:
  loss.adversarial_weight: {{distribution: log_uniform_values, min: 0.01, max: 0.5}}
  steps_per_epoch: {{value: 8}}
run_cap: {trials}
chromasweep:
  base: {base}
  seed: 0
  budget: {{max_concurrent: 1, epochs_per_trial: {epochs}}}
"""
ERROR_LINE = re.compile(r"^\w[\w.]*(Error|Exception)\b")  # the last line of a Python traceback


def start(spec: Path, storage: str, log: Path, env: dict, resume: bool) -> subprocess.Popen:
    command = [sys.executable, "-m", "chromasweep.cli", "sweep", str(spec), "--storage", storage, "--verbose"]
    with log.open("w") as out:
        return subprocess.Popen(
            command + (["--resume"] if resume else []),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def last_traceback_line(text: str) -> str | None:
    if "Traceback" not in text:
        return None
    tail = text[text.rindex("Traceback") :].splitlines()
    errors = [line for line in tail if ERROR_LINE.match(line)]
    return errors[0] if errors else tail[-1]


def run_storm(args, name: str, kills: int, env: dict, storage: str) -> dict:
    out = args.out
    spec = out / f"{name}.yaml"
    spec.write_text(
        SPEC.format(
            name=name, trials=args.trials, epochs=args.epochs, base=ROOT / "colorize_core" / "configs" / "demo.yaml"
        )
    )
    rng = random.Random(args.seed)
    started, events, attempt = time.monotonic(), [], 0
    while True:
        log = out / f"{name}-{attempt:02d}.log"
        driver = start(spec, storage, log, env, resume=attempt > 0)
        wait = rng.uniform(args.min_s, args.max_s) if sum(e["killed"] for e in events) < kills else None
        try:
            driver.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started, at once
            driver.wait()
            killed = True
        else:
            killed = False
        text = log.read_text(errors="replace")
        events.append(
            {
                "attempt": attempt,
                "killed": killed,
                "after_s": round(wait, 1) if killed else None,
                "returncode": driver.returncode,
                "traceback": last_traceback_line(text),
                "restore_traceback": "_actor_task_resolved" in text,
            }
        )
        print(
            f"  {name} attempt {attempt:2d}: "
            + (f"killed after {wait:5.1f} s" if killed else f"exited {driver.returncode}")
            + (f"; traceback: {events[-1]['traceback']}" if events[-1]["traceback"] else ""),
            flush=True,
        )
        attempt += 1
        if not killed and (driver.returncode == 0 or attempt >= kills + 5):
            break  # the end; a resume that failed is counted and tried again (a few times at most)
    return {"events": events, "seconds": time.monotonic() - started, "final_log": text}


def check(uri: str, name: str, trials: int, epochs: int) -> dict:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get(KIND_TAG) == "sweep"]
    children = [r for r in runs if r.data.tags.get(KIND_TAG) == "trial"]
    tagged_lost = [r for r in children if r.data.tags.get(STATUS_TAG, "").startswith("lost")]
    kept = [r for r in children if r not in tagged_lost]
    names = [r.info.run_name for r in kept]
    bad_history = {}
    for run in kept:
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_psnr"))
        if steps != list(range(1, epochs + 1)):
            bad_history[run.info.run_name] = steps
    return {
        "parents": len(parents),
        "trials": len(kept),
        "finished": sum(r.info.status == "FINISHED" for r in kept),
        "running": sum(r.info.status == "RUNNING" for r in runs),
        "duplicated": len(names) - len(set(names)),
        "tagged_lost": len(tagged_lost),
        "lost": trials - len(set(names)),
        "bad_history": bad_history,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--min-s", type=float, default=8.0, help="earliest kill after a (re)start, seconds")
    parser.add_argument("--max-s", type=float, default=45.0, help="latest kill after a (re)start, seconds")
    parser.add_argument("--baseline", action="store_true", help="first run the same sweep once without kills")
    parser.add_argument("--bucket", action="store_true", help="the sweep's storage in a bucket on a GCS emulator")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.bucket:
        return storm(args, str(args.out / "storage"), {})
    sys.path.insert(0, str(ROOT / "tests"))
    from gcs_emulator import create_bucket, running

    with running(args.out / "gcs-emulator.log") as url:
        return storm(args, f"{create_bucket(url, 'storm')}/storage", {"STORAGE_EMULATOR_HOST": url})


def storm(args, storage: str, extra_env: dict) -> int:
    uri = f"sqlite:///{args.out.resolve()}/mlflow.db"
    env = {**os.environ, **extra_env, "MLFLOW_TRACKING_URI": uri}
    print(f"storage: {storage}", flush=True)

    baseline = None
    if args.baseline:
        print("baseline: the same sweep without kills", flush=True)
        baseline = run_storm(args, "storm-baseline", 0, env, storage)["seconds"]
        print(f"baseline: {baseline:.0f} s", flush=True)
    print(f"storm: {args.kills} kills, each {args.min_s:.0f}-{args.max_s:.0f} s after a (re)start", flush=True)
    stormed = run_storm(args, "storm", args.kills, env, storage)
    found = check(uri, "storm", args.trials, args.epochs)
    events = stormed["events"]
    kills = sum(e["killed"] for e in events)
    tracebacks = [e for e in events if e["traceback"]]
    failed_resumes = [e for e in events if not e["killed"] and e["returncode"] != 0]
    table = stormed["final_log"].split("sorted by", 1)[-1]
    finished_rows = len(re.findall(rf"^[0-9a-f]{{8}}\s+{RunStatus.FINISHED}\s", table, re.MULTILINE))

    print(f"\nkills survived: {kills} (resumes that failed and were retried: {len(failed_resumes)})")
    print(f"final table: {finished_rows} of {args.trials} trials finished")
    print(
        f"MLflow: {found['parents']} parent run(s), {found['trials']} trial runs, {found['finished']} FINISHED, "
        f"{found['running']} RUNNING; trials lost {found['lost']}, duplicated runs {found['duplicated']}, "
        f"runs tagged lost (drawn again) {found['tagged_lost']}"
    )
    print(f"epoch histories not exactly 1..{args.epochs}: {found['bad_history'] or 'none'}")
    print(
        f"tracebacks in {len(tracebacks)} of {len(events)} drivers' output"
        + "".join(f"\n  attempt {e['attempt']}: {e['traceback']}" for e in tracebacks)
    )
    print(
        "Tune's restore traceback (actor_manager._actor_task_resolved) in "
        f"{sum(e['restore_traceback'] for e in events)} "
        f"of {len(events)} drivers' output"
    )
    print(
        f"stormed sweep: {stormed['seconds']:.0f} s wall"
        + (
            f"; baseline {baseline:.0f} s; cost per kill {(stormed['seconds'] - baseline) / max(kills, 1):.1f} s"
            if baseline
            else ""
        )
    )
    ok = (
        found["lost"] == 0
        and found["duplicated"] == 0
        and found["running"] == 0
        and not found["bad_history"]
        and finished_rows == args.trials
        and found["parents"] == 1
    )
    print("storm: " + ("nothing lost or duplicated" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
