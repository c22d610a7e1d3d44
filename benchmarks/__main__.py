"""``python -m benchmarks [NAME ...] [--quick | --smoke]``: run the benchmarks, print a table, write RESULTS.md.

Names: step, profile, pipeline, search, search_wide, orchestration, gpu (default: all). Each benchmark runs in its own
Python process (TensorFlow, Ray and memory start clean), hands its figures back as JSON, and the
results are merged into ``benchmarks/results.json``, so running one benchmark updates its section
of ``benchmarks/RESULTS.md`` and keeps the others. The figures are not part of CI's pass/fail;
``--smoke`` is: every benchmark's code once at a toy size (about 2 minutes on 2 cores), nothing
written, exit status 1 if any benchmark failed, with its log.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ["step", "profile", "pipeline", "search", "search_wide", "orchestration", "gpu"]
KEEP_START, KEEP_END = "<!-- reading:start -->", "<!-- reading:end -->"
SMOKE_LOG_LINES = 150  # of a failed benchmark's log, printed by --smoke
SMOKE_TIMEOUT_S = 240  # a benchmark still running after this long in --smoke is stopped and failed
# --smoke runs these side by side, each lane one benchmark after another: the sweeps (each starts
# a Ray cluster) in one lane, never two at once; the lanes take about as long as each other.
SMOKE_LANES = (("search", "orchestration", "search_wide"), ("step", "profile", "pipeline", "gpu"))


def _child(name: str, preset: str, out: str) -> int:
    import importlib

    from benchmarks.common import Section

    module = importlib.import_module(f"benchmarks.{name}")
    try:
        section, status = module.run(preset=preset), 0
    except Exception as err:  # noqa: BLE001 - a failed benchmark is reported, the others still run
        import traceback

        traceback.print_exc()
        section, status = Section(name, name, f"FAILED: {err!r}"), 1
    Path(out).write_text(json.dumps(section.to_json()))
    return status


def run_one(name: str, preset: str, log_dir: Path, timeout: float | None = None) -> tuple[dict, bool]:
    """Run benchmark ``name`` in its own process; its section, and whether it ran without error
    (and within ``timeout`` seconds)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, "-m", "benchmarks", "--child", name, "--json-out", out, "--preset", preset]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(HERE.parent)}
    log = log_dir / f"{name}.log"
    print(f"running {name} ... (log: {log})", flush=True)
    with log.open("w") as fh:
        try:
            done = subprocess.run(
                cmd,
                check=False,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=HERE.parent,
                timeout=timeout,
            )
            ok = done.returncode == 0
        except subprocess.TimeoutExpired:
            print(f"\n{name}: stopped after {timeout:.0f} s", file=fh)
            ok = False
    try:
        return json.loads(Path(out).read_text()), ok
    except (OSError, ValueError):
        return {
            "key": name,
            "title": name,
            "setup": f"FAILED: see {log}",
            "figures": [],
            "goals": [],
            "notes": [],
        }, False
    finally:
        Path(out).unlink(missing_ok=True)


def smoke(names: list[str], log_dir: Path) -> int:
    """Every benchmark in ``names`` at its toy size, in the lanes of SMOKE_LANES; a table of what
    they measured (meaningless at this size: printed, never stored), a line per benchmark, the log
    of each that failed. Returns the exit status: 1 if any failed."""
    from concurrent.futures import ThreadPoolExecutor

    from benchmarks.common import SMOKE, Section

    started = time.perf_counter()
    lanes = [[n for n in lane if n in names] for lane in SMOKE_LANES]
    lanes[-1] += [n for n in names if not any(n in lane for lane in SMOKE_LANES)]  # one new to NAMES

    def run_lane(lane: list[str]) -> dict[str, tuple[dict, bool, float]]:
        out = {}
        for name in lane:
            t0 = time.perf_counter()
            section, ok = run_one(name, SMOKE, log_dir, SMOKE_TIMEOUT_S)
            out[name] = section, ok, time.perf_counter() - t0
        return out

    with ThreadPoolExecutor(len(lanes)) as pool:
        runs = {name: run for lane in pool.map(run_lane, lanes) for name, run in lane.items()}
    print_table([runs[name][0] for name in names])
    print("\nsmoke pass (toy sizes: the figures above only show that the code ran):")
    problems = []
    for name in names:
        section, ok, seconds = runs[name]
        own = smoke_problems(name, section, ok, log_dir / f"{name}.log")
        problems += own
        state = "FAILED" if own else f"skipped: {section['skipped']}" if section.get("skipped") else "ok"
        line = f"{name}: {state}, {len(section['figures'])} figures, {seconds:.0f} s"
        if section["figures"]:
            f = Section.from_json(section).figures[0]
            line += f"; first: {f.name} = {f.value.median:.{f.digits}f} {f.unit}"
        print(line)
    seconds = time.perf_counter() - started
    if problems:
        print("\n".join(["", *problems]), file=sys.stderr, flush=True)
        print(f"\nsmoke: {len(names)} benchmark(s) in {seconds:.0f} s, FAILED (logs in {log_dir})")
        return 1
    shutil.rmtree(log_dir)
    print(f"\nsmoke: {len(names)} benchmark(s) in {seconds:.0f} s, all ran")
    return 0


def smoke_problems(name: str, section: dict, ok: bool, log: Path) -> list[str]:
    """Why a smoke run of ``name`` failed (its log's tail among them), or nothing."""
    if not ok:
        tail = log.read_text(errors="replace").splitlines()[-SMOKE_LOG_LINES:]
        return [f"{name} failed; the end of {log}:", *tail]
    if not section["figures"] and not section.get("skipped"):
        return [f"{name} ran but measured nothing: {section['setup']}"]
    return []


def print_table(sections: list[dict]) -> None:
    from benchmarks.common import Section

    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain aligned text
        for d in sections:
            s = Section.from_json(d)
            print(f"\n{s.title}")
            for f in s.figures:
                print(f"  {f.name:70s} {f.value.fmt(f.digits):>30s} {f.unit}")
            for g in s.goals:
                print(f"  GOAL {'met   ' if g.met else 'MISSED'} {g.text}: {g.detail}")
            if s.skipped:
                print(f"  skipped: {s.skipped}")
        return
    console = Console(width=160)
    for d in sections:
        s = Section.from_json(d)
        t = Table(title=s.title, title_justify="left", show_lines=False)
        for col, kw in (("figure", {}), ("median", {"justify": "right"}), ("spread (min-max)", {"justify": "right"}),
                        ("n", {"justify": "right"}), ("unit", {}), ("note", {"overflow": "fold"})):  # fmt: skip
            t.add_column(col, **kw)
        for f in s.figures:
            v = f.value
            spread = v.spread(f.digits)
            t.add_row(
                f.name,
                f"{v.median:.{f.digits}f}",
                spread,
                str(len(v.samples)),
                f.unit,
                f.note,
            )
        console.print(t)
        for g in s.goals:
            mark = (
                "[green]met[/green]"
                if g.met
                else ("[red]MISSED[/red]" if g.met is False else "n/a")
            )
            console.print(f"  goal {mark}: {g.text} -- {g.detail}")
        for n in s.notes:
            console.print(f"  note: {n}")
        if s.skipped:
            console.print(f"  skipped: {s.skipped}")


def render(results: dict) -> str:
    from benchmarks.common import Section

    lines = ["# Benchmarks", "",
             ("Generated by `python -m benchmarks` (see the README's Benchmarks section); not part of CI. "
              "Every figure is the median of repeats with its spread (min-max) and count; ratios are taken "
              "pairwise between neighbouring, interleaved repeats of the two sides."), ""]  # fmt: skip
    for key in NAMES:
        if key not in results["sections"]:
            continue
        run = results["sections"][key]
        s = Section.from_json(run["section"])
        lines += [f"## {s.title}", ""]
        m, v = run["machine"], run["versions"]
        lines.append(f"Run {run['date']} ({'--quick' if run['quick'] else 'full'}), {s.seconds:.0f} s. "
                     f"Machine: {m['cpu']}, {m['cores']} cores ({m['cpu_flags']}), {m['memory']} RAM, "
                     f"load average at start {m['load_at_start']}. "
                     + ", ".join(f"{k} {x}" for k, x in v.items()) + ".")  # fmt: skip
        lines += ["", s.setup, ""]
        if s.figures:
            lines += [
                "| figure | median | spread (min-max) | n | unit | note |",
                "| --- | ---: | ---: | ---: | --- | --- |",
            ]
            for f in s.figures:
                val = f.value
                spread = val.spread(f.digits)
                lines.append(
                    f"| {f.name} | {val.median:.{f.digits}f} | {spread} | {len(val.samples)} | {f.unit} | {f.note} |"
                )
            lines.append("")
        for g in s.goals:
            mark = "met" if g.met else ("**missed**" if g.met is False else "n/a")
            lines.append(f"- Goal {mark}: {g.text} ({g.detail})")
        for n in s.notes:
            lines.append(f"- {n}")
        lines.append("")
    lines += ["## Closing note", ""]
    missed = [(results["sections"][k]["section"]["title"], g) for k in NAMES if k in results["sections"]
              for g in results["sections"][k]["section"].get("goals", []) if g["met"] is False]  # fmt: skip
    if missed:
        lines += [
            f'- Missed: {g["text"]} ({g["detail"]}), in "{t}".' for t, g in missed
        ]
    else:
        lines.append("- Every goal measured here is met.")
    lines += ["", KEEP_START, results.get("reading", "").strip(), KEEP_END, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "names",
        nargs="*",
        choices=NAMES + [[]],
        metavar="NAME",
        help=f"any of {', '.join(NAMES)}",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats, smaller batches and sweeps (a few minutes)",
    )
    size.add_argument(
        "--smoke",
        action="store_true",
        help="every benchmark once at a toy size (CI); writes nothing, exits 1 if one fails",
    )
    p.add_argument(
        "--results",
        default=str(HERE / "RESULTS.md"),
        help="markdown report to (re)write",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    p.add_argument("--preset", default="full", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args.child, args.preset, args.json_out)

    from benchmarks.common import FULL, QUICK, SMOKE, machine, versions

    preset = SMOKE if args.smoke else QUICK if args.quick else FULL
    names = args.names or NAMES
    log_dir = Path(tempfile.mkdtemp(prefix="benchmarks-logs-"))
    if preset == SMOKE:
        return smoke(names, log_dir)

    started, done = time.perf_counter(), []
    store = Path(args.results).with_name("results.json")
    results = json.loads(store.read_text()) if store.is_file() else {"sections": {}}
    results_md = Path(args.results)
    if (
        results_md.is_file() and KEEP_START in results_md.read_text()
    ):  # hand-written reading of a run
        text = results_md.read_text()
        results["reading"] = text.split(KEEP_START, 1)[1].split(KEEP_END, 1)[0]
    info, vers = machine(), versions()
    for name in names:
        section, _ = run_one(name, preset, log_dir)
        results["sections"][name] = {
            "section": section, "machine": info, "versions": vers, "quick": preset == QUICK,
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        }  # fmt: skip
        done.append(section)
        store.write_text(json.dumps(results, indent=1))
        results_md.write_text(render(results))
    print_table(done)
    print(
        f"\n{len(done)} benchmark(s) in {time.perf_counter() - started:.0f} s; wrote {results_md} (logs in {log_dir})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
