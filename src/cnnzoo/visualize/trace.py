"""Record one forward pass as a graph of module calls, so tools can walk it back down.

Every leaf module (a module without children: Conv2d, ReLU, MaxPool2d, LRN, layers.Add,
layers.Concat, ...) is a node; edges are found by tensor identity: a call's input is the output of
an earlier call (or the model's input). A container's name (``layer1.0``, ``inception3a``,
``features``) names the output of the leaf that produced it. This works for any model whose
forward is a composition of modules, which the cnnzoo contract guarantees (activations, pools,
flatten, additions and concatenations are modules). A functional op between modules (``x + y``,
``torch.cat``, slicing) cannot be followed: walking through it raises one clear line.

Views are followed: an input that shares storage and size with an earlier output (``x.view(n,
-1)``, ``torch.flatten``) is that output reshaped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..errors import CnnzooError, UnknownNameError, close_matches


# modules that hand back their input unchanged in eval mode, even when built with inplace=True
_IDENTITY = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)


@dataclass
class Call:
    """One call of a leaf module during the recorded forward pass."""

    index: int
    name: str
    module: nn.Module
    inputs: tuple[Tensor, ...]  # the tensor arguments, in order
    output: Tensor  # the first tensor of the output (max-pool with indices returns two)


@dataclass
class Trace:
    """The leaf calls of one forward pass, in execution order, and every layer's output."""

    model: nn.Module
    input: Tensor
    calls: list[Call]
    outputs: dict[str, Tensor]  # layer name (leaf or container) -> its output (last call)
    layer_names: list[str]  # every called module, in definition order
    producer: dict[int, int] = field(default_factory=dict)  # id(tensor) -> call index

    def output(self, layer: str) -> Tensor:
        """The output of a layer; unknown names raise UnknownNameError listing the valid ones."""
        if layer not in self.outputs:
            raise UnknownNameError(unknown_layer_message(self.model, layer, self.layer_names))
        return self.outputs[layer]

    def source(self, t: Tensor) -> tuple[int | None, Tensor] | None:
        """(producing call index or None for the model input, that producer's tensor) for a tensor
        used as a call input; None when it comes from an op outside any module."""
        if t is self.input:
            return None, self.input
        if id(t) in self.producer:
            return self.producer[id(t)], self.calls[self.producer[id(t)]].output
        # a view of a recorded tensor (flatten / view / reshape of a contiguous tensor)
        ptr = t.untyped_storage().data_ptr()
        candidates = [(None, self.input)] + [(c.index, c.output) for c in self.calls]
        for index, out in reversed(candidates):
            if out.untyped_storage().data_ptr() == ptr and out.numel() == t.numel() \
                    and out.storage_offset() == t.storage_offset():
                return index, out
        return None

    def call_for(self, layer: str) -> int:
        """Index of the leaf call whose output is `layer`'s output."""
        out = self.output(layer)
        found = self.source(out)
        if found is None or found[0] is None:
            raise CnnzooError(f"cannot locate the module that computes {layer!r}'s output "
                              "(a functional op outside a module?): choose another layer")
        return found[0]


def unknown_layer_message(model: nn.Module, layer: str, valid: list[str]) -> str:
    name = getattr(model, "zoo_name", type(model).__name__)
    shown = ", ".join(valid[:80]) + (f", ... ({len(valid) - 80} more)" if len(valid) > 80 else "")
    return f"{name} has no layer {layer!r}.{close_matches(layer, valid)} Valid layers: {shown}."


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule, in definition order (what --layer accepts, before a forward)."""
    return [n for n, _ in model.named_modules() if n]


@torch.no_grad()
def record(model: nn.Module, x: Tensor) -> tuple[Trace, Tensor]:
    """Run `model(x)` once in eval mode (restoring its mode after), recording every module call.

    Returns the trace and the model's output (the logits)."""
    calls: list[Call] = []
    outputs: dict[str, Tensor] = {}
    called: set[str] = set()
    producer: dict[int, int] = {}
    handles = []

    def first_tensor(out):
        if isinstance(out, Tensor):
            return out
        if isinstance(out, (tuple, list)):
            return next((o for o in out if isinstance(o, Tensor)), None)
        return None

    def hook(name: str, leaf: bool):
        def fn(module: nn.Module, args: tuple, out) -> None:
            out = first_tensor(out)
            if out is None:
                return
            called.add(name)
            outputs[name] = out
            if leaf:
                inputs = tuple(a for a in args if isinstance(a, Tensor))
                if any(out is a for a in inputs):
                    if getattr(module, "inplace", False) and not isinstance(module, _IDENTITY):
                        raise CnnzooError(
                            f"module {name!r} works in place (e.g. ReLU(inplace=True)), so its "
                            "input is lost: build the model with inplace=False to visualise it")
                    return  # an identity here (dropout in eval): the tensor keeps its producer
                producer[id(out)] = len(calls)
                calls.append(Call(len(calls), name, module, inputs, out))
        return fn

    for name, module in model.named_modules():
        if name:
            leaf = next(module.children(), None) is None
            handles.append(module.register_forward_hook(hook(name, leaf)))
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    names = [n for n in layer_names(model) if n in called]
    return Trace(model, x, calls, outputs, names, producer), logits
