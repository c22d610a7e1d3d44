"""Buckets (gs://, s3://) as pyarrow filesystems, the one way the project opens them.

``STORAGE_EMULATOR_HOST`` (the variable Google's own storage clients read) points gs:// at an
emulator such as fake-gcs-server, anonymously: the tests use one.
"""

from __future__ import annotations

import os

import pyarrow.fs as pafs


def is_uri(path: str) -> bool:
    """A bucket or other remote URI (gs://, s3://) rather than a local path."""
    return "://" in path


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding ``uri`` and the path in it."""
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator and uri.startswith("gs://"):
        scheme, _, host = emulator.rpartition("://")
        fs = pafs.GcsFileSystem(anonymous=True, scheme=scheme or "http", endpoint_override=host)
        return fs, uri.removeprefix("gs://")
    return pafs.FileSystem.from_uri(uri)
