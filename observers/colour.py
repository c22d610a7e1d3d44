"""Colour statistics of one RGB uint8 image, in numpy (no TensorFlow)."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab

CHROMA_PERCENTILES = (10, 50, 90)
SATURATION_BINS = 8
FEATURES = (
    "a_mean",
    "b_mean",
    "a_std",
    "b_std",
    *(f"chroma_p{q}" for q in CHROMA_PERCENTILES),
    "colourfulness",
    *(f"saturation_bin{i}" for i in range(SATURATION_BINS)),
)


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003): sigma_rgyb + 0.3 * mu_rgyb; as colorize_core.evaluation.scores.colorfulness,
    population variances, one image."""
    r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.sqrt(rg.var() + yb.var()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def features(rgb: np.ndarray) -> np.ndarray:
    """The statistics named in FEATURES: a and b of CIE Lab (mean, spread), chroma percentiles,
    colourfulness and the share of pixels in each HSV saturation bin."""
    lab = rgb2lab(rgb)
    a, b = lab[..., 1].ravel(), lab[..., 2].ravel()
    chroma = np.hypot(a, b)
    high, low = rgb.max(axis=-1).astype(np.float64), rgb.min(axis=-1).astype(np.float64)
    saturation = np.divide(high - low, high, out=np.zeros_like(high), where=high > 0)
    histogram = np.histogram(saturation, bins=SATURATION_BINS, range=(0.0, 1.0))[0] / saturation.size
    values = [
        a.mean(),
        b.mean(),
        a.std(),
        b.std(),
        *np.percentile(chroma, CHROMA_PERCENTILES),
        colourfulness(rgb),
        *histogram,
    ]
    return np.asarray(values, dtype=np.float64)
