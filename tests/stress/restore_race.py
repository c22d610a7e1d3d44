"""Tune's restore race, forced (issue 14, item 4; a script, not in CI: a few minutes a run).

    .venv/bin/python tests/stress/restore_race.py --order trials-newer --out /tmp/race
    .venv/bin/python tests/stress/restore_race.py --order searcher-newer --out /tmp/race2

Tune saves its trial list (``experiment_state-*.json``) and its searcher (``search_gen_state-*.json``
with the concurrency limiter, ``searcher-state-*.pkl`` with Optuna) as separate files and uploads
them in the background, so a driver killed mid-upload can leave one newer than the other. This script
makes that state on purpose instead of waiting for a kill to land in the window: it runs the kill
storm's sweep with 3 trials, one at a time, keeps a copy of the files Tune has stored while one trial is known, kills
the driver once Tune's stored list knows a second, puts the older copy of one side back, and resumes.

- ``trials-newer``: the searcher's files from before the second trial. Optuna's searcher then raises
  KeyError on the second trial's first result (inside ``actor_manager._actor_task_resolved``).
- ``searcher-newer``: the trial list from before the second trial. The limiter then counts a trial
  that will never run, and with one trial at a time the sweep waits for ever.

It prints whether the resumed sweep finished every trial, and exits 0 only if it did.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from kill_storm import (  # the storm's sweep and driver, beside this script
    ROOT,
    SPEC,
    start,
)

from colorize_core.status import RunStatus
from sweeps.search import tune_trials

SEARCHER = ("search_gen_state-*.json", "searcher-state-*.pkl")
TRIALS = ("experiment_state-*.json",)


def known_trials(experiment: Path) -> int:
    return len(tune_trials(experiment) or {})  # none while Tune's file is caught mid-write


def snapshot(experiment: Path, patterns: tuple[str, ...], into: Path) -> None:
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for pattern in patterns:
        for f in experiment.glob(pattern):
            shutil.copy2(f, into / f.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", choices=["trials-newer", "searcher-newer"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--resume-timeout", type=float, default=420.0, help="seconds the resumed sweep may take")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    spec = args.out / "race.yaml"
    spec.write_text(SPEC.format(name="race", trials=3, epochs=2, base=ROOT / "colorize_core" / "configs" / "demo.yaml"))
    storage, experiment, old = args.out / "storage", args.out / "storage" / "race", args.out / "older"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{args.out.resolve()}/mlflow.db"}
    older_side = SEARCHER if args.order == "trials-newer" else TRIALS

    driver = start(spec, str(storage), args.out / "first.log", env, resume=False)
    deadline = time.monotonic() + 600
    while known_trials(experiment) < 2 and driver.poll() is None and time.monotonic() < deadline:
        if known_trials(experiment) == 1:
            snapshot(experiment, older_side, old)  # the newest copy while one trial is known
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    if known_trials(experiment) < 2 or not any(old.iterdir()):
        print(f"no state with one trial then two was seen (driver exit {driver.returncode}); see {args.out}/first.log")
        return 2
    for pattern in older_side:
        for f in experiment.glob(pattern):
            f.unlink()
    for f in old.iterdir():
        shutil.copy2(f, experiment / f.name)
    print(
        "killed with Tune's stored list at 2 trials; put back the "
        f"{'searcher' if older_side is SEARCHER else 'trial list'} "
        f"from when it was 1: {sorted(f.name for f in old.iterdir())}",
        flush=True,
    )

    started = time.monotonic()
    resumed = start(spec, str(storage), args.out / "resumed.log", env, resume=True)
    try:
        resumed.wait(timeout=args.resume_timeout)
        outcome = f"exited {resumed.returncode} after {time.monotonic() - started:.0f} s"
    except subprocess.TimeoutExpired:
        os.killpg(resumed.pid, signal.SIGKILL)
        resumed.wait()
        outcome = f"still running after {args.resume_timeout:.0f} s (killed)"
    text = (args.out / "resumed.log").read_text(errors="replace")
    table = text.split("sorted by", 1)[-1] if "sorted by" in text else ""
    finished = len(re.findall(rf"^[0-9a-f]{{8}}\s+{RunStatus.FINISHED}\s", table, re.MULTILINE))
    print(
        f"resumed sweep: {outcome}; KeyError in its output: {'KeyError' in text}; "
        f"_actor_task_resolved in its output: {'_actor_task_resolved' in text}; trials finished: {finished} of 3"
    )
    return 0 if resumed.returncode == 0 and finished == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
