"""The training engine: `cnnzoo.train("lenet5", epochs=3, out="runs/l5")`.

This package is itself callable (it forwards to `loop.train`), so `cnnzoo.train(...)` trains
while `cnnzoo.train.checkpoint`, `cnnzoo.train.loop`... stay reachable as modules.

- config.TrainConfig: what defines a run, and the per-family recipes (ResolvedConfig: filled in).
- loop.train / loop.Trainer: the loop (in-memory uint8 batches, AMP, exact resume, DDP), put
  together from device.DeviceContext, owner.RunOwner, parts.build_parts, checkpointer.Checkpointer.
- rundir.RunDir: the paths of a run folder and its lock; state.TrainState: where a run stands.
- checkpoint: safetensors + JSON checkpoints, hashed and validated; load_model, epoch_checkpoints.
- threads: the CPU thread count (a run folder's JSON is validated by inference.schema).
- data.training_data: the data sets, input pipeline and augmentation a run trains with.
Evaluating and predicting are cnnzoo.inference (which needs nothing from here).
"""
from __future__ import annotations

import sys
import types
from typing import Any

from ..inference.checkpoint import epoch_checkpoints, load_model
from .config import TrainConfig
from .loop import Trainer, TrainingDiverged, train

__all__ = ["TrainConfig", "Trainer", "TrainingDiverged", "epoch_checkpoints", "load_model", "train"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
