"""Checkpointer: a run's state in and out of a checkpoint (the file format is checkpoint.py's).

`pack` gathers what an exact resume needs: the weights' meta (model, classes, pipeline,
counters, config), the optimizer and gradient-scaler state, every process's RNG and
augmentation-generator state, and inside an epoch its partial sums. `restore` reads
checkpoints/last back, checking every part against this run before using any of it.
`Counters` is where the run stands; the loop advances it, the checkpoint keeps it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, OptionError
from ..inference import checkpoint as reader
from ..inference.pipeline import InputPipeline
from . import checkpoint as ckpt
from .config import ResolvedConfig
from .device import DeviceContext
from .metrics import Meter
from .rundir import RunDir
from .state import TrainState, check_tensors
from .threads import describe as describe_threads


def count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass
class Counters:
    """Where a run stands: what the loop advances and a checkpoint saves."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one metrics row per epoch
    elapsed: float = 0.0  # wall time of earlier sessions of this run
    train_time: float = 0.0  # time spent in training steps (for images/s)
    train_images: int = 0
    partial: dict[str, Any] | None = None  # a resume inside an epoch: augment/meter/time saved
    partial_time: float = 0.0  # time already spent in the current epoch before this session


class Checkpointer:
    """Packs and restores the state of one run's model, optimizer, scaler and generators."""

    def __init__(self, config: ResolvedConfig, ctx: DeviceContext, model: nn.Module,
                 optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 pipeline: InputPipeline, classes: list[str], image_shape: list[int]) -> None:
        self.config = config
        self.ctx = ctx
        self.model = model
        self.optimizer = optimizer
        self.scaler = scaler
        self.pipeline = pipeline
        self.classes = classes
        self.image_shape = image_shape  # what the pipeline takes (C, H, W)

    # --- out -----------------------------------------------------------------------------------
    def meta(self, at: Counters, metrics: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        p = self.pipeline
        return {
            "model": c.model, "model_options": dict(c.model_options), "num_classes": len(self.classes),
            "in_channels": int(p.channels),
            "dataset": c.dataset, "classes": self.classes,
            "image_shape": self.image_shape,
            "pipeline": p.to_meta(),
            # the pipeline in the form readers written before "pipeline" understand
            "normalization": {"mean": list(p.mean), "std": list(p.std), "size": list(p.size),
                              "mode": p.fit},
            "epoch": at.epoch, "step_in_epoch": at.step_in_epoch, "global_step": at.global_step,
            "metrics": metrics, "config": c.to_json(), "created": ckpt.now(),
            "torch_version": torch.__version__,
        }

    def pack(self, at: Counters, t0: float, meter: Meter | None,
             aug_gen: torch.Generator | None) -> tuple[dict, dict]:
        """Optimizer, scaler, RNG, generator and counter state: (tensors, JSON scalars).

        RNG and partial-epoch tensors come from every process (collected on all, written by 0):
        a collective, every process takes part."""
        ctx = self.ctx
        tensors, opt_json = ckpt.pack_optimizer(self.optimizer)
        mine: dict[str, Tensor] = {"rng.cpu": torch.get_rng_state()}
        if ctx.device.type == "cuda":
            mine["rng.cuda"] = torch.cuda.get_rng_state(ctx.device)
        if aug_gen is not None:
            mine["augment"] = aug_gen.get_state()
        if meter is not None:
            mine["meter"] = meter.sums.cpu()
        for rank, states in enumerate(ctx.dist.gather(mine)):
            for key, value in states.items():
                tensors[f"{key}.rank{rank}"] = value
        state = TrainState(
            epoch=at.epoch, step_in_epoch=at.step_in_epoch, global_step=at.global_step,
            world_size=ctx.dist.world, optimizer=opt_json,
            threads=ctx.threads if ctx.device.type == "cpu" else None, scaler=self.scaler.state_dict(),
            history=at.history, elapsed=at.elapsed + (time.perf_counter() - t0),
            train_time=at.train_time, train_images=at.train_images,
            partial_time=at.partial_time if meter is not None else 0.0)
        return tensors, state.to_json()

    # --- in ------------------------------------------------------------------------------------
    def restore(self, run_dir: Path, *, steps_per_epoch: int, extended_from: int | None) -> tuple[Counters, list[str]]:
        """Read run_dir's checkpoints/last, check it, load it into the model, optimizer, scaler
        and generators: (where the run stands, notes for the user)."""
        state, tensors, weights, folder = self._read(run_dir, steps_per_epoch, extended_from)
        reader.load_weights(self.model, weights, where=str(folder))
        ckpt.unpack_optimizer(self.optimizer, tensors, state.optimizer)
        fresh_scaler = self.scaler.state_dict()
        if fresh_scaler and state.scaler:
            if set(state.scaler) != set(fresh_scaler):
                raise CheckpointError(f"{folder / reader.STATE_FILE}: field 'scaler' does not fit the "
                                      "run's gradient scaler")
            self.scaler.load_state_dict(state.scaler)
        at = Counters(epoch=state.epoch, step_in_epoch=state.step_in_epoch, global_step=state.global_step,
                      history=list(state.history), elapsed=state.elapsed, train_time=state.train_time,
                      train_images=state.train_images)
        notes, key = self._session_notes(state)
        self._restore_generators(tensors, key, at.step_in_epoch, folder)
        if at.step_in_epoch:
            at.partial = {"augment": tensors.get(f"augment.{key}"), "meter": tensors.get(f"meter.{key}"),
                          "time": state.partial_time}
        if extended_from is not None:
            notes.append(f"extending the run from {count(extended_from, 'epoch')} to "
                         f"{self.config.epochs}: the learning-rate schedule now spans {self.config.epochs} epochs")
        return at, notes

    def _read(self, run_dir: Path, steps_per_epoch: int, extended_from: int | None
              ) -> tuple[TrainState, dict[str, Tensor], dict[str, Tensor], Path]:
        """checkpoints/last's state, its tensors, the weights and the folder, every part checked."""
        c = self.config
        folder, meta, weights = reader.read_checkpoint(run_dir)
        if meta["model"] != c.model:
            raise CheckpointError(f"{folder} holds a checkpoint of {meta['model']!r}, but the run is "
                                  f"of {c.model!r}")
        state_path = folder / reader.STATE_FILE
        if not state_path.is_file():
            raise CheckpointError(f"{folder} has no training state ({reader.STATE_FILE}): it cannot be resumed")
        state = TrainState.from_json(reader.read_json(state_path, meta), state_path)
        ckpt.check_config(RunDir(run_dir).config, {**meta, "path": str(folder)}, epochs_may_differ=True)
        if meta.get("epoch") is not None and meta["epoch"] != state.epoch:
            raise CheckpointError(f"{state_path}: field 'epoch' is {state.epoch} but {folder / reader.META_FILE} "
                                  f"says {meta['epoch']}: the two files are from different checkpoints")
        if extended_from is not None and c.epochs < state.epoch:
            raise OptionError(f"--epochs {c.epochs} is fewer than the {state.epoch} epochs {run_dir} "
                              "has already trained: give a larger --epochs to extend it")
        state.check_run(state_path, epochs=c.epochs, steps_per_epoch=steps_per_epoch)
        state.check_optimizer(state_path, self.optimizer)
        tensors = reader.read_tensors(folder / reader.STATE_TENSORS, meta=meta)
        check_tensors(tensors, folder / reader.STATE_TENSORS, optimizer=self.optimizer,
                      world_size=state.world_size, global_step=state.global_step,
                      step_in_epoch=state.step_in_epoch, scalars=state.optimizer.get("scalars"))
        if meta["num_classes"] != len(self.classes):
            raise CheckpointError(f"{folder / reader.META_FILE}: field 'num_classes' is {meta['num_classes']}, "
                                  f"but {c.dataset} has {len(self.classes)} classes")
        return state, tensors, weights, folder

    def _session_notes(self, state: TrainState) -> tuple[list[str], str]:
        """What differs from the session that saved the run (processes, threads), and which
        process's generator states this one takes."""
        ctx = self.ctx
        notes = []
        same_world = state.world_size == ctx.dist.world
        if not same_world:
            notes.append(f"note: the run was saved by {state.world_size} processes and resumes "
                         f"on {ctx.dist.world}: it continues, but not bit-identically")
        if ctx.device.type == "cpu" and state.threads is not None and state.threads != ctx.threads:
            notes.append(f"note: the run was saved with {describe_threads(state.threads)} and resumes "
                         f"with {ctx.threads}: it continues, but not bit-identically "
                         f"(give --threads {state.threads} for an exact continuation)")
        return notes, f"rank{ctx.dist.rank if same_world else 0}"

    def _restore_generators(self, tensors: dict[str, Tensor], key: str, step_in_epoch: int,
                            folder: Path) -> None:
        device = self.ctx.device
        try:
            if f"rng.cpu.{key}" in tensors:
                torch.set_rng_state(tensors[f"rng.cpu.{key}"])
            if device.type == "cuda" and f"rng.cuda.{key}" in tensors:
                torch.cuda.set_rng_state(tensors[f"rng.cuda.{key}"], device)
            if step_in_epoch and f"augment.{key}" in tensors:
                torch.Generator(device=device).set_state(tensors[f"augment.{key}"])
        except RuntimeError as e:
            raise CheckpointError(f"{folder / reader.STATE_TENSORS}: a saved random-number state is "
                                  f"invalid ({str(e).splitlines()[0][:100]})") from None
