"""CIFAR-10 and CIFAR-100 from their "python version" pickles, loaded without trusting pickle.

https://www.cs.toronto.edu/~kriz/cifar.html. Each batch file is a Python 2 pickle (protocol 2) of
a dict: b"data" is a numpy uint8 array N x 3072 (1024 red, then 1024 green, then 1024 blue values,
rows top to bottom), b"labels" (CIFAR-10) or b"fine_labels"/b"coarse_labels" (CIFAR-100) are lists
of ints, plus file names and a batch label. The meta file (batches.meta / meta) holds the class
names.

pickle.load on a downloaded file runs whatever callables the file names. `SafeUnpickler` refuses
every global except the three a pickled numpy array needs: numpy.core.multiarray._reconstruct,
numpy.ndarray and numpy.dtype (also numpy._core.multiarray._reconstruct, NumPy 2's spelling) and
even those are not numpy's: they resolve to inert stand-ins that only record the array's shape,
dtype and bytes, which are then checked (uint8, 1-D or 2-D, length = product of the shape) and
read with numpy.frombuffer. Nothing in the file can run code.

CIFAR-100 loads the 100 fine labels. Sources, in order: the extracted folder
(cifar-10-batches-py / cifar-100-python) or its .tar.gz in --data-dir (--data-dir may also be the
extracted folder itself); with no --data-dir, the download cache.
"""
from __future__ import annotations

import io
import math
import pickle
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from . import download
from .base import ArrayDataset, brief, check_labels


@dataclass(frozen=True)
class CifarLayout:
    folder: str          # the extracted folder's name, also the prefix inside the tarball
    tarball: str
    meta: str            # meta file name
    names_key: str       # class names in the meta file
    labels_key: str      # labels in a batch file
    train: tuple[str, ...]
    test: tuple[str, ...]
    num_classes: int


LAYOUTS = {
    "cifar10": CifarLayout("cifar-10-batches-py", "cifar-10-python.tar.gz", "batches.meta",
                           "label_names", "labels",
                           tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), 10),
    "cifar100": CifarLayout("cifar-100-python", "cifar-100-python.tar.gz", "meta",
                            "fine_label_names", "fine_labels", ("train",), ("test",), 100),
}


# The largest file of either archive is CIFAR-100's train (155 MB); an archive holds 8 to 10
# members. Anything far beyond is refused before it is read.
MAX_FILE_BYTES = 256 << 20
MAX_MEMBERS = 1000


# ---- the restricted unpickler ------------------------------------------------------------------

class _NdarrayClass:
    """Stands in for numpy.ndarray: only ever passed to _reconstruct."""


class _Dtype:
    """Stands in for numpy.dtype: records the type code ('u1')."""

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        self.code = code.decode("latin1") if isinstance(code, bytes) else code

    def __setstate__(self, state: Any) -> None:  # (version, byte order, ...): irrelevant for u1
        self.state = state


class _Array:
    """Stands in for a pickled numpy array: records shape, dtype and raw bytes."""

    shape: tuple[int, ...] = ()
    dtype: Any = None
    raw: Any = None
    fortran: bool = False

    def __setstate__(self, state: Any) -> None:
        # numpy's ndarray.__setstate__: (version, shape, dtype, is_fortran, rawdata), or the
        # four-tuple without version from old numpy.
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("unexpected numpy array state")
        self.shape, self.dtype, self.fortran, self.raw = state[-4:]

    def to_numpy(self, where: str) -> np.ndarray:
        if not isinstance(self.dtype, _Dtype) or self.dtype.code not in ("u1", "|u1", "B"):
            code = getattr(self.dtype, "code", self.dtype)
            raise DataError(f"{where}: the array has dtype {brief(repr(code), 40)}, CIFAR files hold "
                            "uint8 ('u1')")
        shape = self.shape
        if (not isinstance(shape, tuple) or not 1 <= len(shape) <= 2
                or not all(isinstance(d, int) and d >= 0 for d in shape)):
            raise DataError(f"{where}: the array has shape {brief(repr(shape), 60)}, CIFAR data is "
                            "N x 3072")
        try:
            raw = self.raw.encode("latin1") if isinstance(self.raw, str) else self.raw
        except UnicodeEncodeError:
            raw = None
        # math.prod: exact for any ints (numpy's product would wrap around on huge shapes)
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != math.prod(shape):
            raise DataError(f"{where}: the array's bytes do not match its shape {brief(shape, 60)}: "
                            "the file is corrupt")
        return np.frombuffer(raw, dtype=np.uint8).reshape(shape, order="F" if self.fortran else "C")


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _Array:
    if cls is not _NdarrayClass:
        raise pickle.UnpicklingError("_reconstruct of something other than numpy.ndarray")
    return _Array()


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NdarrayClass,
    ("numpy", "dtype"): _Dtype,
}


class Refused(pickle.UnpicklingError):
    """The file names something a CIFAR file never does."""


class SafeUnpickler(pickle._Unpickler):
    """An Unpickler that resolves only the names a pickled numpy uint8 array needs, to stand-ins.

    It is the pure-Python unpickler on purpose: the C one grows its memo table to whatever index
    a PUT opcode names, so a 10-byte file asking for index 2**31 makes it allocate 16 GB; the
    Python one keeps the memo in a dict. CIFAR files are one big bytes object plus small lists,
    so the Python unpickler costs little (tests/test_hostile_data.py holds both to it)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise Refused(f"it refers to {module}.{name}, which a CIFAR file never does") from None

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("it uses persistent ids, which a CIFAR file never does")


def safe_loads(data: bytes, where: str) -> dict[str, Any]:
    """Unpickle a CIFAR file's dict, with str keys, without running anything it names."""
    try:
        # encoding="bytes": Python 2 str stays bytes, so the array's raw data is not decoded.
        obj = SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Refused as e:
        raise DataError(f"{where}: refusing to load it: {brief(e)}") from None
    except pickle.UnpicklingError as e:
        raise DataError(f"{where}: truncated or corrupt pickle ({brief(e)})") from None
    except (EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            OverflowError, MemoryError, RecursionError, struct.error) as e:
        raise DataError(f"{where}: truncated or corrupt pickle ({type(e).__name__}: {brief(e)})"
                        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{where}: holds a {type(obj).__name__}, CIFAR files hold a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


# ---- reading a split ---------------------------------------------------------------------------

def _as_text(value: Any) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def read_classes(meta: dict[str, Any], layout: CifarLayout, where: str) -> list[str]:
    names = meta.get(layout.names_key)
    if not isinstance(names, list) or len(names) != layout.num_classes:
        raise DataError(f"{where}: no list of {layout.num_classes} names under "
                        f"{layout.names_key!r}: not the {layout.meta} of {layout.folder}")
    return [_as_text(n) for n in names]


def read_batch(batch: dict[str, Any], layout: CifarLayout,
               where: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch file's images (N x 3 x 32 x 32 uint8) and labels (N int64)."""
    if "data" not in batch or layout.labels_key not in batch:
        raise DataError(f"{where}: no 'data' and {layout.labels_key!r} entries: not a "
                        f"{layout.folder} batch file")
    data = batch["data"]
    if not isinstance(data, _Array):
        raise DataError(f"{where}: 'data' is not an array")
    images = data.to_numpy(where)
    if images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: 'data' is {' x '.join(map(str, images.shape))}, CIFAR data is "
                        "N x 3072 (32x32 RGB)")
    labels = batch[layout.labels_key]
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DataError(f"{where}: {layout.labels_key!r} is not a list of integers")
    if len(labels) != len(images):
        raise DataError(f"{where}: {len(images):,} images but {len(labels):,} labels")
    if any(not -2**62 < v < 2**62 for v in labels):
        raise DataError(f"{where}: a label in {layout.labels_key!r} is out of any class range")
    return images.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


class _Source:
    """The files of one CIFAR copy: an extracted folder or the tarball."""

    def __init__(self, path: Path, layout: CifarLayout) -> None:
        self.path, self.layout = path, layout

    def read(self, names: list[str]) -> dict[str, bytes]:
        if self.path.is_dir():
            out = {}
            for name in names:
                try:
                    size = (self.path / name).stat().st_size
                    if size > MAX_FILE_BYTES:
                        raise DataError(f"{self.path / name} has {size:,} bytes, more than a "
                                        f"{self.layout.folder} file ever has: not a CIFAR file")
                    out[name] = (self.path / name).read_bytes()
                except OSError as e:
                    raise DataError(f"cannot read {self.path / name}: {e.strerror or e}: the "
                                    f"{self.layout.folder} folder is incomplete") from None
            return out
        wanted = {f"{self.layout.folder}/{n}": n for n in names}
        out = {}
        try:
            # Read the members we need in one pass; nothing is extracted to disk.
            with tarfile.open(self.path, "r:gz") as tar:
                for count, member in enumerate(tar):
                    if count >= MAX_MEMBERS:
                        raise DataError(f"{self.path}: more than {MAX_MEMBERS} members before "
                                        f"the {self.layout.folder} files: not a CIFAR archive")
                    if member.name in wanted and member.isfile():
                        if member.size > MAX_FILE_BYTES:
                            raise DataError(f"{self.path}: {member.name} claims {member.size:,} "
                                            f"bytes, more than a {self.layout.folder} file ever "
                                            "has: not a CIFAR archive")
                        f = tar.extractfile(member)
                        assert f is not None
                        out[wanted[member.name]] = f.read()
                # Read to the end even when all is found: a truncated download must show.
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise DataError(f"{self.path}: truncated or corrupt archive ({brief(e)}); download it again"
                            ) from None
        missing = [n for n in names if n not in out]
        if missing:
            raise DataError(f"{self.path}: no {self.layout.folder}/{missing[0]} in the archive: "
                            f"not the {self.layout.tarball} archive, or an incomplete one")
        return out

    def where(self, name: str) -> str:
        return str(self.path / name) if self.path.is_dir() else f"{self.path}:{name}"


def _find_source(folder: Path, layout: CifarLayout) -> _Source | None:
    if (folder / layout.meta).is_file():  # the extracted folder itself
        return _Source(folder, layout)
    if (folder / layout.folder / layout.meta).is_file():
        return _Source(folder / layout.folder, layout)
    if (folder / layout.tarball).is_file():
        return _Source(folder / layout.tarball, layout)
    return None


def load_cifar(name: str, split: str, data_dir: Path | None = None,
               download_ok: bool = True) -> ArrayDataset:
    layout = LAYOUTS[name]
    folder = data_dir if data_dir is not None else download.cache_dir(name)
    source = _find_source(folder, layout)
    if source is None:
        where_to_put = (f"put {layout.tarball} (or the extracted {layout.folder} folder) in "
                        f"{folder}" + (" or pass --data-dir" if data_dir is None else ""))
        if not download_ok:
            raise DataError(f"{name} not found in {folder}; downloads are off: {where_to_put}")
        download.fetch(name, layout.tarball, folder, where_to_put)
        source = _Source(folder / layout.tarball, layout)
    files = list(layout.train if split == "train" else layout.test)
    contents = source.read([layout.meta, *files])
    classes = read_classes(safe_loads(contents[layout.meta], source.where(layout.meta)), layout,
                           source.where(layout.meta))
    parts = [read_batch(safe_loads(contents[f], source.where(f)), layout, source.where(f))
             for f in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    check_labels(labels, layout.num_classes, source.where(files[0]) if len(files) == 1
                 else f"{source.path} ({split} batches)")
    return ArrayDataset(name, split, images, labels, classes, source=str(source.path))
