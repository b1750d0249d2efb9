"""Where the drawings' files are written: through cnnzoo's one write path.

cnnzoo.io (exclusive temp file, fsync, rename, output-folder markers) is the project's one way to
write a file; until it is present, the checkpoint module's atomic write gives the same
guarantees for single files and the folder check below stands in for its marker.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ...errors import CnnzooError

MARKER = ".cnnzoo-atlas"


def _io() -> Any:
    try:
        return importlib.import_module("cnnzoo.io")
    except ImportError:
        return None


def write_bytes(path: str | Path, data: bytes) -> Path:
    io = _io()
    if io is not None:
        return Path(io.write_bytes(path, data))
    from ...train.checkpoint import atomic_bytes

    atomic_bytes(path, data, fix="free space or fix permissions, or give another --out")
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def output_folder(folder: str | Path, kind: str) -> Path:
    """A folder for one kind of output: created, or accepted when empty or holding the marker
    of that kind (never someone else's files)."""
    io = _io()
    if io is not None:
        return Path(io.output_folder(folder, kind))
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise CnnzooError(f"--out {folder} is a file: give a folder (empty, or an earlier {kind})")
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).is_file():
        raise CnnzooError(f"--out {folder} holds other files: give an empty folder or an earlier "
                          f"{kind}'s folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CnnzooError(f"cannot create {folder}: {e.strerror}; give another --out") from None
    write_text(path / MARKER, f"cnnzoo {kind}\n")
    return path
