"""Benchmark 6: what reading the losses back every step costs the training loop.

The trainer keeps its losses on the device, summed, and reads them back every ``log_every_steps``
(default 10). Here one compiled training step of ours (``build_ours``, the step the trainer runs)
is driven two ways on the same tensors already on the device: every loss read back to the host after
every step (what the loop did before), and summed on the device and read back once every 10 steps
(what it does now). Repeats are paired and interleaved as in benchmark 1. On a CPU the step runs
where the host is, so a read waits for little; the GPU figure is benchmark 5's to take.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.common import FULL, QUICK, SMOKE, Section, paired_ratio

READ_EVERY = 10  # the trainer's default log_every_steps


@dataclass(frozen=True)
class Case:
    size: int
    width: float
    batch: int
    steps: int  # timed steps per repeat, a multiple of READ_EVERY
    repeats: int


# Our default step (semantic labels, no teacher): the fastest step, where a read weighs most.
CASES = {
    FULL: {"tiny": Case(32, 0.125, 4, 40, 10), "small": Case(64, 0.25, 16, 20, 10)},
    QUICK: {"tiny": Case(32, 0.125, 4, 20, 4), "small": Case(64, 0.25, 16, 10, 4)},
    SMOKE: {"tiny": Case(32, 0.125, 2, 10, 2)},
}


def run(preset: str = FULL) -> Section:
    import keras
    import tensorflow as tf

    from benchmarks import step

    section = Section(
        "host_sync",
        "6. Host syncs: losses read back every step vs every 10 steps",
        f"One compiled step of ours (semantic labels, float32, XLA off), fed the same batches already "
        f"converted to tensors; side 'every step' reads every loss back after each step, side 'every "
        f"{READ_EVERY}' sums them on the device and reads once per {READ_EVERY} steps, as the trainer "
        f"does by default. One warm-up call per side; repeats paired and interleaved.",
    )
    started = time.perf_counter()
    for name, c in CASES[preset].items():
        tag = f"{name} ({c.size}px, width {c.width:g}, batch {c.batch})"
        ours = step.build_ours(c.size, c.width, c.batch, 1000, "labels", None)
        batches = [{k: tf.constant(v) for k, v in b.items()} for b in step.real_batches(c.size, c.batch, 4)]

        # Each call is READ_EVERY steps on the same batches; the sides differ only in their reads.
        def every_step(_, ours=ours, batches=batches):
            for i in range(READ_EVERY):
                for v in ours.step(batches[i % len(batches)]).values():
                    float(v)

        def every_n(_, ours=ours, batches=batches):
            window = {}
            for i in range(READ_EVERY):
                out = ours.step(batches[i % len(batches)])
                window = {k: window.get(k, 0.0) + v for k, v in out.items()}
            return {k: float(v) for k, v in window.items()}

        sides = {"every step": step.Side(run=every_step), f"every {READ_EVERY}": step.Side(run=every_n)}
        step.warm_up(sides, batches, 1)
        # interleaved() counts a call as one step's images; a call here is READ_EVERY steps.
        calls = step.interleaved(sides, batches, c.steps // READ_EVERY, c.repeats)
        ips = {label: [x * READ_EVERY for x in samples] for label, samples in calls.items()}
        for label, samples in ips.items():
            section.add(f"{tag}: read {label}", samples, "img/s", f"{c.steps} steps per repeat", 1)
        ratio = section.add(
            f"{tag}: every {READ_EVERY} / every step",
            paired_ratio(ips[f"every {READ_EVERY}"], ips["every step"]),
            "x",
            "above 1: the reads cost time",
            3,
        )
        lo, hi = ratio.interval or (ratio.low, ratio.high)
        section.notes.append(
            f"{tag}: reading every {READ_EVERY} steps instead of every step changes the step rate by "
            f"{(ratio.median - 1) * 100:+.1f}% (95% interval {(lo - 1) * 100:+.1f}% to {(hi - 1) * 100:+.1f}%)."
        )
        keras.backend.clear_session()
    section.seconds = time.perf_counter() - started
    return section
