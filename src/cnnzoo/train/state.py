"""TrainState: where a run stands (counters, history, optimizer and scaler settings), as the
JSON half of checkpoints/last/state.json, validated field by field before a resume acts on it.

The tensor half (state.safetensors: optimizer buffers, RNG and generator states, partial-epoch
sums) is checked against the model by `check_tensors`. Both refuse with one CheckpointError line
naming the file and the field: a resume from an impossible state (epoch -5, a step beyond the
epoch, a momentum buffer of the wrong shape) would otherwise overwrite good checkpoints.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..inference.schema import Doc, finite_json
from ..limits import MAX_WORLD

# param_group entries the run itself changes (the schedule); every other one must be the value a
# fresh optimizer built from config.json has
_SCHEDULED = frozenset({"lr", "initial_lr"})


def _plain(value: Any) -> Any:
    """A param_group value as JSON gives it back (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


_PER_RANK = re.compile(r"^(rng\.cpu|rng\.cuda|augment|meter)\.rank(\d{1,4})$")


@dataclass
class TrainState:
    """The counters and settings a resume continues from (all JSON)."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # steps done in the current epoch (0 at an epoch boundary)
    global_step: int = 0
    world_size: int = 1
    # CPU threads of the session that saved it: a CPU reduction's order (and so its rounding)
    # depends on the thread count, so a resume on another count continues, not bit-identically.
    threads: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics row per epoch
    elapsed: float = 0.0  # wall time of earlier sessions
    train_time: float = 0.0
    train_images: int = 0
    partial_time: float = 0.0  # time spent in the current epoch before the stop
    optimizer: dict[str, Any] = field(default_factory=dict)  # param_groups + non-tensor state
    scaler: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str | Path = "state.json") -> "TrainState":
        """Types and ranges of every field; CheckpointError naming the field otherwise."""
        doc = Doc(data, where, "a cnnzoo training state")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise doc.error(unknown[0], "is not a training-state field: the file is not cnnzoo's")
        state = cls(
            epoch=doc.integer("epoch", minimum=0),
            step_in_epoch=doc.integer("step_in_epoch", minimum=0),
            global_step=doc.integer("global_step", minimum=0),
            world_size=doc.integer("world_size", 1, minimum=1, maximum=MAX_WORLD),
            threads=doc.integer("threads", None, minimum=1, maximum=1024),
            history=doc.items("history"),
            elapsed=doc.real("elapsed", 0.0, minimum=0.0),
            train_time=doc.real("train_time", 0.0, minimum=0.0),
            train_images=doc.integer("train_images", 0, minimum=0),
            partial_time=doc.real("partial_time", 0.0, minimum=0.0),
            optimizer=doc.obj("optimizer"),
            scaler=doc.obj("scaler", {}) or {},
        )
        for i, row in enumerate(state.history):
            if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
                raise doc.error("history", f"entry {i} must be a JSON object (one metrics row per epoch)")
            row_doc = Doc(row, f"{where} (history entry {i})")
            row_doc.integer("epoch", minimum=i + 1, maximum=i + 1)
            for key, value in row.items():
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise row_doc.error(key, f"must be a number, got {value!r}"[:120])
                if value is not None:
                    row_doc.real(key)
        if len(state.history) != state.epoch:
            raise doc.error("history", f"has {len(state.history)} rows for {state.epoch} completed epochs")
        opt = Doc(state.optimizer, f"{where} (optimizer)")
        groups = opt.items("param_groups")
        if not all(isinstance(g, dict) for g in groups):
            raise opt.error("param_groups", "must be a list of JSON objects")
        scalars = opt.obj("scalars", {})
        if not all(isinstance(v, dict) and k.isdigit() for k, v in scalars.items()):
            raise opt.error("scalars", "must map parameter indices to JSON objects")
        if not finite_json(state.optimizer) or not finite_json(state.scaler):
            raise doc.error("optimizer", "holds a value that is not a finite number")
        return state

    def check_run(self, where: str | Path, *, epochs: int, steps_per_epoch: int) -> None:
        """The counters against the run they resume: epoch within [0, epochs], the step within
        the epoch, and the global step their sum."""
        doc = Doc(self.to_json(), where)
        if self.epoch > epochs:
            raise doc.error("epoch", f"is {self.epoch}, beyond the run's {epochs} epochs: the state "
                            "does not belong to this run (or pass a larger --epochs to extend it)")
        doc.integer("step_in_epoch", maximum=steps_per_epoch - 1)
        if self.epoch == epochs and self.step_in_epoch:
            raise doc.error("step_in_epoch", f"is {self.step_in_epoch} after the last epoch")
        expected = self.epoch * steps_per_epoch + self.step_in_epoch
        if self.global_step != expected:
            raise doc.error("global_step", f"is {self.global_step}, but epoch {self.epoch} and step "
                            f"{self.step_in_epoch} of {steps_per_epoch} make {expected}")

    def check_optimizer(self, where: str | Path, optimizer: torch.optim.Optimizer) -> None:
        """The saved param_groups against a fresh optimizer of this run: same count, same
        parameters, same keys with values of the same kind."""
        doc = Doc(self.optimizer, f"{where} (optimizer)")
        saved = self.optimizer["param_groups"]
        fresh = optimizer.state_dict()["param_groups"]
        if len(saved) != len(fresh):
            raise doc.error("param_groups", f"has {len(saved)} groups, the run's optimizer {len(fresh)}")
        for i, (a, b) in enumerate(zip(saved, fresh)):
            if set(a) != set(b):
                missing = sorted(set(b) - set(a)) or sorted(set(a) - set(b))
                raise doc.error("param_groups", f"group {i} does not fit the run's "
                                f"{type(optimizer).__name__} ({missing[0]!r})")
            for key, value in b.items():
                got = a[key]
                if key == "params":
                    if got != value:
                        raise doc.error("param_groups", f"group {i} lists other parameters than the model's")
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    if isinstance(got, bool) or not isinstance(got, (int, float)):
                        raise doc.error("param_groups", f"group {i} {key} must be a number, got {got!r}"[:160])
                elif isinstance(value, tuple):
                    if (not isinstance(got, list) or len(got) != len(value)
                            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in got)):
                        raise doc.error("param_groups", f"group {i} {key} must be {len(value)} numbers")
                elif value is None or isinstance(value, bool):
                    if got is not None and not isinstance(got, bool):
                        raise doc.error("param_groups", f"group {i} {key} must be true, false or null")
                elif type(got) is not type(value):
                    raise doc.error("param_groups", f"group {i} {key} has the wrong type")
                if key in _SCHEDULED:
                    if isinstance(got, (int, float)) and got < 0:
                        raise doc.error("param_groups", f"group {i} {key} must be at least 0, got {got!r}")
                elif key != "params" and _plain(got) != _plain(value):
                    # every other hyper-parameter comes from config.json, never from the state:
                    # an edited momentum, weight decay or maximize would silently change the run
                    raise doc.error("param_groups", f"group {i} {key} is {got!r}, but the run's "
                                    f"config.json gives {_plain(value)!r}: the state does not belong "
                                    "to this run")
        n_params = sum(len(g["params"]) for g in fresh)
        for index, values in self.optimizer.get("scalars", {}).items():
            if int(index) >= n_params:
                raise doc.error("scalars", f"names parameter {index} of {n_params}")
            for key, value in values.items():
                if not (value is None or isinstance(value, (bool, int, float))):
                    raise doc.error("scalars", f"{index}.{key} must be a number or null")


def _required_buffers(optimizer: torch.optim.Optimizer) -> set[str]:
    """The per-parameter state every parameter has once the optimizer has stepped."""
    if isinstance(optimizer, torch.optim.AdamW):
        keys = {"step", "exp_avg", "exp_avg_sq"}
        if any(g.get("amsgrad") for g in optimizer.param_groups):
            keys.add("max_exp_avg_sq")
        return keys
    if any(g.get("momentum", 0) for g in optimizer.param_groups):
        return {"momentum_buffer"}
    return set()


def check_tensors(tensors: dict[str, torch.Tensor], where: str | Path, *,
                  optimizer: torch.optim.Optimizer, world_size: int, global_step: int,
                  step_in_epoch: int = 0, scalars: dict[str, Any] | None = None) -> None:
    """state.safetensors against the run: optimizer buffers of their parameters' shapes (the
    full set, one of each kind per trained parameter, once the run has stepped), RNG states of
    every process as uint8 vectors, and mid-epoch the augmentation generator and meter of every
    process."""
    where = str(where)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    rng_size = torch.get_rng_state().numel()
    buffers: dict[int, set[str]] = {}
    for index, values in (scalars or {}).items():
        if str(index).isdigit():
            buffers.setdefault(int(index), set()).update(values)
    per_rank: dict[str, set[int]] = {}

    def bad(name: str, message: str) -> CheckpointError:
        return CheckpointError(f"{where}: tensor {name!r} {message}")

    for name, value in tensors.items():
        if name.startswith("optimizer."):
            index, _, key = name[len("optimizer."):].partition(".")
            if not index.isdigit() or int(index) >= len(params) or not key:
                raise bad(name, f"names no parameter of the model's {len(params)}")
            buffers.setdefault(int(index), set()).add(key)
            if key == "step":
                if value.numel() != 1 or not bool(torch.isfinite(value.float()).all()):
                    raise bad(name, "must be one finite number")
                continue
            param = params[int(index)]
            if value.shape != param.shape:
                raise bad(name, f"has shape {tuple(value.shape)}, its parameter {tuple(param.shape)}")
            if not value.dtype.is_floating_point or not bool(torch.isfinite(value).all()):
                raise bad(name, "must hold finite floating-point values")
            continue
        m = _PER_RANK.match(name)
        if m is None:
            raise bad(name, "is not a training-state tensor")
        kind, rank = m.group(1), int(m.group(2))
        if rank >= world_size:
            raise bad(name, f"names process {rank}, beyond the run's {world_size}")
        per_rank.setdefault(kind, set()).add(rank)
        if kind == "rng.cpu":
            if value.dtype != torch.uint8 or value.shape != (rng_size,):
                raise bad(name, f"must be a uint8 vector of {rng_size} (a CPU RNG state), got "
                          f"{value.dtype} {tuple(value.shape)}")
        elif kind in ("rng.cuda", "augment"):
            if value.dtype != torch.uint8 or value.dim() != 1:
                raise bad(name, f"must be a uint8 vector (a generator state), got {value.dtype} "
                          f"{tuple(value.shape)}")
        elif value.dtype != torch.float64 or value.shape != (4,) or not bool(torch.isfinite(value).all()):
            raise bad(name, "must be 4 finite float64 sums (a partial epoch's meter)")
    required = _required_buffers(optimizer)
    if global_step > 0 and required and not buffers:
        raise CheckpointError(f"{where} holds no optimizer state (momentum buffers) after "
                              f"{global_step} steps: the training state is incomplete")
    if buffers:  # the optimizer has stepped: every trained parameter has the whole set
        for i, param in enumerate(params):
            if not param.requires_grad:
                continue
            missing = sorted(required - buffers.get(i, set()))
            if missing:
                raise CheckpointError(f"{where}: tensor 'optimizer.{i}.{missing[0]}' is missing: "
                                      "the training state is incomplete and cannot be resumed "
                                      "exactly")
    wanted = ["rng.cpu"] + ["rng.cuda"] * ("rng.cuda" in per_rank)
    if step_in_epoch:  # a mid-epoch stop saves where the epoch's augmentation and sums stood
        wanted += ["augment", "meter"]
    for kind in wanted:
        for rank in range(world_size):
            if rank not in per_rank.get(kind, set()):
                raise CheckpointError(f"{where}: tensor '{kind}.rank{rank}' is missing: the "
                                      "training state is incomplete and cannot be resumed exactly")
