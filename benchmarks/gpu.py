"""Benchmark 5: the full-size model's step on a GPU, mixed precision off and on.

Only where TensorFlow sees a GPU: ours (labels, the default, and teacher) at 224 px, width 1, at
two batch sizes, float32 and mixed_float16, images/s and achieved TFLOP/s against a float16 and
float32 conv measured on the same GPU. Without a GPU it says so and measures nothing.
"""

from __future__ import annotations

import time

from benchmarks.common import Section, Stat, gpus


def run(quick: bool = False) -> Section:
    section = Section("gpu", "5. Full-size step on a GPU", "")
    found = gpus()
    if not found:
        section.setup = "No GPU visible to TensorFlow on this machine: not measured."
        section.notes.append(
            "This task was not lent a GPU; run `python -m benchmarks gpu` on a GPU machine."
        )
        return section
    from benchmarks import step

    started = time.perf_counter()
    section.setup = f"{found}: ours at 224 px, width 1; float32 vs mixed_float16; 1 warm-up call, repeats of 5 steps."
    for batch in (8, 16) if quick else (16, 32):
        batches = step.real_batches(224, batch, 2)
        for mixed in (False, True):
            for semantic in ("labels", "teacher"):
                side = step.build_ours(
                    224,
                    1.0,
                    batch,
                    1000,
                    semantic,
                    _teacher_file() if semantic == "teacher" else None,
                    mixed,
                )
                inputs = [side.to_input(b) for b in batches]
                side.run(inputs[0])
                samples = [
                    5 * batch / step._time_steps(side, inputs, 5) for _ in range(3)
                ]
                flops = step.step_flops(side.step, batches[0]) / batch
                label = f"batch {batch}, {'mixed_float16' if mixed else 'float32'}, {semantic}"
                section.add(f"{label}: img/s", samples, "img/s", "", 1)
                section.add(
                    f"{label}: achieved",
                    [flops * s / 1e12 for s in samples],
                    "TFLOP/s",
                    "",
                    1,
                )
    for dtype in ("float32", "float16"):
        conv = step.conv_throughput(step._model_conv_shapes(224, 1.0, 32), dtype)
        best = max(conv.values(), key=lambda s: Stat(s).median)
        section.add(
            f"conv3x3 {dtype} (best of model shapes)",
            [x / 1000 for x in best],
            "TFLOP/s",
            "",
            1,
        )
    section.seconds = time.perf_counter() - started
    return section


_FILE: list[str] = []


def _teacher_file() -> str:
    if not _FILE:
        import tempfile

        import keras

        path = tempfile.mkdtemp(prefix="bench-gpu-") + "/vgg16.weights.h5"
        keras.applications.VGG16(weights=None).save_weights(path)
        _FILE.append(path)
    return _FILE[0]
