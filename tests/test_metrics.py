"""The held-out scores on real photos: what each one ranks above what."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorize_core.data.lab import lab_to_rgb, rgb_to_lab
from colorize_core.evaluation.scores import auc_rebalanced, psnr


@pytest.fixture(scope="module")
def held_out_lab(sample_photos):
    paths = sorted((sample_photos / "ILSVRC" / "Data" / "CLS-LOC" / "val").glob("*.JPEG"))
    rgb = np.stack([np.asarray(Image.open(p).convert("RGB").resize((96, 96)), np.float32) / 255 for p in paths])
    lab = rgb_to_lab(tf.constant(rgb))
    return lab[..., :1], lab[..., 1:]


def _rgb(L, ab):
    return tf.cast(tf.round(tf.clip_by_value(lab_to_rgb(tf.concat([L, ab], -1)), 0, 1) * 255), tf.uint8)


def test_the_rebalanced_auc_is_not_won_by_gray_or_a_safe_mean_colour(held_out_lab):
    L, ab = held_out_lab
    noisy = tf.clip_by_value(ab + np.random.default_rng(0).normal(0, 20, ab.shape).astype(np.float32), -110, 110)
    candidates = {
        "truth": ab,
        "gray": tf.zeros_like(ab),
        "mean colour": tf.ones_like(ab) * tf.reduce_mean(ab, axis=[0, 1, 2]),
        "noisy truth": noisy,  # the right colours, with per-pixel noise of 20 ab units
    }
    truth_rgb = _rgb(L, ab)
    score = {k: float(tf.reduce_mean(psnr(_rgb(L, c), truth_rgb))) for k, c in candidates.items()}
    auc = {k: float(tf.reduce_mean(auc_rebalanced(c, ab))) for k, c in candidates.items()}
    # PSNR prefers the safe mean colour, and even gray, to the right colours with noise ...
    assert score["mean colour"] > score["gray"] > score["noisy truth"], score
    # ... the rebalanced AuC puts the right colours first, and gray last.
    assert auc["truth"] == pytest.approx(1.0)
    assert auc["noisy truth"] > auc["mean colour"] > auc["gray"], auc


def test_the_rebalanced_auc_weighs_each_colour_of_an_image_equally():
    # 90 pixels of one colour, 10 of another; a prediction right on the first colour only.
    true_ab = np.zeros((1, 10, 10, 2), np.float32)
    true_ab[0, 9, :] = [60.0, 60.0]
    pred_ab = np.zeros_like(true_ab)
    plain = np.mean([np.mean(np.linalg.norm(pred_ab - true_ab, axis=-1) <= t) for t in range(151)])
    rebalanced = float(auc_rebalanced(tf.constant(pred_ab), tf.constant(true_ab))[0])
    # The wrong colour is 84.9 ab units off: within t for 66 of the 151 thresholds.
    assert plain == pytest.approx(0.9 + 0.1 * 66 / 151)
    assert rebalanced == pytest.approx(0.5 + 0.5 * 66 / 151)
