"""The hooks a model (or one of its layers) may offer, written down in one place.

Training, summaries, visualisation and export never check a family's name: they ask whether a
model has one of these hooks, with `isinstance(obj, Protocol)` (all are runtime-checkable, which
checks that the attribute exists) or the equivalent `getattr(obj, "name", None)`.

Who offers what, and who calls it:
- `FilterRenormalizing` (ZFNet): train/loop.py calls `renormalize_filters()` after every step.
- `AuxiliaryLoss` (GoogLeNet, GoogLeNetTV): the loss is main + aux_loss_weight * (aux1 + aux2) in
  training mode (train/loop.py, claims/common.py).
- `CountsOwnMacs` (LeNet-5's PartialConv2d, RBFOutput): trace/modules.py adds `zoo_macs(output)` to the
  summary's MACs instead of guessing from shapes.
- `HasDenseWeight` (LeNet-5's PartialConv2d): the full in x out kernel with zeros where the
  connection table has none, for filter plots and DeconvNet (visualize/tools.py).
- `RegisteredModel`: every model built by `create_model` records its name and options.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class FilterRenormalizing(Protocol):
    def renormalize_filters(self, radius: float = 0.1) -> int:
        """Rescale each conv filter whose RMS exceeds `radius`; returns how many were rescaled."""
        ...


@runtime_checkable
class AuxiliaryLoss(Protocol):
    aux_loss_weight: float  # weight of each auxiliary classifier's loss while training


@runtime_checkable
class CountsOwnMacs(Protocol):
    def zoo_macs(self, output: Tensor) -> int:
        """Multiply-accumulates of this layer for one forward pass that produced `output`."""
        ...


@runtime_checkable
class HasDenseWeight(Protocol):
    def dense_weight(self) -> Tensor:
        """The weight as an ordinary Conv2d kernel (out x in x k x k), absent connections zero."""
        ...


@runtime_checkable
class RegisteredModel(Protocol):
    zoo_name: str  # the registry name create_model was called with
    zoo_options: dict[str, Any]  # the checked builder options it was called with
