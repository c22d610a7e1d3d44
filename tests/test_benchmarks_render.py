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
