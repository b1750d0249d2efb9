"""Blocks shared by more than one family, and the input check every model runs."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.modules import module as _base

from .errors import InputShapeError


def paper_lrn() -> nn.LocalResponseNorm:
    """Local response normalisation exactly as AlexNet (Sec. 3.3) writes it.

    The paper: b = a / (k + alpha * sum a^2)^beta with k=2, n=5, alpha=1e-4, beta=0.75.
    PyTorch (like Caffe) divides alpha by the window size n, so alpha=5 * 1e-4 gives the paper's
    sum. (Caffe's replicas keep k=1 and alpha=1e-4, i.e. an effective 2e-5: not the paper.)
    """
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


def check_input(model: nn.Module, x: Tensor, channels: int,
                size: tuple[int, int] | None = None, min_size: int = 1, hint: str = "") -> None:
    """Raise InputShapeError (a ValueError) unless x is N x channels x H x W the model can take.

    size: the only (H, W) the network takes (a fully connected layer on a fixed map), or None.
    min_size: the smallest side that still leaves every feature map at least 1x1.
    hint: what to do instead (appended to the message).
    """
    name = getattr(model, "zoo_name", type(model).__name__)
    expect = f"N x {channels} x {size[0]} x {size[1]}" if size else f"N x {channels} x H x W"
    got = "x".join(str(d) for d in x.shape)
    problem = None
    if x.dim() != 4:
        problem = f"a {x.dim()}-d tensor"
        hint = hint or "add the batch dimension with x.unsqueeze(0)" if x.dim() == 3 else hint
    elif x.shape[1] != channels:
        problem = f"{x.shape[1]} channels"
        hint = (f"build the model with create_model({name!r}, in_channels={x.shape[1]}) "
                f"or convert the images to {channels} channel{'s' if channels > 1 else ''}")
    elif size is not None and tuple(x.shape[2:]) != tuple(size):
        problem = f"{x.shape[2]}x{x.shape[3]} images"
        hint = hint or f"resize or pad the images to {size[0]}x{size[1]}"
    elif size is None and min(x.shape[2:]) < min_size:
        problem = f"{x.shape[2]}x{x.shape[3]} images, smaller than the {min_size}x{min_size} minimum"
        hint = hint or f"resize the images to at least {min_size}x{min_size}"
    if problem is not None:
        raise InputShapeError(f"{name} expects input {expect}, got {got} ({problem}): {hint}.")


class Flatten(nn.Flatten):
    """nn.Flatten(1); a module so summaries and hooks see the step."""


def count_params(model: nn.Module, trainable: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


@torch.no_grad()
def normal_init(model: nn.Module, std: float = 0.01) -> None:
    """N(0, std) weights and zero biases for every conv and linear layer (AlexNet, VGG)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def unobserved(module: nn.Module, steps: tuple[nn.Module, ...] = ()) -> bool:
    """True when a fast path may write out `steps` (the block's ReLUs and residual addition) in
    place instead of calling them, as torchvision's blocks do, and nobody can see the difference:
    no hook watches `module` or any module inside it (nor every module, globally), and each step
    is still exactly the plain nn.ReLU or Add the fast path reproduces (a replaced activation, say
    GELU, must be called). Anything that watches (summaries, the graph recorder, DeconvNet,
    feature maps) registers hooks and so gets the out-of-place path, every intermediate kept."""
    if any(type(step) not in (nn.ReLU, Add) for step in steps):
        return False
    if (_base._global_forward_hooks or _base._global_forward_pre_hooks or _base._global_backward_hooks
            or _base._global_backward_pre_hooks):
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
                   for m in module.modules())


class Add(nn.Module):
    """A residual addition, as a module so summaries and hooks see it: forward(x, shortcut)."""

    def forward(self, x: Tensor, shortcut: Tensor) -> Tensor:
        return x + shortcut


class Concat(nn.Module):
    """Channel concatenation of parallel branches (Inception), as a module: forward(*branches)."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *branches: Tensor) -> Tensor:
        return torch.cat(branches, self.dim)


def fc_head(in_features: int, num_classes: int, dropout: float = 0.5,
            hidden: int = 4096) -> list[tuple[str, nn.Module]]:
    """fc6 -> relu6 -> drop6 -> fc7 -> relu7 -> drop7 -> fc8: the fully connected head AlexNet,
    ZFNet and VGG share, with dropout on the outputs of fc6 and fc7 as the papers place it."""
    return [
        ("fc6", nn.Linear(in_features, hidden)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout(dropout)),
        ("fc7", nn.Linear(hidden, hidden)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(dropout)),
        ("fc8", nn.Linear(hidden, num_classes)),
    ]
