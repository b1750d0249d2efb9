"""Prepared runtimes kept between runs, so that `predict --fast` pays for preparing one only once.

Preparing a runtime costs seconds (exporting to ONNX, OpenVINO's conversion, and for `auto` timing
every candidate), which is more than a small network needs to classify a hundred images. The
results are kept in `$CNNZOO_CACHE/fast/` (default ~/.cache/cnnzoo/fast/; CNNZOO_CACHE=off keeps
nothing):

- `<key>.onnx`: the exported network ONNX Runtime loads;
- `<key>.xml` / `<key>.bin`: OpenVINO's converted network;
- `<key>-choice-b<batch>.json`: which runtime `auto` measured fastest, and the times.

The key is a SHA-256 of everything the prepared file depends on: the network's structure (its
repr) and weights, the input shape, the dtype, and the versions of cnnzoo, torch and the runtime
(and, for a choice, the CPU, the thread count and the runtimes that were candidates). A file that
cannot be read is rebuilt; a cache that cannot be written (read-only home) is skipped silently:
the cache only ever saves time, it never changes a result. Nothing is read without its checksum:
each entry `NAME` has a record `NAME.sha256.json` (its name and the SHA-256 of its content),
written after it and checked before every use; an entry that does not match is rebuilt, and a
warning says so.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import io
from .._version import __version__
from ..data.download import CACHE_ENV, cache_dir
from ..errors import CnnzooError
from .machine import cpu_name

OFF = ("off", "0", "none")


def folder() -> Path | None:
    """The cache folder, or None when CNNZOO_CACHE=off."""
    if os.environ.get(CACHE_ENV, "").strip().lower() in OFF:
        return None
    return cache_dir("fast")


def model_key(model: nn.Module, shape: Sequence[int], dtype: torch.dtype, runtime: str) -> str:
    """The SHA-256 naming a prepared runtime of `model` for inputs of `shape` (C, H, W)."""
    versions = {"cnnzoo": __version__, "torch": torch.__version__, runtime: _version_of(runtime)}
    h = hashlib.sha256(json.dumps([repr(model), list(shape), str(dtype), runtime, versions]).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:32]


def choice_key(key: str, batch: int, candidates: Sequence[str]) -> str:
    context = [key, batch, sorted(candidates), cpu_name(), torch.get_num_threads(),
               {r: _version_of(r) for r in candidates}]
    return hashlib.sha256(json.dumps(context).encode()).hexdigest()[:32]


def _version_of(runtime: str) -> str:
    module = {"onnxruntime": "onnxruntime", "openvino": "openvino"}.get(runtime)
    if module is None:
        return ""
    try:
        return version(module)
    except Exception:  # noqa: BLE001 - an unknown version only makes the key less reusable
        return "?"


def path(name: str) -> Path | None:
    root = folder()
    return None if root is None else root / name


def _record_name(name: str) -> str:
    return f"{name}.sha256.json"


def read_bytes(name: str) -> bytes | None:
    """An entry's bytes, or None (the caller rebuilds it): never read without its checksum. Each
    entry has a record, `NAME.sha256.json`, naming the entry (whose name is the SHA-256 key of
    the source it was prepared from) and the SHA-256 of its content; a file copied or linked
    over an entry, an edited byte or a record of another entry is rebuilt, and said on stderr."""
    p = path(name)
    if p is None or not p.is_file():
        return None
    try:
        data = p.read_bytes()
        record = json.loads((p.parent / _record_name(name)).read_bytes())
    except (OSError, ValueError):
        record = None
    ok = (isinstance(record, dict) and record.get("name") == name
          and record.get("sha256") == io.sha256_bytes(data))
    if not ok:
        print(f"cnnzoo: warning: the cached {p} does not match its recorded SHA-256 (changed, "
              "copied from another entry or unrecorded): rebuilding it", file=sys.stderr)
        return None
    return data


def write_bytes(name: str, data: bytes) -> None:
    """Write an entry and then its record through cnnzoo.io (atomic, never through a planted
    link); any failure is ignored: the cache only saves time."""
    p = path(name)
    if p is None:
        return
    record = {"name": name, "sha256": io.sha256_bytes(data), "bytes": len(data),
              "source": "the entry's name: the SHA-256 key of the weights, structure, input shape, "
                        "dtype, runtime and versions it was prepared from"}
    try:
        io.make_folder(p.parent)
        io.write_bytes(p, data)
        io.write_json(p.parent / _record_name(name), record)
    except CnnzooError:
        pass


def read_choice(name: str) -> dict[str, Any] | None:
    data = read_bytes(name)
    try:
        choice = json.loads(data) if data is not None else None
    except ValueError:
        return None
    return choice if isinstance(choice, dict) and isinstance(choice.get("runtime"), str) else None


def write_choice(name: str, runtime: str, times: dict[str, float]) -> None:
    from .. import io  # as in write_bytes

    write_bytes(name, io.json_text({"runtime": runtime, "median_seconds": times}, indent=1).encode())
