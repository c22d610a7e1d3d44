"""A run's checkpoints kept by the run itself, in a local folder or a bucket (gs://, s3://).

Single-worker sweep trials train in their Tune trial's own process (``sweeps.in_trial``), without
Ray Train and its checkpoint manager. Tune's own trial checkpoints are not enough to resume from:
the sweep driver saves which checkpoint is a trial's latest only every ~10 s, so a killed driver
can restart a trial an epoch behind (and a finished one trains its last epoch again). Here the
storage itself says which checkpoint is the latest, as Ray Train's does: folders
``checkpoint_step_NNNNNNNN`` beside the run's published ``model/``, each counted once its
``.complete`` marker is written after its files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.fs as pafs

COMPLETE = ".complete"
PREFIX = "checkpoint_"


def _order(name: str) -> tuple[int, bool]:
    """Checkpoints by step; at one step a divergence marker comes after the weights it replaces."""
    step = name.rsplit("_", 1)[-1]
    return (int(step) if step.isdigit() else -1, "diverged" in name)


class CheckpointStore:
    def __init__(self, root: str, keep: int):
        self.uri, self.keep = root, keep
        if "://" in root:
            self.fs, self.root = pafs.FileSystem.from_uri(root)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), str(Path(root).resolve())

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def complete(self) -> list[str]:
        """Names of the complete checkpoints, oldest first."""
        infos = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
        names = [i.base_name for i in infos if i.type == pafs.FileType.Directory and i.base_name.startswith(PREFIX)]
        done = [n for n in names if self.fs.get_file_info(f"{self._path(n)}/{COMPLETE}").type == pafs.FileType.File]
        return sorted(done, key=_order)

    def save(self, directory: str, name: str) -> str:
        """Copy the local ``directory`` in as checkpoint ``name``; drop all but the newest ``keep``."""
        target = self._path(name)
        self.fs.create_dir(target)
        pafs.copy_files(str(Path(directory).resolve()), target, destination_filesystem=self.fs)
        with self.fs.open_output_stream(f"{target}/{COMPLETE}") as marker:
            marker.write(b"")
        for old in self.complete()[: -self.keep]:
            self.fs.delete_dir(self._path(old))
        return self.location(name)

    def location(self, name: str) -> str:
        """Where checkpoint ``name`` is, as the user would name it (the URI, or the local path)."""
        return f"{self.uri.rstrip('/')}/{name}" if "://" in self.uri else self._path(name)

    def latest_location(self) -> str | None:
        names = self.complete()
        return self.location(names[-1]) if names else None

    @contextmanager
    def latest(self) -> Iterator[tuple[str, str] | None]:
        """The newest complete checkpoint as (a local directory, its location), or None."""
        names = self.complete()
        if not names:
            yield None
            return
        name = names[-1]
        if isinstance(self.fs, pafs.LocalFileSystem):
            yield self._path(name), self.location(name)
            return
        with tempfile.TemporaryDirectory() as local:
            pafs.copy_files(self._path(name), local, source_filesystem=self.fs)
            yield local, self.location(name)
