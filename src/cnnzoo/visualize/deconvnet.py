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
  its vector-Jacobian product at the recorded input, which for a linear map is its transpose.

For a network made only of conv, ReLU, max-pool, linear and dropout layers this is exactly the
gradient of the unit with every ReLU's backward replaced by relu(grad): captum's ``Deconvolution``
(the tests hold the two equal).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CnnzooError, InputShapeError
from ..layers import Add, Concat
from .trace import Call, Trace, record

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
def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def _down_conv(m: nn.Conv2d, x: Tensor, s: Tensor) -> Tensor:
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        return _down_vjp(m, (x,), s)[0]
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
        return _down_vjp(m, (x,), s)[0]
    scale = torch.rsqrt(m.running_var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    return s * scale.view(1, -1, *([1] * (s.dim() - 2)))


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


def down(call: Call, s: Tensor) -> tuple[Tensor | None, ...]:
    """The signal each input of `call` receives when `s` comes down from its output."""
    m, xs = call.module, call.inputs
    if isinstance(m, nn.ReLU):
        return (F.relu(s),)
    if isinstance(m, _PASS):
        return (s,)
    if isinstance(m, (nn.Flatten, nn.Unflatten)):
        return (s.reshape(xs[0].shape),)
    if isinstance(m, nn.Conv2d):
        return (_down_conv(m, xs[0], s),)
    if isinstance(m, nn.MaxPool2d):
        return (_down_maxpool(m, xs[0], s),)
    if isinstance(m, nn.Linear):
        return (_down_linear(m, xs[0], s),)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return (_down_batchnorm(m, xs[0], s),)
    if isinstance(m, Add):
        return tuple(s for _ in xs)
    if isinstance(m, Concat):
        return tuple(torch.split(s, [x.shape[m.dim] for x in xs], dim=m.dim))
    return _down_vjp(m, xs, s)


# --- receptive fields -----------------------------------------------------------------------
def _box_down(call: Call, box: Box | None, x: Tensor) -> Box | None:
    """The region of input `x` that the region `box` of the call's output can see."""
    out = call.output
    if x.dim() != 4:
        return None
    whole = (0, x.shape[2] - 1, 0, x.shape[3] - 1)
    if box is None or out.dim() != 4:
        return whole
    m = call.module
    if hasattr(m, "kernel_size") and hasattr(m, "stride"):
        k = _pair(m.kernel_size)
        st = _pair(m.stride if m.stride is not None else m.kernel_size)
        p = getattr(m, "padding", 0)
        p = tuple((kk - 1) // 2 for kk in k) if isinstance(p, str) else _pair(p)
        d = _pair(getattr(m, "dilation", 1))
        y0, y1, x0, x1 = box
        return (y0 * st[0] - p[0], y1 * st[0] - p[0] + d[0] * (k[0] - 1),
                x0 * st[1] - p[1], x1 * st[1] - p[1] + d[1] * (k[1] - 1))
    if out.shape[2:] == x.shape[2:]:
        return box  # point-wise in space (activations, LRN, BN, concat, add)
    return whole


def _union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return None
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


# --- the walk down --------------------------------------------------------------------------
def project_signal(trace: Trace, layer: str, seed: Tensor,
                   box: Box | None = None) -> tuple[Tensor, Box | None]:
    """Send `seed` (shaped like the layer's output) down to the input.

    Returns the projection (shaped like the input) and the unclipped receptive field of `box`
    (a region of the layer's output; None = all of it) in input coordinates."""
    start = trace.call_for(layer)
    target = trace.calls[start].output
    signals: dict[int | None, Tensor] = {start: seed.reshape(target.shape)}
    boxes: dict[int | None, Box | None] = {start: box if target.dim() == 4 else None}
    for call in reversed(trace.calls[:start + 1]):
        s = signals.pop(call.index, None)
        if s is None:
            continue
        b = boxes.pop(call.index, None)
        for x, g in zip(call.inputs, down(call, s)):
            if g is None:
                continue
            found = trace.source(x)
            if found is None:
                raise CnnzooError(
                    f"deconv cannot follow the input of {call.name!r} back: it is computed by an "
                    f"operation outside any module: choose a layer before {call.name!r}")
            index, src = found
            g = g.reshape(src.shape)
            xb = _box_down(call, b, x) if x.dim() == 4 and src.dim() == 4 else None
            if index in signals:
                signals[index] = signals[index] + g
                boxes[index] = _union(boxes[index], xb)
            else:
                signals[index], boxes[index] = g, xb
    if None not in signals:  # the unit does not depend on the input at all
        signals[None] = torch.zeros_like(trace.input)
    fb = boxes.get(None)
    return signals[None], fb


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
    trace, _ = record(model, x)
    return deconv_trace(trace, layer, channel, top, whole_map)


def deconv_trace(trace: Trace, layer: str, channel: int | None = None, top: int | None = None,
                 whole_map: bool = False) -> list[Projection]:
    """deconv() on an already recorded forward pass (several projections share one trace)."""
    act = trace.output(layer)[0]
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
    h, w = trace.input.shape[2:]
    result = []
    for c in channels:
        seed, unit, value, box = unit_seed(act, c, whole_map)
        proj, rf = project_signal(trace, layer, seed.unsqueeze(0), box)
        full = rf if rf is not None else (0, h - 1, 0, w - 1)
        result.append(Projection(layer, c, unit, value, proj[0].detach().cpu().numpy(),
                                 _clip(full, h, w), full))
    return result
