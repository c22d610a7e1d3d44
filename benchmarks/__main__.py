"""``python -m benchmarks [NAME ...] [--quick | --smoke] [--allow-load]``: run the benchmarks, print a
table, write RESULTS.md.

Names: step, profile, pipeline, search, search_wide, orchestration, gpu, host_sync (default: all).
Each benchmark runs in its own
Python process (TensorFlow, Ray and memory start clean), hands its figures back as JSON, and the
results are merged into ``benchmarks/results.json``, so running one benchmark updates its section
of ``benchmarks/RESULTS.md`` and keeps the others. The figures are not part of CI's pass/fail;
``--smoke`` is: every benchmark's code once at a toy size (about 3 minutes on 2 cores), nothing
written, exit status 1 if any benchmark failed, with its log.

A full or quick run refuses to start a benchmark (exit status 2) while the machine's 1-minute load
is above its core count; ``--allow-load`` runs it anyway and flags its section. Hand-written readings
are tied to one run of one section: ``python -m benchmarks --reading KEY FILE`` attaches FILE's text
to KEY's current run (``_general`` for a dated note at the end), and a reading is no longer printed
once its section has been re-run.
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
NAMES = ["step", "profile", "pipeline", "search", "search_wide", "orchestration", "gpu", "host_sync"]
GENERAL = "_general"  # readings key of the dated hand note at the end of RESULTS.md
SMOKE_LOG_LINES = 150  # of a failed benchmark's log, printed by --smoke
SMOKE_TIMEOUT_S = 240  # a benchmark still running after this long in --smoke is stopped and failed
# --smoke runs these side by side, each lane one benchmark after another: the sweeps (each starts
# a Ray cluster) in one lane, never two at once; the lanes take about as long as each other.
SMOKE_LANES = (("search", "orchestration", "search_wide", "pipeline"), ("step", "gpu", "host_sync", "profile"))


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


def load_warning(run: dict) -> str:
    """The loud line a section's run carries when the load at its start was above the core count:
    the flag ``--allow-load`` stored, or, for a run from before the load check, one read from the
    load average it recorded. Empty when the load was within the cores, or nothing was measured."""
    if not run.get("section", {}).get("figures"):  # a skipped section has no timings to taint
        return ""
    if run.get("load_flag"):
        return f"Warning: {run['load_flag']} (run with --allow-load)."
    m = run.get("machine", {})
    try:
        load, cores = float(m["load_at_start"].split()[0]), int(m["cores"])
    except (KeyError, ValueError, IndexError):
        return ""
    if load <= cores:
        return ""
    return (
        f"Warning: load average {load:.2f} at start on {cores} cores: timings shared the machine with "
        "other work (this run predates the load check, so it was neither refused nor flagged then)."
    )


def _ci_cell(v) -> str:
    from benchmarks.common import MIN_PAIRS

    ci = v.ci(2)
    # An interval from a handful of pairs is rough; the reader should see that in the cell.
    return f"{ci} (n<{MIN_PAIRS})" if ci and len(v.samples) < MIN_PAIRS else ci


def print_table(sections: list[dict], runs: list[dict] | None = None) -> None:
    """Print sections (and, where ``runs`` is given, each run's load warning under its title)."""
    from benchmarks.common import Section

    warnings = [load_warning(r) for r in runs] if runs else [""] * len(sections)
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:  # plain aligned text
        for d, warn in zip(sections, warnings):
            s = Section.from_json(d)
            print(f"\n{s.title}")
            if warn:
                print(f"  !!! {warn.upper()}")
            for f in s.figures:
                print(f"  {f.name:70s} {f.value.fmt(f.digits):>40s} {f.unit}")
            for g in s.goals:
                print(f"  GOAL {'met   ' if g.met else 'MISSED'} {g.text}: {g.detail}")
            if s.skipped:
                print(f"  skipped: {s.skipped}")
        return
    console = Console(width=160)
    for d, warn in zip(sections, warnings):
        s = Section.from_json(d)
        t = Table(
            title=s.title,
            title_justify="left",
            show_lines=False,
            caption=escape(warn) if warn else None,
            caption_justify="left",
            caption_style="bold red",
        )
        for col, kw in (
            ("figure", {}),
            ("median", {"justify": "right"}),
            ("spread (min-max)", {"justify": "right"}),
            ("95% CI", {"justify": "right"}),
            ("n", {"justify": "right"}),
            ("unit", {}),
            ("note", {"overflow": "fold"}),
        ):
            t.add_column(col, **kw)
        if warn:  # above the table too, so it is seen before the figures
            console.print(f"[bold red]{escape(warn)}[/bold red]")
        for f in s.figures:
            v = f.value
            t.add_row(
                f.name, f"{v.median:.{f.digits}f}", v.spread(f.digits), _ci_cell(v), str(len(v.samples)), f.unit, f.note
            )
        console.print(t)
        for g in s.goals:
            mark = "[green]met[/green]" if g.met else ("[red]MISSED[/red]" if g.met is False else "n/a")
            console.print(f"  goal {mark}: {g.text} -- {g.detail}")
        for n in s.notes:
            console.print(f"  note: {n}")
        if s.skipped:
            console.print(f"  skipped: {s.skipped}")


def header() -> list[str]:
    from benchmarks.common import MIN_PAIRS

    return [
        "# Benchmarks",
        "",
        (
            "Generated by `python -m benchmarks` from `results.json` (see the README's Benchmarks section); "
            "not part of CI. Each section is the latest run of one benchmark, with its date, machine, versions "
            "and the load average recorded at its start; sections can come from different runs and machines. "
            "Every figure is the median of its repeats, with their spread (min-max) and count n; n=1 is one "
            "measurement, with no spread. Where two sides are compared, their repeats are interleaved "
            "(a, b, a, b, ...) and ratios are taken pair by pair, each pair from neighbouring repeats. The "
            "95% CI column is a percentile bootstrap of the median of such paired ratios (pairs resampled "
            f"together); it is empty where a figure has none, and marked n<{MIN_PAIRS} where it rests on fewer "
            f"than {MIN_PAIRS} pairs, which makes it rough. A benchmark is refused when the 1-minute load "
            "average at its start is above the core count, unless run with `--allow-load`, which puts a "
            "warning under its title; runs from before that check carry the same warning when the load they "
            "recorded was above the cores. Goal lines and the closing note are generated from the figures; "
            "text written by hand is printed only under the run it was written about, with that run's date."
        ),
        "",
    ]


def summary_line(s) -> str:
    """One generated line on what a section's figures can bear."""
    if not s.figures and not s.goals:
        return ""
    met = sum(g.met is True for g in s.goals)
    missed = sum(g.met is False for g in s.goals)
    na = sum(g.met is None for g in s.goals)
    single = sum(len(f.value.samples) == 1 for f in s.figures)
    with_ci = sum(f.value.interval is not None for f in s.figures)
    parts = []
    if s.goals:
        parts.append(f"goals {met} met, {missed} missed" + (f", {na} not measurable" if na else ""))
    if s.figures:
        parts.append(f"{single} of {len(s.figures)} figures are a single measurement (n=1)")
        parts.append(f"{with_ci} carry a 95% CI")
    return "- Summary (generated from this run): " + "; ".join(parts) + "."


def provenance_lines(key: str, run: dict, root: Path) -> list[str]:
    """The command and commit of a section's run, and whether what it measured has changed since."""
    from benchmarks.provenance import changed_since, dependencies

    commit = run.get("commit")
    if not commit:
        return ["_Commit and command not recorded (run before they were); whether it is stale is unknown._", ""]
    dirty = " with uncommitted changes" if run.get("dirty") else ""
    lines = [f"Command: `{run.get('command', '?')}` at commit {commit[:10]}{dirty}.", ""]
    files = dependencies(key, root)
    changed = changed_since(commit, files, root)
    if changed is None:
        lines += [f"_Whether it is stale is unknown: git here does not know commit {commit[:10]}._", ""]
    elif changed:
        lines += [f"**Stale: changed since this run: {', '.join(changed)}.** Re-run it to refresh.", ""]
    return lines


def render(results: dict, root: Path = HERE.parent) -> str:
    from benchmarks.common import Section

    lines = header()
    readings = results.get("readings", {})
    for key in NAMES:
        if key not in results["sections"]:
            continue
        run = results["sections"][key]
        s = Section.from_json(run["section"])
        lines += [f"## {s.title}", ""]
        warn = load_warning(run)
        if warn:
            lines += [f"**{warn}**", ""]
        m, v = run["machine"], run["versions"]
        clock = f", {m['clock']}" if m.get("clock") else ""
        during = f", during {run['load_during']}" if run.get("load_during") else ""
        lines.append(
            f"Run {run['date']} ({'--quick' if run['quick'] else 'full'}), {s.seconds:.0f} s. "
            f"Machine: {m['cpu']}, {m['cores']} cores{clock} ({m['cpu_flags']}), {m['memory']} RAM, "
            f"load average at start {m['load_at_start']}{during}. " + ", ".join(f"{k} {x}" for k, x in v.items()) + "."
        )
        lines += ["", *provenance_lines(key, run, root), s.setup, ""]
        if s.figures:
            lines += [
                "| figure | median | spread (min-max) | 95% CI | n | unit | note |",
                "| --- | ---: | ---: | ---: | ---: | --- | --- |",
            ]
            for f in s.figures:
                val = f.value
                lines.append(
                    f"| {f.name} | {val.median:.{f.digits}f} | {val.spread(f.digits)} | {_ci_cell(val)} "
                    f"| {len(val.samples)} | {f.unit} | {f.note} |"
                )
            lines.append("")
        for g in s.goals:
            mark = "met" if g.met else ("**missed**" if g.met is False else "n/a")
            lines.append(f"- Goal {mark}: {g.text} ({g.detail})")
        for n in s.notes:
            lines.append(f"- {n}")
        summary = summary_line(s)
        if summary:
            lines.append(summary)
        lines.append("")
        reading = readings.get(key)
        if reading and reading.get("run") == run["date"]:
            lines += [
                f"**Reading of the run of {run['date']}** (written by hand; dropped when this section is re-run)",
                "",
                reading["text"].strip(),
                "",
            ]
        elif reading:
            # A reading of an older run would contradict the new figures: say it existed, print none of it.
            lines += [
                f"_A hand reading of the run of {reading.get('run', '?')} was dropped: this section was "
                f"re-run on {run['date']}._",
                "",
            ]
    from benchmarks.on_paper import estimate

    lines += estimate(results["sections"])
    lines += closing(results)
    general = readings.get(GENERAL)
    if general and general.get("text", "").strip():
        lines += ["", f"## Note written by hand on {general.get('date', '?')}", "", general["text"].strip()]
    lines.append("")
    return "\n".join(lines)


def closing(results: dict) -> list[str]:
    """The closing note: every missed goal, which sections ran on a loaded machine, and on which
    machines the sections were measured, all from the recorded runs."""
    secs = results["sections"]
    keys = [k for k in NAMES if k in secs]
    lines = ["## Closing note", ""]
    missed = [
        (secs[k]["section"]["title"], g) for k in keys for g in secs[k]["section"].get("goals", []) if g["met"] is False
    ]
    if missed:
        lines += [f'- Missed: {g["text"]} ({g["detail"]}), in "{t}".' for t, g in missed]
    else:
        lines.append("- Every goal measured here is met.")
    loaded = [k for k in keys if load_warning(secs[k])]
    if loaded:
        lines.append(
            f"- Load at start above the core count: {', '.join(loaded)}; their absolute rates are "
            "not those of a quiet machine."
        )
    machines: dict[str, list[str]] = {}
    for k in keys:
        m = secs[k]["machine"]
        machines.setdefault(f"{m['cpu']} ({m['cpu_flags']})", []).append(f"{k} {secs[k]['date'][:10]}")
    if len(machines) > 1:
        lines.append(
            "- Sections come from different machines, so absolute rates across them are not comparable: "
            + "; ".join(f"{cpu}: {', '.join(ks)}" for cpu, ks in machines.items())
            + "."
        )
    return lines


def attach_reading(store: Path, key: str, text: str) -> dict:
    """Store ``text`` as the hand reading of ``key``'s current run (or, for ``_general``, as a note
    dated now) in ``store``; returns the results."""
    results = json.loads(store.read_text()) if store.is_file() else {"sections": {}}
    if key == GENERAL:
        entry = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "text": text}
    elif key in results["sections"]:
        entry = {"run": results["sections"][key]["date"], "text": text}
    else:
        raise KeyError(
            f"no recorded run of {key!r} to attach a reading to (recorded: "
            f"{', '.join(results['sections']) or 'none'}; or {GENERAL})"
        )
    results.setdefault("readings", {})[key] = entry
    store.write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", choices=NAMES + [[]], metavar="NAME", help=f"any of {', '.join(NAMES)}")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer repeats, smaller batches and sweeps (a few minutes)")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="every benchmark once at a toy size (CI); writes nothing, exits 1 if one fails",
    )
    p.add_argument(
        "--allow-load", action="store_true", help="run even when the load is above the core count, and flag the section"
    )
    p.add_argument(
        "--reading",
        nargs=2,
        metavar=("KEY", "FILE"),
        help=f"attach FILE's text as the hand reading of KEY's current run ({GENERAL}: a dated note "
        "at the end), re-render, run nothing",
    )
    p.add_argument(
        "--results", default=str(HERE / "RESULTS.md"), help="markdown report to (re)write; results.json is its sibling"
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    p.add_argument("--preset", default="full", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args.child, args.preset, args.json_out)

    results_md = Path(args.results)
    store = results_md.with_name("results.json")
    if args.reading:
        key, file = args.reading
        try:
            results = attach_reading(store, key, Path(file).read_text())
        except KeyError as err:
            p.error(err.args[0])
        results_md.write_text(render(results))
        print(f"reading of {key} stored in {store}; wrote {results_md}")
        return 0

    from benchmarks.common import FULL, QUICK, SMOKE, MachineBusy, check_load, machine, versions
    from benchmarks.provenance import LoadWatch, code_state, command_line

    preset = SMOKE if args.smoke else QUICK if args.quick else FULL
    names = args.names or NAMES
    log_dir = Path(tempfile.mkdtemp(prefix="benchmarks-logs-"))
    if preset == SMOKE:
        return smoke(names, log_dir)

    started, done, runs = time.perf_counter(), [], []
    results = json.loads(store.read_text()) if store.is_file() else {"sections": {}}
    results.pop("reading", None)  # the old kept reading; readings now belong to one run each
    vers = versions()
    for name in names:
        try:
            flag = check_load(args.allow_load)
        except MachineBusy as err:
            print(f"not running {name}: {err}", file=sys.stderr)
            if done:
                print_table(done, runs)
            return 2
        info = machine()  # per benchmark, so the load recorded is this benchmark's start
        with LoadWatch() as load:
            section, _ = run_one(name, preset, log_dir)
        run = {
            "section": section,
            "machine": info,
            "versions": vers,
            "quick": preset == QUICK,
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": command_line(argv),
            "load_during": load.summary(),
            **code_state(),
        }
        if flag:
            run["load_flag"] = flag
        results["sections"][name] = run
        done.append(section)
        runs.append(run)
        store.write_text(json.dumps(results, indent=1))
        results_md.write_text(render(results))
    print_table(done, runs)
    print(
        f"\n{len(done)} benchmark(s) in {time.perf_counter() - started:.0f} s; wrote {results_md} (logs in {log_dir})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
