"""sRGB <-> CIE Lab (D65, 2 degree observer) in TensorFlow ops, matching skimage.color.

The model sees L and predicts ab, both scaled to about [-1, 1]: L/50 - 1 and ab/110.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# skimage.color's sRGB (D65) matrices and white point, so results agree with rgb2lab/lab2rgb.
# NumPy, not tf.constant: creating a tensor at import would start TensorFlow's runtime, and
# MultiWorkerMirroredStrategy must be created before that happens.
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    np.float32,
)
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB).astype(np.float32)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], np.float32)
# Transposed for ``tensordot(pixels, M.T, 1)``: one (N, 3) x (3, 3) matmul. ``tf.linalg.matvec``
# broadcasts the matrix to one 3x3 product per pixel, which made it 10x slower on CPU (about 40%
# of the input pipeline's Lab conversion); the results are bit-for-bit the same.
_XYZ_FROM_RGB_T = np.ascontiguousarray(_XYZ_FROM_RGB.T)
_RGB_FROM_XYZ_T = np.ascontiguousarray(_RGB_FROM_XYZ.T)

L_SCALE, AB_SCALE = 50.0, 110.0
AB_BIN, AB_LIMIT = 10.0, 110.0  # CIC's grid of ab bins: 10 wide over [-110, 110]
AB_SIDE = int(2 * AB_LIMIT / AB_BIN)  # 22 bins along a and along b
AB_BINS = AB_SIDE**2


def _power(x: tf.Tensor, p: float) -> tf.Tensor:
    """x ** p for x > 0 as exp(p log x): 3-4x faster than ``tf.pow`` with a scalar exponent on CPU,
    eager and under XLA (the input pipeline's Lab conversion), within a few float32 ulps of it."""
    return tf.exp(p * tf.math.log(x))


def rgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
    """RGB floats in [0, 1] (any leading shape, channels last) to Lab (L in [0, 100])."""
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    # Both branches of tf.where are computed: the powers' arguments are kept positive everywhere.
    linear = tf.where(rgb > 0.04045, _power((tf.maximum(rgb, 0.0) + 0.055) / 1.055, 2.4), rgb / 12.92)
    xyz = tf.tensordot(linear, _XYZ_FROM_RGB_T, 1) / _WHITE_D65
    f = tf.where(xyz > 0.008856, _power(tf.maximum(xyz, 1e-12), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: tf.Tensor) -> tf.Tensor:
    """Lab to RGB floats clipped to [0, 1]; out-of-gamut colours are clipped like skimage."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    L, a, b = tf.unstack(lab, axis=-1)
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = tf.maximum(fy - b / 200.0, 0.0)
    f = tf.stack([fx, fy, fz], axis=-1)
    xyz = tf.where(f > 0.2068966, tf.pow(f, 3.0), (f - 16.0 / 116.0) / 7.787) * _WHITE_D65
    linear = tf.tensordot(xyz, _RGB_FROM_XYZ_T, 1)
    rgb = tf.where(linear > 0.0031308, 1.055 * tf.pow(tf.maximum(linear, 1e-12), 1.0 / 2.4) - 0.055, 12.92 * linear)
    return tf.clip_by_value(rgb, 0.0, 1.0)


def normalize_lab(lab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Lab to the model's inputs: (L in [-1, 1], ab in about [-1, 1])."""
    return lab[..., :1] / L_SCALE - 1.0, lab[..., 1:] / AB_SCALE


def denormalize_lab(l_norm: tf.Tensor, ab_norm: tf.Tensor) -> tf.Tensor:
    return tf.concat([(l_norm + 1.0) * L_SCALE, ab_norm * AB_SCALE], axis=-1)
