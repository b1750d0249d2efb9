"""The functional ops a forward runs outside a layer (`x + y`, `torch.flatten`, `F.conv2d`, a
slice, `x.transpose(2, 3)`): one table from the op's name to the handler that reads its spatial
rule and costs (`OPS`), and the rule for any op the table does not name (`fallback`).

A handler returns a `Reading`, or None when the op is not what it handles at these shapes (a
max_pool2d on a tensor without a map); the op then goes to `fallback`, which reads it by its
shapes: a map made into features, an elementwise op, or an op whose geometry is unknown.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from .records import Reading
from .rules import Adaptive, Flatten, Merge, Pad, Rule, Size, SwapHW, Unknown, Window, padding, pair, slice_rule


def tensors(obj: Any) -> Iterator[Tensor]:
    """The tensors in a call's arguments or a module's output, in order (nested lists, dicts)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from tensors(o)


def spatial(t: Tensor | None) -> Size:
    """(H, W) of a 4-d tensor (N x C x H x W); None for any other."""
    return (int(t.shape[-2]), int(t.shape[-1])) if t is not None and t.dim() == 4 else None


def op_name(func: Any) -> str:
    """One name per op: `x += y`, `y + x` and `torch.add` are all "add"."""
    name = getattr(func, "__name__", str(func)).strip("_")
    if name in ("iadd", "radd"):
        return "add"
    if name in ("imul", "rmul"):
        return "mul"
    if name in ("isub", "rsub"):
        return "sub" if name == "isub" else "rsub"
    if name in ("itruediv", "truediv"):
        return "div"
    if name.endswith("_with_indices"):
        name = name[: -len("_with_indices")]
    return name.rstrip("_")


# functional ops that become rows when they run in a container's forward (not inside a layer)
ROW_OPS = {"conv1d", "conv2d", "conv3d", "linear", "matmul", "mm", "bmm", "addmm", "max_pool2d",
           "avg_pool2d", "lp_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "add", "sub",
           "mul", "div", "cat", "concat", "concatenate", "stack", "flatten", "pad", "relu", "tanh",
           "sigmoid", "gelu", "hardtanh", "dropout", "batch_norm", "local_response_norm",
           "softmax", "log_softmax", "mean", "transpose", "permute", "swapaxes", "swapdims", "t",
           "flip", "roll", "interpolate", "upsample", "pixel_shuffle"}
_ELEMENTWISE_OPS = {"add", "sub", "mul", "div", "relu", "tanh", "sigmoid", "gelu", "hardtanh",
                    "batch_norm", "softmax", "log_softmax"}
_JOIN_OPS = ("cat", "concat", "concatenate", "stack")
# ops that keep every map position where it is (elementwise, per-position across channels, copies)
_POINTWISE_OPS = _ELEMENTWISE_OPS | {
    "rsub", "neg", "abs", "pow", "sqrt", "rsqrt", "exp", "log", "square", "clamp", "clip",
    "maximum", "minimum", "where", "true_divide", "addcmul", "addcdiv", "sign", "floor", "ceil",
    "round", "leaky_relu", "elu", "selu", "celu", "silu", "mish", "relu6", "hardswish",
    "hardsigmoid", "softplus", "prelu", "rrelu", "threshold", "logsigmoid", "dropout", "dropout2d",
    "alpha_dropout", "feature_alpha_dropout", "local_response_norm", "contiguous", "clone",
    "detach", "to", "float", "double", "half", "bfloat16", "type", "type_as", *_JOIN_OPS}
# ops whose result does not depend on the data (x.new_zeros(...), torch.zeros_like(x)): constants
CONSTANT_OPS = {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "zeros_like",
                "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "randint_like"}


@dataclass
class OpCall:
    """One call of a functional op: its name, arguments, recorded inputs and outputs."""

    name: str
    args: tuple
    kwargs: dict
    ins: list[Tensor]  # the arguments that are recorded tensors, in order
    outs: list[Tensor]

    @property
    def x(self) -> Tensor:
        return self.ins[0]

    @property
    def out(self) -> Tensor:
        return self.outs[0]

    @property
    def n_in(self) -> Size:
        return spatial(self.x)

    @property
    def n_out(self) -> Size:
        return spatial(self.out)

    def arg(self, i: int, name: str, default: Any) -> Any:
        """An argument given by position `i` or by `name`."""
        if name in self.kwargs:
            return self.kwargs[name]
        return self.args[i] if len(self.args) > i else default


def _conv(c: OpCall) -> Reading:
    w = c.arg(1, "weight", None)
    found = Reading(Unknown(c.n_out), macs=w.numel() * math.prod(c.out.shape[2:]))
    if c.n_in and c.n_out:
        k = (int(w.shape[-2]), int(w.shape[-1]))
        d = pair(c.arg(5, "dilation", 1))
        p, p_end = padding(c.arg(4, "padding", 0), k, d)
        found.rule = Window(k, pair(c.arg(3, "stride", 1)), p, d, p_end=p_end)
        found.groups = int(c.arg(6, "groups", 1))
    return found


def _pool(c: OpCall) -> Reading | None:
    if not (c.n_in and c.n_out):
        return None
    off = 1 if c.name == "lp_pool2d" else 0  # lp_pool2d(input, norm_type, kernel_size, ...)
    k = pair(c.arg(1 + off, "kernel_size", 1))
    s = c.arg(2 + off, "stride", None)
    if c.name == "max_pool2d":
        d = pair(c.arg(4, "dilation", 1))
        ceil = bool(c.arg(5, "ceil_mode", False))
        p = pair(c.arg(3, "padding", 0))
    else:
        d, p = (1, 1), pair(c.arg(3, "padding", 0)) if not off else (0, 0)
        ceil = bool(c.arg(4 + off, "ceil_mode", False))
    rule = Window(k, pair(s) if s not in (None, (), []) else k, p, d, ceil, pooling=True)
    return Reading(rule, ops=c.out.numel() * k[0] * k[1])


def _adaptive(c: OpCall) -> Reading | None:
    if not (c.n_in and c.n_out):
        return None
    o = c.arg(1, "output_size", 1)
    o = o if isinstance(o, (tuple, list)) else (o, o)
    rule = Adaptive(tuple(None if v is None else int(v) for v in o))  # type: ignore[arg-type]
    return Reading(rule, ops=c.x.numel())


def _dense(c: OpCall) -> Reading:
    """linear, matmul and friends: every input feature, so every position of a flattened map."""
    a = c.ins[1] if c.name == "addmm" and len(c.ins) > 1 else c.x
    w = c.arg(1, "weight", None) if c.name == "linear" else None
    macs = (w.numel() * math.prod(c.out.shape[1:-1]) if isinstance(w, Tensor)
            else int(a.shape[-1]) * c.out.numel())
    found = Reading(Merge() if c.n_out is None else Unknown(c.n_out), macs=macs)
    if c.x.dim() == 2:
        found.arithmetic = f"{c.x.shape[-1]} -> {c.out.shape[-1]}"
    return found


def _getitem(c: OpCall) -> Reading | None:
    if not (c.n_in and c.n_out):
        return None
    return Reading(slice_rule(c.args[1] if len(c.args) > 1 else None, c.n_in, c.n_out))


def _pad(c: OpCall) -> Reading | None:
    if not (c.n_in and c.n_out):
        return None
    pad = list(c.arg(1, "pad", ())) + [0, 0, 0, 0]
    return Reading(Pad((int(pad[2]), int(pad[0])), (int(pad[3]), int(pad[1]))))


def _transpose(c: OpCall) -> Reading | None:
    if not c.n_in:
        return None
    order = _dims(c)
    if order == [0, 1, 3, 2]:
        return Reading(SwapHW())
    return Reading(Rule() if order == [0, 1, 2, 3] else Unknown(c.n_out))


def _dims(c: OpCall) -> list[int] | None:
    """The permutation a transpose/permute applies to the axes of the input."""
    ndim = c.x.dim()
    order = list(range(ndim))
    try:
        if c.name in ("transpose", "swapaxes", "swapdims"):
            a = int(c.arg(1, "dim0", 0)) % ndim
            b = int(c.arg(2, "dim1", 1)) % ndim
            order[a], order[b] = order[b], order[a]
            return order
        if c.name == "permute":
            dims = c.args[1:] if len(c.args) > 2 or not isinstance(c.arg(1, "dims", 0),
                                                                   (list, tuple)) else c.args[1]
            dims = c.kwargs.get("dims", dims)
            return [int(d) % ndim for d in dims]
    except (TypeError, ValueError, IndexError):
        return None
    return None


def _handlers(names: tuple[str, ...], handler: Callable[[OpCall], Reading | None]
              ) -> dict[str, Callable[[OpCall], Reading | None]]:
    return dict.fromkeys(names, handler)


# op name -> handler; an op not named here, or whose handler returns None, goes to fallback()
OPS: dict[str, Callable[[OpCall], Reading | None]] = {
    **_handlers(("conv1d", "conv2d", "conv3d"), _conv),
    **_handlers(("max_pool2d", "avg_pool2d", "lp_pool2d"), _pool),
    **_handlers(("adaptive_avg_pool2d", "adaptive_max_pool2d"), _adaptive),
    **_handlers(("linear", "matmul", "mm", "bmm", "addmm"), _dense),
    "getitem": _getitem,
    "pad": _pad,
    **_handlers(("transpose", "swapaxes", "swapdims", "permute"), _transpose),
}


def fallback(c: OpCall) -> Reading:
    """An op read by its shapes: a map made into features, a pointwise op, or unknown geometry."""
    if c.n_in is not None and c.n_out is None:
        return _to_features(c)
    same_map = c.n_in == c.n_out and c.n_in is not None and (
        c.name in _POINTWISE_OPS or (c.name in ("view", "reshape") and c.out.shape == c.x.shape))
    if same_map or (c.n_in is None and c.n_out is None):
        return _pointwise(c)
    return Reading(Unknown(c.n_out))


def _to_features(c: OpCall) -> Reading:
    """A map made into a vector per sample: flattened, or reduced over its positions."""
    x, out = c.x, c.out
    if c.name in ("flatten", "view", "reshape") and out.dim() >= 2 and out.shape[0] == x.shape[0]:
        return Reading(Flatten(), name="flatten",
                       arithmetic=f"{'x'.join(map(str, x.shape[1:]))} -> {out.shape[-1]}")
    if c.name in ("mean", "sum", "amax", "max") and out.dim() >= 1 and out.shape[0] == x.shape[0]:
        return Reading(Merge(spatial=True))  # a reduction over the map (x.mean((2, 3)))
    return Reading(Unknown(None))


def _pointwise(c: OpCall) -> Reading:
    """An op that keeps every position where it is; joins and additions name their branches."""
    found = Reading(Rule())
    if c.name in _JOIN_OPS:
        found.branches = True
        dim = c.arg(1, "dim", 0)
        dim = dim if dim >= 0 else c.out.dim() + dim
        if c.name != "stack":
            widths = [str(t.shape[dim]) for t in tensors(c.args[0])]
            found.arithmetic = f"{' + '.join(widths)} = {c.out.shape[dim]}"
    elif c.name in ("add", "sub") and len(c.ins) > 1:
        found.branches = True
    if c.name in _ELEMENTWISE_OPS:
        found.ops = c.out.numel()
    elif c.name == "local_response_norm":
        found.ops = c.out.numel() * (int(c.arg(1, "size", 5)) + 2)
    return found


def read_op(c: OpCall) -> Reading:
    """The rule and costs of one functional op: its handler in OPS, else fallback()."""
    handler = OPS.get(c.name)
    found = handler(c) if handler is not None else None
    return found if found is not None else fallback(c)
