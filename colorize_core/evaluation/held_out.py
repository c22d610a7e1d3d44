"""Scoring a generator on a dataset's held-out split: the evaluation that decides a promotion.

The protocol is ``chromasweep evaluate``'s (``colorize_core.evaluation.photos``, 224: each whole held-out
image resized to 224 x 224, the model seeing its gray version at its own input size), over every
held-out image, so a promotion's numbers are the ones a user gets from ``evaluate`` on those photos.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from colorize_core.config import DataConfig
from colorize_core.data.datasets import resolve_dataset
from colorize_core.data.pipeline import FEATURES, shard_files
from colorize_core.evaluation.photos import Protocol, evaluate_images
from colorize_core.inference import Colorizer

PROTOCOL = Protocol.CHROMAGAN_224


def heldout_images(prepared: str, split: str, max_images: int | None = None) -> dict[str, np.ndarray]:
    """The split's images as stored (whole, RGB uint8), by file name, in shard order."""
    images = {}
    for record in tf.data.TFRecordDataset(shard_files(prepared, split)):
        parsed = tf.io.parse_single_example(record, FEATURES)
        name = parsed["image/filename"].numpy().decode() or f"image-{len(images) + 1:05d}"
        images[name] = tf.io.decode_image(parsed["image/encoded"], channels=3, expand_animations=False).numpy()
        if max_images and len(images) == max_images:
            break
    return images


def evaluate_heldout(generator, data: DataConfig, seed: int = 0, max_images: int | None = None) -> dict[str, float]:
    """Mean scores (PSNR, SSIM, rebalanced AuC, colourfulness gap, ab MSE, with the gray and
    constant-colour baselines) over the held-out split, under ``PROTOCOL``."""
    prepared, meta = resolve_dataset(data, seed, progress=False)
    split = "val" if meta.counts.get("val") else "train"
    images = heldout_images(prepared, split, max_images)
    scores = evaluate_images(Colorizer(generator), images, PROTOCOL).mean
    scores["images"] = float(len(images))
    return scores
