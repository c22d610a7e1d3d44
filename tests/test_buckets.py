"""Run folders, prepared data and published models in a bucket: the same code paths as a local
folder, against a real GCS emulator (fake-gcs-server, `bucket` in conftest.py)."""

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from colorize_core.data.buckets import filesystem
from colorize_core.model_files import MODEL_DIR, MODEL_FILE
from runner.checkpoint_store import CheckpointStore, LayoutError


@pytest.fixture(params=["folder", "bucket"])
def storage(request, tmp_path):
    return str(tmp_path / "storage") if request.param == "folder" else request.getfixturevalue("bucket") + "/storage"


def local_checkpoint(tmp_path, step: int) -> str:
    local = tmp_path / f"local-{step}"
    (local / "model").mkdir(parents=True)
    (local / "model" / "weights.h5").write_bytes(b"w" * 1000)
    (local / "metrics.json").write_text(json.dumps({"step": step}))
    return str(local)


def test_a_checkpoint_counts_once_complete_and_only_the_newest_are_kept(tmp_path, storage):
    store = CheckpointStore.for_run(storage, "run", keep=2)
    store.check_layout()  # a new run's folder: nothing there yet
    with store.latest() as found:
        assert found is None
    for step in (4, 8, 12):
        store.save(local_checkpoint(tmp_path, step), f"checkpoint_step_{step:08d}")
    assert store.complete() == ["checkpoint_step_00000008", "checkpoint_step_00000012"]
    # A copy cut off by a crash (no marker) is not a checkpoint, even with a later step.
    store.write_bytes("checkpoint_step_00000016/metrics.json", b'{"step": 16}')
    with store.latest() as (directory, where):
        assert json.loads((Path(directory) / "metrics.json").read_text()) == {"step": 12}
        assert (Path(directory) / "model" / "weights.h5").read_bytes() == b"w" * 1000
        assert where == store.location("checkpoint_step_00000012") and where.startswith(storage)
    assert store.read_json("checkpoint_step_00000012/metrics.json") == {"step": 12}
    # A divergence marker at the same step wins over the weights it replaces.
    (tmp_path / "marker").mkdir()
    store.save(str(tmp_path / "marker"), "checkpoint_diverged_step_00000012")
    assert store.latest_location().endswith("checkpoint_diverged_step_00000012")

    # The published model, found again; the folder reopened by a new process's store; then discarded.
    assert store.model_location() is None
    model = tmp_path / "export"
    model.mkdir()
    (model / MODEL_FILE).write_bytes(b"k" * 5000)
    assert store.publish_model(str(model)) == store.location(MODEL_DIR)
    again = CheckpointStore.for_run(storage, "run", keep=2)
    again.check_layout()
    assert again.model_location() == store.location(MODEL_DIR) and again.files_in(MODEL_DIR) == [MODEL_FILE]
    again.delete()
    assert CheckpointStore.for_run(storage, "run", keep=2).complete() == []


def test_a_run_folder_of_an_older_layout_is_refused_in_a_bucket_too(storage):
    store = CheckpointStore.for_run(storage, "old", keep=2)
    store.write_text("metrics.jsonl", "{}\n")  # what chromasweep wrote before the layout marker
    with pytest.raises(LayoutError, match=r"/old: written by an older chromasweep \(metrics.jsonl without"):
        store.check_layout()
    assert store.has_file("metrics.jsonl")  # refused, untouched


def test_data_prepare_reads_a_zip_in_a_bucket_member_by_member(sample_photos, prepared_sample, bucket, tmp_path):
    import zipfile

    from colorize_core.data.shards import read_meta

    fs, path = filesystem(f"{bucket}/downloads/photos.zip")
    with fs.open_output_stream(path) as upload, zipfile.ZipFile(upload, "w") as packed:
        for member in sorted(p for p in Path(sample_photos).rglob("*") if p.is_file()):
            packed.write(member, member.relative_to(sample_photos).as_posix())
    out = tmp_path / "prepared"
    proc = subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", "data", "prepare", f"{bucket}/downloads/photos.zip", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta, unpacked = read_meta(str(out)), read_meta(prepared_sample)
    assert (meta.layout, meta.counts, meta.class_names) == (unpacked.layout, unpacked.counts, unpacked.class_names)
    assert meta.source == f"{bucket}/downloads/photos.zip"


def test_data_prepare_writes_shards_to_a_bucket_and_meta_last(sample_photos, bucket, tmp_path):
    out = f"{bucket}/prepared/sample"
    proc = subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", "data", "prepare", str(sample_photos), out],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith(f"-> {out}")

    from colorize_core.data.shards import is_prepared, read_meta

    meta = read_meta(out)
    assert is_prepared(out) and not is_prepared(f"{bucket}/prepared/nothing")
    fs, path = filesystem(out)
    import pyarrow.fs as pafs

    stored = {i.base_name: i.size for i in fs.get_file_info(pafs.FileSelector(path))}
    assert sorted(stored) == sorted([*meta.shards["train"], *meta.shards["val"], "meta.json"])
    assert all(size > 0 for size in stored.values()) and meta.counts["train"] > meta.counts["val"] > 0

    # TensorFlow reads gs:// from Google itself, never from an emulator: training on it is one line.
    config = tmp_path / "c.yaml"
    config.write_text(f"name: from-bucket\nepochs: 1\nsteps_per_epoch: 1\ndata:\n  source: {out}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chromasweep.cli",
            "train",
            "--config",
            str(config),
            "--in-process",
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"data.source: {out}: TensorFlow reads gs:// from Google Cloud Storage itself" in proc.stderr


def test_prepared_shards_are_equal_in_size_and_hold_every_image_once(sample_photos, storage, monkeypatch):
    import tensorflow as tf

    from colorize_core.data import shards
    from colorize_core.data.buckets import fetched

    monkeypatch.setattr(shards, "IMAGES_PER_SHARD", 16)
    out = f"{storage}/prepared"
    meta = shards.prepare(sample_photos, out, progress=False)
    assert len(meta.shards["train"]) > 2
    with fetched(out) if "://" in out else contextlib.nullcontext(out) as local:
        for split, names in meta.shards.items():
            sizes, files = [], set()
            for name in names:
                records = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(f"{local}/{name}")]
                sizes.append(len(records))
                files |= {e.features.feature["image/filename"].bytes_list.value[0] for e in records}
            assert sum(sizes) == len(files) == meta.counts[split] and max(sizes) - min(sizes) <= 1, (split, sizes)
