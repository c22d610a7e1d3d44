"""A user's data arrives in several layouts and with broken files; none of it may be lost silently."""

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import examples_of
from PIL import Image

from colorize_core.data.pipeline import make_dataset
from colorize_core.data.shards import prepare, read_meta
from colorize_core.data.sources import DatasetError, catalog


def _zip(folder: Path, archive: Path, compression=zipfile.ZIP_STORED) -> Path:
    """``folder`` packed as Kaggle packs its download: file members only, folders implied."""
    with zipfile.ZipFile(archive, "w", compression) as packed:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            packed.write(path, path.relative_to(folder).as_posix())
    return archive


def _photo(seed=0, size=(80, 60)):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1] // 4, size[0] // 4, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size)


def test_sample_dataset_is_in_ilsvrc_layout_with_held_out_photos(sample_photos):
    root = sample_photos
    assert (root / "LOC_synset_mapping.txt").is_file() and (root / "LOC_val_solution.csv").is_file()
    cat = catalog(root.parent)  # found one level down, as Kaggle's zip unpacks
    assert cat.layout == "ilsvrc" and len(cat.class_names) == 10
    assert len(cat.train) >= 50 and len(cat.val) >= 10
    assert all(item.label >= 0 for item in cat.train + cat.val)
    train_photos = {p.path.stem.split("_", 1)[1].rsplit("_", 1)[0] for p in cat.train}
    held_out = {"grace_hopper", "ihc", "motorcycle_left", "motorcycle_right"}
    assert train_photos and not train_photos & held_out
    assert len(cat.val) == 6 * len(held_out)  # each held-out photo whole and as five tiles


def test_near_duplicate_photos_never_straddle_the_split():
    from colorize_core.data.bundled_sample import HELD_OUT, NEAR_DUPLICATES, split_groups_intact

    assert {"motorcycle_left", "motorcycle_right"} in NEAR_DUPLICATES
    split_groups_intact(HELD_OUT)
    with pytest.raises(ValueError, match="motorcycle_left.*straddle the split"):
        split_groups_intact({"grace_hopper", "motorcycle_right"})


def test_prepare_writes_shards_and_meta(prepared_sample):
    meta = read_meta(prepared_sample)
    assert meta.layout == "ilsvrc" and meta.skipped == []
    assert meta.counts["train"] >= 50 and meta.counts["val"] >= 10


def test_pipeline_batches_are_normalised_lab_and_repeatable(prepared_sample):
    def first_batch():
        return next(iter(make_dataset(prepared_sample, "train", 64, 8, training=True, seed=3, epoch=2)))

    batch = first_batch()
    assert batch["L"].shape == (8, 64, 64, 1) and batch["ab"].shape == (8, 64, 64, 2)
    assert -1.0 <= float(batch["L"].numpy().min()) and float(batch["L"].numpy().max()) <= 1.0
    assert float(np.abs(batch["ab"].numpy()).max()) <= 1.0
    assert np.array_equal(batch["ab"].numpy(), first_batch()["ab"].numpy())
    other_epoch = next(iter(make_dataset(prepared_sample, "train", 64, 8, training=True, seed=3, epoch=5)))
    assert not np.array_equal(batch["ab"].numpy(), other_epoch["ab"].numpy())
    val = list(make_dataset(prepared_sample, "val", 96, 32, training=False))
    assert sum(b["L"].shape[0] for b in val) == read_meta(prepared_sample).counts["val"]


def test_kaggles_zip_prepares_the_very_shards_of_its_unpacked_folder(sample_photos, tmp_path):
    archive = _zip(sample_photos, tmp_path / "imagenet-object-localization-challenge.zip", zipfile.ZIP_DEFLATED)
    unpacked = prepare(sample_photos, str(tmp_path / "from-folder"), progress=False)
    packed = prepare(archive, str(tmp_path / "from-zip"), progress=False)

    assert (packed.layout, packed.class_names, packed.counts) == (
        unpacked.layout,
        unpacked.class_names,
        unpacked.counts,
    )
    assert packed.layout == "ilsvrc" and packed.counts["val"] > 0
    folder, zipped = examples_of(str(tmp_path / "from-folder")), examples_of(str(tmp_path / "from-zip"))
    assert [r[:3] for r in zipped] == [r[:3] for r in folder]  # same images, labels, shards and order
    # Each example names its member inside the archive.
    assert [r[3] for r in zipped] == [f"{archive}/{Path(r[3]).relative_to(sample_photos).as_posix()}" for r in folder]


def test_a_corrupt_zip_member_is_skipped_and_named_like_an_unreadable_file(tmp_path):
    (tmp_path / "photos").mkdir()
    for seed in range(3):
        _photo(seed).save(tmp_path / "photos" / f"p{seed}.jpg")
    archive = _zip(tmp_path / "photos", tmp_path / "photos.zip")
    with zipfile.ZipFile(archive) as packed:
        info = packed.getinfo("p1.jpg")
    raw = bytearray(archive.read_bytes())
    raw[info.header_offset + 30 + len("p1.jpg") + 200] ^= 0xFF  # a byte of p1.jpg's data
    archive.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="p1.jpg"):
        meta = prepare(archive, str(tmp_path / "out"), val_fraction=0.0, progress=False)
    assert meta.counts["train"] == 2
    assert [(s.path, s.reason) for s in meta.skipped] == [
        (f"{archive}/p1.jpg", "unreadable (corrupt zip member p1.jpg: CRC mismatch)")
    ]


def test_a_prepare_killed_midway_keeps_its_whole_shards_when_run_again(sample_photos, tmp_path, monkeypatch):
    import itertools

    from colorize_core.data import shards

    clean = prepare(sample_photos, str(tmp_path / "clean"), progress=False, images_per_shard=16)
    out = tmp_path / "out"
    check, checked = shards.checked_image_bytes, itertools.count()

    def killed_after_40_images(path):
        if next(checked) >= 40:
            raise RuntimeError("killed")
        return check(path)

    monkeypatch.setattr(shards, "checked_image_bytes", killed_after_40_images)
    with pytest.raises(RuntimeError, match="killed"):
        prepare(sample_photos, str(out), progress=False, images_per_shard=16)
    whole = {
        p.name: p.stat().st_mtime_ns for p in out.glob("train-*") if (out / ".progress" / f"{p.name}.json").exists()
    }
    assert len(whole) == 2 and not (out / "meta.json").exists()

    monkeypatch.setattr(shards, "checked_image_bytes", check)
    again = prepare(sample_photos, str(out), progress=False, images_per_shard=16)
    assert {name: (out / name).stat().st_mtime_ns for name in whole} == whole  # kept, not written again
    assert (again.counts, again.shards, again.skipped) == (clean.counts, clean.shards, clean.skipped)
    assert examples_of(str(out)) == examples_of(str(tmp_path / "clean"))
    assert not (out / ".progress").exists()


def test_a_zip_member_travels_to_another_process_by_name_and_reads_the_same_there(sample_photos, tmp_path):
    import pickle
    import subprocess
    import sys

    archive = _zip(sample_photos, tmp_path / "photos.zip")
    item = catalog(archive).train[0]
    script = "import pickle, sys; item = pickle.load(sys.stdin.buffer); sys.stdout.buffer.write(item.path.read_bytes())"
    sent = subprocess.run(
        [sys.executable, "-c", script], input=pickle.dumps(item), capture_output=True, timeout=60, check=True
    )
    assert sent.stdout == item.path.read_bytes() and len(pickle.dumps(item)) < 1000


def test_a_file_that_is_not_a_zip_is_named(tmp_path):
    (tmp_path / "photos.zip").write_text("not a zip")
    with pytest.raises(DatasetError, match=r"photos.zip: not a readable zip archive"):
        prepare(tmp_path / "photos.zip", str(tmp_path / "out"), progress=False)


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "zip"])
def test_every_kind_of_bad_input_is_skipped_counted_and_named(tmp_path, packed):
    src = tmp_path / "photos" / "things"
    src.mkdir(parents=True)
    _photo(0).save(src / "good.jpg")
    _photo(1).convert("RGBA").save(src / "rgba.png")
    _photo(2).convert("CMYK").save(src / "cmyk.jpg")
    sixteen = np.asarray(_photo(3)).astype(np.uint16) * 257
    Image.fromarray(sixteen[..., 0]).save(src / "gray16.png")  # 16-bit gray: skipped as gray
    _photo(4).save(src / "photo.tiff")  # not TF-native: converted to PNG
    _photo(5).convert("L").save(src / "gray.jpg")
    buf = io.BytesIO()
    _photo(6).save(buf, "JPEG")
    (src / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (src / "empty.jpg").write_bytes(b"")
    (src / "notes.jpg").write_text("not an image at all")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))

    source = _zip(tmp_path / "photos", tmp_path / "photos.zip") if packed else tmp_path / "photos"
    with pytest.warns(UserWarning) as caught:
        meta = prepare(source, str(tmp_path / "out"), val_fraction=0.0, progress=False)
    message = str(caught[0].message)
    reasons = {s.path.rsplit("/", 1)[1]: s.reason for s in meta.skipped}
    assert set(reasons) == {"gray16.png", "gray.jpg", "truncated.jpg", "empty.jpg", "notes.jpg", "corrupt.png"}
    assert reasons["empty.jpg"] == "empty file" and reasons["notes.jpg"] == "not an image"
    assert reasons["gray.jpg"].startswith("grayscale") and reasons["truncated.jpg"].startswith("corrupt")
    for name in reasons:
        assert name in message
    assert "skipped 6 of 10 images" in message
    assert meta.counts["train"] == 4  # good, rgba, cmyk, tiff
    decoded = list(make_dataset(str(tmp_path / "out"), "train", 32, 1, training=False))
    assert len(decoded) == 4


def test_a_dataset_with_no_usable_image_is_refused_before_training(tmp_path):
    src = tmp_path / "broken"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"")
    (src / "b.png").write_text("nope")
    with pytest.raises(DatasetError, match=r"broken: no usable training image: all 2 were skipped"):
        prepare(src, str(tmp_path / "out"), val_fraction=0.0, progress=False)
    with pytest.raises(DatasetError, match="not a folder"):
        prepare(tmp_path / "missing", str(tmp_path / "out2"), progress=False)


def test_class_folder_and_flat_layouts(tmp_path):
    classes = tmp_path / "classes"
    for c, seeds in {"cats": (0, 1, 2), "dogs": (3, 4, 5)}.items():
        (classes / c).mkdir(parents=True)
        for s in seeds:
            _photo(s).save(classes / c / f"{s}.png")
    cat = catalog(classes, val_fraction=0.34)
    assert cat.layout == "class-folders" and cat.class_names == ["cats", "dogs"]
    assert len(cat.train) == 4 and len(cat.val) == 2
    assert {i.label for i in cat.train + cat.val} == {0, 1}

    flat = tmp_path / "flat"
    flat.mkdir()
    for s in range(5):
        _photo(s).save(flat / f"{s}.jpg")
    cat = catalog(flat, val_fraction=0.2)
    assert cat.layout == "flat" and len(cat.train) == 4 and len(cat.val) == 1
    assert all(i.label == -1 for i in cat.train)


def test_ilsvrc_class_missing_from_mapping_is_named(sample_photos, tmp_path):
    copy = tmp_path / "imagenet"
    shutil.copytree(sample_photos, copy)
    (copy / "ILSVRC/Data/CLS-LOC/train/n99999999").mkdir()
    with pytest.raises(DatasetError, match=r"n99999999.*LOC_synset_mapping.txt"):
        catalog(copy)


def test_an_ilsvrc_download_without_val_validates_on_a_seeded_share_of_train(sample_photos, tmp_path):
    copy = tmp_path / "imagenet"
    shutil.copytree(sample_photos, copy)
    shutil.rmtree(copy / "ILSVRC/Data/CLS-LOC/val")
    whole = catalog(copy, val_fraction=0.0)
    assert whole.val == []
    cat = catalog(copy, val_fraction=0.25, seed=1)
    assert len(cat.val) == round(len(whole.train) * 0.25) and len(cat.train) + len(cat.val) == len(whole.train)
    assert {i.path for i in cat.val} == {i.path for i in catalog(copy, val_fraction=0.25, seed=1).val}
    assert all(i.label >= 0 for i in cat.val)  # labels kept: they come from the class folders
