"""Colorizing photos of any size with a trained generator.

The generator sees the whole image squeezed to its training size; its ab prediction is resized
back to the photo's full resolution and joined with the photo's own, full-resolution L. So the
output has every detail of the input; only the colour is at the model's resolution.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from colorize_core.lab import AB_SCALE, lab_to_rgb, normalize_lab, rgb_to_lab
from colorize_core.metrics import predicted_ab
from colorize_core.model import GrayToVGGInput  # noqa: F401  registers the custom layer for loading
from colorize_core.model_files import MODEL_FILE, MODEL_INFO


class Colorizer:
    def __init__(self, generator: keras.Model, image_size: int | None = None):
        self.generator = generator
        self.image_size = image_size or int(generator.inputs[0].shape[1])
        self._predict_ab = tf.function(lambda L: predicted_ab(generator(L, training=False)), reduce_retracing=True)

    @classmethod
    def load(cls, path: str | Path) -> "Colorizer":
        """From an exported model folder (generator.keras + colorizer.json) or a .keras file."""
        path = Path(path)
        model_file = path / MODEL_FILE if path.is_dir() else path
        if not model_file.is_file():
            raise FileNotFoundError(f"{path}: no {MODEL_FILE} (expected a folder written by 'chromasweep train')")
        info_file = model_file.parent / MODEL_INFO
        size = json.loads(info_file.read_text())["image_size"] if info_file.is_file() else None
        return cls(keras.saving.load_model(model_file, compile=False), size)

    def colorize(self, image: np.ndarray) -> np.ndarray:
        """RGB or gray uint8 (H, W[, C]) to RGB uint8 (H, W, 3)."""
        rgb = _as_rgb_float(image)
        lab = rgb_to_lab(rgb)
        L_full = lab[..., :1]
        small = tf.image.resize(rgb, (self.image_size, self.image_size), antialias=True)
        L_small, _ = normalize_lab(rgb_to_lab(tf.clip_by_value(small, 0.0, 1.0)))
        ab_small = self._predict_ab(L_small[None])[0] * AB_SCALE
        ab_full = tf.image.resize(ab_small, tf.shape(L_full)[:2], method="bilinear")
        out = lab_to_rgb(tf.concat([L_full, ab_full], axis=-1))
        return np.asarray(tf.round(out * 255.0), dtype=np.uint8)


def _as_rgb_float(image: np.ndarray) -> tf.Tensor:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = image[..., :3]
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return tf.constant(image.astype(np.float32) / scale)


def read_image(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        img.load()
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        return np.asarray(img)


def colorize_files(colorizer: Colorizer, paths: list[Path], out_dir: Path) -> tuple[list[Path], dict[Path, str]]:
    """Colorize each file into ``out_dir`` as PNG; unreadable files are returned with the reason."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, failed = [], {}
    for path in paths:
        try:
            image = read_image(path)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            failed[path] = str(err) or type(err).__name__
            continue
        target = out_dir / f"{path.stem}.png"
        Image.fromarray(colorizer.colorize(image)).save(target)
        written.append(target)
    return written, failed
