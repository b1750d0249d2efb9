"""Reading checkpoints: the format both sides share and the reader (loading never unpickles,
never writes). cnnzoo.train.checkpoint writes what this module reads.

A run folder DIR/ (paths named in train.rundir.RunDir; guarantees in docs/run-folder.md) holds:

    config.json  metrics.csv  results.json  curves.png  .lock
    checkpoints/last/         model.safetensors  meta.json  state.safetensors  state.json
    checkpoints/epoch-0001/   model.safetensors  meta.json
    ...

- model.safetensors: the model's state_dict (no `module.`/`_orig_mod.` prefixes); its header
  records the SHA-256 of each field of meta.json (SEAL_KEY), so that an edit is seen.
- meta.json: how to rebuild and feed the model: model name and options, num_classes, in_channels,
  data set, epoch, the input pipeline (InputPipeline.to_meta), class names, metrics, and the
  SHA-256 of every tensor file of the folder ("files"), verified at every load.
- state.safetensors + state.json (resume only): read by the training engine.

Readers (load_model, read_meta, checkpoint_dir) never modify anything and read the complete copy
while a writer replaces a checkpoint (it renames whole folders: cnnzoo.io.replace_folder). Every
document is validated (schema.validate_meta) before it is used.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load
from torch import nn

from .. import io
from ..errors import CheckpointError, CnnzooError
from ..registry import create_model
from .schema import validate_meta

# 2: meta.json records the SHA-256 of each tensor file ("files"); 3: model.safetensors' own
# metadata records the SHA-256 of each field of meta.json (SEAL_KEY), so that an edit is seen
VERSION = 3
SEAL_KEY = "cnnzoo.meta_sha256"
MODEL_FILE, META_FILE = "model.safetensors", "meta.json"
# A run folder's checkpoints: RUN/checkpoints/last and RUN/checkpoints/epoch-NNNN (train.rundir.RunDir).
CHECKPOINTS, LAST = "checkpoints", "last"
STATE_FILE, STATE_TENSORS = "state.json", "state.safetensors"
EPOCH_DIR = re.compile(r"^epoch-(\d{4,})$")
sha256 = io.sha256_bytes


# --- the seal: meta.json's fields hashed into the weights file's header ---------------------
def field_hash(value: Any) -> str:
    return sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def seal(meta: dict[str, Any]) -> dict[str, str]:
    """The SHA-256 of each field of meta.json as a reader parses it, written into the header of
    model.safetensors ("files" without the model's own entry: the seal lives inside that file)."""
    parsed = json.loads(io.json_bytes(meta))
    if isinstance(parsed.get("files"), dict):
        parsed["files"] = {k: v for k, v in parsed["files"].items() if k != MODEL_FILE}
    return {k: field_hash(v) for k, v in sorted(parsed.items())}


def header_metadata(path: Path, data: bytes) -> dict[str, str]:
    """The string metadata in a safetensors file's header (its first 8 + n bytes)."""
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    try:
        if n < 2 or 8 + n > len(data):
            raise ValueError("truncated header")
        found = json.loads(data[8:8 + n]).get("__metadata__") or {}
    except (ValueError, AttributeError, RecursionError):
        raise CheckpointError(f"{path} is corrupt or unreadable (its header)") from None
    return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}


def _file_header(path: Path) -> bytes:
    """The first 8 + n bytes of a safetensors file: enough for header_metadata."""
    with _reading(path), path.open("rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        return head + f.read(min(n, 100 << 20))  # safetensors caps its header at 100 MB


def check_seal(meta_path: Path, meta: dict[str, Any], header: dict[str, str]) -> None:
    """meta.json against the SHA-256 of each field that model.safetensors recorded when both
    were written: an edit, a removed or an added field is refused, naming the fields."""
    recorded = header.get(SEAL_KEY)
    if recorded is None:
        if meta.get("version", 1) >= 3:
            raise CheckpointError(f"{meta_path.parent / MODEL_FILE} records no SHA-256 of "
                                  f"{META_FILE}'s fields, but {META_FILE} says version 3: the "
                                  "weights file was replaced; use another checkpoint")
        return  # written by a cnnzoo before version 3
    try:
        sealed = json.loads(recorded)
        assert isinstance(sealed, dict)
    except (ValueError, AssertionError):
        raise CheckpointError(f"{meta_path.parent / MODEL_FILE} is corrupt (its metadata)") from None
    now = seal(meta)
    changed = sorted(k for k in sealed.keys() | now.keys() if sealed.get(k) != now.get(k))
    if changed:
        what = ", ".join(f"'{k}' " + ("removed" if k not in now else "added" if k not in sealed
                                       else "changed") for k in changed[:6])
        raise CheckpointError(f"{meta_path} was edited after the checkpoint was written ({what}; "
                              f"{MODEL_FILE} records the SHA-256 of each field): restore it, or use "
                              "another checkpoint; settings change through flags")


def unwrap(model: nn.Module) -> nn.Module:
    while True:
        inner = getattr(model, "_orig_mod", None)
        if isinstance(inner, nn.Module):
            model = inner
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model



# --- reading (never writes) -----------------------------------------------------------------
def is_complete(folder: Path) -> bool:
    return (folder / MODEL_FILE).is_file() and (folder / META_FILE).is_file()


def complete_copy(folder: Path) -> Path | None:
    """The folder, or its `.NAME.old` copy while a writer is between its two renames."""
    for candidate in (folder, folder.with_name(f".{folder.name}.old")):  # io.replace_folder's aside copy
        if is_complete(candidate):
            return candidate
    return None


def checkpoint_dir(path: str | Path) -> Path:
    """A run folder (-> checkpoints/last), a checkpoint folder, or its model.safetensors -> folder.

    Read-only: a checkpoint being replaced right now is read from its complete copy."""
    p = Path(path)
    if p.is_file() and p.name == MODEL_FILE:
        p = p.parent
    if p.is_dir():
        if (p / CHECKPOINTS).is_dir():
            last = p / CHECKPOINTS / LAST
            found = complete_copy(last)
            if found is not None:
                return found
            saved = [f for _, f in epoch_checkpoints(p) if is_complete(f)]
            if saved:  # `last` deleted, or the run stopped between the two writes of a save
                raise CheckpointError(f"{p} has no {CHECKPOINTS}/{LAST} ({last} is missing) but holds "
                                      f"complete epoch checkpoints: give {saved[-1]} to use the newest")
            raise CheckpointError(f"{p} is a run folder without a finished checkpoint "
                                  f"({last} is missing): was the run stopped before its first epoch ended?")
        found = complete_copy(p)
        if found is not None:
            return found
        raise CheckpointError(f"{p} holds no {MODEL_FILE}: give a run folder (written by "
                              "`cnnzoo train --out DIR`), a checkpoint folder or its model.safetensors")
    if not p.exists():
        raise CheckpointError(f"{p} does not exist: give a run folder, a checkpoint folder or its "
                              "model.safetensors")
    raise CheckpointError(f"{p} is not a cnnzoo checkpoint: give a run folder, a checkpoint folder "
                          "or its model.safetensors")


class _Vanished(Exception):
    """A file disappeared while reading: a writer replaced the checkpoint; read it again."""


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    with _reading(path):
        if limit is not None and path.stat().st_size > limit:
            raise CheckpointError(f"{path} is {path.stat().st_size:,} bytes, more than the {limit:,} "
                                  "such a file can hold: the checkpoint is corrupt")
        return path.read_bytes()


def _parse_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path} is corrupt ({e.__class__.__name__}): the checkpoint cannot be "
                              "read") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(path: str | Path, meta: dict[str, Any] | None = None) -> Any:
    """A small JSON document of a run folder (CheckpointError if missing or corrupt), checked
    against meta's SHA-256 when given (state.json)."""
    path = Path(path)
    try:
        data = _read_bytes(path, io.MAX_JSON_BYTES)
        if meta is not None and (meta.get("files") or {}).get(path.name) is not None:
            verify(path, data, meta)
        return _parse_json(path, data)
    except _Vanished:
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete") from None


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The validated meta.json of a checkpoint folder, checked against the seal in its weights
    file's header (CheckpointError naming the field if not)."""
    folder = Path(folder)
    meta = validate_meta(read_json(folder / META_FILE), folder / META_FILE)
    try:
        head = _file_header(folder / MODEL_FILE)
    except _Vanished:
        raise CheckpointError(f"{folder / MODEL_FILE} is missing: the checkpoint is incomplete") from None
    check_seal(folder / META_FILE, meta, header_metadata(folder / MODEL_FILE, head))
    return meta


def verify(path: Path, data: bytes, meta: dict[str, Any]) -> None:
    """The file's bytes against the SHA-256 meta.json recorded for it when it was written."""
    expected = meta.get("files", {}).get(path.name)
    if expected is None:
        if int(meta.get("version", 1)) >= 2:
            raise CheckpointError(f"{path.parent / META_FILE} records no SHA-256 for {path.name}: "
                                  "the checkpoint is incomplete")
        return  # written before hashes were recorded
    if sha256(data) != expected:
        raise CheckpointError(f"{path} is corrupt: its SHA-256 differs from the one recorded in "
                              f"{META_FILE} when it was written (flipped or truncated bytes)")


def decode_tensors(path: Path, data: bytes, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    try:
        tensors = load(data)
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as e:
        first = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise CheckpointError(f"{path} is corrupt or unreadable ({first})") from None
    return {k: v.to(device) for k, v in tensors.items()} if str(device) != "cpu" else tensors


def read_tensors(path: str | Path, device: str | torch.device = "cpu",
                 meta: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """Load a safetensors file (no pickle involved), verified against meta's SHA-256 when given;
    CheckpointError if missing, corrupt or altered."""
    path = Path(path)
    try:
        data = _read_bytes(path)
    except _Vanished:
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete") from None
    if meta is not None:
        verify(path, data, meta)
    return decode_tensors(path, data, device)


def build_model(meta: dict[str, Any]) -> nn.Module:
    """The network a checkpoint's metadata describes, freshly initialised."""
    try:
        return create_model(meta["model"], num_classes=int(meta["num_classes"]),
                            in_channels=int(meta["in_channels"]), **dict(meta["model_options"]))
    except CnnzooError as e:
        raise CheckpointError(f"the checkpoint's model cannot be built: {e}") from None
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the checkpoint's model options do not fit {meta['model']!r} ({e})") from None


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], where: str = "checkpoint") -> None:
    """Load a state_dict strictly, with one-line CheckpointErrors for mismatches and for NaN or
    infinite values (a model that computes NaN must not be evaluated, predicted from or resumed)."""
    state_dict = {_strip(k): v for k, v in state_dict.items()}
    target = unwrap(model)
    own = target.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [k for k in own if k in state_dict and own[k].shape != state_dict[k].shape]
    name = getattr(target, "zoo_name", type(target).__name__)
    if missing or unexpected or shapes:
        what = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                else f"shape of {shapes[0]} is {tuple(state_dict[shapes[0]].shape)}, "
                     f"the model's {tuple(own[shapes[0]].shape)}")
        raise CheckpointError(f"the weights in {where} do not fit model {name!r} ({what}): "
                              "the checkpoint is for another model or other options")
    dtypes = [k for k in own if own[k].dtype.is_floating_point != state_dict[k].dtype.is_floating_point]
    if dtypes:
        raise CheckpointError(f"the weights in {where} do not fit model {name!r} ({dtypes[0]} is "
                              f"{state_dict[dtypes[0]].dtype}, the model's {own[dtypes[0]].dtype})")
    for key, value in state_dict.items():
        if value.dtype.is_floating_point and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"the weights in {where} hold NaN or infinite values ({key}): "
                                  "the checkpoint is unusable; use an earlier epoch's checkpoint")
    target.load_state_dict(state_dict, strict=True)


def _strip(key: str) -> str:
    for prefix in ("module.", "_orig_mod."):
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu"
                    ) -> tuple[Path, dict[str, Any], dict[str, torch.Tensor]]:
    """(folder, validated meta, verified weights) of a checkpoint, read without writing anything.

    A writer replacing the checkpoint while we read makes a file vanish; we then read the
    complete copy again (a few tries), so a reader never sees half of two checkpoints."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise CheckpointError(f"give a run folder, a checkpoint folder or its model.safetensors "
                              f"(a path), got {type(path).__name__} {path!r}"[:200])
    retry_missing = (Path(path) / CHECKPOINTS).is_dir()  # `last` may be mid-swap for a moment
    for attempt in range(8):
        try:
            folder = checkpoint_dir(path)
        except CheckpointError:
            if not retry_missing or attempt == 7:
                raise
            time.sleep(0.02 * (attempt + 1))
            continue
        try:
            meta_bytes, data = _read_pair(folder)
        except _Vanished:
            time.sleep(0.02 * (attempt + 1))
            continue
        meta = validate_meta(_parse_json(folder / META_FILE, meta_bytes), folder / META_FILE)
        verify(folder / MODEL_FILE, data, meta)
        check_seal(folder / META_FILE, meta, header_metadata(folder / MODEL_FILE, data))
        return folder, meta, decode_tensors(folder / MODEL_FILE, data, device)
    raise CheckpointError(f"{path}: the checkpoint kept changing while being read (a run is "
                          "writing it); try again")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """An OSError while opening or reading one file of a checkpoint, as what it means."""
    try:
        yield
    except FileNotFoundError:
        raise _Vanished(path) from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a file: the checkpoint is corrupt") from None
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read ({e.strerror or e.__class__.__name__})") from None


def _read_pair(folder: Path) -> tuple[bytes, bytes]:
    """meta.json and model.safetensors of ONE checkpoint folder: the folder is opened once and
    both files are opened through it before either is read, so a writer swapping the folder
    between the two reads cannot hand us the meta of one checkpoint and the weights of another
    (files in a checkpoint folder are never rewritten in place; a swap renames whole folders).
    _Vanished when the folder or a file went away meanwhile (read the new one)."""
    try:
        dfd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        raise _Vanished(folder) from None
    except OSError as e:
        raise CheckpointError(f"{folder} cannot be read ({e.strerror or e.__class__.__name__})") from None
    fds: list[int] = []
    try:
        for name in (META_FILE, MODEL_FILE):
            with _reading(folder / name):
                fds.append(os.open(name, os.O_RDONLY, dir_fd=dfd))
        out = []
        for name, fd, limit in zip((META_FILE, MODEL_FILE), fds, (io.MAX_JSON_BYTES, None)):
            size = os.fstat(fd).st_size
            if limit is not None and size > limit:
                raise CheckpointError(f"{folder / name} is {size:,} bytes, more than the {limit:,} "
                                      "such a file can hold: the checkpoint is corrupt")
            with _reading(folder / name), os.fdopen(os.dup(fd), "rb") as f:
                out.append(f.read())
        return out[0], out[1]
    finally:
        for fd in fds:
            os.close(fd)
        os.close(dfd)


def load_model(path: str | Path, map_location: str | torch.device = "cpu", *,
               expect_model: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from a checkpoint.

    path: a run folder (uses checkpoints/last), a checkpoint folder, or its model.safetensors.
    Returns (model in eval mode on map_location, meta dict). A bad path, missing, corrupt or
    altered files (SHA-256), NaN weights, invalid metadata, weights that do not fit, or a
    checkpoint of another model than `expect_model`, raise CheckpointError with a one-line
    message. Nothing in the folder is modified.
    """
    folder, meta, tensors = read_checkpoint(path)
    if expect_model is not None and meta["model"] != expect_model:
        raise CheckpointError(f"{folder} is a checkpoint of {meta['model']!r}, not {expect_model!r}")
    model = build_model(meta)
    load_weights(model, tensors, where=str(folder))
    model.to(map_location).eval()
    meta["path"] = str(folder)
    return model, meta


def epoch_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """The per-epoch weight checkpoints of a run, as (epoch, folder), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        raise CheckpointError(f"{run_dir} has no checkpoints/ folder: is it a run folder written "
                              "by `cnnzoo train --out DIR`?")
    found = []
    for child in root.iterdir():
        m = EPOCH_DIR.match(child.name)
        if m and (child / "model.safetensors").is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def epoch_dir(run_dir: str | Path, epoch: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"epoch-{epoch:04d}"


def run_folder_of(checkpoint: str | Path) -> Path:
    """The run folder a checkpoint folder belongs to (itself when it is not inside one)."""
    folder = Path(checkpoint)
    return folder.parent.parent if folder.parent.name == CHECKPOINTS else folder


