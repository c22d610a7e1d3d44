"""Benchmark 1b: where the training step's time goes, kernel by kernel (oneDNN's log).

For ours (teacher) and the reference at both sizes, a separate process runs two steps (one at full
size) with ``ONEDNN_VERBOSE=1``; ``benchmarks.dnnl_profile`` sums its kernel lines. Kernel times
can overlap (TensorFlow runs independent kernels side by side), so shares are of summed kernel
time; conv FLOPs over the step's wall time bound what any implementation of the same work gets.
"""

from __future__ import annotations

import time

from benchmarks.common import FULL, QUICK, SMOKE, Section

# preset: {name: (image_size, width, batch, profiled steps)}, and the sides profiled at each
CASES = {
    FULL: {"small": (64, 0.25, 16, 2), "full": (224, 1.0, 8, 1)},
    QUICK: {"small": (64, 0.25, 16, 1), "full": (224, 1.0, 4, 1)},
    SMOKE: {"tiny": (32, 0.125, 2, 1)},
}
SIDES = {
    FULL: ("ours-teacher", "reference"),
    QUICK: ("ours-teacher", "reference"),
    # The cheapest side (no VGG16 teacher): the step benchmark builds the other two.
    SMOKE: ("ours-labels",),
}


def run(preset: str = FULL) -> Section:
    from benchmarks.dnnl_profile import measure

    section = Section(
        "profile",
        "1b. Step profile: oneDNN kernels of ours (teacher) and the reference",
        "ONEDNN_VERBOSE=1 in a separate process per side and size; the steps' wall time vs the kernels' "
        "summed time and FLOPs (convolutions and inner products; FLOPs from the kernels' shapes).",
    )
    started = time.perf_counter()
    for name, (size, width, batch, steps) in CASES[preset].items():
        for side in SIDES[preset]:
            p = measure(size, width, batch, side, steps)
            tag = f"{name} ({size}px, batch {batch}) {side}"
            wall = p["wall_ms"] / steps
            kinds = {
                k: {kk: vv / steps for kk, vv in v.items()}
                for k, v in p["kinds"].items()
            }
            summed = sum(v["ms"] for v in kinds.values())
            section.add(
                f"{tag}: step wall",
                [wall],
                "ms",
                f"{batch * 1000 / wall:.2f} img/s" if wall else "",
                0,
            )
            conv = {k: v for k, v in kinds.items() if k.startswith("convolution")}
            conv_ms = sum(v["ms"] for v in conv.values())
            conv_gf = sum(v["gflop"] for v in conv.values())
            section.add(f"{tag}: conv FLOPs / step wall", [conv_gf / max(wall, 1e-9) * 1000], "GFLOP/s",
                        "the step's conv work at its wall-clock rate", 0)  # fmt: skip
            section.add(f"{tag}: conv kernels", [conv_ms], "ms",
                        f"{conv_ms / max(summed, 1e-9):.0%} of kernel time; {conv_gf:.0f} GFLOP at "
                        f"{conv_gf / max(conv_ms, 1e-9) * 1000:.0f} GFLOP/s", 0)  # fmt: skip
            for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]["ms"]):
                if v["ms"] < 0.02 * summed:
                    continue
                rate = (
                    f"{v['gflop'] / max(v['ms'], 1e-9) * 1000:.0f} GFLOP/s"
                    if v["gflop"]
                    else ""
                )
                section.add(
                    f"{tag}:   {k}",
                    [v["ms"]],
                    "ms",
                    f"{v['calls']:.0f} calls {rate}",
                    0,
                )
            section.add(f"{tag}: summed kernel time / step wall", [summed / max(wall, 1e-9)], "x",
                        "above 1: kernels overlap (TF runs independent ones side by side on the 2 cores)", 2)  # fmt: skip
    section.seconds = time.perf_counter() - started
    return section
