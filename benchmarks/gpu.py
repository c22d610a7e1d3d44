"""Benchmark 5: the full-size step on one GPU, ours against the port, in at most 8 minutes.

``python -m benchmarks gpu``: ours and the reference's training loop ported to Keras 3 (both from
``benchmarks.step``, same networks, the VGG16 teacher on both sides) at 224 px, width 1, batch 10
and 32, float32 and mixed_float16, XLA off on both sides and then on both. Each comparison is
paired and interleaved as in benchmark 1 (10 repeats of 3 steps per side after 3 warm-up steps,
every loss read back to the host each step). Then our default step (no teacher) fed by the real
input pipeline against the same step on in-memory batches: whether the pipeline keeps the GPU busy.

The 8-minute budget is enforced: cases run most important first, and a case that would start
after the deadline is listed as not run. ``--smoke`` runs every case at a toy size on whatever
device there is (the CPU here); full and quick presets need a GPU and say so without one.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from dataclasses import dataclass

from benchmarks.common import FULL, QUICK, SMOKE, Section, Stat, gpus, paired_ratio


@dataclass(frozen=True)
class Case:
    image_size: int
    width: float
    batches: tuple[int, ...]
    steps: int  # timed steps per repeat
    repeats: int
    warmup: int
    budget_s: float  # stop starting new cases after this long
    combos: tuple | None = None  # (xla, batch, precision) to run; None: all of them


CASES = {
    FULL: Case(224, 1.0, (10, 32), 3, 10, 3, 8 * 60),
    QUICK: Case(224, 1.0, (10,), 3, 4, 3, 4 * 60),
    # The paths the step benchmark's smoke does not take: mixed precision, and the pipeline-fed
    # step. XLA stays off: compiling the port's Keras train functions with it on a CPU cost the
    # smoke pass a minute, for a flag that is Keras's to honour, not code of ours.
    SMOKE: Case(32, 0.125, (2,), 1, 2, 1, 3 * 60, combos=((False, 2, "mixed"),)),
}
PRECISIONS = ("float32", "mixed")


def run(preset: str = FULL) -> Section:
    from benchmarks import step

    section = Section("gpu", "5. Full-size step on one GPU: ours vs the port, precision and XLA", "")
    found = gpus()
    if not found and preset != SMOKE:
        section.setup = "No GPU visible to TensorFlow on this machine: not measured."
        section.skipped = "no GPU"
        section.notes.append("Run `python -m benchmarks gpu` on a GPU machine (at most 8 minutes).")
        return section
    c = CASES[preset]
    started = time.perf_counter()
    deadline = started + c.budget_s
    device = ", ".join(found) or "CPU (smoke: toy size, no GPU)"
    section.setup = (
        f"{device}: ours and the port at {c.image_size} px, width {c.width:g}, VGG16 teacher on both; "
        f"batch {', '.join(map(str, c.batches))}; float32 and mixed (mixed_float16 on a GPU); XLA off on both "
        f"sides, then on both; {c.warmup} warm-up steps, then {c.repeats} interleaved repeats of {c.steps} "
        f"steps per side, every loss read back each step; budget {c.budget_s / 60:.0f} min."
    )
    teacher = tempfile.mkdtemp(prefix="bench-gpu-") + "/vgg16.weights.h5"
    import keras

    keras.applications.VGG16(weights=None).save_weights(teacher)
    skipped: list[str] = []
    # Most important first: XLA off (the trainer's setting), then on; the small batch first.
    for xla, batch, precision in c.combos or itertools.product((False, True), c.batches, PRECISIONS):
        label = f"batch {batch}, {precision}, XLA {'on' if xla else 'off'}"
        if time.perf_counter() > deadline:
            skipped.append(label)
            continue
        shape = (c.image_size, c.width, batch, 1000)
        sides = {
            "ours": step.build_ours(*shape, "teacher", teacher, precision, xla),
            "port": step.build_port(*shape, teacher, precision, xla),
        }
        batches = step.real_batches(c.image_size, batch, 4)
        step.warm_up(sides, batches, c.warmup)
        ips = step.interleaved(sides, batches, c.steps, c.repeats)
        for name, samples in ips.items():
            section.add(f"{label}: {name}", samples, "img/s", "", 1)
        section.add(f"{label}: ours / port", paired_ratio(ips["ours"], ips["port"]), "x", "same work", 2)
        if not (xla or batch != c.batches[0] or precision != "float32"):
            flops = step.step_flops(sides["ours"].step, batches[0]) / batch
            section.notes.append(f"ours does {flops / 1e9:.1f} GFLOP per image (live operations of the step)")
        del sides
        keras.backend.clear_session()

    if time.perf_counter() <= deadline:
        _pipeline_against_memory(section, c)
    else:
        skipped.append("ours fed by the pipeline vs in-memory batches")
    if skipped:
        section.notes.append(f"Not run within the {c.budget_s / 60:.0f}-minute budget: {'; '.join(skipped)}.")
    section.seconds = time.perf_counter() - started
    return section


def _pipeline_against_memory(section: Section, c: Case) -> None:
    """Our step as the trainer runs it by default (semantic labels, no teacher: the fastest step, the
    hardest to feed), largest batch, mixed, XLA off, fed by ``make_dataset`` against in-memory batches."""
    from benchmarks import step
    from colorize_core.config import DataConfig
    from colorize_core.data.datasets import resolve_dataset
    from colorize_core.data.pipeline import make_dataset

    batch = c.batches[-1]
    ours = step.build_ours(c.image_size, c.width, batch, 1000, "labels", None, "mixed", False)
    prepared = resolve_dataset(DataConfig(), 0, progress=False).path
    stream = iter(make_dataset(prepared, "train", c.image_size, batch, training=True, repeat=True))
    fed = step.Side(run=lambda _: ours.run(next(stream)))
    batches = step.real_batches(c.image_size, batch, 4)
    sides = {"in memory": ours, "pipeline": fed}
    step.warm_up(sides, batches, c.warmup)
    ips = step.interleaved(sides, batches, c.steps, c.repeats)
    tag = f"ours (labels, default), batch {batch}, mixed, XLA off"
    for name, samples in ips.items():
        section.add(f"{tag}: fed {name}", samples, "img/s", "", 1)
    ratio: Stat = section.add(
        f"{tag}: pipeline / in memory",
        paired_ratio(ips["pipeline"], ips["in memory"]),
        "x",
        "1.0: the pipeline keeps up",
        2,
    )
    section.notes.append(
        f"Fed by the real pipeline the step runs at {ratio.median:.2f} of its in-memory rate"
        + (f" (95% CI {ratio.ci(2)})" if ratio.interval else "")
        + f", on {os.cpu_count()} CPU cores."
    )
