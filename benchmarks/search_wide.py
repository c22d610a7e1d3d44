"""Benchmark 3b: benchmark 3 with 16 trials, so that TPE leaves its 10 random start-up trials
(``sweeps.plan.TPE_STARTUP_TRIALS``) and its last 6 are model-based: the figure is TPE's and
ASHA's together, where benchmark 3's (4 trials, the spec's own) is ASHA's alone. Same fast trial and
10 seeds; 4x benchmark 3's trials, so about 4x its time (close to two hours on 2 cores at 10 s a trace).
"""

from __future__ import annotations

from benchmarks import search
from benchmarks.common import FULL, QUICK, SMOKE

TRIALS = {FULL: 16, QUICK: 12, SMOKE: 2}


def run(preset: str = FULL):
    if preset == SMOKE:  # a minute more of the smoke pass's two, for code that search's smoke runs
        return search.set_up_only(preset, TRIALS[preset], "; they would run search's code again")
    return search.run(preset, trials=TRIALS[preset])
