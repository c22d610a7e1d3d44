"""The bundled sample dataset: real colour photos that installed packages ship, in ILSVRC layout.

It is small (13 photos) but real: the demo and the tests train on it offline. Training photos are
stored whole and as overlapping tiles, so that random crops see more than a dozen compositions;
four whole photos (with their tiles) are held out as the validation split, and no held-out photo has
a near-duplicate among the training photos.
"""

from __future__ import annotations

import csv
from importlib.util import find_spec
from pathlib import Path

from PIL import Image


def _package_dir(name: str) -> Path:
    # Found, not imported: importing scikit-learn alone costs seconds, and a sweep's driver only
    # needs SPLIT_VERSION from here.
    spec = find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{name} is not installed: the sample dataset's photos ship inside it", name=name)
    return Path(spec.origin).parent


_SKIMAGE = _package_dir("skimage") / "data"
_SKLEARN = _package_dir("sklearn") / "datasets" / "images"
_MPL = _package_dir("matplotlib") / "mpl-data" / "sample_data"

# (synset id, class name, photos). The ids are wnid-shaped but our own: these are not ImageNet classes.
CLASSES = [
    ("n00000001", "cat", [_SKIMAGE / "chelsea.png"]),
    ("n00000002", "coffee", [_SKIMAGE / "coffee.png"]),
    ("n00000003", "person", [_SKIMAGE / "astronaut.png", _MPL / "grace_hopper.jpg"]),
    ("n00000004", "motorcycle", [_SKIMAGE / "motorcycle_left.png", _SKIMAGE / "motorcycle_right.png"]),
    ("n00000005", "rocket", [_SKIMAGE / "rocket.jpg"]),
    ("n00000006", "deep field", [_SKIMAGE / "hubble_deep_field.jpg"]),
    ("n00000007", "temple", [_SKLEARN / "china.jpg"]),
    ("n00000008", "flower", [_SKLEARN / "flower.jpg"]),
    ("n00000009", "microscopy", [_SKIMAGE / "retina.jpg", _SKIMAGE / "ihc.png"]),
    ("n00000010", "package", [_MPL / "Minduka_Present_Blue_Pack.png"]),
]
# Photos of one scene, which a split keeps together: with one on each side, a held-out score would
# measure how well the model recalls the training twin (the motorcycles are one stereo pair).
NEAR_DUPLICATES = [{"motorcycle_left", "motorcycle_right"}]
HELD_OUT = {"grace_hopper", "ihc", "motorcycle_left", "motorcycle_right"}
# Part of the cache folders' names: a cache prepared with an older split is never reused.
SPLIT_VERSION = 2


def split_groups_intact(held_out: set[str] = HELD_OUT) -> None:
    for group in NEAR_DUPLICATES:
        if held_out & group and not group <= held_out:
            raise ValueError(f"near-duplicates {sorted(group)} straddle the split: hold out all or none of them")


split_groups_intact()


def _tiles(img: Image.Image) -> list[Image.Image]:
    """The whole photo, its four overlapping quadrants (2/3 of each side) and its centre."""
    w, h = img.size
    tw, th = 2 * w // 3, 2 * h // 3
    boxes = [(0, 0), (w - tw, 0), (0, h - th), (w - tw, h - th), ((w - tw) // 2, (h - th) // 2)]
    return [img] + [img.crop((x, y, x + tw, y + th)) for x, y in boxes]


def build_sample_dataset(out: str | Path) -> Path:
    """Write the sample dataset under ``out`` in the Kaggle ILSVRC2012 layout; returns ``out``."""
    out = Path(out)
    data = out / "ILSVRC" / "Data" / "CLS-LOC"
    (data / "val").mkdir(parents=True, exist_ok=True)
    mapping, solution, val_index = [], [], 0
    for wnid, name, photos in CLASSES:
        mapping.append(f"{wnid} {name}")
        (data / "train" / wnid).mkdir(parents=True, exist_ok=True)
        for photo in photos:
            if not photo.is_file():
                raise FileNotFoundError(f"{photo}: sample photo missing from its package installation")
            img = Image.open(photo).convert("RGB")
            for i, tile in enumerate(_tiles(img)):
                if photo.stem in HELD_OUT:
                    val_index += 1
                    image_id = f"ILSVRC2012_val_{val_index:08d}"
                    tile.save(data / "val" / f"{image_id}.JPEG", quality=95)
                    w, h = tile.size
                    solution.append((image_id, f"{wnid} 0 0 {w - 1} {h - 1}"))
                else:
                    tile.save(data / "train" / wnid / f"{wnid}_{photo.stem}_{i}.JPEG", quality=95)
    (out / "LOC_synset_mapping.txt").write_text("\n".join(mapping) + "\n")
    with (out / "LOC_val_solution.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ImageId", "PredictionString"])
        writer.writerows(solution)
    return out
