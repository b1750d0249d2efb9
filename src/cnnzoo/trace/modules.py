"""The layers a forward calls: which types are read from their type (their internals are not
watched), their multiply-accumulates, and one table of handlers (`LAYER_RULES`) that read a
layer's spatial rule, tried in order, the first that recognises the layer wins.

A layer of unknown type is recorded through its internal ops (ops.py) and is one node whose MACs
are theirs; a layer that counts its own MACs declares `zoo_macs(output)` (protocols.py), and a
custom windowed layer (LeNet-5's PartialConv2d, Subsampling) declares `kernel_size` and `stride`.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .. import layers as zoo_layers
from .ops import spatial, tensors
from .records import Call, Reading
from .rules import Adaptive, Flatten, Merge, Rule, Size, Unknown, Window, padding, pair

_WINDOW_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._LPPoolNd)
_ADAPTIVE = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
_FREE = (nn.Identity, nn.Flatten, nn.Unflatten, nn.modules.dropout._DropoutNd, zoo_layers.Concat)
_KNOWN = (nn.modules.conv._ConvNd, *_WINDOW_POOLS, *_ADAPTIVE, *_NORMS, nn.LocalResponseNorm,
          nn.Linear, nn.Bilinear, zoo_layers.Add, *_FREE)


def _is_activation(m: nn.Module) -> bool:
    return type(m).__module__ == "torch.nn.modules.activation"


def _is_window(m: nn.Module) -> bool:
    if isinstance(m, nn.modules.conv._ConvNd):
        return not m.transposed
    if isinstance(m, _WINDOW_POOLS):
        return True
    # custom windowed layers (lenet's PartialConv2d, Subsampling) declare kernel_size and stride
    return not isinstance(m, _KNOWN) and hasattr(m, "kernel_size") and hasattr(m, "stride")


def known(m: nn.Module) -> bool:
    """A layer read from its type: its costs and geometry are known, its internals not watched."""
    return (isinstance(m, _KNOWN) or _is_activation(m) or _is_window(m)
            or hasattr(m, "zoo_macs"))


def window_of_module(m: nn.Module) -> Window:
    """The sliding-window rule of a conv or pooling layer (or a layer declaring kernel_size and
    stride), with its string, tuple or int padding, dilation and ceil mode."""
    k = pair(m.kernel_size)
    s = pair(m.stride if m.stride not in (None, ()) else m.kernel_size)
    d = pair(getattr(m, "dilation", 1))
    p, p_end = padding(getattr(m, "padding", 0), k, d)
    return Window(k, s, p, d, bool(getattr(m, "ceil_mode", False)), isinstance(m, _WINDOW_POOLS),
                  p_end)


@dataclass
class LayerCall:
    """One call of a leaf layer: the module, its recorded inputs and its output."""

    module: nn.Module
    call: Call
    inputs: Any  # the call's (args, kwargs)
    ins: list[Tensor]  # the inputs that are recorded tensors
    x: Tensor | None  # the first input (recorded or not)
    out: Tensor  # the first output
    macs: int
    out_recorded: bool  # the output is a recorded tensor (made by an op inside this layer)

    @property
    def n_in(self) -> Size:
        return spatial(self.x)

    @property
    def n_out(self) -> Size:
        return spatial(self.out)


def layer_macs(m: nn.Module, known_type: bool, x: Tensor | None, out: Tensor, internal: int) -> int:
    """Multiply-accumulates: declared (zoo_macs), of a conv or linear layer, or of the ops recorded
    inside a layer of unknown type."""
    zoo_macs = getattr(m, "zoo_macs", None)  # a layer that counts its own (protocols.py)
    if callable(zoo_macs):
        return int(zoo_macs(out))
    if isinstance(m, nn.modules.conv._ConvNd):
        space = (x if m.transposed and x is not None else out).shape[2:]
        return m.weight.numel() * math.prod(space)
    if isinstance(m, (nn.Linear, nn.Bilinear)):
        return m.weight.numel() * math.prod(out.shape[1:-1])
    return 0 if known_type else internal


def _window(c: LayerCall) -> Reading | None:
    m = c.module
    if not (_is_window(m) and c.n_in is not None and c.n_out is not None):
        return None
    groups = m.groups if hasattr(m, "groups") and isinstance(m.groups, int) else None
    return Reading(window_of_module(m), groups=groups)


def _adaptive(c: LayerCall) -> Reading | None:
    m = c.module
    if not (isinstance(m, _ADAPTIVE) and c.n_in is not None and c.n_out is not None):
        return None
    o = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * 2
    return Reading(Adaptive(tuple(None if v is None else int(v) for v in o)))  # type: ignore[arg-type]


def _branches(c: LayerCall) -> Reading | None:
    """cnnzoo's Add and Concat: where branches meet."""
    m = c.module
    if not isinstance(m, (zoo_layers.Concat, zoo_layers.Add)):
        return None
    found = Reading(Rule(), branches=True)
    if isinstance(m, zoo_layers.Concat):
        dim = m.dim if m.dim >= 0 else c.out.dim() + m.dim
        widths = [str(t.shape[dim]) for t in tensors(c.inputs)]
        found.arithmetic = f"{' + '.join(widths)} = {c.out.shape[dim]}"
    return found


def _flatten(c: LayerCall) -> Reading | None:
    m, x, out = c.module, c.x, c.out
    if x is None or c.n_in is None or c.n_out is not None:
        return None
    if not (isinstance(m, nn.Flatten) or (not c.macs and _free(m) and out.dim() == 2)):
        return None
    return Reading(Flatten(), arithmetic=f"{'x'.join(map(str, x.shape[1:]))} = {out.shape[-1]}")


def _reduce(c: LayerCall) -> Reading | None:
    """A map in, features out, not a flatten: reads every position of the map."""
    return Reading(Merge(spatial=True)) if c.n_in is not None and c.n_out is None else None


def _dense(c: LayerCall) -> Reading | None:
    """Linear (or RBF units): reads every feature, so every map position."""
    if not (c.n_in is None and c.n_out is None and c.macs):
        return None
    found = Reading(Merge())
    if c.x is not None and c.x.dim() == 2:
        found.arithmetic = f"{c.x.shape[-1]} -> {c.out.shape[-1]}"
    return found


def _same_size(c: LayerCall) -> Reading | None:
    """Normalisation, activations and other known layers that keep the map."""
    if c.n_in == c.n_out and (c.call.known or c.n_in is None):
        return Reading(Rule())
    return None


def _traced_through(c: LayerCall) -> Reading | None:
    """A layer of unknown type whose output one of its internal ops made: that op's geometry."""
    return Reading(Rule(), through=True) if not c.call.known and c.out_recorded else None


# tried in order; a layer none of them recognises keeps its size and has no receptive field
LAYER_RULES: tuple[Callable[[LayerCall], Reading | None], ...] = (
    _window, _adaptive, _branches, _flatten, _reduce, _dense, _same_size, _traced_through)


def read_layer(c: LayerCall) -> Reading:
    """The rule of one leaf layer (costs other than MACs: layer_ops)."""
    for handler in LAYER_RULES:
        found = handler(c)
        if found is not None:
            return found
    return Reading(Unknown(c.n_out))


def _free(m: nn.Module) -> bool:
    """A layer without parameters (a reshape-like step)."""
    return next(m.parameters(), None) is None


def layer_ops(m: nn.Module, rule: Rule, x: Tensor | None, out: Tensor, n_inputs: int) -> int:
    """Operations other than conv/linear multiply-accumulates, in MAC-equivalents (see
    summary.OPS_NOTE for the per-element costs)."""
    n = out.numel()
    if isinstance(m, _FREE) or isinstance(rule, (Flatten, Unknown)):
        return 0
    if isinstance(m, zoo_layers.Add):
        return n * max(1, n_inputs - 1)
    if isinstance(m, nn.LocalResponseNorm):
        return n * (m.size + 2)
    if isinstance(rule, Window):
        area = rule.k[0] * rule.k[1]
        return n * (area if isinstance(m, _WINDOW_POOLS) else area + 1)
    if isinstance(rule, Adaptive):
        return x.numel() if x is not None else 0
    if x is not None and tuple(x.shape) == tuple(out.shape):
        return n  # normalisation (a folded scale and shift) and activations: one per element
    return 0
