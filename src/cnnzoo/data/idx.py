"""IDX files (MNIST, Fashion-MNIST and the embedded sample): find, download, decode, validate.

The IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian int32 magic number whose third
byte is the element type (0x08 = unsigned byte) and fourth the number of dimensions, then one
big-endian int32 per dimension, then the elements. Images are 2051 (0x00000803: N x rows x cols),
labels 2049 (0x00000801: N). Files may be gzipped (recognised by their first bytes, not their name).

Decoding is one frombuffer over the decompressed bytes (the full Fashion-MNIST training set loads
in about a third of a second, most of it gunzip). Everything the header claims is checked against
the bytes: magic, dimensions, exact length, image and label counts, label range, so a truncated,
swapped or corrupt file is a one-line DataError that names the file.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import torch

from ..errors import DataError
from . import download
from .base import ArrayDataset, check_labels

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


def _read_bytes(path: Path) -> bytearray:
    """The file's bytes, gunzipped if it is gzip (a writable buffer, so tensors can share it)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if raw[:2] != b"\x1f\x8b":
        return bytearray(raw)
    try:
        return bytearray(gzip.decompress(raw))
    except EOFError:
        raise DataError(f"{path}: the gzip stream ends early: the file is truncated; "
                        "download or copy it again") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError (bad header, CRC)
        raise DataError(f"{path}: corrupt gzip data ({e}); download or copy it again") from None


def read_idx(path: Path, magic: int) -> torch.Tensor:
    """Decode an unsigned-byte IDX file into a uint8 tensor of the shape its header gives."""
    what = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}.get(magic, "IDX")
    buf = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(buf) < 4:
        raise DataError(f"{path}: {len(buf)} bytes, too short for an IDX header: the file is "
                        "truncated or empty")
    found = int.from_bytes(buf[:4], "big")
    if found != magic:
        other = {IMAGES_MAGIC: " (an images file)", LABELS_MAGIC: " (a labels file)"}.get(found, "")
        raise DataError(f"{path}: magic number {found}{other} where IDX {what} files have {magic}: "
                        f"not an IDX {what} file")
    if len(buf) < header:
        raise DataError(f"{path}: the IDX header needs {header} bytes, the file has {len(buf)}: "
                        "it is truncated")
    dims = tuple(int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(buf) != expected:
        problem = "it is truncated" if len(buf) < expected else "it has trailing bytes"
        raise DataError(f"{path}: the header says {' x '.join(map(str, dims))} {what} "
                        f"({expected:,} bytes) but the file has {len(buf):,} bytes: {problem}")
    if len(dims) > 1 and 0 in dims[1:]:
        raise DataError(f"{path}: the header gives an empty image size {' x '.join(map(str, dims))}")
    if expected == header:  # torch.frombuffer refuses an empty buffer
        return torch.empty(dims, dtype=torch.uint8)
    return torch.frombuffer(buf, dtype=torch.uint8, offset=header).reshape(dims)


def read_pair(images_path: Path, labels_path: Path, num_classes: int = 10,
              image_size: tuple[int, int] | None = (28, 28)) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 1 x H x W uint8) and labels (N int64) from an IDX images/labels pair."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if image_size is not None and tuple(images.shape[1:]) != tuple(image_size):
        raise DataError(f"{images_path}: {images.shape[1]}x{images.shape[2]} images where this data "
                        f"set has {image_size[0]}x{image_size[1]}: the file belongs to another data set")
    if len(images) != len(labels):
        raise DataError(f"{images_path} holds {len(images):,} images but {labels_path} holds "
                        f"{len(labels):,} labels: the files do not belong together")
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
        found = [_find(folder, stem) for stem in stems]
        if all(found):
            return found[0], found[1]  # type: ignore[return-value]
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
