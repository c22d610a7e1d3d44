"""A folder of ImageNet photos named ``<wnid>_<class name>.JPEG`` (the shared sample: one photo per
ILSVRC2012 class) as Kaggle's ILSVRC layout, by links, with a stated, seeded split.

The split: the photos sorted by name are shuffled with ``seed``; the first ``held_out`` go to
``heldout/`` (never trained on, never validated on: the photos ``evaluate`` scores), the next ``val``
to the ILSVRC val split (listed in ``LOC_val_solution.csv``), the rest to ``train/<wnid>/``. With one
photo per class, a held-out photo is of a class no model saw in training.

``data prepare`` then reads the folder as it reads a Kaggle download. Gray photos are skipped there
(train, val) and here (held out: a gray truth makes the gray baseline exact).
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from colorize_core.data.shards import UnusableImage, checked_image_bytes
from colorize_core.data.sources import DatasetError

HELD_OUT, VAL = 200, 80  # of the shared sample's 1000: 720 train, 80 val, 200 held out
SPLIT_FILE = "SPLIT.txt"
_NAME = re.compile(r"^(n\d{8})_(.+)\.jpe?g$", re.IGNORECASE)


@dataclass
class SampleSplit:
    train: list[Path]
    val: list[Path]
    held_out: list[Path]
    held_out_skipped: dict[str, str] = field(default_factory=dict)  # file name -> why


def _photos(src: Path) -> list[tuple[Path, str, str]]:
    if not src.is_dir():
        raise DatasetError(f"{src}: not a folder of photos named <wnid>_<class name>.JPEG")
    photos, strays = [], []
    for path in sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith(".")):
        match = _NAME.match(path.name)
        if match:
            photos.append((path, match[1], match[2].replace("_", " ")))
        else:
            strays.append(path.name)
    if strays:
        raise DatasetError(
            f"{src}: expected only files named <wnid>_<class name>.JPEG (n01440764_tench.JPEG), "
            f"got {len(strays)} others: {', '.join(strays[:5])}"
        )
    return photos


def build_imagenet_sample(src: Path, out: Path, seed: int = 0, held_out: int = HELD_OUT, val: int = VAL) -> SampleSplit:
    """Link the photos of ``src`` into ``out`` (which must not exist or be empty) as described above."""
    photos = _photos(src)
    if len(photos) <= held_out + val:
        raise DatasetError(
            f"{src}: {len(photos)} photos; the split holds out {held_out} and validates on {val}, "
            "so it needs more than their sum"
        )
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out}: exists and is not empty; give a new folder (nothing was changed)")
    order = list(photos)
    random.Random(seed).shuffle(order)
    held, validated, trained = order[:held_out], order[held_out : held_out + val], order[held_out + val :]

    data = out / "ILSVRC" / "Data" / "CLS-LOC"
    split = SampleSplit([], [], [])
    for path, wnid, _ in trained:
        split.train.append(_link(path, data / "train" / wnid / path.name))
    for path, _, _ in validated:
        split.val.append(_link(path, data / "val" / path.name))
    for path, _, _ in held:
        try:
            checked_image_bytes(path)
        except UnusableImage as err:
            split.held_out_skipped[path.name] = err.reason
            continue
        split.held_out.append(_link(path, out / "heldout" / path.name))

    names = sorted({(wnid, name) for _, wnid, name in photos})
    (out / "LOC_synset_mapping.txt").write_text("".join(f"{wnid} {name}\n" for wnid, name in names))
    with (out / "LOC_val_solution.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ImageId", "PredictionString"])
        writer.writerows([path.stem, wnid] for path, wnid, _ in validated)
    (out / SPLIT_FILE).write_text(
        f"source: {src.resolve()}\nseed: {seed}\n"
        f"train: {len(split.train)}\nval: {len(split.val)}\n"
        f"held out: {len(held)} ({len(split.held_out_skipped)} skipped: "
        f"{', '.join(f'{n} ({why})' for n, why in sorted(split.held_out_skipped.items())) or 'none'})\n"
    )
    return split


def _link(target: Path, link: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target.resolve())
    return link
