"""``python -m benchmarks --smoke``: every benchmark's code runs (at a toy size), so the benchmarks
cannot rot unnoticed, and the smoke pass leaves the recorded results alone."""

import hashlib
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import NAMES

pytestmark = pytest.mark.e2e  # starts Ray, a server or a real training run: `make test`, not `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
RECORDED = [ROOT / "benchmarks" / "RESULTS.md", ROOT / "benchmarks" / "results.json"]


def _fingerprint(path: Path) -> tuple[float, str] | None:
    if not path.is_file():
        return None
    return path.stat().st_mtime, hashlib.sha256(path.read_bytes()).hexdigest()


def test_smoke_pass_runs_every_benchmark_and_writes_nothing():
    before = {p: _fingerprint(p) for p in RECORDED}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        check=False,
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-20000:]
    # One line per benchmark: "NAME: ok, N figures, S s; first: FIGURE = VALUE UNIT" (or skipped).
    for name in NAMES:
        line = re.search(rf"^{name}: (ok|skipped: .+?), (\d+) figures, \d+ s(.*)$", done.stdout, re.MULTILINE)
        assert line, f"no summary line for {name}:\n{done.stdout[-5000:]}"
        if line.group(1) == "ok":
            value = re.fullmatch(r"; first: .+ = (\S+) \S*", line.group(3))
            assert int(line.group(2)) > 0 and value and math.isfinite(float(value.group(1))), line.group(0)
    if not re.search(r"^gpu: ok", done.stdout, re.MULTILINE):
        assert re.search(r"^gpu: skipped: no GPU,", done.stdout, re.MULTILINE)
    assert {p: _fingerprint(p) for p in RECORDED} == before
