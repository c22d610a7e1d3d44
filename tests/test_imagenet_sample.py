"""The shared ImageNet sample as a Kaggle ILSVRC folder: a seeded split by links, read by `data prepare`
as a download is. Built here from made-up photos named as ImageNet's are (no shared data needed)."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from colorize_core.data.imagenet_sample import SPLIT_FILE, build_imagenet_sample
from colorize_core.data.shards import prepare
from colorize_core.data.sources import DatasetError

WNIDS = [f"n0{1440764 + i:07d}" for i in range(12)]


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "images"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i, wnid in enumerate(WNIDS):
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        if i == 0:
            pixels[...] = pixels[..., :1]  # a gray photo, as 23 of ImageNet's sample are
        Image.fromarray(pixels).save(src / f"{wnid}_class_{i}.JPEG")
    return src


def test_the_split_is_seeded_linked_and_read_as_a_kaggle_download(photos, tmp_path):
    split = build_imagenet_sample(photos, tmp_path / "a", seed=0, held_out=4, val=2)
    again = build_imagenet_sample(photos, tmp_path / "b", seed=0, held_out=4, val=2)
    other = build_imagenet_sample(photos, tmp_path / "c", seed=1, held_out=4, val=2)
    names = lambda s: [sorted(p.name for p in part) for part in (s.train, s.val, s.held_out)]  # noqa: E731
    assert names(split) == names(again) != names(other)

    # Every photo lands in exactly one part, as a link to the original; the gray one is not held out.
    held = len(split.held_out) + len(split.held_out_skipped)
    assert (len(split.train), len(split.val), held) == (6, 2, 4)
    assert {p.resolve() for p in split.train + split.val + split.held_out} | {
        photos / n for n in split.held_out_skipped
    } == set(photos.iterdir())
    assert all(p.is_symlink() for p in split.train + split.val + split.held_out)
    assert all(p.parent.name == p.name.split("_")[0] for p in split.train)  # train/<wnid>/<file>
    assert "seed: 0" in (tmp_path / "a" / SPLIT_FILE).read_text()

    meta = prepare(tmp_path / "a", str(tmp_path / "prepared"), 0.1, 0, 2)
    gray_trained = int(any(p.name.startswith(WNIDS[0]) for p in split.train + split.val))
    assert meta.layout == "ilsvrc" and meta.num_classes == len(WNIDS)
    assert meta.counts["train"] + meta.counts["val"] == len(split.train) + len(split.val) - gray_trained
    assert meta.counts["val"] == len(split.val) - int(any(p.name.startswith(WNIDS[0]) for p in split.val))


def test_refusals_name_the_folder_and_change_nothing(photos, tmp_path):
    out = tmp_path / "out"
    build_imagenet_sample(photos, out, held_out=4, val=2)
    with pytest.raises(DatasetError, match=f"{out}: exists and is not empty"):
        build_imagenet_sample(photos, out, held_out=4, val=2)
    with pytest.raises(DatasetError, match="12 photos; the split holds out 10 and validates on 2"):
        build_imagenet_sample(photos, tmp_path / "small", held_out=10, val=2)
    assert not (tmp_path / "small").exists()

    (photos / "notes.txt").write_text("not a photo")
    proc = subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", "data", "imagenet-sample", str(photos), str(tmp_path / "cli")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and not (tmp_path / "cli").exists()
    assert f"{photos}: expected only files named <wnid>_<class name>.JPEG" in proc.stderr and "notes.txt" in proc.stderr
