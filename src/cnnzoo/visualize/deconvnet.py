"""ZFNet's DeconvNet: project one activation back to pixel space.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014, Sec. 2.1.
https://arxiv.org/abs/1311.2901

On the way up (one forward pass) the max-pooling switches are recorded; the chosen activation is
kept and every other activation of the layer is set to zero; then the signal goes down layer by
layer, each layer replaced by its DeconvNet counterpart:

- max-pool: unpool with the switches (the location of each maximum). Overlapping pools (AlexNet's
  and ZFNet's 3x3/2) send to one location the sum of every window it won, the exact transpose of
  the selection (``F.max_unpool2d`` would keep only one of them);
- ReLU: rectify the signal (``relu(signal)``), whatever the forward activation was;
- convolution: filter with the transposed filters of the same layer (``conv_transpose2d`` with the
  same weights, stride, padding, dilation and groups, output size matching the layer's input);
  biases are not used on the way down;
- linear: multiply by W^T; flatten: reshape back;
- LRN: passed through unchanged. The paper lists the deconvnet's operations as unpooling,
  rectification and filtering and says nothing of contrast normalisation on the way down; identity
  is the common reading of "through LRN as the paper treats it";
- dropout and identity: unchanged (the forward runs in eval mode);
- batch norm (eval): the per-channel scale gamma / sqrt(var + eps), without the shift (it is a
  bias), i.e. the transpose of the affine map;
- branches (not in the paper; a documented rule so GoogLeNet and ResNet work): a concatenation
  (``layers.Concat``) splits the signal by channel back to its branches; an addition
  (``layers.Add``) sends the whole signal down both of its inputs; where one tensor fed several
  layers (the input of an Inception module or of a residual block) the signals coming down those
  paths are summed;
- any other module (average pools, tanh, LeNet's trainable subsampling and partial C3 table...):
  its vector-Jacobian product at the recorded input, which for a linear map is its transpose;
- functional ops in a forward (``x + y``, ``torch.flatten``, ``x.transpose(2, 3)``, slices,
  ``F.max_pool2d``, ``F.relu``...): they are nodes of the recorded graph (`cnnzoo.trace`), never
  mistaken for a reshape. ``F.relu`` rectifies like the module; an op that is linear in the data
  (reshapes, transposes, slices, padding, sums, concatenations, scaling by a constant, conv and
  linear with fixed weights, average pooling, eval-mode batch norm) goes down by its
  vector-Jacobian product, which is exactly its transpose; max pooling by its VJP, which is the
  unpooling with the switches. Any other op (a product of two data tensors, a sigmoid written as a
  function...) has no DeconvNet counterpart: the walk stops with one line naming the op and
  where it runs, never a silent wrong answer.

The walk reads each node's `Replay` (the layer or op, its recorded input tensors and where they
came from). Receptive fields (the `field` and `box` of a projection) come from `trace/geometry.py`,
the same arithmetic as the summary's RF column, recorded on the graph's nodes.

For a network made only of conv, ReLU, max-pool, linear and dropout layers this is exactly the
gradient of the unit with every ReLU's backward replaced by relu(grad): captum's ``Deconvolution``
(the tests hold the two equal).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CnnzooError, InputShapeError
from ..layers import Add, Concat
from ..trace.graph import Graph, record
from ..trace.records import Port, Replay

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 inclusive, in the coordinates of one tensor


@dataclass
class Projection:
    """One DeconvNet projection.

    image: C x H x W array in the model's input space (the input's pixel grid);
    unit: (h, w) of the kept activation in the layer's map, or None (the whole map, or a
    unit of a fully connected layer); value: the activation kept; box: the input region the unit
    can see (its receptive field, y0, y1, x0, x1 inclusive, clipped to the image); field: the
    same before clipping (it reaches into the padding at the borders).
    """

    layer: str
    channel: int
    unit: tuple[int, int] | None
    value: float
    image: np.ndarray
    box: Box
    field: Box


# --- the DeconvNet counterparts of the layers ------------------------------------------------
def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _down_conv(m: nn.Conv2d, x: Tensor, s: Tensor) -> Tensor:
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        return _vjp_of_one(m, x, s)
    stride, pad, dil = _pair(m.stride), _pair(m.padding), _pair(m.dilation)
    k = m.weight.shape[-2:]
    # output_padding makes the transposed conv give back exactly the layer's input size
    extra = tuple(x.shape[2 + i] - ((s.shape[2 + i] - 1) * stride[i] - 2 * pad[i]
                                    + dil[i] * (k[i] - 1) + 1) for i in range(2))
    return F.conv_transpose2d(s, m.weight, None, stride, pad, extra, m.groups, dil)


def _down_maxpool(m: nn.MaxPool2d, x: Tensor, s: Tensor) -> Tensor:
    # the switches: where each maximum came from (recomputed from the recorded input)
    _, switches = F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation,
                               ceil_mode=m.ceil_mode, return_indices=True)
    n, c, h, w = x.shape
    out = s.new_zeros(n, c, h * w)
    out.scatter_add_(2, switches.flatten(2), s.flatten(2))  # sum where windows overlap
    return out.view(n, c, h, w)


def _down_linear(m: nn.Linear, x: Tensor, s: Tensor) -> Tensor:
    return s @ m.weight


def _down_batchnorm(m: nn.modules.batchnorm._BatchNorm, x: Tensor, s: Tensor) -> Tensor:
    if not m.track_running_stats or m.running_var is None:
        return _vjp_of_one(m, x, s)
    scale = torch.rsqrt(m.running_var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    return s * scale.view(1, -1, *([1] * (s.dim() - 2)))


def _vjp_of_one(m: nn.Module, x: Tensor, s: Tensor) -> Tensor:
    g = _down_vjp(m, (x,), s)[0]
    return torch.zeros_like(x) if g is None else g  # None: the output does not depend on x


def _down_vjp(m: nn.Module, xs: tuple[Tensor, ...], s: Tensor) -> tuple[Tensor | None, ...]:
    with torch.enable_grad():
        xs = tuple(x.detach().requires_grad_(True) for x in xs)
        out = m(*xs)
        if isinstance(out, (tuple, list)):
            out = out[0]
        grads = torch.autograd.grad(out, xs, s, allow_unused=True)
    return grads


_PASS = (nn.LocalResponseNorm, nn.CrossMapLRN2d, nn.Dropout, nn.Dropout2d, nn.Dropout1d,
         nn.AlphaDropout, nn.Identity)


def _module_down(graph: Graph, index: int, s: Tensor) -> tuple[Tensor | None, ...]:
    """The DeconvNet counterpart of a layer (module docstring): the signal each input gets."""
    m, xs = graph.replays[index].module, tuple(graph.replays[index].tensors)
    if isinstance(m, nn.ReLU):
        return (F.relu(s),)
    if isinstance(m, _PASS):
        return (s,)
    if isinstance(m, (nn.Flatten, nn.Unflatten)):
        return (s.reshape(xs[0].shape),)
    if isinstance(m, nn.Conv2d):
        return (_down_conv(m, xs[0], s),)
    if isinstance(m, nn.Linear):
        return (_down_linear(m, xs[0], s),)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return (_down_batchnorm(m, xs[0], s),)
    if isinstance(m, Add):
        return tuple(s for _ in xs)
    if isinstance(m, Concat):
        return tuple(torch.split(s, [x.shape[m.dim] for x in xs], dim=m.dim))
    _check_intact(graph, index)  # what follows reads the recorded input values
    assert m is not None
    if isinstance(m, nn.MaxPool2d):
        return (_down_maxpool(m, xs[0], s),)
    return _down_vjp(m, xs, s)


# functional ops that are linear in their data inputs: their VJP is their transpose, exactly
_LINEAR_OPS = {
    "transpose", "swapaxes", "swapdims", "permute", "t", "view", "reshape", "flatten",
    "unflatten", "squeeze", "unsqueeze", "contiguous", "clone", "to", "float", "double", "half",
    "bfloat16", "type_as", "getitem", "narrow", "select", "split", "chunk", "unbind", "cat",
    "concat", "concatenate", "stack", "pad", "add", "sub", "rsub", "neg", "sum", "mean",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "flip", "roll", "repeat", "expand", "expand_as", "tile", "movedim", "moveaxis", "pixel_shuffle",
    "pixel_unshuffle", "conv1d", "conv2d", "conv3d", "linear", "matmul", "mm", "bmm", "addmm",
    "mul", "div", "true_divide", "batch_norm"}
# functional ops that choose one input per output (the switches): their VJP is the unpooling
_SWITCH_OPS = {"max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d"}
# functional ops that are the identity when the model is evaluated
_PASS_OPS = {"local_response_norm", "detach", "dropout", "dropout1d", "dropout2d", "alpha_dropout",
             "feature_alpha_dropout"}


def _where(graph: Graph, index: int) -> str:
    """'x.transpose() in layer1.0' for messages: the op and the module whose forward ran it."""
    op = graph.replays[index].op
    parents = [graph.calls[i].name for i in graph.nodes[index].calls if graph.calls[i].name]
    return f"{op}() in {parents[-1]!r}" if parents else f"{op}() in the model's forward"


def _refuse(graph: Graph, index: int, why: str) -> CnnzooError:
    return CnnzooError(f"DeconvNet cannot project through {_where(graph, index)}: {why}; choose a "
                       "layer before it, or make the op a module with a DeconvNet rule")


def _functional_down(graph: Graph, index: int, signals: list[Tensor | None]
                     ) -> tuple[Tensor | None, ...]:
    """A functional op's counterpart: rectification, pass-through, or its VJP where exact."""
    replay = graph.replays[index]
    op = replay.op
    if op == "relu":
        return (F.relu(signals[0]),) if signals[0] is not None else (None,)
    if "dropout" in op and _arg(replay, 2, "training", op in ("dropout", "dropout1d", "dropout2d")):
        raise _refuse(graph, index, "it drops at random even while the model is evaluated")
    if op in _PASS_OPS:
        return (signals[0],) + (None,) * (len(replay.tensors) - 1)
    if op in _SWITCH_OPS:
        _check_intact(graph, index)
    elif op not in _LINEAR_OPS:
        raise _refuse(graph, index, "it is not linear in its input and has no DeconvNet rule")
    elif op in ("mul", "div", "true_divide", "matmul", "mm", "bmm", "addmm") and len(replay.tensors) > 1:
        raise _refuse(graph, index, "it multiplies two signals (not linear in the input)")
    elif op in ("div", "true_divide") and not any(replay.args[0] is t for t in replay.tensors):
        raise _refuse(graph, index, "it divides by the signal (not linear in the input)")
    elif op in ("conv1d", "conv2d", "conv3d", "linear") and not any(replay.args[0] is t for t in replay.tensors):
        raise _refuse(graph, index, "its weights are a signal (not linear in the input)")
    elif op == "batch_norm" and _arg(replay, 5, "training", False):
        raise _refuse(graph, index, "batch norm in training mode depends on the batch")
    return _replay_vjp(replay, signals)


def _arg(replay: Replay, i: int, name: str, default: Any) -> Any:
    """A functional op's argument, given by position or by name."""
    if name in replay.kwargs:
        return replay.kwargs[name]
    return replay.args[i] if len(replay.args) > i else default


def _replay_vjp(replay: Replay, signals: list[Tensor | None]) -> tuple[Tensor | None, ...]:
    """Run the op again on detached copies of its data inputs and take the VJP of the signals."""
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(True) for t in replay.tensors]
        # a copy the op may write into (x += y), leaving the leaf for autograd
        copies = {id(t): leaf.clone() for t, leaf in zip(replay.tensors, leaves)}

        def swap(obj: Any) -> Any:
            if isinstance(obj, Tensor):
                return copies.get(id(obj), obj)
            if isinstance(obj, (list, tuple)):
                return type(obj)(swap(o) for o in obj)
            if isinstance(obj, dict):
                return {k: swap(v) for k, v in obj.items()}
            return obj

        out = replay.func(*swap(replay.args), **swap(replay.kwargs))
        outs = [out] if isinstance(out, Tensor) else [o for o in _flat(out)]
        pairs = [(o, s) for o, s in zip(outs, signals) if s is not None and o.requires_grad]
        if not pairs:
            return tuple(None for _ in leaves)
        grads = torch.autograd.grad([o for o, _ in pairs], leaves, [s.reshape(o.shape) for o, s in pairs],
                                    allow_unused=True)
    return tuple(grads)


def _flat(obj: Any) -> list[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _flat(o)]
    return []


def _check_intact(graph: Graph, index: int) -> None:
    replay = graph.replays[index]
    if not replay.inputs_intact():
        where = graph.nodes[index].name if replay.module is not None else _where(graph, index)
        raise CnnzooError(f"the input of {where!r} was overwritten in place by a later op (e.g. "
                          "ReLU(inplace=True)), so it cannot be projected through: build the "
                          "model with inplace=False")


def down(graph: Graph, index: int, signals: list[Tensor | None]) -> tuple[Tensor | None, ...]:
    """The signal each recorded input of node `index` receives when `signals` (one per output,
    None where nothing comes down) come down from its outputs."""
    replay = graph.replays[index]
    if replay.module is not None:
        if signals[0] is None:
            return tuple(None for _ in replay.tensors)
        return _module_down(graph, index, signals[0])
    return _functional_down(graph, index, signals)


# --- the walk down --------------------------------------------------------------------------
def project_signal(graph: Graph, layer: str, seed: Tensor) -> Tensor:
    """Send `seed` (shaped like the layer's output) down the recorded graph to the input.

    Returns the projection, shaped like the input."""
    start = graph.producer(layer)
    x = graph.input
    assert x is not None
    if start is None:  # the layer hands the input back unchanged
        return seed.reshape(x.shape)
    target = graph.replays[start[0]].outputs[start[1]]
    signals: dict[Port, Tensor] = {start: seed.reshape(target.shape)}
    for index in range(start[0], -1, -1):
        replay = graph.replays[index]
        coming = [signals.pop((index, port), None) for port in range(len(replay.outputs))]
        if all(s is None for s in coming):
            continue
        for feed, t, g in zip(replay.feeds, replay.tensors, down(graph, index, coming)):
            if g is None:
                continue
            g = g.reshape(t.shape)
            signals[feed] = signals[feed] + g if feed in signals else g
    projection = signals.get((-1, 0))
    return torch.zeros_like(x) if projection is None else projection  # the unit ignores the input


def receptive_box(graph: Graph, layer: str, first: tuple[int, int] | None,
                  last: tuple[int, int] | None = None) -> Box | None:
    """The input pixels (y0, y1, x0, x1 inclusive, not clipped) that the units from `first` to
    `last` of `layer`'s map see (trace/geometry.py); None when the geometry is unknown (a unit
    of a fully connected layer sees the whole image)."""
    start = graph.producer(layer)
    if first is None:
        return None
    if start is None:
        return (first[0], (last or first)[0], first[1], (last or first)[1])
    geo = graph.nodes[start[0]].geo
    return None if geo is None or geo.flat is not None else geo.box(first, last)


def _clip(box: Box | None, h: int, w: int) -> Box:
    if box is None:
        return (0, h - 1, 0, w - 1)
    return (max(box[0], 0), min(box[1], h - 1), max(box[2], 0), min(box[3], w - 1))


def unit_seed(act: Tensor, channel: int, whole_map: bool = False
              ) -> tuple[Tensor, tuple[int, int] | None, float, Box | None]:
    """Zero every activation of one sample's layer output `act` (C x H x W or F) but the chosen
    one: the strongest unit of `channel` (or the whole map). Returns (seed, unit, value, box)."""
    seed = torch.zeros_like(act)
    if act.dim() == 1:
        seed[channel] = act[channel]
        return seed, None, float(act[channel]), None
    fmap = act[channel]
    if whole_map:
        seed[channel] = fmap
        return seed, None, float(fmap.max()), (0, fmap.shape[0] - 1, 0, fmap.shape[1] - 1)
    flat = int(torch.argmax(fmap))
    h, w = divmod(flat, fmap.shape[1])
    seed[channel, h, w] = fmap[h, w]
    return seed, (h, w), float(fmap[h, w]), (h, h, w, w)


def strongest_channels(act: Tensor, k: int) -> list[int]:
    """The k channels (units for a 1-d layer) with the largest maximum activation."""
    scores = act if act.dim() == 1 else act.flatten(1).max(1).values
    k = min(k, scores.numel())
    return [int(i) for i in torch.argsort(scores, descending=True, stable=True)[:k]]


def check_channel(act: Tensor, channel: int, layer: str) -> None:
    n = act.shape[0]
    if not 0 <= channel < n:
        what = "units" if act.dim() == 1 else "channels"
        raise InputShapeError(f"channel {channel} is out of range: layer {layer!r} has {n} {what} "
                              f"(0 to {n - 1})")


def deconv(model: nn.Module, x: Tensor, layer: str, channel: int | None = None,
           top: int | None = None, whole_map: bool = False) -> list[Projection]:
    """DeconvNet projections of one image's activations in `layer` (see the module docstring).

    x: 1 x C x H x W, normalised as the model expects. channel: project that channel's strongest
    activation (or the whole map with whole_map=True); top: the `top` strongest channels, one
    projection each; neither: the single strongest channel. Returns one Projection per channel."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise InputShapeError(f"deconv takes one image, 1 x C x H x W, got {tuple(x.shape)}")
    return deconv_trace(record(model, x), layer, channel, top, whole_map)


def deconv_trace(graph: Graph, layer: str, channel: int | None = None, top: int | None = None,
                 whole_map: bool = False) -> list[Projection]:
    """deconv() on an already recorded forward pass (several projections share one graph)."""
    act = graph.output(layer)[0]
    if act.dim() not in (1, 3):
        raise InputShapeError(f"layer {layer!r} gives {tuple(act.shape)} per image: deconv needs a "
                              "C x H x W feature map or a vector of units")
    if channel is not None:
        check_channel(act, channel, layer)
        channels = [channel]
    else:
        if top is not None and top < 1:
            raise InputShapeError(f"--top must be at least 1, got {top}")
        channels = strongest_channels(act, top or 1)
    assert graph.input is not None
    h, w = graph.input.shape[2:]
    result = []
    for c in channels:
        seed, unit, value, box = unit_seed(act, c, whole_map)
        proj = project_signal(graph, layer, seed.unsqueeze(0))
        rf = receptive_box(graph, layer, box and (box[0], box[2]), box and (box[1], box[3]))
        full = rf if rf is not None else (0, h - 1, 0, w - 1)
        result.append(Projection(layer, c, unit, value, proj[0].detach().cpu().numpy(),
                                 _clip(full, h, w), full))
    return result
