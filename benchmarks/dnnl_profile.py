"""A kernel-level profile of one training step from oneDNN's own log (``ONEDNN_VERBOSE=1``).

TensorFlow on x86 runs convolutions and matrix products through oneDNN, which, with
``ONEDNN_VERBOSE=1``, prints one line per kernel call with its problem shape and time. Run as
``python -m benchmarks.dnnl_profile SIZE WIDTH BATCH SIDE`` (SIDE: ours-teacher, ours-labels,
port) in a process that has that variable set; it traces the step, then marks two steps
whose kernel lines the parent sums: time and FLOPs per kernel kind, against the steps' wall time.
The rest of the wall time is spent outside oneDNN (TF's own element-wise ops, reductions,
batch-norm, the optimizers' updates, the executor and, for the port, Keras and numpy).

For ours the child also prints the live FLOPs of the same step per op type (``benchmarks.flops``,
from the traced graph, before the marked steps), so the caller can check the graph count against
the kernels oneDNN actually ran.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import defaultdict

START, END = "BENCH-PROFILE-START", "BENCH-PROFILE-END"
# Kernel kinds that carry FLOPs (the rest: reorders, pooling, eltwise, ...).
COMPUTE = ("convolution", "inner_product", "matmul", "gemm_api")
LIVE = "BENCH-LIVE-FLOPS"  # then JSON: {"live": {op type: FLOPs}, "graph": FLOPs} of one step
_CONV = re.compile(r"mb(\d+)_(?:g\d+)?ic(\d+)oc(\d+)_ih\d+oh(\d+)kh(\d+)\S*?_iw\d+ow(\d+)kw(\d+)")
_IP = re.compile(r"mb(\d+)ic(\d+)oc(\d+)")
_MM = re.compile(r"(\d+)x(\d+):(\d+)x(\d+)")


def flops_of(kind: str, desc: str) -> float:
    if kind == "convolution":
        m = _CONV.search(desc)
        if m:
            mb, ic, oc, oh, kh, ow, kw = map(int, m.groups())
            return 2.0 * mb * ic * oc * oh * ow * kh * kw
    elif kind == "inner_product":
        m = _IP.search(desc)
        if m:
            mb, ic, oc = map(int, m.groups())
            return 2.0 * mb * ic * oc
    elif kind in ("matmul", "gemm_api"):  # gemm_api: dnnl_sgemm, e.g. TF's transposed MatMuls
        m = _MM.search(desc)
        if m:
            a, k, _, n = map(int, m.groups())
            return 2.0 * a * k * n
    return 0.0


def parse(text: str) -> dict:
    inside, wall, flops = False, None, None
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: {"ms": 0.0, "calls": 0, "gflop": 0.0})
    for line in text.splitlines():
        if line.startswith(LIVE):
            flops = json.loads(line[len(LIVE) :])
        elif line.startswith(START):
            inside = True
        elif line.startswith(END):
            wall = float(line.split()[1])
            inside = False
        elif inside and line.startswith("onednn_verbose") and ",exec," in line:
            f = line.split(",")
            kind, prop = f[5], f[7]
            key = f"{kind} {prop}" if kind in COMPUTE else kind
            k = kinds[key]
            k["ms"] += float(f[-1])
            k["calls"] += 1
            k["gflop"] += flops_of(kind, f[-2]) / 1e9
    return {"wall_ms": (wall or 0.0) * 1000, "kinds": dict(kinds), "flops": flops}


def measure(size: int, width: float, batch: int, side: str, steps: int = 2) -> dict:
    """Run the child with oneDNN's log on and return the parsed profile of ``steps`` steps (with,
    for ours, ``flops``: the step's live FLOPs per op type and its whole graph's count)."""
    import os

    env = {**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.dnnl_profile",
        str(size),
        str(width),
        str(batch),
        side,
        str(steps),
    ]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited with {out.returncode}:\n{out.stderr[-5000:]}")
    profile = parse(out.stdout)
    profile["steps"] = steps
    return profile


def _child(size: int, width: float, batch: int, side: str, steps: int) -> None:
    import tempfile
    from pathlib import Path

    import keras

    from benchmarks import flops, step

    batches = step.real_batches(size, batch, 2)
    with tempfile.TemporaryDirectory(prefix="bench-prof-") as tmp:
        teacher = None
        if side != "ours-labels":
            teacher = str(Path(tmp) / "vgg16.weights.h5")
            keras.applications.VGG16(weights=None).save_weights(teacher)
        if side == "port":
            s = step.build_port(size, width, batch, 1000, teacher)
        elif side in ("ours-teacher", "ours-labels"):
            s = step.build_ours(size, width, batch, 1000, "teacher" if teacher else "labels", teacher)
        else:
            raise SystemExit(f"unknown side {side!r}")
    if s.step is not None:
        # Traced from the same shapes as the calls below, so it is the graph they run; tracing runs
        # no kernels, and it is printed before START.
        graph = flops.concrete_graph(s.step, batches[0])
        live = flops.flops_by_op(graph, live=True)
        total = sum(flops.flops_by_op(graph, live=False).values())
        print(LIVE, json.dumps({"live": live, "graph": total}), flush=True)
    for i in range(2):
        s.run(batches[i])
    sys.stdout.flush()
    print(START, flush=True)
    t = time.perf_counter()
    for i in range(steps):
        s.run(batches[i % 2])
    sys.stdout.flush()
    print(END, time.perf_counter() - t, flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    _child(int(a[0]), float(a[1]), int(a[2]), a[3], int(a[4]) if len(a) > 4 else 2)
