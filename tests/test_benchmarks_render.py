"""RESULTS.md's rendering: hand readings only under the run they were written about, the 95% CI
column, the load flag, and ``--reading`` storing a reading (no benchmark runs, no TensorFlow)."""

import json

from benchmarks.__main__ import main, render
from benchmarks.common import Figure, Section, Stat

DATE, OLD = "2026-12-01T10:00:00+00:00", "2026-11-01T10:00:00+00:00"


def _results(load="0.50 0.40 0.30", **run_extra) -> dict:
    s = Section("pipeline", "2. Input pipeline", "setup text")
    s.figures.append(Figure("ours / decode-only", Stat([0.4, 0.5, 0.6], (0.42, 0.58)), "x", digits=2))
    s.figures.append(Figure("ours", Stat([100.0]), "img/s"))
    run = {
        "section": s.to_json(),
        "date": DATE,
        "quick": False,
        "versions": {"python": "3.11"},
        "machine": {"cpu": "cpu", "cores": "2", "cpu_flags": "avx2", "memory": "8 GiB", "load_at_start": load},
        **run_extra,
    }
    return {"sections": {"pipeline": run}}


def test_reading_of_the_current_run_is_rendered():
    r = _results()
    r["readings"] = {"pipeline": {"run": DATE, "text": "Hand text about this run."}}
    md = render(r)
    assert f"Reading of the run of {DATE}" in md and "Hand text about this run." in md


def test_reading_of_an_older_run_is_dropped_with_a_line():
    r = _results()
    r["readings"] = {"pipeline": {"run": OLD, "text": "Stale hand text."}}
    md = render(r)
    assert "Stale hand text." not in md
    assert f"A hand reading of the run of {OLD} was dropped" in md


def test_ci_column_and_old_entries_without_interval():
    r = _results()
    del r["sections"]["pipeline"]["section"]["figures"][0]["value"]["interval"]  # an entry from before CIs
    assert "| 0.50 | 0.40-0.60 |  | 3 |" in render(r)
    md = render(_results())
    assert "| figure | median | spread (min-max) | 95% CI | n | unit | note |" in md
    assert "| 0.42-0.58 (n<10) | 3 |" in md


def test_load_flag_is_rendered_loudly():
    md = render(_results(load_flag="load average 3.10 at start on 2 cores: busy"))
    assert "**Warning: load average 3.10 at start on 2 cores: busy" in md
    # A run from before the check: the recorded load above the cores is flagged too.
    assert "**Warning: load average 4.76 at start on 2 cores" in render(_results(load="4.76 4.00 3.00"))
    assert "Warning" not in render(_results())


def test_reading_cli_stores_the_reading_for_the_current_run(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(_results()))
    text = tmp_path / "reading.md"
    text.write_text("Read by hand.\n")
    md = tmp_path / "RESULTS.md"
    assert main(["--reading", "pipeline", str(text), "--results", str(md)]) == 0
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["readings"]["pipeline"] == {"run": DATE, "text": "Read by hand.\n"}
    assert "Read by hand." in md.read_text()


def _repo(tmp_path):
    """A git repository holding the pipeline benchmark and the module it imports; its first commit."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "colorize_core" / "data").mkdir(parents=True)
    (tmp_path / "benchmarks" / "pipeline.py").write_text("from colorize_core.data.pipeline import make_dataset\n")
    (tmp_path / "benchmarks" / "common.py").write_text("")
    (tmp_path / "colorize_core" / "data" / "pipeline.py").write_text("def make_dataset(): ...\n")
    (tmp_path / "colorize_core" / "data" / "lab.py").write_text("")
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "x", "--allow-empty")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    return git, git("rev-parse", "HEAD").strip()


def test_each_section_names_its_command_and_commit_and_says_when_its_code_changed_since(tmp_path):
    git, first = _repo(tmp_path)
    run = {"command": "python -m benchmarks pipeline --quick", "commit": first, "dirty": False}
    md = render(_results(**run), root=tmp_path)
    assert f"Command: `python -m benchmarks pipeline --quick` at commit {first[:10]}." in md
    assert "Stale" not in md

    (tmp_path / "colorize_core" / "data" / "lab.py").write_text("# a module the benchmark does not import\n")
    assert "Stale" not in render(_results(**run), root=tmp_path)
    (tmp_path / "colorize_core" / "data" / "pipeline.py").write_text("def make_dataset(): return 1\n")
    stale = "**Stale: changed since this run: colorize_core/data/pipeline.py.**"
    assert stale in render(_results(**run), root=tmp_path)  # uncommitted counts too
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "second")
    assert stale in render(_results(**run), root=tmp_path)
    now = git("rev-parse", "HEAD").strip()
    assert "Stale" not in render(_results(**{**run, "commit": now}), root=tmp_path)


def test_a_run_recorded_before_commits_were_says_so():
    assert "Commit and command not recorded" in render(_results())
