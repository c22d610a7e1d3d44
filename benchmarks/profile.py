"""Benchmark 1b: where the training step's time goes, kernel by kernel (oneDNN's log).

For ours (teacher) and the port at both sizes, a separate process runs two steps (one at full
size) with ``ONEDNN_VERBOSE=1``; ``benchmarks.dnnl_profile`` sums its kernel lines. Kernel times
can overlap (TensorFlow runs independent kernels side by side), so shares are of summed kernel
time; conv FLOPs over the step's wall time bound what any implementation of the same work gets.

For ours, the live FLOPs that ``benchmarks.flops`` counts on the step's graph (the figure the step
benchmark reports) are checked against the kernels oneDNN ran: the graph's conv and MatMul ops
against oneDNN's convolution, inner-product, matmul and gemm kernels. They must agree within
``TOLERANCE``, else the section fails: a wrong count would mislead every FLOP rate downstream.
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
TOLERANCE = 0.05  # |live graph count / oneDNN's count - 1| allowed

SIDES = {
    FULL: ("ours-teacher", "port"),
    QUICK: ("ours-teacher", "port"),
    # The cheapest side (no VGG16 teacher): the step benchmark builds the other two.
    SMOKE: ("ours-labels",),
}


class FlopMismatch(AssertionError):
    """The step's live FLOP count disagrees with the kernels oneDNN ran."""


def check_flops(section: Section, tag: str, p: dict, batch: int, steps: int) -> None:
    """Add the live graph count against oneDNN's, per step; raise ``FlopMismatch`` beyond
    ``TOLERANCE``."""
    from benchmarks.dnnl_profile import COMPUTE
    from benchmarks.flops import ONEDNN_OPS

    live = p["flops"]["live"]
    graph_gf = sum(v for k, v in live.items() if k in ONEDNN_OPS) / 1e9
    dnnl_gf = sum(v["gflop"] for k, v in p["kinds"].items() if k.split()[0] in COMPUTE) / steps
    ratio = graph_gf / max(dnnl_gf, 1e-12)
    section.add(
        f"{tag}: live GFLOP per image (all ops)",
        [sum(live.values()) / batch / 1e9],
        "GFLOP",
        f"whole traced graph, dead ops included: {p['flops']['graph'] / batch / 1e9:.2f}",
        2,
    )
    section.add(
        f"{tag}: live conv+MatMul GFLOP per step",
        [graph_gf],
        "GFLOP",
        "the graph's Conv2D/backprop/MatMul ops that run",
        2,
    )
    section.add(
        f"{tag}: oneDNN conv+IP+matmul GFLOP per step",
        [dnnl_gf],
        "GFLOP",
        "from the kernels' shapes in oneDNN's log",
        2,
    )
    section.add(f"{tag}: live / oneDNN FLOPs", [ratio], "x", f"must be within {TOLERANCE:.0%} of 1", 3)
    if abs(ratio - 1) > TOLERANCE:
        by_op = ", ".join(f"{k} {v / 1e9:.2f}" for k, v in sorted(live.items()) if k in ONEDNN_OPS)
        by_kind = ", ".join(f"{k} {v['gflop'] / steps:.2f}" for k, v in sorted(p["kinds"].items()) if v["gflop"])
        raise FlopMismatch(
            f"{tag}: live graph count {graph_gf:.2f} GFLOP per step vs oneDNN's {dnnl_gf:.2f} "
            f"({ratio:.3f}x); graph: {by_op}; oneDNN: {by_kind}"
        )


def run(preset: str = FULL) -> Section:
    from benchmarks.dnnl_profile import measure

    section = Section(
        "profile",
        "1b. Step profile: oneDNN kernels of ours (teacher) and the port",
        "ONEDNN_VERBOSE=1 in a separate process per side and size; the steps' wall time vs the kernels' "
        "summed time and FLOPs (convolutions, inner products and matmuls; FLOPs from the kernels' shapes). "
        "For ours, the step's live FLOP count (its graph's ops that run) is checked against oneDNN's.",
    )
    started = time.perf_counter()
    for name, (size, width, batch, steps) in CASES[preset].items():
        for side in SIDES[preset]:
            p = measure(size, width, batch, side, steps)
            tag = f"{name} ({size}px, batch {batch}) {side}"
            wall = p["wall_ms"] / steps
            kinds = {k: {kk: vv / steps for kk, vv in v.items()} for k, v in p["kinds"].items()}
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
            section.add(
                f"{tag}: conv FLOPs / step wall",
                [conv_gf / max(wall, 1e-9) * 1000],
                "GFLOP/s",
                "the step's conv work at its wall-clock rate",
                0,
            )
            section.add(
                f"{tag}: conv kernels",
                [conv_ms],
                "ms",
                f"{conv_ms / max(summed, 1e-9):.0%} of kernel time; {conv_gf:.0f} GFLOP at "
                f"{conv_gf / max(conv_ms, 1e-9) * 1000:.0f} GFLOP/s",
                0,
            )
            for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]["ms"]):
                if v["ms"] < 0.02 * summed:
                    continue
                rate = f"{v['gflop'] / max(v['ms'], 1e-9) * 1000:.0f} GFLOP/s" if v["gflop"] else ""
                section.add(
                    f"{tag}:   {k}",
                    [v["ms"]],
                    "ms",
                    f"{v['calls']:.0f} calls {rate}",
                    0,
                )
            section.add(
                f"{tag}: summed kernel time / step wall",
                [summed / max(wall, 1e-9)],
                "x",
                "above 1: kernels overlap (TF runs independent ones side by side on the 2 cores)",
                2,
            )
            if side.startswith("ours"):
                check_flops(section, tag, p, batch, steps)
    section.seconds = time.perf_counter() - started
    return section
