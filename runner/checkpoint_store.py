"""A run's folder, in a local folder or a bucket (gs://, s3://): its checkpoints, its metrics and its
published model. Every way to train (in this process, in a Tune trial, on Ray Train workers) writes
this one layout (``run_folder`` names its files), so a run started one way resumes, inspects and
restarts the same way.

The storage itself says which checkpoint is the latest (not Ray's or Tune's bookkeeping, which a
killed driver can leave an epoch behind). A folder written by an older layout is refused.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.fs as pafs

from colorize_core.data.buckets import filesystem
from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri
from colorize_core.model_files import MODEL_DIR
from runner.run_folder import CHECKPOINT_PREFIX as PREFIX
from runner.run_folder import COMPLETE, LAYOUT_FILE, LAYOUT_VERSION, OLD_LAYOUT_SIGNS


class LayoutError(ChromasweepError, ValueError):
    """A run folder that this version cannot continue without mixing two layouts."""


def _order(name: str) -> tuple[int, bool]:
    """Checkpoints by step; at one step a divergence marker comes after the weights it replaces."""
    step = name.rsplit("_", 1)[-1]
    return (int(step) if step.isdigit() else -1, "diverged" in name)


class CheckpointStore:
    def __init__(self, root: str, keep: int):
        self.uri, self.keep = root, keep
        self._marked = False  # whether the layout marker is known to be written
        if is_uri(root):
            self.fs, self.root = filesystem(root)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), str(Path(root).resolve())

    @classmethod
    def for_run(cls, storage: str, name: str, keep: int) -> CheckpointStore:
        return cls(f"{storage.rstrip('/')}/{name}", keep)

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def _entries(self) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))

    # -- the layout -------------------------------------------------------------------------
    def check_layout(self) -> None:
        """Refuse a folder that an older chromasweep wrote. A new run's folder is made (and marked
        as this layout's) by its first checkpoint: a run that never got that far leaves nothing."""
        entries = {i.base_name: i for i in self._entries()}
        if LAYOUT_FILE in entries:
            self._marked = True
            found = json.loads(self.read_text(LAYOUT_FILE))
            if found.get("layout") != LAYOUT_VERSION:
                raise LayoutError(
                    f"{self.location(LAYOUT_FILE)}: layout {found.get('layout')}, expected {LAYOUT_VERSION}"
                )
            return
        old = sorted(
            n
            for n, i in entries.items()
            if n in OLD_LAYOUT_SIGNS or (n.startswith(PREFIX) and i.type == pafs.FileType.Directory)
        )
        if old:
            raise LayoutError(
                f"{self.uri}: written by an older chromasweep ({', '.join(old[:3])} without {LAYOUT_FILE}); "
                "it cannot be continued: move it away, or train under another name (or --restart to discard it)"
            )

    def delete(self) -> None:
        """The whole run: checkpoints, metrics and model (``--restart``)."""
        if self.fs.get_file_info(self.root).type == pafs.FileType.Directory:
            self.fs.delete_dir(self.root)

    # -- small files ------------------------------------------------------------------------
    def write_text(self, name: str, text: str) -> None:
        self.fs.create_dir(self.root)
        with self.fs.open_output_stream(self._path(name)) as out:
            out.write(text.encode())

    def read_text(self, name: str) -> str:
        with self.fs.open_input_stream(self._path(name)) as f:
            return f.read().decode()

    def write_bytes(self, name: str, data: bytes) -> None:
        parent = self._path(name).rsplit("/", 1)[0]
        self.fs.create_dir(parent)
        with self.fs.open_output_stream(self._path(name)) as out:
            out.write(data)

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open_input_stream(self._path(name)) as f:
            return f.read()

    def files_in(self, folder: str) -> list[str]:
        """The names of the files in the run's ``folder``, sorted; none if it does not exist."""
        found = self.fs.get_file_info(pafs.FileSelector(self._path(folder), allow_not_found=True))
        return sorted(i.base_name for i in found if i.type == pafs.FileType.File)

    def has_file(self, name: str) -> bool:
        return self.fs.get_file_info(self._path(name)).type == pafs.FileType.File

    def subfolders(self) -> list[str]:
        return sorted(i.base_name for i in self._entries() if i.type == pafs.FileType.Directory)

    def read_json(self, name: str):
        """A small JSON file of the run (``checkpoint_.../metrics.json``), read where it lies; None
        if absent. Unlike ``latest()``, copies no checkpoint out of a bucket."""
        if self.fs.get_file_info(self._path(name)).type != pafs.FileType.File:
            return None
        return json.loads(self.read_text(name))

    # -- checkpoints ------------------------------------------------------------------------
    def complete(self) -> list[str]:
        """Names of the complete checkpoints, oldest first."""
        names = [
            i.base_name for i in self._entries() if i.type == pafs.FileType.Directory and i.base_name.startswith(PREFIX)
        ]
        done = [n for n in names if self.fs.get_file_info(f"{self._path(n)}/{COMPLETE}").type == pafs.FileType.File]
        return sorted(done, key=_order)

    def save(self, directory: str, name: str) -> str:
        """Copy the local ``directory`` in as checkpoint ``name``; drop all but the newest ``keep``."""
        if not self._marked:
            self.write_text(LAYOUT_FILE, json.dumps({"layout": LAYOUT_VERSION}))
            self._marked = True
        target = self._path(name)
        self.fs.create_dir(target)
        pafs.copy_files(str(Path(directory).resolve()), target, destination_filesystem=self.fs)
        with self.fs.open_output_stream(f"{target}/{COMPLETE}") as marker:
            marker.write(b"")
        for old in self.complete()[: -self.keep]:
            self.fs.delete_dir(self._path(old))
        return self.location(name)

    def location(self, name: str) -> str:
        """Where ``name`` is, as the user would name it (the URI, or the local path)."""
        return f"{self.uri.rstrip('/')}/{name}" if is_uri(self.uri) else self._path(name)

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

    # -- the published model ----------------------------------------------------------------
    def publish_model(self, model_dir: str) -> str:
        """Copy the local ``model_dir`` to the run's ``model/``; returns its location."""
        if isinstance(self.fs, pafs.LocalFileSystem):
            # Copy beside and rename: whoever sees ``model/`` (a user, a resumed sweep) sees it whole,
            # and a process killed mid-copy leaves only a ``.partial`` folder the next publish replaces.
            stable = Path(self._path(MODEL_DIR))
            partial = stable.with_name(f"{MODEL_DIR}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(model_dir, partial)
            shutil.rmtree(stable, ignore_errors=True)
            partial.rename(stable)
        else:  # a bucket has no rename; its objects appear whole, one by one
            self.fs.create_dir(self._path(MODEL_DIR))
            pafs.copy_files(str(Path(model_dir).resolve()), self._path(MODEL_DIR), destination_filesystem=self.fs)
        return self.location(MODEL_DIR)

    def model_location(self) -> str | None:
        """The published model, if there is one."""
        found = self.fs.get_file_info(self._path(MODEL_DIR)).type == pafs.FileType.Directory
        return self.location(MODEL_DIR) if found else None
