"""IDX files (MNIST, Fashion-MNIST and the embedded sample): find, download, decode, validate.

The IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian int32 magic number whose third
byte is the element type (0x08 = unsigned byte) and fourth the number of dimensions, then one
big-endian int32 per dimension, then the elements. Images are 2051 (0x00000803: N x rows x cols),
labels 2049 (0x00000801: N). Files may be gzipped (recognised by their first bytes, not their name).

Decoding streams the (gunzipped) bytes in 1 MiB chunks into one buffer, then one frombuffer.
Everything the header claims is checked, first against what the data set must be (magic, image
size, the labels' count, bounds) before any payload is read, then against the bytes as they come
(exact length: no more and no less), then the label range; so a truncated, swapped, corrupt or
bomb file is a one-line DataError that names the file, and costs no more memory than its header
promises.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import torch

from ..errors import DataError
from . import download
from .base import ArrayDataset, brief, check_labels

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# The canonical file names (the .gz is what is published; an uncompressed copy works too).
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Folders searched when no --data-dir is given, before the download cache.
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [],
}
# torchvision's folder names (root/<name>/raw/...), so an existing torchvision download is found.
_TORCHVISION_NAMES = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}
_INSTALL_HINTS = {"fashion-mnist": "or run `apt-get install dataset-fashion-mnist`"}


# What an IDX file of a data set cnnzoo reads may hold at most: 1 GiB of pixels and 2 million
# items (the largest MNIST-style set, EMNIST ByClass, has 697,932 training images: 547 MB). The
# header is checked against these before any payload is read.
MAX_PAYLOAD = 1 << 30
MAX_ITEMS = 2_000_000
_CHUNK = 1 << 20


class _Reader:
    """An IDX file's bytes as a stream, gunzipped on the fly if it is gzip (first two bytes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.raw = open(path, "rb")
        except OSError as e:
            raise DataError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            self.gzipped = self.raw.read(2) == b"\x1f\x8b"
            self.raw.seek(0)
            self.size = None if self.gzipped else os.fstat(self.raw.fileno()).st_size
        except OSError as e:
            self.raw.close()
            raise DataError(f"cannot read {path}: {e.strerror or e}") from None
        self.stream = gzip.GzipFile(fileobj=self.raw, mode="rb") if self.gzipped else self.raw

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()

    def read(self, n: int) -> bytes:
        """Up to n bytes (fewer only at the end of the data)."""
        try:
            return self.stream.read(n)
        except EOFError:
            raise DataError(f"{self.path}: the gzip stream ends early: the file is truncated; "
                            "download or copy it again") from None
        except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError (bad header, CRC)
            if not self.gzipped:
                raise DataError(f"cannot read {self.path}: {brief(e)}") from None
            raise DataError(f"{self.path}: corrupt gzip data ({brief(e)}); download or copy it again"
                            ) from None


def read_idx(path: Path, magic: int, *, count: int | None = None,
             item_shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Decode an unsigned-byte IDX file into a uint8 tensor of the shape its header gives.

    count, item_shape: what the header must say (the number of items; the shape of one item):
    checked before the payload is read. The payload is read in 1 MiB chunks and never beyond
    what the header promises, so a file that inflates to far more (a gzip bomb) costs no more
    memory than the header's size, and is refused when it goes on.
    """
    what = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}.get(magic, "IDX")
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    with _Reader(path) as f:
        head = f.read(header_size)
        if len(head) < 4:
            raise DataError(f"{path}: {len(head)} bytes, too short for an IDX header: the file is "
                            "truncated or empty")
        found = int.from_bytes(head[:4], "big")
        if found != magic:
            other = {IMAGES_MAGIC: " (an images file)",
                     LABELS_MAGIC: " (a labels file)"}.get(found, "")
            raise DataError(f"{path}: magic number {found}{other} where IDX {what} files have "
                            f"{magic}: not an IDX {what} file")
        if len(head) < header_size:
            raise DataError(f"{path}: the IDX header needs {header_size} bytes, the file has "
                            f"{len(head)}: it is truncated")
        dims = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
        shape = " x ".join(map(str, dims))
        if item_shape is not None and dims[1:] != tuple(item_shape):
            raise DataError(f"{path}: {'x'.join(map(str, dims[1:]))} {what} where this data set "
                            f"has {'x'.join(map(str, item_shape))}: the file belongs to another "
                            "data set")
        if len(dims) > 1 and 0 in dims[1:]:
            raise DataError(f"{path}: the header gives an empty image size {shape}")
        if count is not None and dims[0] != count:
            raise DataError(f"{path} holds {dims[0]:,} {what} but its labels file holds "
                            f"{count:,} labels: the files do not belong together")
        payload = math.prod(dims)
        if dims[0] > MAX_ITEMS or payload > MAX_PAYLOAD:
            raise DataError(f"{path}: the header says {shape} {what} ({payload:,} bytes), more "
                            "than cnnzoo reads from an IDX file: the file is corrupt")
        expected = header_size + payload
        if f.size is not None and f.size != expected:
            problem = "it is truncated" if f.size < expected else "it has trailing bytes"
            raise DataError(f"{path}: the header says {shape} {what} ({expected:,} bytes) but "
                            f"the file has {f.size:,} bytes: {problem}")
        buf = bytearray()
        while len(buf) < payload:
            chunk = f.read(min(_CHUNK, payload - len(buf)))
            if not chunk:
                raise DataError(f"{path}: the header says {shape} {what} ({expected:,} bytes) "
                                f"but the data end after {header_size + len(buf):,} bytes: it "
                                "is truncated")
            buf += chunk
        if f.read(1):
            raise DataError(f"{path}: the header says {shape} {what} ({expected:,} bytes) but "
                            "more data follow: it has trailing bytes")
    if payload == 0:  # torch.frombuffer refuses an empty buffer
        return torch.empty(dims, dtype=torch.uint8)
    return torch.frombuffer(buf, dtype=torch.uint8).reshape(dims)


def read_pair(images_path: Path, labels_path: Path, num_classes: int = 10,
              image_size: tuple[int, int] | None = (28, 28)) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 1 x H x W uint8) and labels (N int64) from an IDX images/labels pair.

    The labels are read first (small): the images file's header must then give as many images,
    of image_size, before a byte of its pixels is read."""
    labels = read_idx(labels_path, LABELS_MAGIC)
    images = read_idx(images_path, IMAGES_MAGIC, count=len(labels),
                      item_shape=tuple(image_size) if image_size is not None else None)
    labels = labels.to(torch.int64)
    check_labels(labels, num_classes, str(labels_path))
    return images.unsqueeze(1), labels


def _find(folder: Path, stem: str) -> Path | None:
    """stem.gz or stem in folder (also MNIST's old 'train-images.idx3-ubyte' spelling)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (folder / name).is_file():
            return folder / name
    return None


def search_dirs(name: str, data_dir: Path | None) -> list[Path]:
    """Folders searched for `name`'s files, in order."""
    if data_dir is not None:
        dirs = [data_dir, data_dir / name]
        if name in _TORCHVISION_NAMES:
            dirs.append(data_dir / _TORCHVISION_NAMES[name] / "raw")
        return dirs
    return [*SYSTEM_DIRS.get(name, []), download.cache_dir(name)]


def locate(name: str, split: str, data_dir: Path | None, download_ok: bool) -> tuple[Path, Path]:
    """The images and labels files of a split: found locally, else downloaded."""
    stems = FILES[split]
    dirs = search_dirs(name, data_dir)
    for folder in dirs:
        images, labels = (_find(folder, stem) for stem in stems)
        if images is not None and labels is not None:
            return images, labels
    target = data_dir if data_dir is not None else download.cache_dir(name)
    where_to_put = (f"put {stems[0]}.gz and {stems[1]}.gz (gzipped or not) in {target}"
                    + (" or pass --data-dir" if data_dir is None else "")
                    + (f", {_INSTALL_HINTS[name]}" if name in _INSTALL_HINTS else ""))
    if not download_ok:
        searched = ", ".join(str(d) for d in dirs)
        raise DataError(f"{name} {split} files not found (searched {searched}); downloads are "
                        f"off: {where_to_put}")
    paths = []
    for stem in stems:
        existing = _find(target, stem)
        paths.append(existing or download.fetch(name, stem + ".gz", target, where_to_put))
    return paths[0], paths[1]


def load_idx_dataset(name: str, split: str, classes: list[str], data_dir: Path | None = None,
                     download_ok: bool = True, folder: Path | None = None) -> ArrayDataset:
    """Load an MNIST-style data set. folder: read exactly there (the embedded sample)."""
    if folder is not None:
        images_path, labels_path = (_find(folder, s) for s in FILES[split])
        if images_path is None or labels_path is None:
            raise DataError(f"the {name} files are missing from {folder}: reinstall cnnzoo")
    else:
        images_path, labels_path = locate(name, split, data_dir, download_ok)
    images, labels = read_pair(images_path, labels_path, num_classes=len(classes))
    return ArrayDataset(name, split, images, labels, list(classes), source=str(images_path.parent))
