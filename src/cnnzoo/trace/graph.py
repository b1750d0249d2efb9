"""The recorder: one forward pass as a graph of every layer call and every functional op, with
the tensors that flow between them, their shapes, costs and receptive fields.

Module hooks see the layers; a TorchFunctionMode sees the tensor operations that happen outside
a layer (`x + y` in a block's forward, `torch.flatten`, a slice, `x.transpose(2, 3)`), so nothing
is invisible. Edges are found by tensor identity (a dict keyed by `id()`, the tensors kept alive
for the pass), never by storage pointer: a view or transpose is a node of its own, not its input
reshaped. Tensor version counters tell when a later in-place op overwrote a recorded value.

What a step is made of is read by two tables: ops.py for functional ops, modules.py for layers.
Layers of a known type are one node each; the ops inside a layer of unknown type are recorded too
(not shown as summary rows) and the layer is a node whose inputs are the layer's inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..errors import CnnzooError, UnknownNameError, close_matches
from .geometry import Geo, Pair
from .modules import LayerCall, known, layer_macs, layer_ops, read_layer
from .ops import CONSTANT_OPS, ROW_OPS, OpCall, op_name, read_op, spatial, tensors
from .records import Call, Node, Port, Reading, Replay
from .rules import Adaptive, Size, Unknown, Window


@dataclass
class _Rec:
    """What the recorder knows of a live tensor: the node (and output) that made it."""

    node: int
    geo: Geo | None
    weighted_depth: int
    port: int = 0


class Graph(TorchFunctionMode):
    """One recorded forward pass of `model`: `nodes` (layers and functional ops, in execution
    order) and `replays` (the same steps as a walk back down needs them), `calls` (every module
    call, containers too), `input` and `result` (the model's output). Made by `record()`; the
    recording machinery is hooks on every module plus this function mode, live only during
    `run()`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.nodes: list[Node] = []
        self.replays: list[Replay] = []
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
    def _register(self, t: Tensor, node: int, geo: Geo | None, depth: int, port: int = 0) -> None:
        self.info[id(t)] = _Rec(node, geo, depth, port)
        self.keep.append(t)

    def _inputs(self, obj: Any) -> tuple[list[Tensor], list[_Rec]]:
        ts = [t for t in tensors(obj) if id(t) in self.info]
        return ts, [self.info[id(t)] for t in ts]

    def _memory(self, out: Tensor, ins: list[Tensor]) -> int:
        if any(out is t for t in ins) or out._base is not None:  # the same tensor, or a view
            return 0
        return out.numel() * out.element_size()

    def _size_of(self, rec: _Rec) -> Size:
        if rec.node == -1:
            return spatial(self.keep[0])
        shape = self.nodes[rec.node].output_shape
        return (shape[-2], shape[-1]) if shape is not None and len(shape) == 3 else None

    def _add(self, node: Node, replay: Replay, found: Reading, n_in: Size, recs: list[_Rec],
             outs: list[Tensor]) -> None:
        """Complete `node` from its reading (n_in: the map size of its first input) and append
        it: the window columns, the receptive field, the memory and depth; its outputs become
        recorded tensors."""
        rule = node.rule = found.rule
        if isinstance(rule, Window):
            node.kernel, node.stride, node.padding, node.dilation = rule.k, rule.s, rule.p, rule.d
            node.ceil_mode = rule.ceil if rule.pooling else None
        if isinstance(rule, (Window, Adaptive)) and n_in is not None:
            node.arithmetic = rule.arithmetic(n_in)
        elif found.arithmetic:
            node.arithmetic = found.arithmetic
        node.groups = found.groups
        if found.branches:
            node.sources = node.inputs
        node.geo = rule.geo([r.geo for r in recs], [self._size_of(r) for r in recs]) if recs else None
        node.memory = sum(self._memory(o, replay.tensors) for o in outs)
        node.weighted_depth = max((r.weighted_depth for r in recs), default=0) + (1 if node.macs else 0)
        replay.outputs = outs
        replay.out_versions = [o._version for o in outs]
        self.nodes.append(node)
        self.replays.append(replay)
        for port, o in enumerate(outs):
            self._register(o, len(self.nodes) - 1, node.geo, node.weighted_depth, port)

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
            is_known = leaf and known(module)
            depth = len(name.split(".")) if name else 0
            x = next(tensors((args, kwargs)), None)
            self.calls.append(Call(name, type(module).__name__, depth, leaf, is_known, len(self.nodes),
                                   in_shape=tuple(x.shape[1:]) if x is not None else None,
                                   ancestors=tuple(self.stack), module_name=own,
                                   versions={id(t): t._version for t in tensors((args, kwargs))}))
            if self.stack:
                self.calls[self.stack[-1]].child_calls += 1
            self.stack.append(len(self.calls) - 1)
            self.called.add(id(module))
            if is_known:
                self.skip += 1
        finally:
            self.busy -= 1

    def _post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        self.busy += 1
        try:
            call = self.calls[self.stack.pop()]
            if call.known:
                self.skip -= 1
            if call.child_calls == 0:
                self._layer_node(call, module, (args, kwargs), output)
            outs = list(tensors(output))
            if outs and id(outs[0]) in self.info:
                rec = self.info[id(outs[0])]
                call.geo, call.weighted_depth = rec.geo, rec.weighted_depth
                call.producer = (rec.node, rec.port)
            call.output = outs[0] if outs else None
            call.out_shape = tuple(outs[0].shape[1:]) if outs else None
        finally:
            self.busy -= 1

    # -- a layer -------------------------------------------------------------------------------
    def _layer_node(self, call: Call, m: nn.Module, inputs: Any, output: Any) -> None:
        ins, recs = self._inputs(inputs)
        outs = list(tensors(output))
        x = ins[0] if ins else next(tensors(inputs), None)
        out = outs[0] if outs else None
        # ops traced inside this layer (a layer of unknown type) are folded into its row
        internal = self.nodes[call.first_node:]
        for inner in internal:
            inner.row = False
        node = Node(name=call.name or type(m).__name__, type=call.type,
                    input_shape=tuple(x.shape[1:]) if x is not None else None,
                    output_shape=tuple(out.shape[1:]) if out is not None else None,
                    inputs=[r.node for r in recs], calls=call.ancestors)
        replay = Replay(module=m, tensors=ins, feeds=[(r.node, r.port) for r in recs],
                        in_versions=[call.versions.get(id(t), t._version) for t in ins])
        for p in m.parameters():
            if id(p) not in self.counted:
                self.counted.add(id(p))
                node.params += p.numel()
        if out is None:
            self._add(node, replay, Reading(Unknown(None)), None, recs, outs)
            return
        # multiply-accumulates first: they decide whether a 2-d layer mixes its features
        node.macs = layer_macs(m, call.known, x, out, sum(inner.macs for inner in internal))
        layer = LayerCall(m, call, inputs, ins, x, out, node.macs, id(out) in self.info)
        found = read_layer(layer)
        if found.through:  # the layer is the internal op that made its output
            node.inputs = [self.info[id(out)].node]
            recs = [self.info[id(out)]]
        node.ops = 0 if node.macs else layer_ops(m, found.rule, x, out, len(ins))
        self._add(node, replay, found, layer.n_in, recs, outs)

    # -- a functional op -----------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.busy or self.skip:
            return func(*args, **kwargs)
        versions = {id(t): t._version for t in tensors((args, kwargs)) if id(t) in self.info}
        out = func(*args, **kwargs)
        outs = list(tensors(out))
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
        op = op_name(func)
        if op in CONSTANT_OPS:
            return
        ins, recs = self._inputs((args, kwargs))
        found = read_op(OpCall(op, args, kwargs, ins, outs))
        name = found.name or op
        node = Node(name=name, type=f"{name}()", input_shape=tuple(ins[0].shape[1:]),
                    output_shape=tuple(outs[0].shape[1:]), functional=True,
                    inputs=[r.node for r in recs], macs=found.macs, ops=found.ops,
                    row=not any(self.calls[i].leaf for i in self.stack) and name in ROW_OPS,
                    calls=tuple(self.stack))
        replay = Replay(op=op, func=func, args=args, kwargs=kwargs, tensors=ins,
                        feeds=[(r.node, r.port) for r in recs],
                        in_versions=[versions.get(id(t), t._version) for t in ins])
        if self.stack:  # named inside the module whose forward ran it: layer1.0.add#2
            parent = self.calls[self.stack[-1]]
            key = (self.stack[-1], name)
            count = self.op_counts[key] = self.op_counts.get(key, 0) + 1
            node.name = f"{parent.name}.{name}" if parent.name else name
            if count > 1:
                node.name += f"#{count}"
        self._add(node, replay, found, spatial(ins[0]), recs, outs)

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
        if found is not None and found[0] >= 0 and not self.replays[found[0]].output_intact(found[1]):
            made = self.replays[found[0]].outputs[found[1]]
            later = next((self.nodes[i].name for i in range(found[0] + 1, len(self.nodes))
                          if any(t is made for t in self.replays[i].tensors)), "a later layer")
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


def simulate(nodes: list[Node], hw: Pair) -> tuple[int, tuple[int, int], list] | None:
    """Recompute every node's map size for an input of hw (no forward pass). Returns the first
    node whose map falls below 1x1, as (index, its size, its input sizes), or None."""
    sizes: list = []
    for i, node in enumerate(nodes):
        ins = [hw if j == -1 else sizes[j] for j in node.inputs]
        out = node.rule.size(ins) if ins or isinstance(node.rule, Unknown) else None
        sizes.append(out)
        if out is not None and min(out) < 1:
            return i, out, ins
    return None


def unknown_layer_message(model: nn.Module, layer: str, valid: list[str]) -> str:
    name = getattr(model, "zoo_name", type(model).__name__)
    shown = ", ".join(valid[:80]) + (f", ... ({len(valid) - 80} more)" if len(valid) > 80 else "")
    return f"{name} has no layer {layer!r}.{close_matches(layer, valid)} Valid layers: {shown}."


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule, in definition order (what --layer accepts, before a forward)."""
    return [n for n, _ in model.named_modules() if n]
