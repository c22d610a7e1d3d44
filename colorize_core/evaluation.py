"""Scoring a generator on a dataset's held-out split: the evaluation that decides a promotion.

Every validation image (not the per-epoch cap), centre crops at the generator's own input size, the
same scores as training reports; so two models trained on the same data are compared like for like.
"""

from __future__ import annotations

from colorize_core.config import DataConfig
from colorize_core.datasets import resolve_dataset
from colorize_core.metrics import evaluate
from colorize_core.pipeline import make_dataset


def evaluate_heldout(generator, data: DataConfig, seed: int = 0, max_images: int | None = None) -> dict[str, float]:
    """Mean PSNR, SSIM, colorfulness (and gap), ab MSE and the gray baseline over the held-out split."""
    prepared, meta = resolve_dataset(data, seed, progress=False)
    split = "val" if meta.counts.get("val") else "train"
    image_size = int(generator.inputs[0].shape[1])
    dataset = make_dataset(prepared, split, image_size, 16, training=False, take=max_images)
    scores = evaluate(generator, dataset)
    scores["images"] = float(min(meta.counts.get(split, 0), max_images or meta.counts.get(split, 0)))
    return scores
