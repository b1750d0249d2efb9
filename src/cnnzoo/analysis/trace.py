"""One forward pass, watched: every layer call and every functional op, with shapes, costs and
receptive fields.

Module hooks see the layers; a TorchFunctionMode sees the tensor operations that happen outside a
layer (`x + y` in a block's forward, `torch.flatten`, a slice), so nothing is invisible. Tensors
are followed by identity (a dict keyed by `id()`, the tensors kept alive for the pass), which
carries each tensor's producer, receptive field and depth in weighted layers through branches,
concatenations and additions. The pass is meant to run on a copy of the model on the "meta"
device (shapes only, no arithmetic), see `summary.py`.

Every tensor-producing step becomes a `Node` with a spatial `Rule`, so the output sizes can be
recomputed for another input size without running the model (the too-small-input diagnosis).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .. import layers as zoo_layers
from .geometry import Geo, Pair, adaptive_window, union, window_arithmetic, window_size

Size = tuple[int, int] | None  # spatial size of a 4-d tensor, None for a tensor without one


# --- spatial rules: how an op maps input sizes and receptive fields to its output ------------
@dataclass(frozen=True)
class Rule:
    """Elementwise / union: the output has the size of its (first) input; fields are united."""

    def size(self, ins: list[Size]) -> Size:
        return next((s for s in ins if s is not None), None)

    def geo(self, geos: list[Geo | None], ins: list[Size]) -> Geo | None:
        if not geos or any(g is None for g in geos):
            return None
        return union(geos)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Window(Rule):
    k: Pair
    s: Pair
    p: Pair
    d: Pair = (1, 1)
    ceil: bool = False
    pooling: bool = False

    def size(self, ins: list[Size]) -> Size:
        n = ins[0]
        if n is None:
            return None
        return tuple(window_size(n[a], self.k[a], self.s[a], self.p[a], self.d[a], self.ceil)
                     for a in range(2))  # type: ignore[return-value]

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].window(self.k, self.s, self.p, self.d)

    def arithmetic(self, n: Pair) -> str:
        parts = [window_arithmetic(n[a], self.k[a], self.s[a], self.p[a], self.d[a], self.ceil,
                                   rounding=self.pooling) for a in range(2)]
        return parts[0] if parts[0] == parts[1] else f"H: {parts[0]}; W: {parts[1]}"


@dataclass(frozen=True)
class Adaptive(Rule):
    out: tuple[int | None, int | None]

    def _o(self, n: Pair) -> Pair:
        return tuple(n[a] if self.out[a] is None else self.out[a] for a in range(2))  # type: ignore

    def size(self, ins):
        return None if ins[0] is None else self._o(ins[0])

    def geo(self, geos, ins):
        return None if geos[0] is None or ins[0] is None else geos[0].adaptive(ins[0], self._o(ins[0]))

    def arithmetic(self, n: Pair) -> str:
        o = self._o(n)
        ks = [adaptive_window(n[a], o[a])[0] for a in range(2)]
        what = "global" if o == (1, 1) else "adaptive"
        exact = all(n[a] % o[a] == 0 for a in range(2))
        win = f"window {ks[0]}x{ks[1]}" if exact else f"windows up to {ks[0]}x{ks[1]}"
        return f"{what}: {n[0]}x{n[1]} -> {o[0]}x{o[1]} ({win})"


@dataclass(frozen=True)
class Flatten(Rule):
    def size(self, ins):
        return None

    def geo(self, geos, ins):
        if geos[0] is None:
            return None
        return geos[0].flatten(ins[0]) if ins[0] is not None else geos[0]


@dataclass(frozen=True)
class Merge(Rule):
    """A layer that reads all its input features (Linear): every position of a flattened map;
    `spatial=True` for a reduction straight from a map (x.mean((2, 3)))."""

    spatial: bool = False

    def size(self, ins):
        return None

    def geo(self, geos, ins):
        g = Rule.geo(self, geos, ins)
        if g is None:
            return None
        if self.spatial and ins[0] is not None:
            g = g.flatten(ins[0])
        return g.merge()


@dataclass(frozen=True)
class Slice(Rule):
    first: Pair
    step: Pair

    def size(self, ins):
        n = ins[0]
        if n is None:
            return None
        return tuple(max(0, -(-(n[a] - self.first[a]) // self.step[a])) for a in range(2))  # type: ignore

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].slice(self.first, self.step)


@dataclass(frozen=True)
class Pad(Rule):
    before: Pair
    after: Pair

    def size(self, ins):
        n = ins[0]
        return None if n is None else tuple(n[a] + self.before[a] + self.after[a] for a in range(2))  # type: ignore

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].pad(self.before)


@dataclass(frozen=True)
class Unknown(Rule):
    """An op whose geometry cannot be read: keeps the size it had, and no receptive field."""

    recorded: Size = None

    def size(self, ins):
        return self.recorded

    def geo(self, geos, ins):
        return None


# --- what the pass records ---------------------------------------------------------------------
@dataclass
class Node:
    """One step of the forward pass: a layer call, or a functional op outside a layer."""

    name: str
    type: str
    rule: Rule
    inputs: list[int]  # producer node indices (-1: the model input)
    in_shape: tuple[int, ...] | None  # without the batch dimension
    out_shape: tuple[int, ...] | None
    geo: Geo | None
    wdepth: int  # weighted layers on the longest path from the input
    params: int = 0
    trainable: int = 0
    macs: int = 0
    ops: int = 0
    memory: int = 0
    row: bool = True  # shown in the summary (False: an op inside a layer, or a bookkeeping op)
    functional: bool = False
    kernel: Pair | None = None
    stride: Pair | None = None
    padding: Pair | None = None
    dilation: Pair | None = None
    groups: int | None = None
    ceil_mode: bool | None = None
    arithmetic: str = ""
    sources: list[int] = field(default_factory=list)  # for add/concat: the input nodes
    calls: tuple[int, ...] = ()  # the module calls (containers) this node ran inside


@dataclass
class Call:
    """A module call in progress or done (containers are kept for --depth)."""

    name: str
    type: str
    depth: int
    leaf: bool  # a module without children
    known: bool  # a leaf whose costs and geometry are read from its type (its internals are skipped)
    first_node: int
    child_calls: int = 0
    internal_macs: int = 0
    last_node: int = -1
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    geo: Geo | None = None
    wdepth: int = 0
    ancestors: tuple[int, ...] = ()


@dataclass
class _Rec:
    node: int
    geo: Geo | None
    wdepth: int


def _tensors(obj: Any) -> Iterator[Tensor]:
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _pair(v: Any) -> Pair:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return (int(v), int(v))


def _spatial(t: Tensor | None) -> Size:
    return (int(t.shape[-2]), int(t.shape[-1])) if t is not None and t.dim() == 4 else None


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


def _known(m: nn.Module) -> bool:
    return (isinstance(m, _KNOWN) or _is_activation(m) or _is_window(m)
            or hasattr(m, "zoo_macs"))


def _padding(p: Any, k: Pair, d: Pair) -> Pair:
    if isinstance(p, str):  # 'same' pads d*(k-1) in all (PyTorch puts the odd one on the right)
        return (0, 0) if p == "valid" else tuple(d[a] * (k[a] - 1) // 2 for a in range(2))  # type: ignore
    return _pair(p)


def _window_of_module(m: nn.Module) -> Window:
    k = _pair(m.kernel_size)
    s = _pair(m.stride if m.stride not in (None, ()) else m.kernel_size)
    d = _pair(getattr(m, "dilation", 1))
    p = _padding(getattr(m, "padding", 0), k, d)
    return Window(k, s, p, d, bool(getattr(m, "ceil_mode", False)), isinstance(m, _WINDOW_POOLS))


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _op_name(func: Any) -> str:
    name = getattr(func, "__name__", str(func)).strip("_")
    if name in ("iadd", "radd"):
        return "add"
    if name in ("imul", "rmul"):
        return "mul"
    if name.endswith("_with_indices"):
        name = name[: -len("_with_indices")]
    return name.rstrip("_")


# functional ops that become rows when they run in a container's forward (not inside a layer)
_ROW_OPS = {"conv1d", "conv2d", "conv3d", "linear", "matmul", "mm", "bmm", "addmm", "max_pool2d",
            "avg_pool2d", "lp_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "add", "sub",
            "mul", "div", "cat", "concat", "concatenate", "stack", "flatten", "pad", "relu", "tanh",
            "sigmoid", "gelu", "hardtanh", "dropout", "batch_norm", "local_response_norm",
            "softmax", "log_softmax", "mean"}
_ELEMENTWISE_OPS = {"add", "sub", "mul", "div", "relu", "tanh", "sigmoid", "gelu", "hardtanh",
                    "batch_norm", "softmax", "log_softmax"}


class Tracer(TorchFunctionMode):
    """Watches one forward pass of `model` (hooks on every module + this function mode)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.nodes: list[Node] = []
        self.calls: list[Call] = []
        self.stack: list[int] = []  # indices into self.calls
        self.info: dict[int, _Rec] = {}
        self.keep: list[Tensor] = []  # tensors whose id() is a key of self.info stay alive
        self.busy = 0
        self.skip = 0  # > 0 inside a known layer: its internals are not watched
        self.counted: set[int] = set()
        self.called: set[int] = set()
        self.times_called: dict[int, int] = {}
        self.op_counts: dict[tuple[int, str], int] = {}
        self.failed_in: list[str] = []  # the calls in progress when the forward raised

    # -- bookkeeping ---------------------------------------------------------------------------
    def _register(self, t: Tensor, node: int, geo: Geo | None, wdepth: int) -> None:
        self.info[id(t)] = _Rec(node, geo, wdepth)
        self.keep.append(t)

    def _inputs(self, obj: Any) -> tuple[list[Tensor], list[_Rec]]:
        ts = [t for t in _tensors(obj) if id(t) in self.info]
        return ts, [self.info[id(t)] for t in ts]

    def _memory(self, out: Tensor, ins: list[Tensor]) -> int:
        if any(out is t for t in ins) or out._base is not None:  # the same tensor, or a view
            return 0
        return out.numel() * out.element_size()

    # -- running -------------------------------------------------------------------------------
    def run(self, x: Tensor) -> Any:
        handles = []
        for m in self.model.modules():
            handles.append(m.register_forward_pre_hook(self._pre, with_kwargs=True))
            handles.append(m.register_forward_hook(self._post, with_kwargs=True))
        self._register(x, -1, Geo(), 0)
        try:
            with self, torch.no_grad():
                return self.model(x)
        except BaseException:
            self.failed_in = [self.calls[i].name for i in self.stack]
            raise
        finally:
            for h in handles:
                h.remove()

    def _pre(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.busy += 1
        try:
            n = self.times_called[id(module)] = self.times_called.get(id(module), 0) + 1
            name = self.names.get(id(module), type(module).__name__)
            if n > 1:
                name = f"{name}#{n}"
            leaf = next(module.children(), None) is None
            known = leaf and _known(module)
            depth = len(name.split(".")) if name else 0
            x = next(_tensors((args, kwargs)), None)
            self.calls.append(Call(name, type(module).__name__, depth, leaf, known, len(self.nodes),
                                   in_shape=tuple(x.shape[1:]) if x is not None else None,
                                   ancestors=tuple(self.stack)))
            if self.stack:
                self.calls[self.stack[-1]].child_calls += 1
            self.stack.append(len(self.calls) - 1)
            self.called.add(id(module))
            if known:
                self.skip += 1
        finally:
            self.busy -= 1

    def _post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        self.busy += 1
        try:
            ci = self.stack.pop()
            call = self.calls[ci]
            if call.known:
                self.skip -= 1
            if call.child_calls == 0:
                self._layer_node(call, module, (args, kwargs), output)
            outs = list(_tensors(output))
            if outs and id(outs[0]) in self.info:
                rec = self.info[id(outs[0])]
                call.geo, call.wdepth = rec.geo, rec.wdepth
            call.out_shape = tuple(outs[0].shape[1:]) if outs else None
            call.last_node = len(self.nodes)
        finally:
            self.busy -= 1

    # -- a layer -------------------------------------------------------------------------------
    def _layer_node(self, call: Call, m: nn.Module, inputs: Any, output: Any) -> None:
        ins, recs = self._inputs(inputs)
        outs = list(_tensors(output))
        x = ins[0] if ins else next(_tensors(inputs), None)
        out = outs[0] if outs else None
        # ops traced inside this layer (a layer of unknown type) are folded into its row
        internal = self.nodes[call.first_node:]
        for node in internal:
            node.row = False
        internal_macs = sum(node.macs for node in internal)
        n_in, n_out = _spatial(x), _spatial(out)
        sources = [r.node for r in recs]
        node = Node(call.name or type(m).__name__, call.type, Rule(), sources,
                    tuple(x.shape[1:]) if x is not None else None,
                    tuple(out.shape[1:]) if out is not None else None, None, 0,
                    calls=call.ancestors)
        # multiply-accumulates first: they decide whether a 2-d layer mixes its features
        if out is None:
            pass
        elif hasattr(m, "zoo_macs"):
            node.macs = int(m.zoo_macs(out))
        elif isinstance(m, nn.modules.conv._ConvNd):
            space = (x if m.transposed else out).shape[2:]
            node.macs = m.weight.numel() * math.prod(space)
        elif isinstance(m, (nn.Linear, nn.Bilinear)):
            node.macs = m.weight.numel() * math.prod(out.shape[1:-1])
        elif not call.known:
            node.macs = internal_macs
        rule: Rule
        if out is None:
            rule = Unknown(None)
        elif _is_window(m) and n_in is not None and n_out is not None:
            rule = _window_of_module(m)
            node.kernel, node.stride, node.padding, node.dilation = rule.k, rule.s, rule.p, rule.d
            if isinstance(m, _WINDOW_POOLS):
                node.ceil_mode = rule.ceil
            if hasattr(m, "groups") and isinstance(m.groups, int):
                node.groups = m.groups
            node.arithmetic = rule.arithmetic(n_in)
        elif isinstance(m, _ADAPTIVE) and n_in is not None and n_out is not None:
            o = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * 2
            rule = Adaptive(tuple(None if v is None else int(v) for v in o))  # type: ignore[arg-type]
            node.arithmetic = rule.arithmetic(n_in)
        elif isinstance(m, (zoo_layers.Concat, zoo_layers.Add)):
            rule = Rule()
            node.sources = sources
            if isinstance(m, zoo_layers.Concat):
                dim = m.dim if m.dim >= 0 else out.dim() + m.dim
                widths = [str(t.shape[dim]) for t in _tensors(inputs)]
                node.arithmetic = f"{' + '.join(widths)} = {out.shape[dim]}"
        elif n_in is not None and n_out is None and (isinstance(m, nn.Flatten) or (
                not node.macs and m_is_free(m) and out.dim() == 2)):
            rule = Flatten()
            node.arithmetic = f"{'x'.join(map(str, x.shape[1:]))} = {out.shape[-1]}"
        elif n_in is not None and n_out is None:
            rule = Merge(spatial=True)
        elif n_in is None and n_out is None and node.macs:
            rule = Merge()  # Linear (or RBF units): reads every feature, so every map position
            if x is not None and x.dim() == 2:
                node.arithmetic = f"{x.shape[-1]} -> {out.shape[-1]}"
        elif n_in == n_out:
            rule = Rule()
        elif not call.known and id(out) in self.info:
            # traced through: the layer is the internal op that made its output
            rule = Rule()
            node.inputs = [self.info[id(out)].node]
            recs = [self.info[id(out)]]
        else:
            rule = Unknown(n_out)
        node.rule = rule
        node.geo = rule.geo([r.geo for r in recs], [self._size_of(r) for r in recs]) if recs else None

        node.ops = 0 if node.macs or out is None else _layer_ops(m, rule, x, out, len(ins))
        for p in m.parameters():
            if id(p) not in self.counted:
                self.counted.add(id(p))
                node.params += p.numel()
                node.trainable += p.numel() if p.requires_grad else 0
        node.memory = sum(self._memory(o, ins) for o in outs)
        node.wdepth = max((r.wdepth for r in recs), default=0) + (1 if node.macs else 0)
        self.nodes.append(node)
        for o in outs:
            self._register(o, len(self.nodes) - 1, node.geo, node.wdepth)

    def _size_of(self, rec: _Rec) -> Size:
        if rec.node == -1:
            return _spatial(self.keep[0])
        shape = self.nodes[rec.node].out_shape
        return (shape[-2], shape[-1]) if shape is not None and len(shape) == 3 else None

    # -- a functional op -----------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.busy or self.skip:
            return out
        outs = list(_tensors(out))
        if not outs:
            return out
        self.busy += 1
        try:
            self._op_node(func, args, kwargs, outs)
        finally:
            self.busy -= 1
        return out

    def _op_node(self, func: Any, args: tuple, kwargs: dict, outs: list[Tensor]) -> None:
        ins, recs = self._inputs((args, kwargs))
        if not recs:
            return  # made from constants only (zeros, a parameter view): not part of the data flow
        name = _op_name(func)
        x, out = ins[0], outs[0]
        n_in, n_out = _spatial(x), _spatial(out)
        rule: Rule = Unknown(n_out)
        macs = ops = 0
        node = Node(name, f"{name}()", rule, [r.node for r in recs], tuple(x.shape[1:]),
                    tuple(out.shape[1:]), None, 0, functional=True)
        if name in ("conv1d", "conv2d", "conv3d"):
            w = _arg(args, kwargs, 1, "weight", None)
            macs = w.numel() * math.prod(out.shape[2:])
            if n_in and n_out:
                k = (int(w.shape[-2]), int(w.shape[-1]))
                d = _pair(_arg(args, kwargs, 5, "dilation", 1))
                rule = Window(k, _pair(_arg(args, kwargs, 3, "stride", 1)),
                              _padding(_arg(args, kwargs, 4, "padding", 0), k, d), d)
                node.groups = int(_arg(args, kwargs, 6, "groups", 1))
        elif name in ("max_pool2d", "avg_pool2d", "lp_pool2d") and n_in and n_out:
            off = 1 if name == "lp_pool2d" else 0  # lp_pool2d(input, norm_type, kernel_size, ...)
            k = _pair(_arg(args, kwargs, 1 + off, "kernel_size", 1))
            s = _arg(args, kwargs, 2 + off, "stride", None)
            if name == "max_pool2d":
                d = _pair(_arg(args, kwargs, 4, "dilation", 1))
                ceil = bool(_arg(args, kwargs, 5, "ceil_mode", False))
                p = _pair(_arg(args, kwargs, 3, "padding", 0))
            else:
                d, p = (1, 1), _pair(_arg(args, kwargs, 3, "padding", 0)) if not off else (0, 0)
                ceil = bool(_arg(args, kwargs, 4 + off, "ceil_mode", False))
            rule = Window(k, _pair(s) if s not in (None, (), []) else k, p, d, ceil, pooling=True)
            node.ceil_mode = ceil
            ops = out.numel() * k[0] * k[1]
        elif name in ("adaptive_avg_pool2d", "adaptive_max_pool2d") and n_in and n_out:
            o = _arg(args, kwargs, 1, "output_size", 1)
            o = o if isinstance(o, (tuple, list)) else (o, o)
            rule = Adaptive(tuple(None if v is None else int(v) for v in o))  # type: ignore[arg-type]
            ops = x.numel()
        elif name in ("linear", "matmul", "mm", "bmm", "addmm"):
            a = ins[1] if name == "addmm" and len(ins) > 1 else x
            w = _arg(args, kwargs, 1, "weight", None) if name == "linear" else None
            macs = (w.numel() * math.prod(out.shape[1:-1]) if isinstance(w, Tensor)
                    else int(a.shape[-1]) * out.numel())
            rule = Merge() if n_out is None else Rule()
            if x.dim() == 2:
                node.arithmetic = f"{x.shape[-1]} -> {out.shape[-1]}"
        elif name == "getitem" and n_in and n_out:
            rule = _slice_rule(args[1] if len(args) > 1 else None, n_in, n_out)
        elif name == "pad" and n_in and n_out:
            pad = list(_arg(args, kwargs, 1, "pad", ())) + [0, 0, 0, 0]
            rule = Pad((int(pad[2]), int(pad[0])), (int(pad[3]), int(pad[1])))
        elif n_in is not None and n_out is None:
            if name in ("flatten", "view", "reshape") and out.dim() >= 2 and out.shape[0] == x.shape[0]:
                rule = Flatten()
                name = "flatten"
                node.arithmetic = f"{'x'.join(map(str, x.shape[1:]))} -> {out.shape[-1]}"
            else:
                rule = Merge(spatial=True)  # a reduction over the map (x.mean((2, 3)))
        elif n_in == n_out or (n_in is None and n_out is None):
            rule = Rule()
            if name in ("cat", "concat", "concatenate", "stack"):
                node.sources = node.inputs
                dim = _arg(args, kwargs, 1, "dim", 0)
                dim = dim if dim >= 0 else out.dim() + dim
                if name != "stack":
                    widths = [str(t.shape[dim]) for t in _tensors(args[0])]
                    node.arithmetic = f"{' + '.join(widths)} = {out.shape[dim]}"
            elif name in ("add", "sub") and len(recs) > 1:
                node.sources = node.inputs
            if name in _ELEMENTWISE_OPS:
                ops = out.numel()
            elif name == "local_response_norm":
                ops = out.numel() * (int(_arg(args, kwargs, 1, "size", 5)) + 2)
        node.rule = rule
        if isinstance(rule, Window) and n_in:
            node.kernel, node.stride, node.padding, node.dilation = rule.k, rule.s, rule.p, rule.d
            node.arithmetic = rule.arithmetic(n_in)
        elif isinstance(rule, Adaptive) and n_in:
            node.arithmetic = rule.arithmetic(n_in)
        node.name, node.type = name, f"{name}()"
        node.geo = rule.geo([r.geo for r in recs], [self._size_of(r) for r in recs])
        node.macs, node.ops = macs, ops
        node.memory = sum(self._memory(o, ins) for o in outs)
        node.wdepth = max(r.wdepth for r in recs) + (1 if macs else 0)
        inside_layer = any(self.calls[i].leaf for i in self.stack)
        node.row = not inside_layer and name in _ROW_OPS
        parent = self.calls[self.stack[-1]] if self.stack else None
        node.calls = tuple(self.stack)
        if parent is not None:
            key = (self.stack[-1], name)
            count = self.op_counts[key] = self.op_counts.get(key, 0) + 1
            node.name = f"{parent.name}.{name}" if parent.name else name
            if count > 1:
                node.name += f"#{count}"
            parent.internal_macs += macs
        self.nodes.append(node)
        for o in outs:
            self._register(o, len(self.nodes) - 1, node.geo, node.wdepth)


def m_is_free(m: nn.Module) -> bool:
    """A layer without parameters (a reshape-like step)."""
    return next(m.parameters(), None) is None


def _slice_rule(index: Any, n_in: Pair, n_out: Pair) -> Rule:
    """x[..., a::s, b::t] on the spatial axes; anything else that changes the map is Unknown."""
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (4 - len(index) + 1) + index[at + 1:]
    index = tuple(index) + (slice(None),) * (4 - len(index))
    first, step = [], []
    for a, i in enumerate(index[2:4]):
        if not isinstance(i, slice) or (i.stop is not None and i.stop < n_in[a]):
            return Unknown(n_out)
        first.append(i.start or 0)
        step.append(i.step or 1)
    rule = Slice(tuple(first), tuple(step))  # type: ignore[arg-type]
    return rule if rule.size([n_in]) == n_out else Unknown(n_out)


def _layer_ops(m: nn.Module, rule: Rule, x: Tensor | None, out: Tensor, n_inputs: int) -> int:
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
