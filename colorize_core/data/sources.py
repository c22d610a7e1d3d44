"""Finding images and their labels in the three folder layouts users bring.

- ILSVRC2012 as Kaggle ships it: ``ILSVRC/Data/CLS-LOC/train/<wnid>/*.JPEG`` and
  ``ILSVRC/Data/CLS-LOC/val/*.JPEG``, labelled by ``LOC_val_solution.csv`` and
  ``LOC_synset_mapping.txt`` (whose line order is the class index, as in every ImageNet model).
- A folder of class subfolders (optionally under ``train/`` and ``val/``).
- A flat folder of images: no labels.

Any of them may also be a zip archive (a local file or an object in a bucket), read member by member
without unpacking: Kaggle's ``imagenet-object-localization-challenge.zip`` is the ILSVRC layout.
"""

from __future__ import annotations

import csv
import io
import os
import random
import struct
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
NO_LABEL = -1


class Archive:
    """A zip archive's members as a folder tree, indexed once: ``zipfile.Path`` lists a folder by
    scanning every member's name, which over ImageNet's 1.4 million members takes hours."""

    def __init__(self, source: str, archive: zipfile.ZipFile, read_at):
        self.source, self.zip, self.read_at = source, archive, read_at
        self.children: dict[str, set[str]] = defaultdict(set)
        self.files: set[str] = set()
        for name in archive.namelist():
            parts = name.rstrip("/").split("/")
            for depth in range(len(parts)):  # folders without entries of their own are implied
                self.children["/".join(parts[:depth])].add(parts[depth])
            if not name.endswith("/"):
                self.files.add(name)

    @classmethod
    def open(cls, source: str) -> ArchivePath:
        """The root of the zip at ``source`` (a path or a gs:// / s3:// URI)."""
        from colorize_core.data.buckets import filesystem

        try:
            if is_uri(source):
                fs, path = filesystem(source)
                remote = fs.open_input_file(path)
                handle = io.BufferedReader(_RangedReads(remote), buffer_size=1 << 20)  # the central directory
                read_at = lambda count, offset: remote.read_at(count, offset)  # noqa: E731  Arrow's is thread-safe
            else:
                handle = open(source, "rb")  # noqa: SIM115  held open by the archive for its members
                read_at = lambda count, offset: os.pread(handle.fileno(), count, offset)  # noqa: E731
            archive = _open_archives[source] = cls(source, zipfile.ZipFile(handle), read_at)
            return ArchivePath(archive, "")
        except (OSError, ValueError, zipfile.BadZipFile) as err:  # pyarrow's errors are ValueErrors
            raise DatasetError(f"{source}: not a readable zip archive ({str(err)[:300]})") from None

    def read(self, name: str) -> bytes:
        """One member's bytes, checked against its CRC. Read by offset, not through ``ZipFile.read``,
        whose one shared file position admits one reader at a time: a bucket's latency would then
        bound the whole prepare. A corrupt member is an OSError, as an unreadable file is."""
        info = self.zip.getinfo(name)
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return self.zip.read(name)  # encrypted, bzip2 or lzma: zipfile's own path (and its errors)
        header = bytes(self.read_at(30, info.header_offset))
        if header[:4] != b"PK\x03\x04":
            raise OSError(f"corrupt zip member {name}: no local header at offset {info.header_offset}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        data = bytes(self.read_at(info.compress_size, info.header_offset + 30 + name_length + extra_length))
        try:
            data = zlib.decompress(data, -15) if info.compress_type == zipfile.ZIP_DEFLATED else data
        except zlib.error as err:
            raise OSError(f"corrupt zip member {name}: {err}") from None
        if zlib.crc32(data) != info.CRC:
            raise OSError(f"corrupt zip member {name}: CRC mismatch")
        return data


class _RangedReads(io.RawIOBase):
    """A bucket object as a seekable file for ``zipfile``: each read is one ranged request, and no
    request goes past the end (a bucket answers that with an error, not with nothing)."""

    def __init__(self, remote):
        self.remote, self.size, self.position = remote, remote.size(), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        start = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, start + offset)
        return self.position

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self.size - self.position))
        if count:
            buffer[:count] = self.remote.read_at(count, self.position)
            self.position += count
        return count


_open_archives: dict[str, Archive] = {}  # by source: a process that receives members indexes each archive once


def _member(source: str, at: str) -> ArchivePath:
    """A member named in another process: its archive opened (and indexed) here, once."""
    archive = _open_archives.get(source) or Archive.open(source).archive
    return ArchivePath(archive, at)


@dataclass(frozen=True, repr=False)
class ArchivePath:
    """A member (or implied folder) of an ``Archive``, with the few ``Path`` methods a catalog uses."""

    archive: Archive
    at: str  # the member's name without a trailing slash; "" is the archive's root

    def __truediv__(self, part: str) -> ArchivePath:
        return ArchivePath(self.archive, f"{self.at}/{part}" if self.at else part)

    def __str__(self) -> str:
        return f"{self.archive.source}/{self.at}" if self.at else self.archive.source

    def __repr__(self) -> str:
        return f"ArchivePath({str(self)!r})"

    def __reduce__(self):  # sent to another process by its archive's source and its name, not its handle
        return _member, (self.archive.source, self.at)

    @property
    def name(self) -> str:
        return self.at.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    def is_dir(self) -> bool:
        return self.at in self.archive.children

    def is_file(self) -> bool:
        return self.at in self.archive.files

    def iterdir(self):
        return (self / name for name in sorted(self.archive.children.get(self.at, ())))

    def read_bytes(self) -> bytes:
        return self.archive.read(self.at)

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def open(self, newline: str | None = None) -> io.StringIO:
        return io.StringIO(self.read_text(), newline=newline)


Tree = Path | ArchivePath  # a folder on disk, or one inside a zip archive


@dataclass(frozen=True)
class ImageItem:
    path: Tree
    label: int = NO_LABEL


@dataclass
class Catalog:
    """What a source holds: its layout, class names and the two splits."""

    layout: str
    class_names: list[str]
    train: list[ImageItem] = field(default_factory=list)
    val: list[ImageItem] = field(default_factory=list)


class DatasetError(ChromasweepError, ValueError):
    """A dataset that cannot be used, naming the path and what was expected."""


def _images_in(folder: Tree) -> list[Tree]:
    # Everything that is a file is a candidate: a non-image with an image suffix, or an image
    # with an odd suffix, is found out by decoding, and reported, rather than silently passed over.
    return sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")), key=str)


def _folders_in(folder: Tree) -> list[Tree]:
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=str)


def find_ilsvrc_root(root: Tree) -> Tree | None:
    for candidate in (root, *root.iterdir()) if root.is_dir() else ():
        if (candidate / "ILSVRC" / "Data" / "CLS-LOC").is_dir():
            return candidate
    return None


def catalog_ilsvrc(root: Tree, val_fraction: float = 0.1, seed: int = 0) -> Catalog:
    data = root / "ILSVRC" / "Data" / "CLS-LOC"
    mapping = root / "LOC_synset_mapping.txt"
    if not mapping.is_file():
        raise DatasetError(f"{mapping}: missing; the ILSVRC layout needs it for the class index")
    wnids, names = [], []
    for n, line in enumerate(mapping.read_text().splitlines(), 1):
        if not line.strip():
            continue
        wnid, _, name = line.partition(" ")
        if not wnid.startswith("n"):
            raise DatasetError(f"{mapping}:{n}: expected '<wnid> <names>', got {line!r}")
        wnids.append(wnid)
        names.append(name.split(",")[0].strip() or wnid)
    index = {w: i for i, w in enumerate(wnids)}

    train = []
    train_dir = data / "train"
    if train_dir.is_dir():
        for class_dir in _folders_in(train_dir):
            if class_dir.name not in index:
                raise DatasetError(f"{class_dir}: class {class_dir.name!r} is not in {mapping}")
            train += [ImageItem(p, index[class_dir.name]) for p in _images_in(class_dir)]

    val = []
    val_dir, solution = data / "val", root / "LOC_val_solution.csv"
    if val_dir.is_dir():
        labels: dict[str, int] = {}
        if solution.is_file():
            with solution.open(newline="") as f:
                for row in csv.DictReader(f):
                    try:
                        first_wnid = row["PredictionString"].split()[0]
                        labels[row["ImageId"]] = index[first_wnid]
                    except (KeyError, IndexError) as err:
                        raise DatasetError(
                            f"{solution}: expected columns ImageId,PredictionString with known wnids, "
                            f"bad row {row!r} ({err})"
                        ) from None
        val = [ImageItem(p, labels.get(p.stem, NO_LABEL)) for p in _images_in(val_dir)]
    else:  # a download without its val/ folder: validate on part of train, as the other layouts do
        train, val = _hold_out(train, val_fraction, seed)
    return Catalog("ilsvrc", names, train, val)


def catalog_class_folders(root: Tree, val_fraction: float, seed: int) -> Catalog:
    split_dirs = [root / "train", root / "val"]
    if split_dirs[0].is_dir():
        class_names = [p.name for p in _folders_in(split_dirs[0])]
        index = {c: i for i, c in enumerate(class_names)}
        splits = []
        for split_dir in split_dirs:
            items = []
            if split_dir.is_dir():
                for class_dir in _folders_in(split_dir):
                    label = index.get(class_dir.name, NO_LABEL)
                    items += [ImageItem(p, label) for p in _images_in(class_dir)]
            splits.append(items)
        return Catalog("class-folders", class_names, *splits)

    class_names = [p.name for p in _folders_in(root) if not p.name.startswith(".")]
    items = [ImageItem(p, i) for i, c in enumerate(class_names) for p in _images_in(root / c)]
    train, val = _hold_out(items, val_fraction, seed)
    return Catalog("class-folders", class_names, train, val)


def catalog_flat(root: Tree, val_fraction: float, seed: int) -> Catalog:
    train, val = _hold_out([ImageItem(p) for p in _images_in(root)], val_fraction, seed)
    return Catalog("flat", [], train, val)


def _hold_out(items: list[ImageItem], fraction: float, seed: int) -> tuple[list, list]:
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    n_val = round(len(shuffled) * fraction)
    if fraction > 0 and len(shuffled) > 1:
        n_val = max(n_val, 1)
    return sorted(shuffled[n_val:], key=str), sorted(shuffled[:n_val], key=str)


def is_archive(source: str | Path) -> bool:
    return str(source).lower().endswith(".zip")


def catalog(source: str | Path, val_fraction: float = 0.1, seed: int = 0) -> Catalog:
    """Catalog any supported layout, in a folder or a zip archive, telling which one it found."""
    root = Archive.open(str(source)) if is_archive(source) else Path(source)
    if not root.is_dir():
        raise DatasetError(f"{source}: not a folder or a .zip (expected an ILSVRC, class-folder or flat image folder)")
    ilsvrc = find_ilsvrc_root(root)
    if ilsvrc is not None:
        return catalog_ilsvrc(ilsvrc, val_fraction, seed)
    if any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        return catalog_class_folders(root, val_fraction, seed)
    return catalog_flat(root, val_fraction, seed)
