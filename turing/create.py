"""Writing a study folder: each held-out photo and its colorization by every model, as pairs of
images that differ only in their colours.

A trial shows one file: both images side by side in one JPEG. So the pair cannot be told apart by a
name, a size, an encoder setting or a loading time; only the pixels differ. Each pair is written in
both orders (real on the left, real on the right), padded to the same length, under random names.
"""

from __future__ import annotations

import io
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from colorize_core.inference import UnreadablePhoto, read_image
from turing.settings import StudySettings
from turing.store import (
    CONTROL_ARM,
    IMAGES_DIR,
    ArmKind,
    PairKind,
    StudyError,
    connect,
    initialise,
)

GAP = 16  # px of neutral gray between the two images; a multiple of the JPEG block keeps them apart
BACKGROUND = (128, 128, 128)


@dataclass
class Arm:
    """One model under test: its name as the user gave it, and how to colorize with it."""

    name: str
    colorize: Callable[[np.ndarray], np.ndarray]  # RGB uint8 (H, W, 3) -> RGB uint8 (H, W, 3)
    run_id: str | None = None  # the MLflow run that logged it, where there is one
    registered_model: str | None = None
    registered_version: str | None = None


def square(image: np.ndarray, side: int) -> np.ndarray:
    """The photo's centre square at ``side`` px: every image of a study has the same shape."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = Image.fromarray(image[top : top + s, left : left + s])
    return np.asarray(crop.resize((side, side), Image.Resampling.LANCZOS))


def grayscale(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).convert("L").convert("RGB"))


def side_by_side(left: np.ndarray, right: np.ndarray, quality: int) -> bytes:
    side = left.shape[0]
    canvas = Image.new("RGB", (2 * side + GAP, side), BACKGROUND)
    canvas.paste(Image.fromarray(left), (0, 0))
    canvas.paste(Image.fromarray(right), (side + GAP, 0))
    out = io.BytesIO()
    # No EXIF, ICC or comment is written; full-resolution chroma so the colours are the model's own.
    canvas.save(out, "JPEG", quality=quality, subsampling=0, optimize=False)
    return out.getvalue()


def equal_length(a: bytes, b: bytes) -> tuple[bytes, bytes]:
    """Zero bytes after the JPEG's end marker (which decoders ignore) make both orders one size."""
    n = max(len(a), len(b))
    return a.ljust(n, b"\0"), b.ljust(n, b"\0")


def colour_photos(paths: Sequence[Path], side: int) -> tuple[dict[str, np.ndarray], dict[Path, str]]:
    """The usable photos (read, squared) by name, and why the others were left out."""
    photos, skipped = {}, {}
    for path in paths:
        try:
            image = read_image(path)
        except UnreadablePhoto as err:
            skipped[path] = f"unreadable ({err})"
            continue
        if image.ndim == 2 or np.ptp(image[..., :3].astype(int) - image[..., :1].astype(int)) == 0:
            skipped[path] = "a gray photo (a study needs colour photos as the truth)"
            continue
        name = path.stem if path.stem not in photos else f"{path.parent.name}/{path.stem}"
        photos[name] = square(image[..., :3], side)
    return photos, skipped


def usable_photos(
    study: Path, photo_paths: Sequence[Path], settings: StudySettings
) -> tuple[dict[str, np.ndarray], dict[Path, str]]:
    """The photos a study of ``settings`` would use, and those left out; refused before any model
    is loaded if the folder is taken or the photos are too few."""
    study = Path(study)
    if study.exists() and any(study.iterdir()):
        raise StudyError(f"{study}: already exists and is not empty; a study is written once (choose a new folder)")
    photos, skipped = colour_photos(photo_paths, settings.image_size)
    need = settings.practice_trials + settings.test_trials + settings.attention_checks
    if len(photos) < need:
        raise StudyError(
            f"{len(photos)} usable colour photos ({len(skipped)} left out), but a session needs "
            f"{need}: {settings.practice_trials} practice + {settings.test_trials} test trials + "
            f"{settings.attention_checks} attention checks, each on its own photo; give more "
            "photos or fewer trials"
        )
    return photos, skipped


def create_study(
    study: Path,
    arms: Sequence[Arm],
    photo_paths: Sequence[Path],
    settings: StudySettings,
    log: Callable[[str], None] = print,
) -> dict[Path, str]:
    """Write ``study`` (a new folder); returns the photos left out and why."""
    study = Path(study)
    names = [arm.name for arm in arms]
    if not arms or len(set(names)) != len(names) or CONTROL_ARM in names:
        raise StudyError(f"models {names}: expected at least one, each once, none called {CONTROL_ARM!r}")
    photos, skipped = usable_photos(study, photo_paths, settings)
    rng = random.Random(settings.seed)
    order = sorted(photos)
    rng.shuffle(order)
    practice, test = order[: settings.practice_trials], order[settings.practice_trials :]

    (study / IMAGES_DIR).mkdir(parents=True)
    initialise(study, settings, token=secrets.token_urlsafe(16), admin_token=secrets.token_urlsafe(16))
    used_names: set[str] = set()

    def write(real: np.ndarray, fake: np.ndarray) -> tuple[str, str]:
        left, right = equal_length(
            side_by_side(real, fake, settings.jpeg_quality), side_by_side(fake, real, settings.jpeg_quality)
        )
        files = []
        for data in (left, right):
            name = f"{secrets.token_hex(16)}.jpg"
            assert name not in used_names
            used_names.add(name)
            (study / IMAGES_DIR / name).write_bytes(data)
            files.append(name)
        return files[0], files[1]

    rows = []
    for arm in arms:
        log(f"colorizing {len(photos)} photos with {arm.name}")
        for photo in order:
            kind = PairKind.PRACTICE if photo in practice else PairKind.TEST
            rows.append((arm.name, kind, photo, *write(photos[photo], arm.colorize(photos[photo]))))
    if settings.control_arm:
        for photo in test:
            rows.append((CONTROL_ARM, PairKind.TEST, photo, *write(photos[photo], photos[photo])))
    for photo in test:
        rows.append((None, PairKind.ATTENTION, photo, *write(photos[photo], grayscale(photos[photo]))))
    # Shuffled before they get ids, so that an id's order says nothing about a pair's kind or arm.
    rng.shuffle(rows)
    with connect(study, write=True) as db:
        arm_rows = [(a.name, ArmKind.MODEL, a.name, a.run_id, a.registered_model, a.registered_version) for a in arms]
        if settings.control_arm:
            arm_rows.append((CONTROL_ARM, ArmKind.CONTROL, "the real photo", None, None, None))
        db.executemany("INSERT INTO arms VALUES (?, ?, ?, ?, ?, ?)", arm_rows)
        db.executemany("INSERT INTO pairs (arm, kind, photo, real_left, real_right) VALUES (?, ?, ?, ?, ?)", rows)
    return skipped
