"""Colorful Image Colorization (Zhang, Isola, Efros, ECCV 2016): colour as a classification over
quantised ab bins, rebalanced towards rare colours, decoded by an annealed mean.

Network, as the reference's ``eccv16`` (richzhang/colorization), for an S x S input L:
    L centred as (L - 50) / 100 -> conv1 (2 convs, the 2nd stride 2) -> conv2 (2, stride 2)
    -> conv3 (3, stride 2) -> conv4 (3) -> conv5, conv6 (3 each, dilation 2) -> conv7 (3)
    -> conv8 (4x4 transposed conv stride 2, 2 convs) -> 1x1 conv to the bins' logits (S/4)
    -> annealed mean (temperature T) -> ab, upsampled 4x (bilinear).
Every conv has a ReLU; each block ends in batch normalisation (conv8 has none). ``width`` scales
the channels as it does ChromaGAN's; width 1 is the reference's. The optional class head (this
project's extension) pools conv7.

The bins (``model.bins``, ``ab_bins``) are the paper's 313 published centres by default; the option
gamut-261 computes the grid cells that hold an 8-bit sRGB colour instead, a subset of the 313.
"""

from __future__ import annotations

import functools
import json

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from colorize_core.config import CicBins
from colorize_core.data.lab import _WHITE_D65, _XYZ_FROM_RGB, AB_BIN, AB_SCALE
from colorize_core.networks.chromagan import (  # one batch-norm momentum and width rule for both families
    BN_MOMENTUM,
    _ch,
)
from colorize_core.networks.cic_bins import PTS_IN_HULL

BIN_GRID = AB_BIN  # ab quantisation step (Lab units): the same grid as the rebalanced AuC
PUBLISHED_BINS = 313  # the paper's count, of ``cic_bins.PTS_IN_HULL``: the default bin set
SOFT_NEIGHBOURS, SOFT_SIGMA = 5, 5.0  # soft-encoding: 5 nearest bins, Gaussian sigma 5
PRIOR_SIGMA = 5.0  # smoothing of the empirical bin distribution
PRIOR_SIZE = 64  # side at which training images are counted for the prior
PRIOR_MAX_IMAGES = 10_000  # a fixed, large sample of the training split is enough for a histogram
PRIOR_VERSION = 2  # 2: one cached prior per bin set (``model.bins``)


@functools.cache
def ab_bins(bins: CicBins) -> np.ndarray:
    """(Q, 2) ab bin centres of the set ``bins`` (``model.bins``), in Lab units, multiples of 10."""
    if CicBins(bins) is CicBins.PUBLISHED_313:
        return np.asarray(PTS_IN_HULL, np.float32)
    return _gamut_bins()


def _gamut_bins() -> np.ndarray:
    """Every grid point that is the nearest one to some 8-bit sRGB colour. Every colour a photo
    holds thus falls in a bin, and no bin is empty of possible colours. The ab projection of the RGB
    cube is the projection of its surface, so the cube's six faces (6 x 256^2 colours) give the same
    set as all 256^3 colours.

    This gives 261 bins, all among the paper's 313, which were found empirically on ImageNet and
    cannot be rederived from the gamut (centres in gamut give 229, cells touching it 268). So every
    sRGB colour falls in a published bin too; the other 52 are no 8-bit sRGB colour's nearest.
    """
    levels = np.arange(256) / 255.0
    linear = np.where(levels > 0.04045, ((levels + 0.055) / 1.055) ** 2.4, levels / 12.92)
    x, y = (g.ravel() for g in np.meshgrid(linear, linear, indexing="ij"))
    faces = []
    for channel in range(3):
        for edge in (linear[0], linear[-1]):
            rgb = np.empty((x.size, 3))
            rgb[:, channel] = edge
            rgb[:, [c for c in range(3) if c != channel]] = np.stack([x, y], -1)
            faces.append(rgb)
    xyz = np.concatenate(faces) @ (_XYZ_FROM_RGB.astype(np.float64) / _WHITE_D65.astype(np.float64)[:, None]).T
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    ab = np.stack([500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])], -1)
    return np.unique(np.round(ab / BIN_GRID), axis=0).astype(np.float32) * BIN_GRID


def soft_encode(ab: tf.Tensor, centres: tf.Tensor) -> tf.Tensor:
    """ab (..., 2) in Lab units to (..., Q) distributions: Gaussian weights (sigma 5) on the 5 nearest
    bins, normalised."""
    d2 = tf.reduce_sum(tf.square(ab[..., None, :] - centres), axis=-1)
    kth = tf.math.top_k(-d2, SOFT_NEIGHBOURS).values[..., -1:]
    weights = tf.where(-d2 >= kth, tf.exp(-d2 / (2.0 * SOFT_SIGMA**2)), 0.0)
    return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)


def annealed_mean(logits: tf.Tensor, centres: tf.Tensor, temperature: float) -> tf.Tensor:
    """The paper's f_T: the distribution's probabilities raised to 1/T and renormalised (which is the
    softmax of logits / T), then its mean ab, in Lab units. T 1 is the mean, T -> 0 the mode."""
    return tf.tensordot(tf.nn.softmax(logits / temperature, axis=-1), centres, 1)


@keras.saving.register_keras_serializable(package="colorize_core")
class AnnealedMeanAB(layers.Layer):
    """Bin logits (B, h, w, Q) to normalised ab (B, h, w, 2) by the annealed mean; no weights."""

    def __init__(self, temperature: float, centres: list, **kwargs):
        super().__init__(**kwargs)
        self.temperature = float(temperature)
        self.centres = [list(map(float, c)) for c in centres]
        self._centres = np.asarray(self.centres, np.float32)

    def call(self, logits):
        logits = tf.cast(logits, tf.float32)
        return annealed_mean(logits, self._centres, self.temperature) / AB_SCALE

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "centres": self.centres}


# Block: (filters, convs, stride of its last conv, dilation). conv8 is built apart (it upsamples).
ECCV16_BLOCKS = [
    (64, 2, 2, 1),
    (128, 2, 2, 1),
    (256, 3, 2, 1),
    (512, 3, 1, 1),
    (512, 3, 1, 2),
    (512, 3, 1, 2),
    (512, 3, 1, 1),
]


def build_cic_generator(
    image_size: int, width: float, temperature: float, num_classes: int | None, bins: CicBins
) -> keras.Model:
    """Outputs [ab (S x S, normalised), bin logits (S/4 x S/4 x Q)] and, with ``num_classes``, class logits."""
    S = image_size
    centres = ab_bins(bins)
    L = keras.Input((S, S, 1), name="L")
    x = layers.Rescaling(0.5, name="centre_L")(L)  # L/50 - 1 to the reference's (L - 50) / 100
    for block, (filters, convs, stride, dilation) in enumerate(ECCV16_BLOCKS, 1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(
                _ch(filters, width),
                3,
                strides=stride if i == convs else 1,
                dilation_rate=dilation,
                padding="same",
                activation="relu",
                name=f"conv{block}_{i}",
            )(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=1e-5, synchronized=True, name=f"conv{block}_bn")(x)
    conv7 = x
    x = layers.Conv2DTranspose(_ch(256, width), 4, strides=2, padding="same", activation="relu", name="conv8_1")(x)
    for i in (2, 3):
        x = layers.Conv2D(_ch(256, width), 3, padding="same", activation="relu", name=f"conv8_{i}")(x)
    logits = layers.Conv2D(len(centres), 1, dtype="float32", name="bin_logits")(x)
    ab_small = AnnealedMeanAB(temperature, centres.tolist(), dtype="float32", name="annealed_mean")(logits)
    ab = layers.UpSampling2D(4, interpolation="bilinear", dtype="float32", name="ab")(ab_small)
    outputs = [ab, logits]
    if num_classes:
        pooled = layers.GlobalAveragePooling2D()(conv7)
        outputs.append(layers.Dense(num_classes, dtype="float32", name="class_logits")(pooled))
    return keras.Model(L, outputs, name="cic_generator")


# -- class rebalancing --------------------------------------------------------------------------
def rebalancing_weights(counts: np.ndarray, mix: float, bins: CicBins) -> tuple[np.ndarray, np.ndarray]:
    """(weights, p̃) per bin: CIC's w ∝ ((1 - λ) p̃ + λ / Q)^-1, p̃ the empirical bin distribution smoothed by a Gaussian
    (sigma 5) in ab, normalised so that E_p̃[w] = 1. λ (``mix``) 1 weighs every bin alike."""
    centres = ab_bins(bins)
    if len(counts) != len(centres):
        raise ValueError(f"{len(counts)} bin counts for model.bins {bins}, which has {len(centres)} bins")
    p = counts / counts.sum()
    d2 = np.sum(np.square(centres[:, None] - centres[None]), -1)
    kernel = np.exp(-d2 / (2.0 * PRIOR_SIGMA**2))
    smoothed = kernel @ p
    smoothed /= smoothed.sum()
    w = 1.0 / ((1.0 - mix) * smoothed + mix / len(centres))
    return (w / np.sum(smoothed * w)).astype(np.float32), smoothed.astype(np.float32)


def nearest_bin(ab: tf.Tensor, centres: np.ndarray) -> tf.Tensor:
    d2 = tf.reduce_sum(tf.square(ab[..., None, :] - centres), axis=-1)
    return tf.argmin(d2, axis=-1, output_type=tf.int32)


def prior_file(prepared: str, bins: CicBins) -> str:
    return f"{prepared.rstrip('/')}/cic_prior-v{PRIOR_VERSION}-{CicBins(bins).value}.json"


def bin_counts(prepared: str, bins: CicBins) -> np.ndarray:
    """Pixel counts per ab bin of ``bins`` over the training split (its first ``PRIOR_MAX_IMAGES``
    images, centre crops at ``PRIOR_SIZE``), never validation images; cached beside the shards'
    metadata, one file per bin set."""
    from colorize_core.data.pipeline import make_dataset

    path = prior_file(prepared, bins)
    centres = ab_bins(bins)
    if tf.io.gfile.exists(path):
        cached = json.loads(tf.io.gfile.GFile(path).read())
        if cached["bins"] != centres.tolist():  # written for other centres: counts that would misread
            raise ValueError(
                f"{path}: its counts are for {len(cached['bins'])} other bins, not model.bins {bins}'s "
                f"{len(centres)}; delete the file to count again"
            )
        return np.asarray(cached["counts"], np.float64)
    counts = np.zeros(len(centres), np.float64)
    images = 0
    crops = make_dataset(prepared, "train", PRIOR_SIZE, 64, training=False, take=PRIOR_MAX_IMAGES)
    for batch in crops:
        ids = nearest_bin(batch["ab"] * AB_SCALE, centres)
        counts += np.bincount(ids.numpy().ravel(), minlength=len(centres))
        images += int(batch["ab"].shape[0])
    if not images:
        raise ValueError(f"{prepared}: no training images to compute CIC's colour prior from")
    record = {
        "version": PRIOR_VERSION,
        "bin_set": CicBins(bins).value,
        "images": images,
        "size": PRIOR_SIZE,
        "bins": centres.tolist(),
        "counts": counts.tolist(),
    }
    # Written whole, then renamed: workers that compute it at once all write the same content.
    tmp = f"{path}.{np.random.default_rng().integers(1 << 62)}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(record))
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return counts
