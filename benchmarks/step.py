"""Benchmark 1: the training step, ours against a faithful port of the ChromaGAN reference loop.

Ours: ``AdversarialColorizer.train_step`` compiled by ``colorize_core.trainer.compile_distributed_step``, as
the trainer compiles it (one ``tf.function`` running the step as the strategy's per-replica
function), critic then generator update, the losses read back to Python every step as the trainer
does; the precision policy set by ``trainer.set_precision``.

Reference (pvitoria/ChromaGAN, ``SOURCE/ChromaGAN.py``), ported to Keras 3 with our own generator
and critic builders so the architecture is identical: three compiled Keras models --
``combined`` (generator through a frozen critic; mse, KL, Wasserstein with weights 1, 0.003, -0.1),
``discriminator_model`` (Wasserstein on real and on the frozen generator's fake, plus the gradient
penalty at a random average of the two, weights -1, 1, 1) and the critic itself -- updated per
batch with ``train_on_batch`` from numpy arrays, after the VGG16 teacher's separate ``predict`` on
the gray image tiled to three channels. ``jit_compile`` is off on both sides, as in the reference.

Both sides train on the same batches (real photos through our pipeline, held in memory), with the
same size, width and batch. Ours runs three ways: with the VGG16 teacher (the same work as the
reference), with our default ``semantic: labels`` (no teacher forward), and in mixed precision.

FLOPs: counted by TensorFlow's graph profiler over our compiled step (forward, backward and the
gradient penalty's double backward), cross-checked against a per-layer count of the networks'
forward passes. The machine's conv throughput is a 3x3 convolution at the model's own layer
shapes, measured in the same process, float32 and bfloat16.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.common import FULL, QUICK, SMOKE, Goal, Section, Stat, ratio_samples


@dataclass(frozen=True)
class Size:
    image_size: int
    width: float
    batch: int
    steps: int  # per repeat
    repeats: int
    warmup: int = 1  # untimed first calls (tracing)


@dataclass(frozen=True)
class Settings:
    sizes: dict[str, Size]
    conv_seconds: float = 1.0  # each conv throughput sample runs at least this long
    conv_repeats: int = 2
    vgg_conv_shapes: bool = True  # conv throughput at VGG16's 224 px shapes too, not only the model's


SETTINGS = {
    FULL: Settings({"small": Size(64, 0.25, 16, 4, 5, warmup=2), "full": Size(224, 1.0, 8, 1, 3)}),
    QUICK: Settings({"small": Size(64, 0.25, 16, 2, 3, warmup=2), "full": Size(224, 1.0, 4, 1, 2)}),
    SMOKE: Settings({"tiny": Size(32, 0.125, 2, 1, 1)}, conv_seconds=0.0, conv_repeats=1, vgg_conv_shapes=False),
}


@dataclass
class Side:
    """One way of training (or a part of it) that the benchmark times."""

    run: Callable  # one step on one input
    to_input: Callable = lambda b: b  # a numpy batch to what ``run`` takes
    step: Callable | None = None  # ours: the compiled step (its graph is profiled)
    gan: object = None  # ours: the ChromaGAN
    teacher_only: Callable | None = None  # the reference: its VGG16 teacher's predict alone


# ------------------------------------------------------------------------------------------ data
def real_batches(size: int, batch: int, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` training batches of the bundled sample photos, through our pipeline, as numpy."""
    from colorize_core.config import DataConfig
    from colorize_core.datasets import resolve_dataset
    from colorize_core.pipeline import make_dataset

    prepared = resolve_dataset(DataConfig(), 0, progress=False).path
    ds = make_dataset(prepared, "train", size, batch, training=True, repeat=True).take(
        count
    )
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


# ------------------------------------------------------------------------------------------ ours
def build_ours(size, width, batch, num_classes, semantic, teacher_file, mixed):
    import keras
    import tensorflow as tf

    from colorize_core.config import demo_config
    from colorize_core.gan import AdversarialColorizer
    from colorize_core.trainer import compile_distributed_step, set_precision

    config = demo_config().with_overrides({
        "model.image_size": size, "model.width": width, "data.batch_size": batch,
        "loss.semantic": semantic, "loss.teacher_weights": teacher_file if semantic == "teacher" else None,
        "mixed_precision": mixed,
    })  # fmt: skip
    policy = set_precision(mixed)
    keras.utils.set_random_seed(0)
    gan = AdversarialColorizer(config, num_classes, batch, loss_scaling=policy == "mixed_float16")
    gan.build_optimizers()
    step = compile_distributed_step(tf.distribute.get_strategy(), gan)
    set_precision(False)  # the layers keep the policy they were built with

    def run(b):
        return {
            k: float(v) for k, v in step(b).items()
        }  # a host read every step: the upper bound of what the trainer pays (it reads every log_every_steps)

    return Side(run=run, step=step, gan=gan, to_input=_to_tensors)


def _to_tensors(b):
    import tensorflow as tf

    return {k: tf.constant(v) for k, v in b.items()}


# ------------------------------------------------------------------------------------- reference
def build_reference(size, width, batch, num_classes, teacher_file, lr=2e-4):
    """The reference's three compiled models and VGG16 teacher, on our generator and critic."""
    import keras
    import tensorflow as tf
    from keras import layers

    from colorize_core.model import build_critic, build_generator

    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    S = size

    def wasserstein_loss(y_true, y_pred):
        return tf.reduce_mean(y_pred)

    def gradient_penalty_loss(y_true, y_pred, gradient_penalty_weight):
        # y_pred is ||dD/d(averaged)|| per example, computed in the model (Keras 3 losses cannot
        # call K.gradients on a model input as the Keras 2 reference does).
        return tf.reduce_mean(gradient_penalty_weight * tf.square(1.0 - y_pred))

    class RandomWeightedAverage(layers.Layer):
        def call(self, inputs):
            weights = tf.random.uniform((tf.shape(inputs[0])[0], 1, 1, 1))
            return weights * inputs[0] + (1 - weights) * inputs[1]

    class CriticGradientNorm(layers.Layer):
        """The reference's K.gradients(D(averaged), averaged) norm, as a layer."""

        def __init__(self, critic, **kw):
            super().__init__(**kw)
            self.critic = critic

        def call(self, L, averaged):
            with tf.GradientTape() as tape:
                tape.watch(averaged)
                out = self.critic([L, averaged])
            grads = tape.gradient(out, averaged)
            return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))[:, None]

        def compute_output_shape(self, *shapes):
            return (None, 1)

    generator = build_generator(S, width, num_classes)
    critic = build_critic(S, width)
    optimizer = partial(
        keras.optimizers.Adam, lr, beta_1=0.5
    )  # one per compiled model (Keras 3)
    critic.compile(loss=wasserstein_loss, optimizer=optimizer(), jit_compile=False)

    # The colorization model with the reference's softmax class head.
    L_in = keras.Input((S, S, 1))
    ab_out, logits = generator(L_in)
    colorization = keras.Model(L_in, [ab_out, layers.Softmax()(logits)])
    colorization.compile(loss=["mse", "kld"], optimizer=optimizer(), jit_compile=False)

    img_L = keras.Input((S, S, 1))
    img_ab_real = keras.Input((S, S, 2))
    colorization.trainable = False
    pred_ab, _ = colorization(img_L)
    disc_pred_ab = critic([img_L, pred_ab])
    disc_real = critic([img_L, img_ab_real])
    averaged = RandomWeightedAverage()([img_ab_real, pred_ab])
    gp_norm = CriticGradientNorm(critic)(img_L, averaged)
    gp_loss = partial(gradient_penalty_loss, gradient_penalty_weight=10.0)
    gp_loss.__name__ = "gradient_penalty"
    # Unique output names: Keras 3 maps losses to outputs by name (the reference's two critic
    # outputs would share one).
    named = [
        layers.Identity(name=n)(t)
        for n, t in (("d_real", disc_real), ("d_fake", disc_pred_ab), ("gp", gp_norm))
    ]
    discriminator_model = keras.Model([img_L, img_ab_real], named)
    discriminator_model.compile(
        optimizer=optimizer(), loss=[wasserstein_loss, wasserstein_loss, gp_loss],
        loss_weights=[-1.0, 1.0, 1.0], jit_compile=False,
    )  # fmt: skip

    colorization.trainable = True
    critic.trainable = False
    c_L = keras.Input((S, S, 1))
    c_ab, c_probs = colorization(c_L)
    outs = (("ab", c_ab), ("probs", c_probs), ("d_fake", critic([c_L, c_ab])))
    combined = keras.Model(c_L, [layers.Identity(name=n)(t) for n, t in outs])
    combined.compile(
        loss=["mse", "kld", wasserstein_loss], loss_weights=[1.0, 0.003, -0.1], optimizer=optimizer(),
        jit_compile=False,
    )  # fmt: skip

    # VGG16 with top, as the reference's VGG_modelF; resized to its 224 px like our teacher.
    vgg = keras.applications.VGG16(include_top=True, weights=teacher_file)
    l3 = keras.Input((S, S, 3))
    teacher = keras.Model(l3, vgg(layers.Resizing(224, 224)(l3) if S != 224 else l3))

    positive_y = np.ones((batch, 1), np.float32)
    negative_y, dummy_y = -positive_y, np.zeros((batch, 1), np.float32)

    def train_discriminator(b):
        return discriminator_model.train_on_batch(
            [b["L"], b["ab"]], [positive_y, negative_y, dummy_y]
        )

    def train_combined(b, predict_vgg):
        return combined.train_on_batch([b["L"]], [b["ab"], predict_vgg, positive_y])

    # Keras 3 reads ``trainable`` when a model's train function is traced (Keras 2 read it at
    # compile): trace each with the reference's freezing in place, then the loop runs as written.
    first = {
        "L": np.zeros((batch, S, S, 1), np.float32),
        "ab": np.zeros((batch, S, S, 2), np.float32),
    }
    colorization.trainable, critic.trainable = False, True
    train_discriminator(first)
    colorization.trainable, critic.trainable = True, False
    train_combined(first, np.full((batch, 1000), 1e-3, np.float32))

    def run(b):
        l_3 = np.tile(b["L"], [1, 1, 1, 3])
        predict_vgg = teacher.predict(l_3, verbose=0)
        g_loss = train_combined(b, predict_vgg)
        d_loss = train_discriminator(b)
        return g_loss, d_loss

    def teacher_only(b):
        return teacher.predict(np.tile(b["L"], [1, 1, 1, 3]), verbose=0)

    return Side(run=run, teacher_only=teacher_only)


# ------------------------------------------------------------------------------------------ FLOPs
def step_flops(step, example: dict) -> float:
    """Float operations of one call of a compiled step, counted over its graph by TF's profiler."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    spec = {k: tf.TensorSpec(v.shape, tf.as_dtype(v.dtype)) for k, v in example.items()}
    graph = step.get_concrete_function(spec).graph
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return float(model_analyzer.profile(graph, options=opts).total_float_ops)


def forward_flops(model) -> float:
    """Multiply-adds x 2 of the Conv2D and Dense layers of ``model``, per example."""
    import keras

    total = 0.0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2.0 * out[1] * out[2] * out[3] * kh * kw * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.input.shape[-1] * layer.units
    return total


def _leaf_layers(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def conv_throughput(
    shapes, dtype: str, seconds: float = 1.0, repeats: int = 3
) -> dict[tuple, list[float]]:
    """GFLOP/s of a compiled 3x3 'same' convolution at each (batch, side, c_in, c_out); each sample
    is at least 4 calls and ``seconds`` long."""
    import tensorflow as tf

    out = {}
    for b, h, cin, cout in shapes:
        x = tf.cast(tf.random.normal([b, h, h, cin]), dtype)
        w = tf.cast(tf.random.normal([3, 3, cin, cout]), dtype)
        f = tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"))
        f(x, w).numpy()
        flops = 2.0 * b * h * h * cin * cout * 9
        samples = []
        for _ in range(repeats):
            t, n = time.perf_counter(), 0
            while True:
                y = f(x, w)
                n += 1
                if n % 4 == 0:
                    y.numpy()
                    if time.perf_counter() - t > seconds:
                        break
            samples.append(flops * n / (time.perf_counter() - t) / 1e9)
        out[(b, h, cin, cout)] = samples
    return out


def model_conv_shapes(generator, batch: int, vgg: bool = True) -> list[tuple[int, int, int, int]]:
    """The (batch, side, c_in, c_out) of the encoder's second conv in VGG blocks 2-4 of ``generator``
    (at S/2, S/4, S/8), and with ``vgg`` of VGG16's own at 224 px (the teacher, and the full-size
    encoder): the best of them is the conv throughput TF reaches on this machine."""
    own = []
    for block in (2, 3, 4):
        conv = generator.get_layer(f"block{block}_conv2")
        own.append((batch, conv.input.shape[1], conv.input.shape[-1], conv.filters))
    vgg16 = [(min(batch, 8), 224 // k, c, c) for k, c in ((2, 128), (4, 256), (8, 512))] if vgg else []
    return list(dict.fromkeys(own + vgg16))


# ------------------------------------------------------------------------------------------ run
def fwd_teacher(sides) -> float:
    return forward_flops(sides["ours (teacher)"].gan.teacher)


def time_steps(side: Side, inputs, steps: int) -> float:
    t = time.perf_counter()
    for i in range(steps):
        side.run(inputs[i % len(inputs)])
    return time.perf_counter() - t


def run(
    preset: str = FULL, sizes: list[str] | None = None, profile_dir: str | None = None
) -> Section:
    import keras

    settings = SETTINGS[preset]
    section = Section(
        "step",
        "1. Training step: ours vs the ChromaGAN reference loop, and vs conv throughput",
        "Same generator/critic builders, size, width, batch and real-photo batches on both sides; "
        "repeats interleaved (ours, reference, ours, ...) so each ratio is of neighbouring runs; "
        "images/s over whole steps, losses read back every step on both sides.",
    )
    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="bench-step-")
    teacher_file = str(Path(tmp.name) / "vgg16.weights.h5")
    keras.applications.VGG16(weights=None).save_weights(
        teacher_file
    )  # random init, no download
    gc.collect()
    num_classes = 1000  # the teacher's classes, as the reference's class head

    for name in sizes or list(settings.sizes):
        size, width, batch, steps, repeats, warmup = astuple(settings.sizes[name])
        batches = real_batches(size, batch, 4)
        tag = f"{name} ({size}px, width {width:g}, batch {batch})"
        shape = (size, width, batch, num_classes)
        variants = {
            "ours (teacher)": partial(
                build_ours, *shape, "teacher", teacher_file, False
            ),
            "reference": partial(build_reference, *shape, teacher_file),
            "ours (labels, default)": partial(
                build_ours, *shape, "labels", None, False
            ),
            "ours (teacher, mixed bf16)": partial(
                build_ours, *shape, "teacher", teacher_file, True
            ),
        }
        # Every build sets the global random seed, and a function traced before that traces again
        # at its next call: the reference (which traces its train functions as it is built) is
        # built last, then every side makes its first calls (tracing), untimed.
        built, build_s = {}, {}
        for label in sorted(variants, key=lambda label: label == "reference"):
            t0 = time.perf_counter()
            built[label] = variants[label]()
            build_s[label] = time.perf_counter() - t0
        sides = {label: built[label] for label in variants}  # timed in this order
        inputs = {label: [side.to_input(b) for b in batches] for label, side in sides.items()}
        for label, side in sides.items():
            t0 = time.perf_counter()
            for i in range(warmup):
                side.run(inputs[label][i])
            build_s[label] += time.perf_counter() - t0
        # Profile: the reference's teacher predict alone, the part both loops share.
        teacher_only = sides["reference"].teacher_only
        sides["profile: VGG16 teacher predict alone"] = Side(run=teacher_only)
        inputs["profile: VGG16 teacher predict alone"] = batches
        teacher_only(batches[0])
        build_s["profile: VGG16 teacher predict alone"] = 0.0
        # The machine's conv throughput at the model's and VGG16's shapes; the best shape of each
        # dtype is measured again in every repeat, next to the steps, so that the achieved /
        # conv fractions compare the same moment of a shared machine.
        shapes = model_conv_shapes(sides["ours (teacher)"].gan.generator, batch, settings.vgg_conv_shapes)
        measure_conv = partial(conv_throughput, seconds=settings.conv_seconds)
        conv32 = measure_conv(shapes, "float32", repeats=settings.conv_repeats)
        conv16 = measure_conv(shapes, "bfloat16", repeats=settings.conv_repeats)
        shape32 = max(conv32, key=lambda k: Stat(conv32[k]).median)
        shape16 = max(conv16, key=lambda k: Stat(conv16[k]).median)
        near32: list[float] = []
        near16: list[float] = []
        ips: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(repeats):
            for label, side in sides.items():
                ips[label].append(
                    steps * batch / time_steps(side, inputs[label], steps)
                )
            near32 += measure_conv([shape32], "float32", repeats=1)[shape32]
            near16 += measure_conv([shape16], "bfloat16", repeats=1)[shape16]

        # FLOPs of our step, per image, and the achieved rate.
        example = batches[0]
        flops = {
            k: step_flops(sides[k].step, example) / batch
            for k in sides
            if k.startswith("ours")
        }
        t_ref, t_teacher = (
            1 / Stat(ips["reference"]).median,
            1 / Stat(ips["profile: VGG16 teacher predict alone"]).median,
        )
        t_ours = 1 / Stat(ips["ours (teacher)"]).median
        section.notes.append(
            f"{name}: the VGG16 teacher forward alone takes {t_teacher / t_ref:.0%} of the reference's step time and "
            f"{t_teacher / t_ours:.0%} of ours (teacher); it is "
            f"{fwd_teacher(sides) / flops['ours (teacher)']:.0%} of our step's FLOPs. Ours (teacher) does "
            f"{flops['ours (teacher)'] / 1e9:.1f} GFLOP per image; without the teacher (labels) "
            f"{flops['ours (labels, default)'] / 1e9:.1f}."
        )
        gen = sides["ours (teacher)"].gan
        fwd = {"generator": forward_flops(gen.generator), "critic": forward_flops(gen.critic),
               "teacher": forward_flops(gen.teacher)}  # fmt: skip
        conv32[shape32] = conv32[shape32] + near32
        conv16[shape16] = conv16[shape16] + near16

        for label in sides:
            section.add(
                f"{tag}: {label}",
                ips[label],
                "img/s",
                f"set-up + warm-up {build_s[label]:.0f} s",
                2,
            )
        r_teacher = section.add(
            f"{tag}: ours (teacher) / reference",
            ratio_samples(ips["ours (teacher)"], ips["reference"]),
            "x",
            "same work",
            2,
        )
        section.add(
            f"{tag}: ours (labels) / reference",
            ratio_samples(ips["ours (labels, default)"], ips["reference"]),
            "x",
            "our default drops the teacher forward",
            2,
        )
        section.add(
            f"{tag}: ours (teacher, bf16) / reference",
            ratio_samples(ips["ours (teacher, mixed bf16)"], ips["reference"]),
            "x",
            "mixed precision on (bfloat16 on this CPU)",
            2,
        )
        section.add(
            f"{tag}: forward GFLOP per image",
            [fwd["generator"] / 1e9],
            "GFLOP",
            f"generator; critic {fwd['critic'] / 1e9:.2f}, VGG16 teacher {fwd['teacher'] / 1e9:.2f}",
            2,
        )
        for label, f in flops.items():
            section.add(
                f"{tag}: {label} step GFLOP per image",
                [f / 1e9],
                "GFLOP",
                "TF profiler over the step graph",
                2,
            )
        achieved = {k: [f * x / 1e9 for x in ips[k]] for k, f in flops.items()}
        # The reference does the same operations as ours (teacher): same FLOPs per image.
        achieved["reference"] = [
            flops["ours (teacher)"] * x / 1e9 for x in ips["reference"]
        ]
        for label, samples in achieved.items():
            section.add(f"{tag}: {label} achieved", samples, "GFLOP/s", "", 0)
        for shape, s in conv32.items():
            section.add(
                f"{tag}: conv3x3 float32 {shape}",
                s,
                "GFLOP/s",
                "(batch, side, c_in, c_out)",
                0,
            )
        for shape, s in conv16.items():
            section.add(
                f"{tag}: conv3x3 bfloat16 {shape}",
                s,
                "GFLOP/s",
                "(batch, side, c_in, c_out)",
                0,
            )
        frac = section.add(
            f"{tag}: ours (teacher) / best float32 conv",  # pairwise with the same repeat's conv
            ratio_samples(achieved["ours (teacher)"], near32),
            "x",
            "",
            2,
        )
        frac_l = section.add(
            f"{tag}: ours (labels) / best float32 conv",
            ratio_samples(achieved["ours (labels, default)"], near32),
            "x",
            "",
            2,
        )
        frac16 = section.add(
            f"{tag}: ours (teacher, bf16) / best bfloat16 conv",
            ratio_samples(achieved["ours (teacher, mixed bf16)"], near16),
            "x",
            "",
            2,
        )
        section.goals.append(
            Goal(
                f"{name}: ours >= 2x the reference loop (same work)",
                r_teacher.median >= 2.0,
                f"{r_teacher.median:.2f}x (labels default: {Stat(ratio_samples(ips['ours (labels, default)'], ips['reference'])).median:.2f}x, "
                f"bf16: {Stat(ratio_samples(ips['ours (teacher, mixed bf16)'], ips['reference'])).median:.2f}x)",
            )
        )
        section.goals.append(
            Goal(
                f"{name}: ours >= 0.5 of measured conv throughput",
                frac.median >= 0.5,
                f"float32 teacher {frac.median:.2f}, labels {frac_l.median:.2f}; bf16 {frac16.median:.2f} of bf16 conv",
            )
        )
        if profile_dir:
            _profile(sides, inputs, Path(profile_dir) / name)
        del sides, inputs
        keras.backend.clear_session()
        gc.collect()
    tmp.cleanup()
    section.seconds = time.perf_counter() - started
    return section


def _profile(sides, inputs, out: Path) -> None:
    """A TensorFlow trace of two steps of ours and of the reference (TensorBoard's profile plugin)."""
    import tensorflow as tf

    for label in ("ours (teacher)", "reference"):
        d = out / label.replace(" ", "_").replace("(", "").replace(")", "")
        tf.profiler.experimental.start(str(d))
        for i in range(2):
            sides[label].run(inputs[label][i])
        tf.profiler.experimental.stop()
