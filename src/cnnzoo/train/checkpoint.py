"""Writing checkpoints: weights in safetensors, everything else in JSON (the format and the
reader are cnnzoo.inference.checkpoint, which documents the folder's layout: training writes
what inference reads, and the engine's modules import the reader's names from there).

Every folder is written under a temporary name and renamed into place, so a crash (even SIGKILL)
leaves either the old checkpoint or the new one, never half of one. Only the process holding the
run folder's lock writes or tidies.

- write_checkpoint: model.safetensors (sealed with meta.json's field hashes), meta.json, and for
  resume state.safetensors + state.json (optimizer tensors, RNG states and generator states as
  tensors; the TrainState as JSON).
- check_config / config_changes: the resume checks against the settings a checkpoint was
  trained with.
"""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save
from torch import nn

from .. import io
from ..errors import CheckpointError
from ..inference.checkpoint import (
    EPOCH_DIR,
    META_FILE,
    MODEL_FILE,
    SEAL_KEY,
    STATE_FILE,
    STATE_TENSORS,
    VERSION,
    complete_copy,
    epoch_checkpoints,
    field_hash,
    is_complete,
    read_json,
    read_meta,
    seal,
    sha256,
    unwrap,
)
from ..inference.schema import FORMAT

# settings of a session, not of the training: a run may resume or restart with others
SESSION_FIELDS = frozenset({"out", "threads", "device", "data_dir", "tensorboard"})


# --- writing --------------------------------------------------------------------------------
def _tensors_for_file(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors wants contiguous CPU tensors that share no storage
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def tensor_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """A safetensors file's bytes (with extra string metadata in its header)."""
    return save(_tensors_for_file(tensors), metadata={"format": "pt", **(metadata or {})})


def config_changes(saved: dict[str, Any], now: dict[str, Any],
                   ignore: frozenset[str] = SESSION_FIELDS) -> list[str]:
    """The training settings (config.json fields) that differ between two configs."""
    return sorted(k for k in saved.keys() | now.keys()
                  if k not in ignore and field_hash(saved.get(k)) != field_hash(now.get(k)))


def check_config(config_path: Path, meta: dict[str, Any], *, epochs_may_differ: bool) -> None:
    """A run's config.json against the settings its (sealed) checkpoint was trained with: a
    hand edit (lr 0.05 -> 5.0) is refused in one line naming the fields. `epochs` may differ when
    the run is extended (--resume --epochs N rewrites config.json before its next checkpoint)."""
    trained = meta.get("config")
    if not isinstance(trained, dict):
        return  # a checkpoint not written by the trainer
    now = read_json(config_path)
    ignore = SESSION_FIELDS | ({"epochs"} if epochs_may_differ else set())
    changed = config_changes(trained, now if isinstance(now, dict) else {}, frozenset(ignore))
    if changed:
        first = changed[0]
        raise CheckpointError(f"{config_path} differs from the settings {meta.get('path', 'the checkpoint')} "
                              f"was trained with ({', '.join(changed[:6])}; {first} is "
                              f"{json.dumps(now.get(first))[:40]} here, {json.dumps(trained.get(first))[:40]} "
                              "there): settings change through flags, not by editing config.json; "
                              "restore it")


def _keep_other_runs_epoch(final: Path, meta: dict[str, Any]) -> None:
    """A complete epoch checkpoint that a run with other settings wrote is never replaced (a
    restart of the same run recomputes its own epochs and may rewrite them)."""
    if not EPOCH_DIR.match(final.name) or not is_complete(final):
        return
    try:
        existing = read_meta(final)
    except CheckpointError as e:
        raise CheckpointError(f"will not replace {final}: it cannot be verified ({e}); move it "
                              "away, or train with another --out") from None
    changed = config_changes(existing.get("config") or {}, meta.get("config") or {})
    if changed:
        raise CheckpointError(f"will not replace {final}: a run with other settings wrote it "
                              f"({', '.join(changed[:6])} differ); move it away, or train with "
                              "another --out")


_json_bytes = io.json_bytes
check_target = io.check_target
_remove = io.remove
recover = io.recover_folder
_pick = complete_copy  # train.rundir's names for them
_complete = is_complete

RESUME_FIX = "free space or fix permissions and resume; the previous checkpoint is intact"


def atomic_bytes(path: str | Path, data: bytes, *,
                 fix: str = "free space or fix permissions, or give another path") -> None:
    """Write a regular file atomically (cnnzoo.io.write_bytes)."""
    io.write_bytes(path, data, fix=fix)


def atomic_json(path: str | Path, data: Any, *, fix: str = RESUME_FIX) -> None:
    """Write a JSON file of a run folder atomically (cnnzoo.io.write_json)."""
    io.write_json(path, data, fix=fix)


def write_checkpoint(folder: str | Path, state_dict: dict[str, torch.Tensor], meta: dict[str, Any],
                     train_state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None) -> Path:
    """Write a checkpoint folder atomically and return its path. Writers only (the lock holder).

    The folder is replaced as a whole (cnnzoo.io.replace_folder): a crash leaves the old
    checkpoint or the new one, and readers meanwhile read the `.NAME.old` copy. meta.json
    records the SHA-256 of every tensor file (`files`), verified at load. A failed write (disk
    full...) raises one CheckpointError line; the previous folder stays."""
    meta = io.explicit(meta)  # strict JSON: a non-finite metric is null, said in not_finite
    def files() -> Iterator[tuple[str, bytes]]:  # one tensor file in memory at a time
        hashes: dict[str, str] = {}
        if train_state is not None:
            tensors, scalars = train_state
            data = tensor_bytes(tensors)
            hashes[STATE_TENSORS] = sha256(data)
            yield STATE_TENSORS, data
            del data
            data = _json_bytes(scalars)
            hashes[STATE_FILE] = sha256(data)
            yield STATE_FILE, data
        full = {"format": FORMAT, "version": VERSION, **meta}
        data = tensor_bytes(state_dict, {SEAL_KEY: json.dumps(seal({**full, "files": dict(hashes)}))})
        hashes[MODEL_FILE] = sha256(data)
        yield MODEL_FILE, data
        del data
        yield META_FILE, _json_bytes({**full, "files": hashes})

    _keep_other_runs_epoch(Path(folder), meta)
    return io.replace_folder(folder, files(), fix=RESUME_FIX)


def clean_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict of the bare model: DDP's `module.` and torch.compile's `_orig_mod.` removed."""
    model = unwrap(model)
    return {k: v for k, v in model.state_dict().items()}


def prune_epochs(run_dir: str | Path, keep: int | None) -> None:
    """Delete all but the newest `keep` per-epoch checkpoints (None keeps them all)."""
    if keep is None:
        return
    epochs = epoch_checkpoints(run_dir)
    for _, path in epochs[: max(0, len(epochs) - keep)]:
        shutil.rmtree(path, ignore_errors=True)


# --- optimizer / scaler / RNG state as tensors + JSON ----------------------------------------
def pack_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """optimizer.state_dict() split into tensors (for safetensors) and JSON scalars."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def unpack_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                     data: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, values in data.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = []
    for group in data["param_groups"]:
        group = dict(group)
        if "betas" in group:  # JSON turned the tuple into a list
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"the saved optimizer state does not fit this run ({e})") from None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
