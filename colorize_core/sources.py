"""Finding images and their labels in the three folder layouts users bring.

- ILSVRC2012 as Kaggle ships it: ``ILSVRC/Data/CLS-LOC/train/<wnid>/*.JPEG`` and
  ``ILSVRC/Data/CLS-LOC/val/*.JPEG``, labelled by ``LOC_val_solution.csv`` and
  ``LOC_synset_mapping.txt`` (whose line order is the class index, as in every ImageNet model).
- A folder of class subfolders (optionally under ``train/`` and ``val/``).
- A flat folder of images: no labels.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

from colorize_core.errors import ChromasweepError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
NO_LABEL = -1


@dataclass(frozen=True)
class ImageItem:
    path: Path
    label: int = NO_LABEL


@dataclass
class Catalog:
    """What a source holds: its layout, class names and the two splits."""

    layout: str
    class_names: list[str]
    train: list[ImageItem] = field(default_factory=list)
    val: list[ImageItem] = field(default_factory=list)


class DatasetError(ChromasweepError, ValueError):
    """A dataset that cannot be used, naming the path and what was expected."""


def _images_in(folder: Path) -> list[Path]:
    # Everything that is a file is a candidate: a non-image with an image suffix, or an image
    # with an odd suffix, is found out by decoding, and reported, rather than silently passed over.
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def find_ilsvrc_root(root: Path) -> Path | None:
    for candidate in (root, *root.iterdir()) if root.is_dir() else ():
        if (candidate / "ILSVRC" / "Data" / "CLS-LOC").is_dir():
            return candidate
    return None


def catalog_ilsvrc(root: Path, val_fraction: float = 0.1, seed: int = 0) -> Catalog:
    data = root / "ILSVRC" / "Data" / "CLS-LOC"
    mapping = root / "LOC_synset_mapping.txt"
    if not mapping.is_file():
        raise DatasetError(f"{mapping}: missing; the ILSVRC layout needs it for the class index")
    wnids, names = [], []
    for n, line in enumerate(mapping.read_text().splitlines(), 1):
        if not line.strip():
            continue
        wnid, _, name = line.partition(" ")
        if not wnid.startswith("n"):
            raise DatasetError(f"{mapping}:{n}: expected '<wnid> <names>', got {line!r}")
        wnids.append(wnid)
        names.append(name.split(",")[0].strip() or wnid)
    index = {w: i for i, w in enumerate(wnids)}

    train = []
    train_dir = data / "train"
    if train_dir.is_dir():
        for class_dir in sorted(p for p in train_dir.iterdir() if p.is_dir()):
            if class_dir.name not in index:
                raise DatasetError(f"{class_dir}: class {class_dir.name!r} is not in {mapping}")
            train += [ImageItem(p, index[class_dir.name]) for p in _images_in(class_dir)]

    val = []
    val_dir, solution = data / "val", root / "LOC_val_solution.csv"
    if val_dir.is_dir():
        labels: dict[str, int] = {}
        if solution.is_file():
            with solution.open(newline="") as f:
                for row in csv.DictReader(f):
                    try:
                        first_wnid = row["PredictionString"].split()[0]
                        labels[row["ImageId"]] = index[first_wnid]
                    except (KeyError, IndexError) as err:
                        raise DatasetError(
                            f"{solution}: expected columns ImageId,PredictionString with known wnids, "
                            f"bad row {row!r} ({err})"
                        ) from None
        val = [ImageItem(p, labels.get(p.stem, NO_LABEL)) for p in _images_in(val_dir)]
    else:  # a download without its val/ folder: validate on part of train, as the other layouts do
        train, val = _hold_out(train, val_fraction, seed)
    return Catalog("ilsvrc", names, train, val)


def catalog_class_folders(root: Path, val_fraction: float, seed: int) -> Catalog:
    split_dirs = [root / "train", root / "val"]
    if split_dirs[0].is_dir():
        class_names = sorted(p.name for p in split_dirs[0].iterdir() if p.is_dir())
        index = {c: i for i, c in enumerate(class_names)}
        splits = []
        for split_dir in split_dirs:
            items = []
            if split_dir.is_dir():
                for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
                    label = index.get(class_dir.name, NO_LABEL)
                    items += [ImageItem(p, label) for p in _images_in(class_dir)]
            splits.append(items)
        return Catalog("class-folders", class_names, *splits)

    class_names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = [ImageItem(p, i) for i, c in enumerate(class_names) for p in _images_in(root / c)]
    train, val = _hold_out(items, val_fraction, seed)
    return Catalog("class-folders", class_names, train, val)


def catalog_flat(root: Path, val_fraction: float, seed: int) -> Catalog:
    train, val = _hold_out([ImageItem(p) for p in _images_in(root)], val_fraction, seed)
    return Catalog("flat", [], train, val)


def _hold_out(items: list[ImageItem], fraction: float, seed: int) -> tuple[list, list]:
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    n_val = round(len(shuffled) * fraction)
    if fraction > 0 and len(shuffled) > 1:
        n_val = max(n_val, 1)
    return sorted(shuffled[n_val:], key=str), sorted(shuffled[:n_val], key=str)


def catalog(root: str | Path, val_fraction: float = 0.1, seed: int = 0) -> Catalog:
    """Catalog any supported layout, telling which one it found."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (expected an ILSVRC, class-folder or flat image folder)")
    ilsvrc = find_ilsvrc_root(root)
    if ilsvrc is not None:
        return catalog_ilsvrc(ilsvrc, val_fraction, seed)
    if any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        return catalog_class_folders(root, val_fraction, seed)
    return catalog_flat(root, val_fraction, seed)
