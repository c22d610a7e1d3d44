"""Benchmark 5: the full-size model's step on a GPU, mixed precision off and on.

Only where TensorFlow sees a GPU: ours (labels, the default, and teacher) at 224 px, width 1, at
two batch sizes, float32 and mixed_float16, images/s and achieved TFLOP/s against a float16 and
float32 conv measured on the same GPU. Without a GPU it says so and measures nothing.
"""

from __future__ import annotations

import time

from benchmarks.common import FULL, QUICK, SMOKE, Section, Stat, gpus

# preset: (image_size, width, batch sizes, timed repeats of 5 steps, conv sample seconds)
CASES = {
    FULL: (224, 1.0, (16, 32), 3, 1.0),
    QUICK: (224, 1.0, (8, 16), 3, 1.0),
    SMOKE: (32, 0.125, (2,), 1, 0.0),
}


def run(preset: str = FULL) -> Section:
    section = Section("gpu", "5. Full-size step on a GPU", "")
    found = gpus()
    if not found:
        section.setup = "No GPU visible to TensorFlow on this machine: not measured."
        section.skipped = "no GPU"
        section.notes.append("Run `python -m benchmarks gpu` on a GPU machine.")
        return section
    from benchmarks import step

    started = time.perf_counter()
    size, width, batch_sizes, repeats, conv_seconds = CASES[preset]
    section.setup = (
        f"{found}: ours at {size} px, width {width:g}; float32 vs mixed_float16; 1 warm-up call, "
        f"{repeats} repeats of 5 steps."
    )
    conv_shapes = None
    for batch in batch_sizes:
        batches = step.real_batches(size, batch, 2)
        for mixed in (False, True):
            for semantic in ("labels", "teacher"):
                side = step.build_ours(
                    size,
                    width,
                    batch,
                    1000,
                    semantic,
                    _teacher_file() if semantic == "teacher" else None,
                    mixed,
                )
                inputs = [side.to_input(b) for b in batches]
                side.run(inputs[0])
                samples = [
                    5 * batch / step.time_steps(side, inputs, 5) for _ in range(repeats)
                ]
                flops = step.step_flops(side.step, batches[0]) / batch
                label = f"batch {batch}, {'mixed_float16' if mixed else 'float32'}, {semantic}"
                conv_shapes = conv_shapes or step.model_conv_shapes(side.gan.generator, 32)
                section.add(f"{label}: img/s", samples, "img/s", "", 1)
                section.add(
                    f"{label}: achieved",
                    [flops * s / 1e12 for s in samples],
                    "TFLOP/s",
                    "",
                    1,
                )
    for dtype in ("float32", "float16"):
        conv = step.conv_throughput(conv_shapes, dtype, seconds=conv_seconds)
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
