"""What a network learned, as arrays: filters, feature maps, occlusion maps, the strongest
activations over a data set, and filters across the epochs of a run.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(https://arxiv.org/abs/1311.2901): Fig. 2 (top-9 activations and their projections), Fig. 4
(feature evolution during training), Fig. 5/6 (first-layer filters), Sec. 4.2 and Fig. 7
(occlusion sensitivity). Plots of these arrays are in `plots.py`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import checks
from ..errors import CnnzooError, InputShapeError, OptionError, UnknownNameError
from ..inference.checkpoint import epoch_checkpoints, load_model
from ..trace.graph import Graph, layer_names, record, unknown_layer_message
from .deconvnet import Box, Projection, check_channel, deconv_trace


# --- filters --------------------------------------------------------------------------------
def _weight(module: nn.Module) -> Tensor | None:
    dense_weight = getattr(module, "dense_weight", None)
    if callable(dense_weight):  # LeNet-5's partially connected C3 (protocols.py)
        return dense_weight()
    w = getattr(module, "weight", None)
    return w if isinstance(w, Tensor) and w.dim() == 4 else None


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the layers with 4-d (out x in x kh x kw) filters, in definition order."""
    return [n for n, m in model.named_modules() if n and _weight(m) is not None]


@torch.no_grad()
def layer_filters(model: nn.Module, layer: str | None = None) -> tuple[str, np.ndarray]:
    """(layer name, its filters as out x in x kh x kw array). Default: the first conv layer."""
    convs = conv_layers(model)
    if not convs:
        raise CnnzooError(f"{getattr(model, 'zoo_name', type(model).__name__)} has no conv layer")
    layer = layer or convs[0]
    modules = dict(model.named_modules())
    if layer not in modules or not layer:
        raise UnknownNameError(unknown_layer_message(model, layer, convs))
    w = _weight(modules[layer])
    if w is None:
        raise UnknownNameError(f"layer {layer!r} has no convolution filters: choose one of "
                               f"{', '.join(convs)}")
    return layer, w.detach().float().cpu().numpy().copy()


def filter_evolution(run_dir: str | Path, layer: str | None = None,
                     count: int = 16) -> tuple[str, list[int], np.ndarray]:
    """A layer's filters at every saved epoch of a training run (paper Fig. 4, for filters).

    Returns (layer, epochs, array epochs x count x in x kh x kw): the first `count` filters."""
    count = checks.positive_int("count", count)

    found = epoch_checkpoints(run_dir)
    if not found:
        raise CnnzooError(f"{run_dir} has no per-epoch checkpoints: train with per-epoch "
                          "checkpoints kept (see `cnnzoo train --help`)")
    epochs, stack = [], []
    name = layer
    for epoch, path in found:
        model, _ = load_model(path, map_location="cpu")
        name, w = layer_filters(model, layer)
        epochs.append(epoch)
        stack.append(w[:count])
    assert name is not None
    return name, epochs, np.stack(stack)


# --- feature maps ---------------------------------------------------------------------------
def feature_maps(model: nn.Module, x: Tensor, layer: str, limit: int | None = None) -> np.ndarray:
    """A layer's output for one image: C x H x W (or F units for a fully connected layer);
    limit: only the first `limit` channels (units)."""
    if limit is not None:
        limit = checks.positive_int("limit", limit)
    if x.dim() != 4 or x.shape[0] != 1:
        raise InputShapeError(f"feature_maps takes one image, 1 x C x H x W, got {tuple(x.shape)}")
    return record(model, x).output(layer)[0][:limit].float().cpu().numpy().copy()


# --- occlusion ------------------------------------------------------------------------------
@dataclass
class Occlusion:
    """Occlusion sensitivity (paper Sec. 4.2, Fig. 7) for one image.

    For the grey square's top-left corner at (ys[i], xs[j]): prob[i, j] is the probability of
    `target`; top_class[i, j] / top_prob[i, j] the most probable class; activation[i, j] the total
    activation of feature map `channel` of `layer` (the strongest map in the unoccluded image).
    base_*: the same without occlusion. pixels(): the map at the input's scale (see there)."""

    target: int
    size: int
    stride: int
    ys: list[int]
    xs: list[int]
    prob: np.ndarray
    top_class: np.ndarray
    top_prob: np.ndarray
    activation: np.ndarray | None
    layer: str | None
    channel: int | None
    base_prob: float
    base_activation: float | None
    input_size: tuple[int, int] = (0, 0)

    def pixels(self) -> np.ndarray:
        """H x W: for every input pixel, the mean drop in the target's probability over the
        square positions that cover it (the definition of captum's Occlusion attribution)."""
        h, w = self.input_size
        total = np.zeros((h, w), np.float64)
        count = np.zeros((h, w), np.float64)
        for i, y in enumerate(self.ys):
            for j, x in enumerate(self.xs):
                total[y:y + self.size, x:x + self.size] += self.base_prob - self.prob[i, j]
                count[y:y + self.size, x:x + self.size] += 1
        return (total / np.maximum(count, 1)).astype(np.float32)


def _starts(n: int, size: int, stride: int) -> list[int]:
    # captum's positions: ceil((n - size) / stride) + 1 starts; the last square may be cut off
    return [i * stride for i in range(math.ceil((n - size) / stride) + 1)]


def default_map_layer(graph: Graph) -> str:
    """The deepest layer with a spatial (H, W > 1) map that is a conv/activation/branch output
    (the paper's 'layer 5' for AlexNet/ZFNet: relu5)."""
    skip = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
            nn.LocalResponseNorm, nn.modules.batchnorm._BatchNorm, nn.Dropout, nn.Dropout2d)
    for node, replay in zip(reversed(graph.nodes), reversed(graph.replays)):
        out = replay.outputs[0] if replay.outputs else None
        if (replay.module is not None and node.row and out is not None and out.dim() == 4
                and min(out.shape[2:]) > 1 and not isinstance(replay.module, skip)):
            return graph.names[id(replay.module)]
    raise CnnzooError("the model has no spatial feature map to follow")


@torch.no_grad()
def occlusion(model: nn.Module, x: Tensor, target: int | None = None, size: int | None = None,
              stride: int | None = None, baseline: float | Sequence[float] = 0.0,
              layer: str | None = None, channel: int | None = None,
              batch_size: int = 32) -> Occlusion:
    """Slide a grey square over one image (1 x C x H x W, normalised) and record, per position,
    the class probabilities and the total activation of one feature map.

    target: the class to follow (default: the unoccluded prediction). size / stride: the square
    and its step in input pixels (default: a sixth of the image's short side, half that step).
    baseline: the square's value in normalised input space, per channel or one for all (0 is the
    data mean; grey pixels are (0.5 - mean) / std). layer / channel: the map to follow (default:
    the deepest conv-level map and its strongest channel in the unoccluded image)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise InputShapeError(f"occlusion takes one image, 1 x C x H x W, got {tuple(x.shape)}")
    h, w = x.shape[2:]
    # 0 and negatives are refused, never taken for "the default"
    size = max(1, min(h, w) // 6) if size is None else checks.positive_int("occluder size", size)
    stride = max(1, size // 2) if stride is None else checks.positive_int("occluder stride", stride)
    batch_size = checks.positive_int("batch size", batch_size)
    if size > min(h, w):
        raise OptionError(f"the occluder size must be 1 to {min(h, w)} pixels, got {size}")
    if stride > size:
        raise OptionError(f"the occluder stride must be 1 to the size {size}, got {stride}")
    graph = record(model, x)
    logits = graph.result[0] if isinstance(graph.result, (tuple, list)) else graph.result
    probs = F.softmax(logits.float(), dim=1)[0]
    n_classes = probs.numel()
    if target is None:
        target = int(probs.argmax())
    if not 0 <= target < n_classes:
        raise InputShapeError(f"class {target} is out of range: the model has {n_classes} classes "
                              f"(0 to {n_classes - 1})")
    layer = layer or default_map_layer(graph)
    act = graph.output(layer)[0]
    if act.dim() != 3:
        raise InputShapeError(f"layer {layer!r} has no feature maps ({tuple(act.shape)} per image)")
    if channel is None:
        channel = int(act.flatten(1).max(1).values.argmax())
    check_channel(act, channel, layer)
    base_act = float(act[channel].sum())
    del graph

    ys, xs = _starts(h, size, stride), _starts(w, size, stride)
    positions = [(y, x0) for y in ys for x0 in xs]
    grey = torch.as_tensor(baseline, dtype=x.dtype).reshape(-1, 1, 1)
    module = dict(model.named_modules())[layer]
    captured: list[Tensor] = []
    handle = module.register_forward_hook(
        lambda m, a, o: captured.append((o[0] if isinstance(o, (tuple, list)) else o)[:, channel]
                                        .flatten(1).sum(1)))
    was_training = model.training
    model.eval()
    all_probs = []
    try:
        for i in range(0, len(positions), batch_size):
            chunk = positions[i:i + batch_size]
            batch = x.repeat(len(chunk), 1, 1, 1)
            for b, (y, x0) in enumerate(chunk):
                batch[b, :, y:y + size, x0:x0 + size] = grey
            out = model(batch)
            out = out[0] if isinstance(out, (tuple, list)) else out
            all_probs.append(F.softmax(out.float(), dim=1))
    finally:
        handle.remove()
        model.train(was_training)
    p = torch.cat(all_probs).view(len(ys), len(xs), -1)
    a = torch.cat(captured).view(len(ys), len(xs))
    top_prob, top_class = p.max(2)
    return Occlusion(target, size, stride, ys, xs, p[..., target].numpy(), top_class.numpy(),
                     top_prob.numpy(), a.float().numpy(), layer, channel, float(probs[target]),
                     base_act, (h, w))


# --- the strongest activations over a data set (paper Fig. 2) --------------------------------
@dataclass
class TopEntry:
    """One of a channel's strongest activations over a data set.

    index: the image's position in the data; value: the activation; unit: its (h, w) in the map;
    projection: the DeconvNet projection (C x H x W, input space); image: that input
    (C x H x W, normalised); field: the unit's receptive field in the input (may reach outside);
    projection_patch / image_patch: both cut to the receptive field, the part outside the image
    filled with 0 (the zero padding the convolutions saw)."""

    index: int
    value: float
    unit: tuple[int, int] | None
    projection: np.ndarray
    image: np.ndarray
    field: Box
    projection_patch: np.ndarray
    image_patch: np.ndarray
    label: int | None = None


@dataclass
class TopChannel:
    layer: str
    channel: int
    entries: list[TopEntry] = field(default_factory=list)


def cut(arr: np.ndarray, box: Box) -> np.ndarray:
    """C x H x W array cut to box (y0, y1, x0, x1 inclusive), zero outside the array."""
    y0, y1, x0, x1 = box
    c, h, w = arr.shape
    out = np.zeros((c, y1 - y0 + 1, x1 - x0 + 1), arr.dtype)
    sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, h - 1), max(x0, 0), min(x1, w - 1)
    if sy0 <= sy1 and sx0 <= sx1:
        out[:, sy0 - y0:sy1 - y0 + 1, sx0 - x0:sx1 - x0 + 1] = arr[:, sy0:sy1 + 1, sx0:sx1 + 1]
    return out


@torch.no_grad()
def top_activations(model: nn.Module, batches: Iterable[Tensor | tuple[Tensor, Tensor]],
                    layer: str, channels: Sequence[int] | None = None, k: int = 9,
                    num_channels: int = 6) -> list[TopChannel]:
    """For each chosen channel of `layer`, its k strongest activations over the data (one per
    image, the map's maximum), each with its DeconvNet projection (paper Fig. 2).

    batches: normalised N x C x H x W tensors, or (images, labels) pairs. channels: default the
    `num_channels` channels whose strongest activation over the data is largest."""
    k = checks.positive_int("k", k)
    num_channels = checks.positive_int("number of channels", num_channels)
    if layer not in layer_names(model):
        raise UnknownNameError(unknown_layer_message(model, layer, layer_names(model)))
    module = dict(model.named_modules())[layer]
    grabbed: list[Tensor] = []
    handle = module.register_forward_hook(
        lambda m, a, o: grabbed.append(o[0] if isinstance(o, (tuple, list)) else o))
    was_training = model.training
    model.eval()
    best_v: Tensor | None = None  # C x k best values so far
    best_i: Tensor | None = None  # C x k their image indices
    kept: dict[int, tuple[Tensor, int | None]] = {}
    seen = 0
    try:
        for batch in batches:
            images, labels = (batch if isinstance(batch, (tuple, list)) else (batch, None))
            grabbed.clear()
            model(images)
            act = grabbed[-1]
            scores = act.flatten(2).max(2).values if act.dim() == 4 else act  # N x C
            n = scores.shape[0]
            idx = torch.arange(seen, seen + n).expand(scores.shape[1], n)
            v = scores.t() if best_v is None else torch.cat([best_v, scores.t()], 1)
            i = idx if best_i is None else torch.cat([best_i, idx], 1)
            top = torch.topk(v, min(k, v.shape[1]), dim=1)
            best_v, best_i = top.values, torch.gather(i, 1, top.indices)
            need = set(best_i.flatten().tolist())
            for j in range(n):
                if seen + j in need:
                    kept[seen + j] = (images[j:j + 1].clone(),
                                      None if labels is None else int(labels[j]))
            kept = {key: val for key, val in kept.items() if key in need}
            seen += n
    finally:
        handle.remove()
        model.train(was_training)
    if best_v is None or best_i is None:
        raise CnnzooError("the data set is empty")
    if channels is None:
        order = torch.argsort(best_v[:, 0], descending=True, stable=True)
        channels = [int(c) for c in order[:num_channels]]
    for c in channels:
        check_channel(best_v[:, 0], c, layer)

    # one forward per distinct image, all of its projections from that trace, then drop it
    wanted: dict[int, list[int]] = {}
    for c in channels:
        for index in best_i[c].tolist():
            wanted.setdefault(index, []).append(c)
    done: dict[tuple[int, int], TopEntry] = {}
    for index, chans in wanted.items():
        image, label = kept[index]
        graph = record(model, image)
        img = image[0].float().numpy()
        for c in chans:
            p: Projection = deconv_trace(graph, layer, channel=c)[0]
            done[index, c] = TopEntry(index, p.value, p.unit, p.image, img, p.field,
                                      cut(p.image, p.field), cut(img, p.field), label)
        del graph
    return [TopChannel(layer, c, [done[i, c] for i in best_i[c].tolist()]) for c in channels]
