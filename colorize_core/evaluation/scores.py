"""Colorization quality on RGB uint8 images: PSNR, SSIM and colorfulness.

Protocol (as in the ChromaGAN paper): the model sees the centre crop at ``model.image_size``;
its prediction (the input L with the predicted ab) and the ground truth (the same crop through the
Lab round trip) are both converted to RGB uint8 and compared with data range 255. The all-gray
baseline (ab = 0) is scored the same way, so every figure has its floor beside it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import tensorflow as tf

from colorize_core.data.lab import AB_BIN, AB_BINS, AB_LIMIT, AB_SCALE, AB_SIDE, denormalize_lab, lab_to_rgb
from colorize_core.networks.chromagan import predicted_ab


def lab_to_uint8(L: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    rgb = lab_to_rgb(denormalize_lab(L, ab))
    return tf.cast(tf.round(rgb * 255.0), tf.uint8)


def psnr(pred: tf.Tensor, truth: tf.Tensor) -> tf.Tensor:
    """Per-image PSNR in dB; identical images score 100 instead of infinity."""
    mse = tf.reduce_mean(tf.square(tf.cast(pred, tf.float32) - tf.cast(truth, tf.float32)), axis=[1, 2, 3])
    return tf.where(mse > 0, 10.0 * tf.math.log(255.0**2 / tf.maximum(mse, 1e-10)) / tf.math.log(10.0), 100.0)


def ssim(pred: tf.Tensor, truth: tf.Tensor) -> tf.Tensor:
    return tf.image.ssim(tf.cast(pred, tf.float32), tf.cast(truth, tf.float32), max_val=255.0)


def colorfulness(rgb_uint8: tf.Tensor) -> tf.Tensor:
    """Hasler and Suesstrunk (2003): sigma_rgyb + 0.3 * mu_rgyb, per image."""
    r, g, b = tf.unstack(tf.cast(rgb_uint8, tf.float32), axis=-1)
    rg, yb = r - g, 0.5 * (r + g) - b
    std = tf.sqrt(tf.math.reduce_variance(rg, axis=[1, 2]) + tf.math.reduce_variance(yb, axis=[1, 2]))
    mean = tf.sqrt(tf.square(tf.reduce_mean(rg, axis=[1, 2])) + tf.square(tf.reduce_mean(yb, axis=[1, 2])))
    return std + 0.3 * mean


AUC_THRESHOLDS = 151  # ab error thresholds 0, 1, ..., 150, as CIC's AuC


def auc_rebalanced(pred_ab: tf.Tensor, true_ab: tf.Tensor) -> tf.Tensor:
    """Per image (ab in Lab units): the area under the curve of the share of pixels whose ab error is
    within t, for t = 0..150, with every colour bin of the true image weighted equally (CIC's
    class-rebalanced AuC, rebalanced within each image). Gray scores low on a colourful photo: its
    few saturated pixels count as much as its many dull ones."""
    batch = tf.shape(true_ab)[0]
    bucket = tf.cast(tf.minimum(tf.math.ceil(tf.norm(pred_ab - true_ab, axis=-1)), AUC_THRESHOLDS), tf.int32)
    cell = tf.cast(tf.clip_by_value(tf.floor((true_ab + AB_LIMIT) / AB_BIN), 0, AB_SIDE - 1), tf.int32)
    colour = cell[..., 0] * AB_SIDE + cell[..., 1]
    image = tf.range(batch)[:, None, None] * tf.ones_like(colour)
    ids = (image * AB_BINS + colour) * (AUC_THRESHOLDS + 1) + bucket
    size = batch * AB_BINS * (AUC_THRESHOLDS + 1)
    counts = tf.math.bincount(tf.reshape(ids, [-1]), minlength=size, maxlength=size, dtype=tf.float32)
    counts = tf.reshape(counts, [batch, AB_BINS, AUC_THRESHOLDS + 1])
    total = tf.reduce_sum(counts, axis=-1)
    within = tf.cumsum(counts, axis=-1)[..., :AUC_THRESHOLDS]  # pixels with error <= t
    occupied = tf.cast(total > 0, tf.float32)
    share = tf.math.divide_no_nan(within, total[..., None])
    per_threshold = tf.reduce_sum(share * occupied[..., None], axis=1) / tf.reduce_sum(occupied, axis=1)[:, None]
    return tf.reduce_mean(per_threshold, axis=-1)


def batch_scores(L: tf.Tensor, pred_ab: tf.Tensor, true_ab: tf.Tensor) -> dict[str, tf.Tensor]:
    """Per-image scores of one batch, ground truth and gray baseline beside the prediction."""
    pred, truth = lab_to_uint8(L, pred_ab), lab_to_uint8(L, true_ab)
    gray = lab_to_uint8(L, tf.zeros_like(true_ab))
    c_pred, c_true = colorfulness(pred), colorfulness(truth)
    return {
        "psnr": psnr(pred, truth),
        "ssim": ssim(pred, truth),
        "colorfulness": c_pred,
        "colorfulness_truth": c_true,
        "colorfulness_gap": tf.abs(c_pred - c_true),
        # In the reference's ab units, (ab + 128)/255, as the training loss takes it.
        "ab_mse": tf.reduce_mean(tf.square((pred_ab - true_ab) * (AB_SCALE / 255.0)), axis=[1, 2, 3]),
        "gray_psnr": psnr(gray, truth),
        "auc_rebalanced": auc_rebalanced(pred_ab * AB_SCALE, true_ab * AB_SCALE),
        "gray_auc_rebalanced": auc_rebalanced(tf.zeros_like(true_ab), true_ab * AB_SCALE),
    }


def make_scorer(generator):
    """A compiled per-batch scorer for ``generator``; build once, call every epoch."""

    @tf.function(reduce_retracing=True)
    def scores(L, ab):
        return batch_scores(L, predicted_ab(generator(L, training=False)), ab)

    return scores


def evaluate(generator, dataset: Iterable[dict[str, tf.Tensor]], scorer=None) -> dict[str, float]:
    """Mean of every score over ``dataset`` (batches of L, ab), the generator in inference mode."""
    scores = scorer or make_scorer(generator)
    collected: dict[str, list] = {}
    for batch in dataset:
        for k, v in scores(batch["L"], batch["ab"]).items():
            collected.setdefault(k, []).append(v.numpy())
    if not collected:
        raise ValueError("evaluate: the dataset is empty")
    return {k: float(np.mean(np.concatenate(v))) for k, v in collected.items()}
