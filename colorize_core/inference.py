"""Colorizing photos of any size with a trained generator.

The generator sees the whole image squeezed to its training size; its ab prediction is resized
back to the photo's full resolution and joined with the photo's own, full-resolution L. So the
output has every detail of the input; only the colour is at the model's resolution.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from colorize_core.data.buckets import fetched
from colorize_core.data.lab import AB_SCALE, lab_to_rgb, normalize_lab, rgb_to_lab
from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri
from colorize_core.model_files import MODEL_FILE, MODEL_INFO
from colorize_core.networks.chromagan import (
    GrayToVGGInput,  # noqa: F401
    predicted_ab,
)
from colorize_core.networks.cic import AnnealedMeanAB  # noqa: F401  registers the custom layers for loading


class Colorizer:
    def __init__(self, generator: keras.Model, image_size: int | None = None):
        self.generator = generator
        self.image_size = image_size or int(generator.inputs[0].shape[1])
        self._predict_ab = tf.function(lambda L: predicted_ab(generator(L, training=False)), reduce_retracing=True)

    @classmethod
    def load(cls, path: str | Path) -> Colorizer:
        """From an exported model folder (its Keras file and info, ``model_files``) or a .keras file, local or
        in a bucket (gs://...)."""
        if is_uri(str(path)):
            with fetched(str(path)) as local:
                return cls.load(local)
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


# One colorization holds about 60 bytes per pixel at its peak (float RGB, Lab, ab, output), so 50 MP
# is about 3 GB: larger photos are refused before they are decoded, not swapped.
MAX_PIXELS = 50_000_000
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")


class UnreadablePhoto(ChromasweepError, ValueError):
    """A file that cannot be colorized, with the reason."""


@dataclass
class Photo:
    pixels: np.ndarray  # (H, W) gray or (H, W, 3) RGB; uint8, or uint16 from a 16-bit file
    alpha: np.ndarray | None = None  # (H, W) uint8, given back with the colorized photo


def read_photo(path: Path) -> Photo:
    """A photo upright as viewers show it (EXIF orientation applied), in RGB or gray, with its alpha."""
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise UnreadablePhoto(
                    f"{w}x{h} is {w * h / 1e6:.0f} MP, over the {MAX_PIXELS / 1e6:.0f} MP limit "
                    "that keeps memory bounded; downscale it first"
                )
            img = ImageOps.exif_transpose(img)
            if img.mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            alpha = None
            if img.mode in ("RGBA", "LA", "PA"):
                alpha = np.asarray(img.getchannel("A"))
                img = img.convert("L" if img.mode == "LA" else "RGB")
            if img.mode in _SIXTEEN_BIT:
                return Photo(np.clip(np.asarray(img), 0, 65535).astype(np.uint16), alpha)
            if img.mode not in ("RGB", "L"):  # CMYK, YCbCr, 1-bit, float
                img = img.convert("RGB")
            return Photo(np.asarray(img), alpha)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise UnreadablePhoto(str(err) or type(err).__name__) from None


def read_image(path: Path) -> np.ndarray:
    """The photo's pixels in 8 bits, as metrics on RGB uint8 take them."""
    pixels = read_photo(path).pixels
    return np.round(pixels / 257.0).astype(np.uint8) if pixels.dtype == np.uint16 else pixels


def output_paths(paths: list[Path], out_dir: Path) -> dict[Path, Path]:
    """``NAME.png`` in ``out_dir`` for each input; never an input's own path (``NAME.colorized.png``
    then), and never one output for two inputs (``a.jpg`` and ``a.png``)."""
    inputs = {p.resolve() for p in paths}
    taken: set[Path] = set()
    out = {}
    for path in paths:
        target, n = out_dir / f"{path.stem}.png", 0
        while target.resolve() in inputs or target.resolve() in taken:
            n += 1
            target = out_dir / f"{path.stem}.colorized{'' if n == 1 else f'-{n}'}.png"
        taken.add(target.resolve())
        out[path] = target
    return out


def colorize_files(colorizer: Colorizer, paths: list[Path], out_dir: Path) -> tuple[list[Path], dict[Path, str]]:
    """Colorize each file into ``out_dir`` as PNG (RGBA where the input has alpha); files that cannot
    be colorized are returned with the reason, and the others are still written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, failed = [], {}
    for path, target in output_paths(paths, out_dir).items():
        try:
            photo = read_photo(path)
        except UnreadablePhoto as err:
            failed[path] = str(err)
            continue
        rgb = colorizer.colorize(photo.pixels)
        Image.fromarray(rgb if photo.alpha is None else np.dstack([rgb, photo.alpha])).save(target)
        written.append(target)
    return written, failed
