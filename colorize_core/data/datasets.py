"""From a config's ``data.source`` to a prepared TFRecord folder, preparing and caching as needed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple

from filelock import FileLock

from colorize_core.config import DataConfig
from colorize_core.data.buckets import tensorflow_cannot_read
from colorize_core.data.bundled_sample import SPLIT_VERSION, build_sample_dataset
from colorize_core.data.shards import (
    PreparedMeta,
    is_prepared,
    prepare,
    read_meta,
    warn_skipped,
)
from colorize_core.data.sources import DatasetError
from colorize_core.locations import is_uri


class PreparedDataset(NamedTuple):
    path: str  # a prepared TFRecord folder, local or a bucket URI
    meta: PreparedMeta


def default_cache_dir() -> Path:
    return Path(os.environ.get("CHROMASWEEP_CACHE", Path.home() / ".cache" / "chromasweep"))


def resolve_dataset(data: DataConfig, seed: int = 0, progress: bool = True) -> PreparedDataset:
    """The prepared folder for ``data.source`` and its metadata.

    A prepared folder (local or a bucket URI) is used as it is; an image folder is prepared once
    into the cache; no source means the bundled sample dataset. A lock makes concurrent workers
    on one node prepare once and share the result.
    """
    if data.source and is_uri(data.source):
        meta = read_meta(data.source)  # a bucket holds prepared data only
        if reason := tensorflow_cannot_read(data.source):
            raise DatasetError(f"data.source: {data.source}: {reason}")
        return PreparedDataset(data.source, meta)
    if data.source and is_prepared(data.source):
        return PreparedDataset(data.source, read_meta(data.source))
    cache = Path(data.cache_dir) if data.cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    if data.source is None:
        photos, prepared = cache / f"sample-photos-v{SPLIT_VERSION}", cache / f"sample-prepared-v{SPLIT_VERSION}"
    else:
        source = Path(data.source).resolve()
        key = hashlib.sha1(f"{source}|{data.val_fraction}|{seed}".encode()).hexdigest()[:12]
        photos, prepared = source, cache / f"prepared-{source.name}-{key}"
    with FileLock(str(prepared) + ".lock"):
        if not is_prepared(str(prepared)):
            if data.source is None:
                build_sample_dataset(photos)
            prepare(photos, str(prepared), data.val_fraction, seed, progress=progress)
            return PreparedDataset(str(prepared), read_meta(str(prepared)))
    meta = read_meta(str(prepared))
    if meta.skipped:
        warn_skipped(meta)  # said again on every reuse: the user may not have seen the first time
    return PreparedDataset(str(prepared), meta)
