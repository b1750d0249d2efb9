"""BatchNorm folded into the convolution before it, for inference.

In eval mode a BatchNorm after a convolution is an affine map per channel, y = a * conv(x) + b,
so it can be merged into the convolution's weights and bias: one pass over the feature map
instead of two. The network is traced with torch.fx to find the conv -> BatchNorm pairs (a
BatchNorm whose input is a convolution's output and nothing else reads that output); every other
BatchNorm is left as it is.
"""
from __future__ import annotations

import copy

import torch
from torch import fx, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_BATCHNORMS = (nn.BatchNorm2d,)


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """An eval-mode copy of `model` with each conv -> BatchNorm pair merged into one convolution.

    Returns (model, number of BatchNorms folded). The input model is not modified. A model that
    torch.fx cannot trace is returned as an eval-mode copy with 0 folded.
    """
    model = copy.deepcopy(model).eval()
    if not any(isinstance(m, _BATCHNORMS) for m in model.modules()):
        return model, 0
    try:
        traced = _trace(model)
    except Exception:  # data-dependent Python in a forward: keep the BatchNorms
        return model, 0
    modules: dict[str, nn.Module] = dict(traced.named_modules())
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    folded = 0
    for node in list(traced.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], _BATCHNORMS):
            continue
        source = node.args[0]
        if not (isinstance(source, fx.Node) and source.op == "call_module"):
            continue
        conv_name, bn_name = str(source.target), str(node.target)
        if not (type(modules[conv_name]) is nn.Conv2d and len(source.users) == 1
                and calls[conv_name] == 1 and calls[bn_name] == 1):
            continue
        conv, bn = modules[conv_name], modules[bn_name]
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        if bn.running_mean is None or bn.running_var is None:  # batch statistics even in eval
            continue
        fused = fuse_conv_bn_eval(conv, bn)
        _set_module(traced, conv_name, fused)
        node.replace_all_uses_with(source)
        traced.graph.erase_node(node)
        _set_module(traced, bn_name, nn.Identity())
        folded += 1
    traced.graph.lint()
    traced.recompile()
    for attr in ("zoo_name", "zoo_options"):
        if hasattr(model, attr):
            setattr(traced, attr, getattr(model, attr))
    return traced.eval(), folded


def _trace(model: nn.Module) -> fx.GraphModule:
    """torch.fx graph of the model, without the models' Python input-shape checks.

    `check_input(self, x, ...)` branches on the input's shape in Python, which fx cannot record;
    the folded model is only run behind OptimizedModel, which checks the input shape itself.
    """
    patched = []
    for cls in {type(m) for m in model.modules()}:
        scope = getattr(cls.forward, "__globals__", {})
        if "check_input" in scope and scope["check_input"] is not _no_check:
            patched.append((scope, scope["check_input"]))
            scope["check_input"] = _no_check
    try:
        return fx.symbolic_trace(model)
    finally:
        for scope, original in patched:
            scope["check_input"] = original


def _no_check(*args: object, **kwargs: object) -> None:
    return None


def _set_module(root: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


@torch.no_grad()
def randomize_batchnorm(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (in place).

    A freshly built network has mean 0, variance 1, weight 1 and bias 0, so folding it would be
    checked on an identity; tests and benchmarks use this to check folding on real arithmetic.
    """
    g = generator or torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None \
                and m.running_var is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
            if m.affine:
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def calibrate_batchnorm(model: nn.Module, images: torch.Tensor) -> int:
    """Set every BatchNorm's running statistics to those of `images` (one forward in train mode,
    cumulative average), then put the model in eval mode; returns the number of BatchNorms.

    For untrained weights: a fresh network's unit running variances let activations shrink or grow
    layer by layer in eval mode (a fresh resnet1202 overflows to inf; googlenet_tv's activations
    sink into denormal floats, which some kernels compute 10-100x slower), so neither its outputs
    nor its speed say anything about the trained network. Statistics measured on real images put
    every layer at the scale training would have given it.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one batch sets the statistics exactly
    if norms:
        model.train()
        with torch.no_grad():
            model(images)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()
    return len(norms)

