"""One forward pass, recorded as a graph: every layer call and every functional op, with the
tensors that flow between them, their shapes, costs and receptive fields.

This is the one recorder of the project: the summary (analysis/summary.py) reads its shapes,
costs and geometry; DeconvNet and the visual tools (visualize/) walk it back down from a layer to
the input. Module hooks see the layers; a TorchFunctionMode sees the tensor operations that happen
outside a layer (`x + y` in a block's forward, `torch.flatten`, a slice, `x.transpose(2, 3)`), so
nothing is invisible. Edges are found by tensor identity (a dict keyed by `id()`, the tensors kept
alive for the pass), never by storage pointer: a view or transpose is a node of its own, not its
input reshaped. Tensor version counters tell when a later in-place op overwrote a recorded value.

Every tensor-producing step becomes a `Node` with a spatial `Rule`, so the output sizes can be
recomputed for another input size without running the model (the too-small-input diagnosis), and
every node knows its receptive field (`analysis/geometry.py`, the one geometry).

Layers of a known type (conv, pooling, normalisation, activations, linear, cnnzoo's Add and
Concat, and layers that declare `kernel_size` and `stride`) are one node each; the ops inside a
layer of unknown type are recorded too (not shown as summary rows) and the layer is a node whose
inputs are the layer's inputs.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from . import layers as zoo_layers
from .analysis.geometry import Geo, Pair, adaptive_window, union, window_arithmetic, window_size
from .errors import CnnzooError, UnknownNameError, close_matches

Size = tuple[int, int] | None  # spatial size of a 4-d tensor, None for a tensor without one
Port = tuple[int, int]  # (node index, output index); node -1 is the model input


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
    """A sliding window (convolution, pooling). p pads the start of each axis, p_end its end
    (None: the same as p; they differ for padding="same" with an even kernel)."""

    k: Pair
    s: Pair
    p: Pair
    d: Pair = (1, 1)
    ceil: bool = False
    pooling: bool = False
    p_end: Pair | None = None

    def _end(self, a: int) -> int:
        return self.p[a] if self.p_end is None else self.p_end[a]

    def size(self, ins: list[Size]) -> Size:
        n = ins[0]
        if n is None:
            return None
        return tuple(window_size(n[a], self.k[a], self.s[a], self.p[a], self.d[a], self.ceil,
                                 self._end(a)) for a in range(2))  # type: ignore[return-value]

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].window(self.k, self.s, self.p, self.d)

    def arithmetic(self, n: Pair) -> str:
        parts = [window_arithmetic(n[a], self.k[a], self.s[a], self.p[a], self.d[a], self.ceil,
                                   rounding=self.pooling, p_end=self._end(a)) for a in range(2)]
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
        return tuple(max(0, -(-(n[a] - self.first[a]) // self.step[a])) for a in range(2))

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].slice(self.first, self.step)


@dataclass(frozen=True)
class Pad(Rule):
    before: Pair
    after: Pair

    def size(self, ins):
        n = ins[0]
        return None if n is None else tuple(n[a] + self.before[a] + self.after[a] for a in range(2))

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].pad(self.before)


@dataclass(frozen=True)
class SwapHW(Rule):
    """A transpose of the two spatial axes (x.transpose(2, 3), x.permute(0, 1, 3, 2))."""

    def size(self, ins):
        return None if ins[0] is None else (ins[0][1], ins[0][0])

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].swap()


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
    inputs: list[int]  # producer node indices (-1: the model input), for the geometry
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
    # what a walk back down needs: the op itself and the tensors, by identity
    module: nn.Module | None = None  # the layer (None for a functional op)
    op: str = ""  # the functional op's name ("transpose", "add", ...)
    func: Any = None  # the functional op, with its arguments, to replay it
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    tensors: list[Tensor] = field(default_factory=list)  # the recorded inputs, in argument order
    feeds: list[Port] = field(default_factory=list)  # where each of `tensors` came from
    in_versions: list[int] = field(default_factory=list)  # their version counters at the call
    outputs: list[Tensor] = field(default_factory=list)
    out_versions: list[int] = field(default_factory=list)

    def inputs_intact(self) -> bool:
        """False when an in-place op after this node changed one of its inputs."""
        return all(t._version == v for t, v in zip(self.tensors, self.in_versions))


@dataclass
class Call:
    """A module call in progress or done (containers are kept for --depth and layer outputs)."""

    name: str  # with '#2', '#3' for repeated calls of one module
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
    module_name: str = ""  # the module's own name (state_dict path)
    versions: dict[int, int] = field(default_factory=dict)  # id(input) -> version at the call
    output: Tensor | None = None  # the first tensor of the output
    producer: Port | None = None  # the node (and output) that made it


@dataclass
class _Rec:
    node: int
    geo: Geo | None
    wdepth: int
    port: int = 0


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


def _padding(p: Any, k: Pair, d: Pair) -> tuple[Pair, Pair | None]:
    """(padding at the start, at the end or None when the same) of each spatial axis.

    padding="same" pads d*(k-1) in all and PyTorch puts the odd pixel at the end."""
    if isinstance(p, str):
        if p == "valid":
            return (0, 0), None
        total = tuple(d[a] * (k[a] - 1) for a in range(2))
        before = tuple(t // 2 for t in total)
        after = tuple(t - t // 2 for t in total)
        return before, (after if after != before else None)  # type: ignore[return-value]
    return _pair(p), None


def window_of_module(m: nn.Module) -> Window:
    """The sliding-window rule of a conv or pooling layer (or a layer declaring kernel_size and
    stride), with its string, tuple or int padding, dilation and ceil mode."""
    k = _pair(m.kernel_size)
    s = _pair(m.stride if m.stride not in (None, ()) else m.kernel_size)
    d = _pair(getattr(m, "dilation", 1))
    p, p_end = _padding(getattr(m, "padding", 0), k, d)
    return Window(k, s, p, d, bool(getattr(m, "ceil_mode", False)), isinstance(m, _WINDOW_POOLS),
                  p_end)


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
    if name in ("isub", "rsub"):
        return "sub" if name == "isub" else "rsub"
    if name in ("itruediv", "truediv"):
        return "div"
    if name.endswith("_with_indices"):
        name = name[: -len("_with_indices")]
    return name.rstrip("_")


# functional ops that become rows when they run in a container's forward (not inside a layer)
_ROW_OPS = {"conv1d", "conv2d", "conv3d", "linear", "matmul", "mm", "bmm", "addmm", "max_pool2d",
            "avg_pool2d", "lp_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "add", "sub",
            "mul", "div", "cat", "concat", "concatenate", "stack", "flatten", "pad", "relu", "tanh",
            "sigmoid", "gelu", "hardtanh", "dropout", "batch_norm", "local_response_norm",
            "softmax", "log_softmax", "mean", "transpose", "permute", "swapaxes", "swapdims", "t",
            "flip", "roll", "interpolate", "upsample", "pixel_shuffle"}
_ELEMENTWISE_OPS = {"add", "sub", "mul", "div", "relu", "tanh", "sigmoid", "gelu", "hardtanh",
                    "batch_norm", "softmax", "log_softmax"}
# ops that keep every map position where it is (elementwise, per-position across channels, copies)
_POINTWISE_OPS = _ELEMENTWISE_OPS | {
    "rsub", "neg", "abs", "pow", "sqrt", "rsqrt", "exp", "log", "square", "clamp", "clip",
    "maximum", "minimum", "where", "true_divide", "addcmul", "addcdiv", "sign", "floor", "ceil",
    "round", "leaky_relu", "elu", "selu", "celu", "silu", "mish", "relu6", "hardswish",
    "hardsigmoid", "softplus", "prelu", "rrelu", "threshold", "logsigmoid", "dropout", "dropout2d",
    "alpha_dropout", "feature_alpha_dropout", "local_response_norm", "contiguous", "clone",
    "detach", "to", "float", "double", "half", "bfloat16", "type", "type_as", "cat", "concat",
    "concatenate", "stack"}
# ops whose result does not depend on the data (x.new_zeros(...), torch.zeros_like(x)): constants
_CONSTANT_OPS = {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "zeros_like",
                 "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "randint_like"}


def _dims(args: tuple, kwargs: dict, ndim: int, name: str) -> list[int] | None:
    """The permutation a transpose/permute applies to the axes of an ndim tensor."""
    order = list(range(ndim))
    try:
        if name in ("transpose", "swapaxes", "swapdims"):
            a = int(_arg(args, kwargs, 1, "dim0", 0)) % ndim
            b = int(_arg(args, kwargs, 2, "dim1", 1)) % ndim
            order[a], order[b] = order[b], order[a]
            return order
        if name == "permute":
            dims = args[1:] if len(args) > 2 or not isinstance(_arg(args, kwargs, 1, "dims", 0),
                                                               (list, tuple)) else args[1]
            dims = kwargs.get("dims", dims)
            return [int(d) % ndim for d in dims]
    except (TypeError, ValueError, IndexError):
        return None
    return None


class Graph(TorchFunctionMode):
    """One recorded forward pass of `model`: `nodes` (layers and functional ops, in execution
    order), `calls` (every module call, containers too), `input` and `result` (the model's
    output). Made by `record()`; the recording machinery is hooks on every module plus this
    function mode, live only during `run()`."""

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
        self.input: Tensor | None = None
        self.result: Any = None
        self._by_name: dict[str, int] = {}  # module name -> its last call

    # -- bookkeeping ---------------------------------------------------------------------------
    def _register(self, t: Tensor, node: int, geo: Geo | None, wdepth: int, port: int = 0) -> None:
        self.info[id(t)] = _Rec(node, geo, wdepth, port)
        self.keep.append(t)

    def _inputs(self, obj: Any) -> tuple[list[Tensor], list[_Rec]]:
        ts = [t for t in _tensors(obj) if id(t) in self.info]
        return ts, [self.info[id(t)] for t in ts]

    def _memory(self, out: Tensor, ins: list[Tensor]) -> int:
        if any(out is t for t in ins) or out._base is not None:  # the same tensor, or a view
            return 0
        return out.numel() * out.element_size()

    def _outputs(self, node: Node, outs: list[Tensor]) -> None:
        node.outputs = outs
        node.out_versions = [o._version for o in outs]
        self.nodes.append(node)
        for port, o in enumerate(outs):
            self._register(o, len(self.nodes) - 1, node.geo, node.wdepth, port)

    # -- running -------------------------------------------------------------------------------
    def run(self, x: Tensor) -> Any:
        """Run `model(x)` once, recording it (no gradients; the model's mode is left as is)."""
        handles = []
        for m in self.model.modules():
            handles.append(m.register_forward_pre_hook(self._pre, with_kwargs=True))
            handles.append(m.register_forward_hook(self._post, with_kwargs=True))
        self.input = x
        self._register(x, -1, Geo(), 0)
        try:
            with self, torch.no_grad():
                self.result = self.model(x)
            return self.result
        except BaseException:
            self.failed_in = [self.calls[i].name for i in self.stack]
            raise
        finally:
            for h in handles:
                h.remove()
            self._by_name = {c.module_name: i for i, c in enumerate(self.calls) if c.module_name}

    def _pre(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.busy += 1
        try:
            n = self.times_called[id(module)] = self.times_called.get(id(module), 0) + 1
            own = self.names.get(id(module), type(module).__name__)
            name = f"{own}#{n}" if n > 1 else own
            leaf = next(module.children(), None) is None
            known = leaf and _known(module)
            depth = len(name.split(".")) if name else 0
            x = next(_tensors((args, kwargs)), None)
            self.calls.append(Call(name, type(module).__name__, depth, leaf, known, len(self.nodes),
                                   in_shape=tuple(x.shape[1:]) if x is not None else None,
                                   ancestors=tuple(self.stack), module_name=own,
                                   versions={id(t): t._version for t in _tensors((args, kwargs))}))
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
                call.producer = (rec.node, rec.port)
            call.output = outs[0] if outs else None
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
                    calls=call.ancestors, module=m, tensors=ins,
                    feeds=[(r.node, r.port) for r in recs],
                    in_versions=[call.versions.get(id(t), t._version) for t in ins])
        # multiply-accumulates first: they decide whether a 2-d layer mixes its features
        zoo_macs = getattr(m, "zoo_macs", None)  # a layer that counts its own (protocols.py)
        if out is None:
            pass
        elif callable(zoo_macs):
            node.macs = int(zoo_macs(out))
        elif isinstance(m, nn.modules.conv._ConvNd):
            space = (x if m.transposed and x is not None else out).shape[2:]
            node.macs = m.weight.numel() * math.prod(space)
        elif isinstance(m, (nn.Linear, nn.Bilinear)):
            node.macs = m.weight.numel() * math.prod(out.shape[1:-1])
        elif not call.known:
            node.macs = internal_macs
        rule: Rule
        if out is None:
            rule = Unknown(None)
        elif _is_window(m) and n_in is not None and n_out is not None:
            rule = window_of_module(m)
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
        elif x is not None and n_in is not None and n_out is None and (isinstance(m, nn.Flatten) or (
                not node.macs and m_is_free(m) and out.dim() == 2)):
            rule = Flatten()
            node.arithmetic = f"{'x'.join(map(str, x.shape[1:]))} = {out.shape[-1]}"
        elif n_in is not None and n_out is None:
            rule = Merge(spatial=True)
        elif n_in is None and n_out is None and node.macs:
            rule = Merge()  # Linear (or RBF units): reads every feature, so every map position
            if x is not None and x.dim() == 2:
                node.arithmetic = f"{x.shape[-1]} -> {out.shape[-1]}"
        elif n_in == n_out and (call.known or n_in is None):
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
        self._outputs(node, outs)

    def _size_of(self, rec: _Rec) -> Size:
        if rec.node == -1:
            return _spatial(self.keep[0])
        shape = self.nodes[rec.node].out_shape
        return (shape[-2], shape[-1]) if shape is not None and len(shape) == 3 else None

    # -- a functional op -----------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.busy or self.skip:
            return func(*args, **kwargs)
        versions = {id(t): t._version for t in _tensors((args, kwargs)) if id(t) in self.info}
        out = func(*args, **kwargs)
        outs = list(_tensors(out))
        if not outs or not versions:
            return out  # made from constants only (zeros, a parameter view): not in the data flow
        self.busy += 1
        try:
            self._op_node(func, args, kwargs, outs, versions)
        finally:
            self.busy -= 1
        return out

    def _op_node(self, func: Any, args: tuple, kwargs: dict, outs: list[Tensor],
                 versions: dict[int, int]) -> None:
        name = _op_name(func)
        if name in _CONSTANT_OPS:
            return
        ins, recs = self._inputs((args, kwargs))
        x, out = ins[0], outs[0]
        n_in, n_out = _spatial(x), _spatial(out)
        rule: Rule = Unknown(n_out)
        macs = ops = 0
        node = Node(name, f"{name}()", rule, [r.node for r in recs], tuple(x.shape[1:]),
                    tuple(out.shape[1:]), None, 0, functional=True, op=name, func=func,
                    args=args, kwargs=kwargs, tensors=ins, feeds=[(r.node, r.port) for r in recs],
                    in_versions=[versions.get(id(t), t._version) for t in ins])
        if name in ("conv1d", "conv2d", "conv3d"):
            w = _arg(args, kwargs, 1, "weight", None)
            macs = w.numel() * math.prod(out.shape[2:])
            if n_in and n_out:
                k = (int(w.shape[-2]), int(w.shape[-1]))
                d = _pair(_arg(args, kwargs, 5, "dilation", 1))
                p, p_end = _padding(_arg(args, kwargs, 4, "padding", 0), k, d)
                rule = Window(k, _pair(_arg(args, kwargs, 3, "stride", 1)), p, d, p_end=p_end)
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
            rule = Merge() if n_out is None else Unknown(n_out)
            if x.dim() == 2:
                node.arithmetic = f"{x.shape[-1]} -> {out.shape[-1]}"
        elif name == "getitem" and n_in and n_out:
            rule = _slice_rule(args[1] if len(args) > 1 else None, n_in, n_out)
        elif name == "pad" and n_in and n_out:
            pad = list(_arg(args, kwargs, 1, "pad", ())) + [0, 0, 0, 0]
            rule = Pad((int(pad[2]), int(pad[0])), (int(pad[3]), int(pad[1])))
        elif name in ("transpose", "swapaxes", "swapdims", "permute") and n_in:
            order = _dims(args, kwargs, x.dim(), name)
            if order == [0, 1, 3, 2]:
                rule = SwapHW()
            elif order == [0, 1, 2, 3]:
                rule = Rule()
        elif n_in is not None and n_out is None:
            if name in ("flatten", "view", "reshape") and out.dim() >= 2 and out.shape[0] == x.shape[0]:
                rule = Flatten()
                name = "flatten"
                node.arithmetic = f"{'x'.join(map(str, x.shape[1:]))} -> {out.shape[-1]}"
            elif name in ("mean", "sum", "amax", "max") and out.dim() >= 1 and out.shape[0] == x.shape[0]:
                rule = Merge(spatial=True)  # a reduction over the map (x.mean((2, 3)))
        elif (n_in == n_out and n_in is not None and (name in _POINTWISE_OPS or (
                name in ("view", "reshape") and out.shape == x.shape))) or (n_in is None and n_out is None):
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
        self._outputs(node, outs)

    # -- reading the graph -------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        """Every module that ran, in definition order (what `--layer` accepts)."""
        return [n for n, m in self.model.named_modules() if n and id(m) in self.called]

    def call(self, layer: str) -> Call:
        """The (last) call of the module named `layer`; unknown names raise UnknownNameError
        listing the valid ones."""
        index = self._by_name.get(layer) if layer else None
        if index is None or self.calls[index].output is None:
            raise UnknownNameError(unknown_layer_message(self.model, layer, self.layer_names()))
        return self.calls[index]

    def producer(self, layer: str) -> Port | None:
        """The node (and output) that computed `layer`'s output; None when it is the input."""
        return self.call(layer).producer

    def output(self, layer: str) -> Tensor:
        """The output of a layer (leaf or container), as recorded.

        Raises CnnzooError when a later in-place op (ReLU(inplace=True)) overwrote it."""
        call = self.call(layer)
        found = call.producer
        if found is not None and found[0] >= 0:
            node = self.nodes[found[0]]
            if node.outputs[found[1]]._version != node.out_versions[found[1]]:
                later = next((n.name for n in self.nodes[found[0] + 1:]
                              if any(t is node.outputs[found[1]] for t in n.tensors)), "a later layer")
                raise CnnzooError(
                    f"the output of {layer!r} is overwritten in place by {later!r} (e.g. "
                    "ReLU(inplace=True)): choose that layer, or build the model with inplace=False")
        assert call.output is not None
        return call.output


def record(model: nn.Module, x: Tensor, *, train: bool = False) -> Graph:
    """Run `model(x)` once in eval mode (training mode with train=True), recording it as a Graph;
    the model's modes are restored after. `graph.result` is what the model returned."""
    modes = [m.training for m in model.modules()]
    model.train(train)
    graph = Graph(model)
    try:
        graph.run(x)
    finally:
        for m, mode in zip(model.modules(), modes):
            m.training = mode
    return graph


def unknown_layer_message(model: nn.Module, layer: str, valid: list[str]) -> str:
    name = getattr(model, "zoo_name", type(model).__name__)
    shown = ", ".join(valid[:80]) + (f", ... ({len(valid) - 80} more)" if len(valid) > 80 else "")
    return f"{name} has no layer {layer!r}.{close_matches(layer, valid)} Valid layers: {shown}."


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule, in definition order (what --layer accepts, before a forward)."""
    return [n for n, _ in model.named_modules() if n]


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
