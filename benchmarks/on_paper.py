"""On paper, from measured figures: the full-size step's images/s on an L4 and an H100, and the CPU
cores our input pipeline needs to keep up with them.

Images/s = the accelerator's dense peak x a stated utilisation / the step's live FLOPs per image
(benchmark 1's count, checked against oneDNN's in 1b). Cores = that rate / the pipeline's images/s
per core (benchmark 2, 224 px). Nothing here is measured on a GPU: benchmark 5 is.
"""

from __future__ import annotations

import re

from benchmarks.common import Stat

# Dense (no sparsity) peaks from NVIDIA's datasheets, TFLOP/s: float32 on the CUDA cores, and
# bf16/fp16 on the tensor cores (what mixed precision uses).
PEAKS = {
    "L4": {"float32": 30.3, "mixed": 121.0},
    "H100 SXM": {"float32": 67.0, "mixed": 989.4},
}
UTILISATION = 0.4  # of the dense peak: a stated assumption, typical of convnet training steps

_FLOPS = re.compile(r"^full \(224px.*\): (ours \((?:labels, default|teacher)\)) step GFLOP per image$")


def _median(figure: dict) -> float:
    return Stat(figure["value"]["samples"]).median


def estimate(sections: dict) -> list[str]:
    """Markdown lines of the estimate, or nothing when the step or pipeline figures are missing."""
    step, pipe = sections.get("step"), sections.get("pipeline")
    if not step or not pipe:
        return []
    flops = {}
    for f in step["section"]["figures"]:
        m = _FLOPS.match(f["name"])
        if m and "live" in f.get("note", ""):  # older runs counted the whole graph, dead ops included
            flops[m.group(1)] = _median(f) * 1e9
    ours = next((f for f in pipe["section"]["figures"] if f["name"].startswith("ours (make_dataset")), None)
    if not flops or ours is None:
        return []
    cores = int(pipe["machine"]["cores"])
    per_core = _median(ours) / cores
    lines = [
        "## On paper: the full-size step on an L4 and an H100",
        "",
        f"Generated from the step run of {step['date']} (live FLOPs per image at 224 px, width 1) and the "
        f"pipeline run of {pipe['date']} ({_median(ours):.0f} img/s on {cores} cores, {per_core:.0f} per core), "
        f"at an assumed {UTILISATION:.0%} of each accelerator's dense peak. Estimates, not measurements.",
        "",
        "| step | accelerator | precision | peak TFLOP/s | img/s at the stated utilisation | CPU cores to feed it |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for label, per_image in sorted(flops.items()):
        for gpu, peaks in PEAKS.items():
            for precision, peak in peaks.items():
                ips = peak * 1e12 * UTILISATION / per_image
                lines.append(
                    f"| {label}, {per_image / 1e9:.0f} GFLOP/img | {gpu} | {precision} | {peak:g} | "
                    f"{ips:.0f} | {ips / per_core:.1f} |"
                )
    lines.append("")
    return lines
