"""Checkpoints: weights in safetensors, everything else in JSON. Loading never unpickles.

A run folder DIR/ holds:

    config.json  metrics.csv  results.json  curves.png
    checkpoints/last/         model.safetensors  meta.json  state.safetensors  state.json
    checkpoints/epoch-0001/   model.safetensors  meta.json
    ...

- model.safetensors: the model's state_dict (no `module.`/`_orig_mod.` prefixes).
- meta.json: how to rebuild and feed the model: model name and options, num_classes, in_channels,
  data set, epoch, normalisation (mean, std, size, mode), class names, metrics.
- state.safetensors + state.json (resume only): optimizer tensors, RNG states and generator
  states as tensors; optimizer hyper-parameters, scaler, counters and partial-epoch sums as JSON.

Every folder is written under a temporary name and renamed into place, so a crash (even SIGKILL)
leaves either the old checkpoint or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, CnnzooError

FORMAT = "cnnzoo-checkpoint"
VERSION = 1
_REQUIRED_META = ("model", "model_options", "num_classes", "in_channels")
_EPOCH_DIR = re.compile(r"^epoch-(\d{4,})$")


# --- writing --------------------------------------------------------------------------------
def _tensors_for_file(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors wants contiguous CPU tensors that share no storage
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=_json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file(_tensors_for_file(tensors), str(path), metadata={"format": "pt"})
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def atomic_json(path: str | Path, data: Any) -> None:
    """Write a JSON file atomically (temp file + os.replace)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    _write_json(tmp, data)
    os.replace(tmp, path)


def atomic_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _old_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.old")


def _recover(final: Path) -> None:
    """Undo a replacement cut short between its two renames (see write_checkpoint)."""
    old = _old_name(final)
    if not final.exists() and old.exists():
        os.rename(old, final)
    elif final.exists() and old.exists():
        shutil.rmtree(old, ignore_errors=True)


def write_checkpoint(folder: str | Path, state_dict: dict[str, torch.Tensor], meta: dict[str, Any],
                     train_state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None) -> Path:
    """Write a checkpoint folder atomically and return its path.

    The files go to a temporary sibling folder first; that folder is then renamed into place. An
    existing folder is first renamed aside (`.NAME.old`) and deleted afterwards; a crash between
    the two renames is undone by the next write or load (`_recover`).
    """
    final = Path(folder)
    final.parent.mkdir(parents=True, exist_ok=True)
    _recover(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    _save_tensors(tmp / "model.safetensors", state_dict)
    _write_json(tmp / "meta.json", {"format": FORMAT, "version": VERSION, **meta})
    if train_state is not None:
        tensors, scalars = train_state
        _save_tensors(tmp / "state.safetensors", tensors)
        _write_json(tmp / "state.json", scalars)
    if final.exists():
        os.rename(final, _old_name(final))
    os.rename(tmp, final)
    shutil.rmtree(_old_name(final), ignore_errors=True)
    _fsync_dir(final.parent)
    return final


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clean_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict of the bare model: DDP's `module.` and torch.compile's `_orig_mod.` removed."""
    model = unwrap(model)
    return {k: v for k, v in model.state_dict().items()}


def unwrap(model: nn.Module) -> nn.Module:
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


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


# --- reading --------------------------------------------------------------------------------
def checkpoint_dir(path: str | Path) -> Path:
    """A run folder (-> checkpoints/last), a checkpoint folder, or its model.safetensors -> folder."""
    p = Path(path)
    if p.is_file() and p.name == "model.safetensors":
        p = p.parent
    if p.is_dir():
        last = p / "checkpoints" / "last"
        if (p / "checkpoints").is_dir():
            _recover(last)
            if (last / "model.safetensors").is_file():
                return last
            raise CheckpointError(f"{p} is a run folder without a finished checkpoint "
                                  f"({last} is missing): was the run stopped before its first epoch ended?")
        _recover(p)
        if (p / "model.safetensors").is_file():
            return p
        raise CheckpointError(f"{p} holds no model.safetensors: give a run folder (written by "
                              "`cnnzoo train --out DIR`), a checkpoint folder or its model.safetensors")
    if not p.exists():
        raise CheckpointError(f"{p} does not exist: give a run folder, a checkpoint folder or its "
                              "model.safetensors")
    raise CheckpointError(f"{p} is not a cnnzoo checkpoint: give a run folder, a checkpoint folder "
                          "or its model.safetensors")


def read_meta(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / "meta.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e.__class__.__name__}): the checkpoint cannot be read") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not cnnzoo checkpoint metadata")
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}: the checkpoint is incomplete")
    return meta


def read_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file (no pickle involved); CheckpointError if missing or corrupt."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        first = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise CheckpointError(f"{path} is corrupt or unreadable ({first})") from None


def build_model(meta: dict[str, Any]) -> nn.Module:
    """The network a checkpoint's metadata describes, freshly initialised."""
    from ..registry import create_model

    try:
        return create_model(meta["model"], num_classes=int(meta["num_classes"]),
                            in_channels=int(meta["in_channels"]), **dict(meta["model_options"]))
    except CnnzooError as e:
        raise CheckpointError(f"the checkpoint's model cannot be built: {e}") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"the checkpoint's model options do not fit {meta['model']!r} ({e})") from None


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], where: str = "checkpoint") -> None:
    """Load a state_dict strictly, with one-line CheckpointErrors for mismatches."""
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
    target.load_state_dict(state_dict, strict=True)


def _strip(key: str) -> str:
    for prefix in ("module.", "_orig_mod."):
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def load_model(path: str | Path, map_location: str | torch.device = "cpu", *,
               expect_model: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from a checkpoint.

    path: a run folder (uses checkpoints/last), a checkpoint folder, or its model.safetensors.
    Returns (model in eval mode on map_location, meta dict). A bad path, missing or corrupt files,
    weights that do not fit, or a checkpoint of another model than `expect_model`, raise
    CheckpointError with a one-line message.
    """
    folder = checkpoint_dir(path)
    meta = read_meta(folder)
    if expect_model is not None and meta["model"] != expect_model:
        raise CheckpointError(f"{folder} is a checkpoint of {meta['model']!r}, not {expect_model!r}")
    model = build_model(meta)
    load_weights(model, read_tensors(folder / "model.safetensors"), where=str(folder))
    model.to(map_location).eval()
    meta["path"] = str(folder)
    return model, meta


def epoch_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """The per-epoch weight checkpoints of a run, as (epoch, folder), oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        raise CheckpointError(f"{run_dir} has no checkpoints/ folder: is it a run folder written "
                              "by `cnnzoo train --out DIR`?")
    found = []
    for child in root.iterdir():
        m = _EPOCH_DIR.match(child.name)
        if m and (child / "model.safetensors").is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def epoch_dir(run_dir: str | Path, epoch: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"epoch-{epoch:04d}"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
