"""Benchmark 1: the training step, ours against the reference's training loop ported to Keras 3.

Ours: ``AdversarialColorizer.train_step`` compiled by ``colorize_core.training.trainer.compile_distributed_step``
as the trainer compiles it (critic then generator update in one ``tf.function``), the precision
policy set by ``trainer.set_precision``.

The port: the training loop of pvitoria/ChromaGAN (``SOURCE/ChromaGAN.py``) ported to Keras 3, on
this project's generator and critic builders (so the networks are identical; it is not the
reference's own code): three compiled Keras models -- ``combined`` (generator through a frozen
critic; mse, KL, Wasserstein with weights 1, 0.003, -0.1), ``discriminator_model`` (Wasserstein on
real and on the frozen generator's fake, plus the gradient penalty at a random average of the two,
weights -1, 1, 1) and the critic itself -- updated per batch with ``train_on_batch``, after the
VGG16 teacher's separate ``predict`` on the gray image tiled to three channels.

Fair by construction: both sides get the same numpy batches (real photos through our pipeline,
held in memory) and read every loss back to the host each step; each comparison is
precision-matched (a mixed-precision ours runs against a mixed-precision port); XLA is set
explicitly on every compiled function of both sides; one step of each side is checked to update
only the variables it should. Repeats are paired and interleaved (the order reverses every repeat),
warm-up excluded on both sides, and each ratio gets a bootstrap 95% interval over its pairs.

FLOPs: the live operations of our compiled step (``benchmarks.flops``). The machine's conv
throughput is a 3x3 convolution at the model's own layer shapes, measured next to every repeat.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.common import FULL, QUICK, SMOKE, Section, Stat, goal, paired_ratio
from benchmarks.flops import forward_flops, step_flops

FLOAT32, MIXED = "float32", "mixed"  # mixed: trainer.set_precision(True)'s policy for this device


@dataclass(frozen=True)
class Size:
    image_size: int
    width: float
    batch: int
    steps: int  # timed steps per repeat
    repeats: int  # paired repeats
    warmup: int = 2  # untimed first calls (tracing), on every side


@dataclass(frozen=True)
class Settings:
    sizes: dict[str, Size]
    conv_seconds: float = 1.0  # each conv throughput sample runs at least this long
    conv_repeats: int = 2
    vgg_conv_shapes: bool = True  # conv throughput at VGG16's 224 px shapes too, not only the model's
    sides: tuple[str, ...] | None = None  # the sides to build; None: all


SETTINGS = {
    FULL: Settings({"small": Size(64, 0.25, 16, 3, 10), "full": Size(224, 1.0, 4, 3, 10, warmup=1)}),
    QUICK: Settings({"small": Size(64, 0.25, 16, 3, 4), "full": Size(224, 1.0, 2, 3, 3, warmup=1)}),
    # The mixed pair's builders run in the gpu benchmark's smoke pass (mixed, XLA on).
    SMOKE: Settings(
        {"tiny": Size(32, 0.125, 2, 1, 2, warmup=1)},
        conv_seconds=0.0,
        conv_repeats=1,
        vgg_conv_shapes=False,
        sides=("ours (teacher)", "port", "ours (labels, default)"),
    ),
}

# The pairs whose ratio is reported: (ours, the port), precision-matched.
PAIRS = (("ours (teacher)", "port"), ("ours (teacher, mixed)", "port (mixed)"))


@dataclass
class Side:
    """One way of training (or a part of it) that the benchmark times."""

    run: Callable  # one step on one numpy batch, every loss read back to the host
    step: Callable | None = None  # ours: the compiled step (its graph is counted)
    gan: object = None  # ours: the AdversarialColorizer
    teacher_only: Callable | None = None  # the port: its VGG16 teacher's predict alone
    # (what one step may change, what it must not): lists of Keras models
    may_change: list = field(default_factory=list)
    must_not_change: list = field(default_factory=list)
    parts: dict = field(default_factory=dict)  # the port: each compiled model's own update, by name


# ------------------------------------------------------------------------------------------ data
def real_batches(size: int, batch: int, count: int) -> list[dict[str, np.ndarray]]:
    """``count`` training batches of the bundled sample photos, through our pipeline, as numpy."""
    from colorize_core.config import DataConfig
    from colorize_core.data.datasets import resolve_dataset
    from colorize_core.data.pipeline import make_dataset

    prepared = resolve_dataset(DataConfig(), 0, progress=False).path
    ds = make_dataset(prepared, "train", size, batch, training=True, repeat=True).take(count)
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


# ------------------------------------------------------------------------------------------ ours
def build_ours(size, width, batch, num_classes, semantic, teacher_file, precision=FLOAT32, xla=False) -> Side:
    import keras
    import tensorflow as tf

    from colorize_core.config import demo_config
    from colorize_core.networks.gan import AdversarialColorizer
    from colorize_core.training.trainer import compile_distributed_step, set_precision

    config = demo_config().with_overrides(
        {
            "model.image_size": size,
            "model.width": width,
            "data.batch_size": batch,
            "loss.semantic": semantic,
            "loss.teacher_weights": teacher_file if semantic == "teacher" else None,
            "mixed_precision": precision == MIXED,
        }
    )
    policy = set_precision(precision == MIXED)
    keras.utils.set_random_seed(0)
    gan = AdversarialColorizer(config, num_classes, batch, loss_scaling=policy == "mixed_float16")
    gan.build_optimizers()
    step = compile_distributed_step(tf.distribute.get_strategy(), gan, jit_compile=xla)
    set_precision(False)  # the layers keep the policy they were built with

    def run(b):
        return {k: float(v) for k, v in step(b).items()}

    frozen = [gan.teacher] if gan.teacher is not None else []
    return Side(run=run, step=step, gan=gan, may_change=[gan.generator, gan.critic], must_not_change=frozen)


# ------------------------------------------------------------------------------------------ port
def build_port(size, width, batch, num_classes, teacher_file, precision=FLOAT32, xla=False, lr=2e-4) -> Side:
    """The reference's three compiled models and VGG16 teacher, on our generator and critic."""
    import keras
    import tensorflow as tf
    from keras import layers

    from colorize_core.networks.chromagan import build_critic, build_generator
    from colorize_core.training.trainer import set_precision

    set_precision(precision == MIXED)
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
            weights = tf.random.uniform((tf.shape(inputs[0])[0], 1, 1, 1), dtype=inputs[0].dtype)
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
            grads = tf.cast(tape.gradient(out, averaged), tf.float32)
            return tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))[:, None]

        def compute_output_shape(self, *shapes):
            return (None, 1)

    generator = build_generator(S, width, num_classes)
    critic = build_critic(S, width)
    optimizer = partial(keras.optimizers.Adam, lr, beta_1=0.5)  # one per compiled model (Keras 3)
    compile_ = partial(keras.Model.compile, jit_compile=xla)  # XLA set explicitly on every model
    compile_(critic, loss=wasserstein_loss, optimizer=optimizer())

    # The colorization model with the reference's softmax class head.
    L_in = keras.Input((S, S, 1))
    ab_out, logits = generator(L_in)
    colorization = keras.Model(L_in, [ab_out, layers.Softmax()(logits)])
    compile_(colorization, loss=["mse", "kld"], optimizer=optimizer())

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
    named = [layers.Identity(name=n)(t) for n, t in (("d_real", disc_real), ("d_fake", disc_pred_ab), ("gp", gp_norm))]
    discriminator_model = keras.Model([img_L, img_ab_real], named)
    compile_(
        discriminator_model,
        optimizer=optimizer(),
        loss=[wasserstein_loss, wasserstein_loss, gp_loss],
        loss_weights=[-1.0, 1.0, 1.0],
    )

    colorization.trainable = True
    critic.trainable = False
    c_L = keras.Input((S, S, 1))
    c_ab, c_probs = colorization(c_L)
    outs = (("ab", c_ab), ("probs", c_probs), ("d_fake", critic([c_L, c_ab])))
    combined = keras.Model(c_L, [layers.Identity(name=n)(t) for n, t in outs])
    compile_(combined, loss=["mse", "kld", wasserstein_loss], loss_weights=[1.0, 0.003, -0.1], optimizer=optimizer())

    # VGG16 with top, as the reference's VGG_modelF; resized to its 224 px like our teacher.
    vgg = keras.applications.VGG16(include_top=True, weights=teacher_file)
    l3 = keras.Input((S, S, 3))
    teacher = keras.Model(l3, vgg(layers.Resizing(224, 224)(l3) if S != 224 else l3))
    teacher.compile(jit_compile=xla)  # predict's XLA would otherwise be Keras's per-device default
    set_precision(False)

    positive_y = np.ones((batch, 1), np.float32)
    negative_y, dummy_y = -positive_y, np.zeros((batch, 1), np.float32)

    def train_discriminator(b):
        return discriminator_model.train_on_batch([b["L"], b["ab"]], [positive_y, negative_y, dummy_y])

    def train_combined(b, predict_vgg):
        return combined.train_on_batch([b["L"]], [b["ab"], predict_vgg, positive_y])

    # Keras 3 reads ``trainable`` when a model's train function is traced (Keras 2 read it at
    # compile): trace each with the reference's freezing in place, then the loop runs as written.
    first = {"L": np.zeros((batch, S, S, 1), np.float32), "ab": np.zeros((batch, S, S, 2), np.float32)}
    colorization.trainable, critic.trainable = False, True
    train_discriminator(first)
    colorization.trainable, critic.trainable = True, False
    train_combined(first, np.full((batch, 1000), 1e-3, np.float32))

    def teacher_only(b):
        return teacher.predict(np.tile(b["L"], [1, 1, 1, 3]), verbose=0, batch_size=batch)

    def run(b):
        g_loss = train_combined(b, teacher_only(b))
        d_loss = train_discriminator(b)
        return g_loss, d_loss

    parts = {
        # Each compiled model's update, with what it may change (the rest of both networks must not).
        "discriminator_model": (train_discriminator, [critic]),
        "combined": (lambda b: train_combined(b, teacher_only(b)), [generator]),
    }
    return Side(
        run=run, teacher_only=teacher_only, may_change=[generator, critic], must_not_change=[teacher], parts=parts
    )


# ----------------------------------------------------------------------------- variable updates
def _snapshot(models) -> dict[str, np.ndarray]:
    return {f"{m.name}/{v.path}": np.array(v.numpy()) for m in models for v in m.variables}


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k, v in before.items() if not np.array_equal(v, after[k])}


class WrongUpdate(AssertionError):
    """One step changed variables it must not, or none of those it should."""


def check_updates(label: str, side: Side, batch: dict) -> str:
    """One step of ``side`` (and, for the port, each compiled model's own update) changes only the
    variables it should, and at least one of each model it trains. Returns what was checked."""
    checks = [(label, side.run, side.may_change, side.must_not_change)]
    everything = side.may_change + side.must_not_change
    for name, (update, trains) in side.parts.items():
        checks.append((f"{label}: {name}", update, trains, [m for m in everything if m not in trains]))
    lines = []
    for name, update, trains, frozen in checks:
        before = _snapshot(trains + frozen)
        update(batch)
        changed = _changed(before, _snapshot(trains + frozen))
        wrong = sorted(k for k in changed if any(k.startswith(f"{m.name}/") for m in frozen))
        if wrong:
            raise WrongUpdate(f"{name}: one step changed {len(wrong)} frozen variables, e.g. {wrong[:3]}")
        idle = [m.name for m in trains if not any(k.startswith(f"{m.name}/") for k in changed)]
        if idle:
            raise WrongUpdate(f"{name}: one step changed none of {idle}'s variables")
        lines.append(
            f"{name}: {len(changed)} variables of {'+'.join(m.name for m in trains)} changed, "
            f"none of {'+'.join(m.name for m in frozen) or 'nothing else'}"
        )
    return "; ".join(lines)


# ------------------------------------------------------------------------------------------ conv
def conv_throughput(shapes, dtype: str, seconds: float = 1.0, repeats: int = 3) -> dict[tuple, list[float]]:
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
def time_steps(side: Side, batches, steps: int) -> float:
    t = time.perf_counter()
    for i in range(steps):
        side.run(batches[i % len(batches)])
    return time.perf_counter() - t


def warm_up(sides: dict[str, Side], batches, steps: int) -> dict[str, float]:
    """Untimed first calls (tracing) on every side; the seconds each side spent."""
    spent = {}
    for label, side in sides.items():
        t0 = time.perf_counter()
        for i in range(steps):
            side.run(batches[i % len(batches)])
        spent[label] = time.perf_counter() - t0
    return spent


def interleaved(sides: dict[str, Side], batches, steps: int, repeats: int, between=None) -> dict[str, list[float]]:
    """Images/s of every side per repeat; the order reverses every repeat so drift in the machine
    weighs on each side alike, and ``between()`` (the conv probe) runs after each repeat."""
    batch = len(next(iter(batches[0].values())))
    ips: dict[str, list[float]] = {k: [] for k in sides}
    order = list(sides)
    for r in range(repeats):
        for label in order if r % 2 == 0 else order[::-1]:
            ips[label].append(steps * batch / time_steps(sides[label], batches, steps))
        if between:
            between()
    return ips


def run(preset: str = FULL, sizes: list[str] | None = None) -> Section:
    import keras

    settings = SETTINGS[preset]
    section = Section(
        "step",
        "1. Training step: ours vs the reference's training loop ported to Keras 3 (on our networks)",
        "Same generator/critic builders, size, width, batch and numpy batches of real photos on both "
        "sides; every loss read back to the host each step on both sides; precision-matched pairs; XLA "
        "off on every compiled function of both sides (the reference's setting); repeats paired and "
        "interleaved (order reversed every repeat), warm-up excluded; ratios are medians of the pairs' "
        "ratios with a bootstrap 95% interval. FLOPs are the live operations of our step.",
    )
    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="bench-step-")
    teacher_file = str(Path(tmp.name) / "vgg16.weights.h5")
    keras.applications.VGG16(weights=None).save_weights(teacher_file)  # random init, no download
    gc.collect()
    num_classes = 1000  # the teacher's classes, as the reference's class head

    for name in sizes or list(settings.sizes):
        size, width, batch, steps, repeats, warmup = astuple(settings.sizes[name])
        batches = real_batches(size, batch, 4)
        tag = f"{name} ({size}px, width {width:g}, batch {batch})"
        shape = (size, width, batch, num_classes)
        variants = {
            "ours (teacher)": partial(build_ours, *shape, "teacher", teacher_file, FLOAT32),
            "port": partial(build_port, *shape, teacher_file, FLOAT32),
            "ours (labels, default)": partial(build_ours, *shape, "labels", None, FLOAT32),
            "ours (teacher, mixed)": partial(build_ours, *shape, "teacher", teacher_file, MIXED),
            "port (mixed)": partial(build_port, *shape, teacher_file, MIXED),
        }
        variants = {k: v for k, v in variants.items() if settings.sides is None or k in settings.sides}
        pairs = [(a, b) for a, b in PAIRS if a in variants and b in variants]
        # Every build sets the global random seed, and a function traced before that traces again
        # at its next call: the ports (which trace their train functions as they are built) are
        # built last, then every side makes its first calls (tracing), untimed.
        built, build_s = {}, {}
        for label in sorted(variants, key=lambda label: label.startswith("port")):
            t0 = time.perf_counter()
            built[label] = variants[label]()
            build_s[label] = time.perf_counter() - t0
        sides = {label: built[label] for label in variants}
        for label, spent in warm_up(sides, batches, warmup).items():
            build_s[label] += spent
        # Checked on a copy of the weights' state that the timing then continues from: a check is
        # one more step of training, which changes no timing.
        for label in ("ours (teacher)", "port", "port (mixed)"):
            if label in sides:
                section.notes.append(f"{name}: update check: {check_updates(label, sides[label], batches[0])}")
        sides["profile: VGG16 teacher predict alone"] = Side(run=sides["port"].teacher_only)
        build_s["profile: VGG16 teacher predict alone"] = 0.0

        # The machine's conv throughput at the model's and VGG16's shapes; the best shape of each
        # dtype is measured again after every repeat, so that achieved / conv pairs share a moment.
        shapes = model_conv_shapes(sides["ours (teacher)"].gan.generator, batch, settings.vgg_conv_shapes)
        measure_conv = partial(conv_throughput, seconds=settings.conv_seconds)
        conv32 = measure_conv(shapes, "float32", repeats=settings.conv_repeats)
        conv16 = measure_conv(shapes, "bfloat16", repeats=settings.conv_repeats)
        shape32 = max(conv32, key=lambda k: Stat(conv32[k]).median)
        shape16 = max(conv16, key=lambda k: Stat(conv16[k]).median)
        near32: list[float] = []
        near16: list[float] = []

        def probe_conv():
            near32.extend(measure_conv([shape32], "float32", repeats=1)[shape32])  # noqa: B023
            near16.extend(measure_conv([shape16], "bfloat16", repeats=1)[shape16])  # noqa: B023

        ips = interleaved(sides, batches, steps, repeats, between=probe_conv)

        for label in sides:
            section.add(
                f"{tag}: {label}",
                ips[label],
                "img/s",
                f"{steps} steps per repeat; set-up + warm-up {build_s[label]:.0f} s",
                2,
            )
        ratios = {}
        for ours, port in pairs:
            ratios[ours] = section.add(
                f"{tag}: {ours} / {port}", paired_ratio(ips[ours], ips[port]), "x", "same work, same precision", 2
            )
        section.add(
            f"{tag}: ours (labels, default) / port",
            paired_ratio(ips["ours (labels, default)"], ips["port"]),
            "x",
            "not the same work: our default drops the teacher forward",
            2,
        )

        # Live FLOPs of our step per image, and the achieved rate against the conv probe next to it.
        flops = {k: step_flops(sides[k].step, batches[0]) / batch for k in sides if k.startswith("ours")}
        gen = sides["ours (teacher)"].gan
        fwd = {
            "generator": forward_flops(gen.generator),
            "critic": forward_flops(gen.critic),
            "teacher": forward_flops(gen.teacher),
        }
        section.add(
            f"{tag}: forward GFLOP per image",
            [fwd["generator"] / 1e9],
            "GFLOP",
            f"generator; critic {fwd['critic'] / 1e9:.2f}, VGG16 teacher {fwd['teacher'] / 1e9:.2f}",
            2,
        )
        for label, f in flops.items():
            section.add(f"{tag}: {label} step GFLOP per image", [f / 1e9], "GFLOP", "live operations of the step", 2)
        achieved = {k: [f * x / 1e9 for x in ips[k]] for k, f in flops.items()}
        achieved["port"] = [flops["ours (teacher)"] * x / 1e9 for x in ips["port"]]  # same operations
        for label, samples in achieved.items():
            section.add(f"{tag}: {label} achieved", samples, "GFLOP/s", "", 0)
        for dtype, measured, near, best in (
            ("float32", conv32, near32, shape32),
            ("bfloat16", conv16, near16, shape16),
        ):
            for shape, s in measured.items():
                samples = s + near if shape == best else s
                section.add(f"{tag}: conv3x3 {dtype} {shape}", samples, "GFLOP/s", "(batch, side, c_in, c_out)", 0)
        share = section.add(
            f"{tag}: ours (teacher) / best float32 conv",
            paired_ratio(achieved["ours (teacher)"], near32),
            "x",
            "live FLOPs at the step's rate, over the conv probe right after it",
            2,
        )
        section.add(
            f"{tag}: ours (labels) / best float32 conv",
            paired_ratio(achieved["ours (labels, default)"], near32),
            "x",
            "",
            2,
        )
        if "ours (teacher, mixed)" in achieved:
            section.add(
                f"{tag}: ours (teacher, mixed) / best bfloat16 conv",
                paired_ratio(achieved["ours (teacher, mixed)"], near16),
                "x",
                "",
                2,
            )
        above = sum(x > 1.0 for x in share.samples)
        if above:
            section.notes.append(
                f"{name}: {above} of {len(share.samples)} share-of-peak samples are above 1.0: "
                "the conv probe right after those repeats ran slower than the step's own convolutions, "
                "so the probe is a noisy ceiling; the median and its interval use every sample"
            )
        for ours, port in pairs:
            section.goals.append(goal(f"{name}: {ours} >= 2x {port} (same work, same precision)", ratios[ours], 2.0))
        if name == "full":
            section.goals.append(goal("full: live-FLOP share of float32 conv peak >= 0.6", share, 0.6))
        t_port, t_teacher = 1 / Stat(ips["port"]).median, 1 / Stat(ips["profile: VGG16 teacher predict alone"]).median
        section.notes.append(
            f"{name}: the VGG16 teacher's predict alone takes {t_teacher / t_port:.0%} of the port's step time "
            f"(medians); the teacher is {fwd['teacher'] / flops['ours (teacher)']:.0%} of our step's live FLOPs. "
            f"Ours (teacher) does {flops['ours (teacher)'] / 1e9:.1f} GFLOP per image, ours (labels) "
            f"{flops['ours (labels, default)'] / 1e9:.1f}."
        )
        del sides
        keras.backend.clear_session()
        gc.collect()
    tmp.cleanup()
    section.seconds = time.perf_counter() - started
    return section
