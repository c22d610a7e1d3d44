"""Buckets (gs://, s3://) as pyarrow filesystems, the one way the project opens them.

``STORAGE_EMULATOR_HOST`` (the variable Google's own storage clients read) points gs:// at an
emulator such as fake-gcs-server, anonymously: the tests use one. TensorFlow's own gs:// filesystem
cannot follow it (its endpoint is compiled in), so what TensorFlow reads from a bucket is refused
under an emulator (``tensorflow_cannot_read``) rather than sent to the real Google Cloud.
"""

from __future__ import annotations

import datetime
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow.fs as pafs

from colorize_core.locations import is_uri

EMULATOR_VARIABLE = "STORAGE_EMULATOR_HOST"
# An emulator that stops answering should fail a test in a minute, not after the 15 minutes of
# retries Google's client allows a real bucket.
EMULATOR_RETRY_LIMIT = datetime.timedelta(seconds=60)


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding ``uri`` and the path in it."""
    emulator = os.environ.get(EMULATOR_VARIABLE)
    if emulator and uri.startswith("gs://"):
        scheme, _, host = emulator.rpartition("://")
        fs = pafs.GcsFileSystem(
            anonymous=True, scheme=scheme or "http", endpoint_override=host, retry_time_limit=EMULATOR_RETRY_LIMIT
        )
        return fs, uri.removeprefix("gs://")
    return pafs.FileSystem.from_uri(uri)


def ray_storage(storage: str) -> dict:
    """Ray's ``storage_path`` and ``storage_filesystem`` for ``storage``: a bucket through the
    filesystem above (so that an emulator is honoured), a local folder as it is."""
    if not is_uri(storage):
        return {"storage_path": storage}
    fs, path = filesystem(storage)
    return {"storage_path": path, "storage_filesystem": fs}


def tensorflow_cannot_read(path: str) -> str | None:
    """Why TensorFlow cannot read the gs:// ``path`` here (an emulator stands in for GCS), or None."""
    emulator = os.environ.get(EMULATOR_VARIABLE)
    if emulator and path.startswith("gs://"):
        return (
            f"TensorFlow reads gs:// from Google Cloud Storage itself and cannot be pointed at the emulator "
            f"{EMULATOR_VARIABLE}={emulator}; copy the data to a local folder to use it here"
        )
    return None


def download(uri: str, target: str) -> None:
    """Copy the file at ``uri`` to the local file ``target``."""
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 8 << 20)


@contextmanager
def fetched(uri: str) -> Iterator[str]:
    """A local copy of the file or folder at ``uri``, for as long as the context lasts."""
    fs, path = filesystem(uri)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{uri}: not found")
    with tempfile.TemporaryDirectory(prefix="chromasweep-fetched-") as local:
        target = os.path.join(local, posixpath.basename(path.rstrip("/")))
        if kind == pafs.FileType.Directory:
            os.mkdir(target)
            pafs.copy_files(path, target, source_filesystem=fs)
        else:
            download(uri, target)
        yield target
