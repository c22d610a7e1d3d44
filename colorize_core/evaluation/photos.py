"""Scoring a colorizer on whole photos under a stated protocol, so its numbers can stand beside
published ones and beside the baselines any colorizer must beat.

Protocols (``--size``): ``224`` resizes each whole photo to 224x224 (ChromaGAN's evaluation),
``256`` to 256x256 (DDColor's, on ImageNet val5k), ``full`` keeps each photo's own size. The resized
photo is the truth; the colorizer sees its gray version (at the model's input size, ab upsampled
back, as ``predict`` does). Scores on RGB uint8 with data range 255: PSNR, SSIM, colourfulness and
its gap to the truth. Beside each, two baselines scored the same way: gray (ab = 0) and the constant
mean ab of the evaluated photos themselves (an oracle constant colour: the score of desaturated,
"safe" colours, which a model must beat to be doing more than that). ``intervals`` gives each mean a
bootstrap confidence interval over photos, and the model's paired differences to both baselines one too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image
from scipy.stats import bootstrap

from colorize_core.data.lab import lab_to_rgb, rgb_to_lab
from colorize_core.data.shards import has_colour
from colorize_core.data.sources import DatasetError
from colorize_core.evaluation.scores import auc_rebalanced, colorfulness, psnr, ssim
from colorize_core.inference import Colorizer, UnreadablePhoto, read_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class Protocol(StrEnum):
    CHROMAGAN_224 = "224"
    DDCOLOR_256 = "256"
    FULL = "full"

    @property
    def side(self) -> int | None:
        return None if self is Protocol.FULL else int(self.value)


@dataclass
class PhotoScores:
    name: str
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class Evaluation:
    protocol: Protocol
    photos: list[PhotoScores]
    skipped: dict[str, str]
    mean_ab: tuple[float, float]

    @property
    def mean(self) -> dict[str, float]:
        keys = self.photos[0].scores.keys()
        return {k: float(np.mean([p.scores[k] for p in self.photos])) for k in keys}


def photo_paths(folder: str | Path) -> list[Path]:
    """Every image file under ``folder``, sorted; refused if there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder of photos")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DatasetError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths


def _truth(image: np.ndarray, protocol: Protocol) -> np.ndarray:
    rgb = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]
    if protocol.side is None:
        return rgb.astype(np.uint8)
    return np.asarray(Image.fromarray(rgb.astype(np.uint8)).resize((protocol.side,) * 2, Image.Resampling.LANCZOS))


def _rgb_uint8(lab: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(lab_to_rgb(lab) * 255.0), tf.uint8)


def _scores(pred: tf.Tensor, truth: tf.Tensor, truth_ab: tf.Tensor) -> dict[str, float]:
    """Scores of one RGB uint8 prediction against the truth; ``truth_ab`` in Lab units."""
    pred_ab = rgb_to_lab(tf.cast(pred, tf.float32) / 255.0)[..., 1:]
    pred, truth = pred[None], truth[None]
    c_pred, c_true = colorfulness(pred), colorfulness(truth)
    return {
        "psnr": float(psnr(pred, truth)[0]),
        "ssim": float(ssim(pred, truth)[0]),
        "colorfulness": float(c_pred[0]),
        "colorfulness_gap": float(tf.abs(c_pred - c_true)[0]),
        "auc_rebalanced": float(auc_rebalanced(pred_ab[None], truth_ab[None])[0]),
        # In the reference's units, (ab + 128)/255, as training reports it.
        "ab_mse": float(tf.reduce_mean(tf.square((pred_ab - truth_ab) / 255.0))),
    }


def evaluate_photos(colorizer: Colorizer, paths: list[Path], protocol: Protocol) -> Evaluation:
    images, skipped = read_photos(paths)
    return evaluate_images(colorizer, images, protocol, skipped)


def read_photos(paths: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Name -> RGB uint8 of each colour photo, and path -> why for each one skipped."""
    images, skipped = {}, {}
    for path in paths:
        try:
            image = read_image(path)
        except UnreadablePhoto as err:
            skipped[str(path)] = f"unreadable image ({err})"
            continue
        # A gray truth scores the gray baseline at PSNR's cap (100 dB): 8 such photos among 200 put
        # gray 3 dB ahead of any colorizer. There is no colour to score: skipped, as prepare does.
        if image.ndim == 2 or not has_colour(Image.fromarray(image[..., :3])):
            skipped[str(path)] = "grayscale: no colour to score"
            continue
        images[path.name] = image
    if not images:
        reasons = "; ".join(f"{path}: {why}" for path, why in list(skipped.items())[:3])
        raise DatasetError(f"no readable colour photo among {len(paths)} files ({reasons})")
    return images, skipped


def evaluate_images(
    colorizer: Colorizer, images: dict[str, np.ndarray], protocol: Protocol, skipped: dict[str, str] | None = None
) -> Evaluation:
    """``images`` (name -> RGB uint8 at any size) scored under ``protocol``, baselines beside them."""
    truths = {name: _truth(image, protocol) for name, image in images.items()}
    labs = {name: rgb_to_lab(tf.constant(rgb, tf.float32) / 255.0) for name, rgb in truths.items()}
    mean_ab = tf.reduce_mean(tf.stack([tf.reduce_mean(lab[..., 1:], axis=[0, 1]) for lab in labs.values()]), axis=0)

    photos = []
    for name, rgb in truths.items():
        truth, lab = tf.constant(rgb), labs[name]
        L = lab[..., :1]
        pred = tf.constant(colorizer.colorize(rgb))
        gray = _rgb_uint8(tf.concat([L, tf.zeros_like(lab[..., 1:])], axis=-1))
        constant = _rgb_uint8(tf.concat([L, tf.broadcast_to(mean_ab, tf.shape(lab[..., 1:]))], axis=-1))
        truth_ab = lab[..., 1:]
        baseline_keys = ("psnr", "ssim", "auc_rebalanced")
        scores = _scores(pred, truth, truth_ab)
        scores.update({f"gray_{k}": v for k, v in _scores(gray, truth, truth_ab).items() if k in baseline_keys})
        scores.update({f"mean_ab_{k}": v for k, v in _scores(constant, truth, truth_ab).items() if k in baseline_keys})
        scores["colorfulness_truth"] = float(colorfulness(truth[None])[0])
        photos.append(PhotoScores(name, scores))
    return Evaluation(protocol, photos, skipped or {}, (float(mean_ab[0]), float(mean_ab[1])))


COLUMNS = [
    "psnr",
    "gray_psnr",
    "mean_ab_psnr",
    "ssim",
    "gray_ssim",
    "mean_ab_ssim",
    "auc_rebalanced",
    "gray_auc_rebalanced",
    "mean_ab_auc_rebalanced",
    "colorfulness",
    "colorfulness_truth",
    "colorfulness_gap",
]


def table(evaluation: Evaluation) -> list[list[str]]:
    """Rows of the printed table: a header, one row per photo, then the mean."""
    rows = [["photo", *COLUMNS]]
    for p in evaluation.photos:
        rows.append([p.name, *(_cell(c, p.scores[c]) for c in COLUMNS)])
    mean = evaluation.mean
    rows.append(["mean", *(_cell(c, mean[c]) for c in COLUMNS)])
    return rows


def _cell(column: str, value: float) -> str:
    return f"{value:.3f}" if "ssim" in column or "auc" in column else f"{value:.2f}"


# Scores a model must beat both baselines on; the differences are model minus baseline, photo by photo.
COMPARED = ("psnr", "ssim", "auc_rebalanced")
BASELINES = ("gray", "mean_ab")


@dataclass(frozen=True)
class Interval:
    """A mean over photos and its confidence interval; NaN bounds where there is none (one photo)."""

    quantity: str  # a column, or ``<score>_minus_<baseline>`` for a difference (also its metric name)
    label: str
    mean: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """Where the interval lies against 0: a difference "above" 0 is a model beating the baseline."""
        if np.isnan(self.low) or np.isnan(self.high):
            return "n/a"
        return "above" if self.low > 0 else "below" if self.high < 0 else "tie"


@dataclass(frozen=True)
class Intervals:
    confidence: float
    photos: int
    columns: tuple[Interval, ...]
    differences: tuple[Interval, ...]

    def rows(self) -> list[list[str]]:
        """The CSV written beside ``--out``: every column's interval, then every difference's."""
        rows = [[i.quantity, *map(repr, (i.mean, i.low, i.high))] for i in (*self.columns, *self.differences)]
        return [["quantity", "mean", "ci_low", "ci_high"], *rows]

    def lines(self) -> list[str]:
        """The block printed under the table."""
        cells = [[i.label, *_ci(i, ""), ""] for i in self.columns]
        cells += [[i.label, *_ci(i, "+"), i.verdict] for i in self.differences]
        widths = [max(len(row[k]) for row in cells) for k in range(3)]
        head = f"mean [{self.confidence:.0%} CI] over {self.photos} photo{'s' * (self.photos != 1)}"
        lines = [f"  {a.ljust(widths[0])}  {m.rjust(widths[1])} {ci.ljust(widths[2])}  {v}" for a, m, ci, v in cells]
        return [head, *(line.rstrip() for line in lines)]


def intervals(evaluation: Evaluation, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> Intervals:
    """Percentile-bootstrap intervals of the mean over photos, of every column and of the model's paired
    differences to the gray and constant-colour baselines (the same photos resampled for both sides)."""
    scores = {c: np.array([p.scores[c] for p in evaluation.photos]) for c in COLUMNS}
    pairs = [(k, b) for k in COMPARED for b in BASELINES]
    model = np.stack([scores[k] for k, _ in pairs])
    baseline = np.stack([scores[f"{b}_{k}"] for k, b in pairs])
    low, high = _bootstrap((np.stack(list(scores.values())),), np.mean, confidence, resamples, seed)
    d_low, d_high = _bootstrap((model, baseline), _mean_difference, confidence, resamples, seed)
    columns = tuple(Interval(c, c, float(v.mean()), lo, hi) for (c, v), lo, hi in zip(scores.items(), low, high))
    diffs = tuple(
        Interval(f"{k}_minus_{b}", f"{k} - {b}_{k}", float((m - g).mean()), lo, hi)
        for (k, b), m, g, lo, hi in zip(pairs, model, baseline, d_low, d_high)
    )
    return Intervals(confidence, len(evaluation.photos), columns, diffs)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def _bootstrap(data: tuple[np.ndarray, ...], statistic, confidence: float, resamples: int, seed: int):
    """Lower and upper bounds, one per row of ``data``'s arrays (photos along the last axis)."""
    rows, n = data[0].shape
    if n < 2:  # one photo has no spread to resample: the interval is undefined, not zero-wide
        return [float("nan")] * rows, [float("nan")] * rows
    # Seeded afresh each call, so the same scores always print the same intervals.
    # Percentile, not BCa: BCa gives NaN (and a warning) when every photo scores alike, as the gray
    # baseline's capped PSNR does on gray photos, and adds a jackknife of n^2 work per row; for a mean
    # over tens of photos or more the two barely differ (with a handful, both run a little narrow).
    result = bootstrap(
        data,
        statistic,
        n_resamples=resamples,
        batch=max(1, 10_000_000 // (rows * n)),
        vectorized=True,
        paired=True,
        axis=-1,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return [float(v) for v in ci.low], [float(v) for v in ci.high]


def _ci(interval: Interval, sign: str) -> tuple[str, str]:
    """The mean and its bracketed bounds, at the table's precision."""
    digits = 3 if "ssim" in interval.quantity or "auc" in interval.quantity else 2
    low, high = ("nan" if np.isnan(v) else f"{v:{sign}.{digits}f}" for v in (interval.low, interval.high))
    return f"{interval.mean:{sign}.{digits}f}", f"[{low}, {high}]"


# One row per model in a comparison: the score, then the model minus each baseline (paired).
COMPARISON = (
    "psnr",
    "psnr_minus_gray",
    "psnr_minus_mean_ab",
    "auc_rebalanced",
    "auc_rebalanced_minus_gray",
    "auc_rebalanced_minus_mean_ab",
    "colorfulness_gap",
)


def comparison(named: list[tuple[str, Intervals]]) -> list[list[str]]:
    """Rows of several models' intervals on the same photos: a header, the two baselines (their scores
    do not depend on the model), then one row per model; a difference's cell ends with its verdict."""
    first = {i.quantity: i for i in named[0][1].columns}
    rows = [["model", *COMPARISON]]
    for baseline in BASELINES:
        rows.append(
            [f"({baseline})", *(_cell_ci(first[f"{baseline}_{q}"]) if q in COMPARED else "" for q in COMPARISON)]
        )
    for name, spread in named:
        found = {i.quantity: i for i in (*spread.columns, *spread.differences)}
        rows.append([name, *(_cell_ci(found[q], verdict="_minus_" in q) for q in COMPARISON)])
    return rows


def _cell_ci(interval: Interval, verdict: bool = False) -> str:
    mean, ci = _ci(interval, "+" if verdict else "")
    return f"{mean} {ci}" + (f" {interval.verdict}" if verdict else "")
