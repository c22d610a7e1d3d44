"""Preparing a dataset as sharded TFRecords: every image checked once, here, not in training.

A cluster then streams a few hundred shards from a bucket instead of listing a million files,
and the training pipeline only ever sees images that are known to decode.

The rule for odd inputs, applied while preparing:
- colour JPEG, PNG, GIF and BMP files are stored as they are (TensorFlow decodes them natively,
  CMYK JPEGs included); RGBA and palette images keep their RGB (alpha is dropped);
- 16-bit images, TIFF, WebP and other formats are converted to 8-bit RGB and stored as PNG;
- grayscale images (mode L/LA/I/1, or RGB with no colour anywhere) are skipped: they hold no
  colour to learn from;
- empty, truncated, corrupt and non-image files are skipped.
Every skipped file is counted by reason and named in ``meta.json`` and in a warning.

A prepare that is killed and run again keeps the shards it finished: each whole shard leaves a
record (``.progress/<shard>.json``: which images it holds, by path and label, and what it skipped),
and ``meta.json``, written last, ends the prepare and removes the records. A shard is kept only when
this run would put the same images in it; a file edited in place between the two runs is not noticed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import shutil
import tempfile
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.fs as pafs
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from colorize_core.data.buckets import filesystem
from colorize_core.data.sources import Catalog, DatasetError, ImageItem, catalog
from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri

log = logging.getLogger(__name__)

META_FILE = "meta.json"
PROGRESS_DIR = ".progress"
IMAGES_PER_SHARD = 1024
_NATIVE_FORMATS = {"JPEG", "PNG", "GIF", "BMP"}
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass
class Skipped:
    path: str
    reason: str


@dataclass
class PreparedMeta:
    source: str
    layout: str
    class_names: list[str]
    counts: dict[str, int]
    shards: dict[str, list[str]]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def skipped_by_reason(self) -> Counter:
        return Counter(s.reason for s in self.skipped)


class UnusableImage(ChromasweepError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def has_colour(img: Image.Image) -> bool:
    """Some pixel's channels differ by more than JPEG's noise: a photo with colour to learn or score."""
    small = np.asarray(img.convert("RGB").resize((64, 64)), dtype=np.int16)
    return int(np.abs(small - small.mean(axis=-1, keepdims=True)).max()) > 2


def checked_image_bytes(path: Path) -> bytes:
    """The bytes to store for one image, or UnusableImage saying why it is skipped."""
    data = path.read_bytes()
    if not data:
        raise UnusableImage("empty file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # a full decode: truncated and corrupt files fail here
            if img.mode in _GRAY_MODES or not has_colour(img):
                raise UnusableImage("grayscale (no colour to learn from)")
            sixteen_bit = img.mode in {"I;16", "I;16B", "RGB;16", "RGBA;16"} or (
                img.format == "PNG" and img.info.get("bitdepth", 8) > 8
            )
            if img.format in _NATIVE_FORMATS and not sixteen_bit:
                return data
            out = io.BytesIO()
            _to_rgb8(img).save(out, "PNG")
            return out.getvalue()
    except UnusableImage:
        raise
    except UnidentifiedImageError:
        raise UnusableImage("not an image") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise UnusableImage(f"corrupt or truncated ({err})") from None


def _to_rgb8(img: Image.Image) -> Image.Image:
    array = np.asarray(img)
    if array.dtype != np.uint8:  # 16-bit and float images: rescale, don't wrap around
        top = 65535.0 if array.dtype == np.uint16 or array.max() > 255 else 255.0
        array = np.clip(array.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(array)
    return img.convert("RGB")


def _example(encoded: bytes, label: int, filename: str) -> bytes:
    import tensorflow as tf  # only where shards are written: reading meta.json (a sweep's driver) needs none

    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[filename.encode()])),
    }
    # Deterministic: a map's keys in a fixed order, so the same images make the same bytes in any
    # process (protobuf's default order follows the process's hashing).
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


@dataclass
class ShardPlan:
    """One shard to write: its split, its file name and the images it holds."""

    split: str
    name: str
    items: list[ImageItem]

    @property
    def record_name(self) -> str:
        return f"{PROGRESS_DIR}/{self.name}.json"


@dataclass
class ShardRecord:
    """What a whole shard holds: left beside it until the prepare ends, so a rerun can keep it."""

    fingerprint: str
    written: int
    skipped: list[Skipped]
    kept: bool = False  # whole before this run started (not stored)

    def to_json(self) -> str:
        return json.dumps(
            {"fingerprint": self.fingerprint, "written": self.written, "skipped": [asdict(x) for x in self.skipped]}
        )

    @classmethod
    def from_json(cls, text: str) -> ShardRecord:
        raw = json.loads(text)
        return cls(raw["fingerprint"], raw["written"], [Skipped(**x) for x in raw["skipped"]], kept=True)


def plan_shards(split: str, items: list[ImageItem], per_shard: int | None = None) -> list[ShardPlan]:
    """The split's shards of about ``per_shard`` images. Every num_shards-th image to each keeps them
    the same size, so writers get equal shares; the assignment depends on the catalog alone, so every
    run (in one process or across a cluster) plans the same shards."""
    num_shards = max(1, math.ceil(len(items) / (per_shard or IMAGES_PER_SHARD)))
    return [
        ShardPlan(split, f"{split}-{k:05d}-of-{num_shards:05d}.tfrecord", items[k::num_shards])
        for k in range(num_shards)
    ]


def write_shard(plan: ShardPlan, out: str, workers: int = 8, on_images=lambda n: None) -> ShardRecord:
    """Check and encode the shard's images (``workers`` threads) and write it whole to ``out``, then its
    record; or keep it, when its record says an earlier run wrote exactly these images."""
    import tensorflow as tf

    def check(item: ImageItem):
        try:
            return item, checked_image_bytes(item.path), None
        except UnusableImage as err:
            return item, None, err.reason
        except OSError as err:  # unreadable file: permissions, vanished, a folder
            return item, None, f"unreadable ({err.strerror or err})"

    fingerprint = _fingerprint(plan.items)
    stored = _read_text(out, plan.record_name)
    done = ShardRecord.from_json(stored) if stored else None
    if done and done.fingerprint == fingerprint:
        on_images(len(plan.items))
        return done
    record = ShardRecord(fingerprint, 0, [])
    # One shard at a time bounds the local disk a bucket needs to one shard.
    with (
        ThreadPoolExecutor(workers) as pool,
        _output_path(out, plan.name) as path,
        tf.io.TFRecordWriter(path) as writer,
    ):
        for item, encoded, reason in pool.map(check, plan.items):
            on_images(1)
            if encoded is None:
                record.skipped.append(Skipped(str(item.path), reason))
                continue
            writer.write(_example(encoded, item.label, str(item.path)))
            record.written += 1
    with _output_path(out, plan.record_name) as path:
        Path(path).write_text(record.to_json())
    return record


def _fingerprint(items: list[ImageItem]) -> str:
    """Which images, with which labels, a shard holds: a kept shard must hold what this run would write."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(f"{item.path}\t{item.label}\n".encode())
    return digest.hexdigest()


@contextmanager
def _output_path(out: str, name: str) -> Iterator[str]:
    """Where the file ``name`` of the prepared folder ``out`` is written: a file of its own beside it,
    renamed to ``name`` once whole, or for a bucket a local file uploaded once whole. Either way the
    name never holds half a file, whoever else (a killed prepare's last task) is writing it."""
    if not is_uri(out):
        final = Path(out, name)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
        try:
            yield str(partial)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return
    with tempfile.TemporaryDirectory(prefix="chromasweep-shard-") as local:
        staged = os.path.join(local, os.path.basename(name))
        yield staged
        fs, path = filesystem(f"{out.rstrip('/')}/{name}")
        with open(staged, "rb") as src, fs.open_output_stream(path) as dst:
            shutil.copyfileobj(src, dst, 8 << 20)


def prepare(
    source: str | Path,
    out: str,
    val_fraction: float = 0.1,
    seed: int = 0,
    workers: int = 8,
    progress: bool = True,
    images_per_shard: int | None = None,
) -> PreparedMeta:
    """Check every image of ``source`` and write train/val TFRecord shards to ``out`` (a folder or a
    bucket), then meta.json: a folder with meta.json is whole."""
    cat = open_catalog(source, out, val_fraction, seed)
    records: dict[str, list[tuple[ShardPlan, ShardRecord]]] = {}
    for split, items in (("train", cat.train), ("val", cat.val)):
        if not items:
            continue
        plans = plan_shards(split, items, images_per_shard)
        with tqdm(total=len(items), desc=f"{split:5s}", unit="img", disable=not progress) as bar:
            records[split] = [(plan, write_shard(plan, out, workers, bar.update)) for plan in plans]
    return finish(source, cat, records, out, progress)


def open_catalog(source: str | Path, out: str, val_fraction: float, seed: int) -> Catalog:
    """The source's catalog, refused if it holds no training image; ``out`` made ready for shards."""
    cat: Catalog = catalog(source, val_fraction, seed)
    if not cat.train:
        raise DatasetError(f"{source}: no training images found ({cat.layout} layout)")
    if is_uri(out):
        fs, path = filesystem(out)
        fs.create_dir(path)
    else:
        Path(out).mkdir(parents=True, exist_ok=True)
    return cat


def finish(
    source: str | Path,
    cat: Catalog,
    records: dict[str, list[tuple[ShardPlan, ShardRecord]]],
    out: str,
    progress: bool = True,
) -> PreparedMeta:
    """meta.json from every split's whole shards, written last (a folder with it is whole); then the
    shards' records go. Skipped images are named in a warning; a source none of whose training
    images could be used is refused."""
    done = [record for split in records.values() for _, record in split]
    if (kept := sum(record.kept for record in done)) and progress:
        print(f"kept {kept} of {len(done)} shards that an interrupted prepare had finished", flush=True)
    meta = PreparedMeta(
        str(source),
        cat.layout,
        cat.class_names,
        counts={split: sum(r.written for _, r in shards) for split, shards in records.items()},
        shards={split: [plan.name for plan, _ in shards] for split, shards in records.items()},
        skipped=[s for shards in records.values() for _, r in shards for s in r.skipped],
    )
    with _output_path(out, META_FILE) as path:
        Path(path).write_text(json.dumps(asdict(meta), indent=1))
    fs, folder = located(out, PROGRESS_DIR)
    for record in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
        fs.delete_file(record.path)
    if fs.get_file_info(folder).type == pafs.FileType.Directory:  # a bucket's went with its last file
        fs.delete_dir(folder)
    if meta.skipped:
        warn_skipped(meta)
    if meta.counts.get("train", 0) == 0:
        raise DatasetError(
            f"{source}: no usable training image: all {len(cat.train)} were skipped ({dict(meta.skipped_by_reason())})"
        )
    return meta


def warn_skipped(meta: PreparedMeta, show: int = 20) -> None:
    lines = [f"  {s.path}: {s.reason}" for s in meta.skipped[:show]]
    if len(meta.skipped) > show:
        lines.append(f"  ... and {len(meta.skipped) - show} more, listed in {META_FILE}")
    by_reason = ", ".join(f"{n} {r}" for r, n in meta.skipped_by_reason().most_common())
    warnings.warn(
        f"skipped {len(meta.skipped)} of {len(meta.skipped) + sum(meta.counts.values())} images from "
        f"{meta.source} ({by_reason}):\n" + "\n".join(lines),
        stacklevel=2,
    )


def located(folder: str, name: str) -> tuple[pafs.FileSystem, str]:
    """The file system and path of ``name`` in ``folder`` (a local folder or a bucket URI)."""
    if is_uri(folder):
        return filesystem(f"{folder.rstrip('/')}/{name}")
    return pafs.LocalFileSystem(), str(Path(folder, name).resolve())


def _read_text(folder: str, name: str) -> str | None:
    """The file ``name`` of ``folder``, or None if it has none."""
    fs, path = located(folder, name)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def _meta_text(prepared: str) -> str | None:
    """meta.json of ``prepared`` (a folder or a bucket URI), or None if it has none."""
    return _read_text(prepared, META_FILE)


def read_meta(prepared: str) -> PreparedMeta:
    text = _meta_text(prepared)
    if text is None:
        raise DatasetError(f"{prepared}: no {META_FILE}; not a folder written by 'chromasweep data prepare'")
    raw = json.loads(text)
    raw["skipped"] = [Skipped(**s) for s in raw.get("skipped", [])]
    return PreparedMeta(**raw)


def is_prepared(path: str) -> bool:
    return _meta_text(path) is not None
