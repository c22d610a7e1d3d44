"""Sample grids: what a person looks at to judge a colorizer, one row per image.

Each row is gray input | prediction | ground truth at the model's resolution, so a grid logged every
few epochs shows the colours arriving (or not) on the same fixed validation images.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from colorize_core.evaluation.scores import lab_to_uint8
from colorize_core.networks.chromagan import predicted_ab


def sample_grid(generator, L: tf.Tensor, ab: tf.Tensor, gap: int = 4) -> np.ndarray:
    """RGB uint8 grid (rows of gray | predicted | true) for a batch of normalised L and ab."""
    pred_ab = predicted_ab(generator(L, training=False))
    gray = lab_to_uint8(L, tf.zeros_like(ab)).numpy()
    pred = lab_to_uint8(L, tf.cast(pred_ab, tf.float32)).numpy()
    truth = lab_to_uint8(L, ab).numpy()
    n, h, w, _ = gray.shape
    grid = np.full((n * h + (n - 1) * gap, 3 * w + 2 * gap, 3), 255, np.uint8)
    for i in range(n):
        top = i * (h + gap)
        for j, image in enumerate((gray[i], pred[i], truth[i])):
            left = j * (w + gap)
            grid[top : top + h, left : left + w] = image
    return grid
