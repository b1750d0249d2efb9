"""One optimisation step, written once: the training engine (train/loop.py) and the claims'
short fits (claims/common.fit) both run it.

    loss, out = train_step(net, x, y, optimizer, loss_fn)      # x: the model's input
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..inference.evaluate import autocast


def train_step(net: nn.Module, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer,
               loss_fn: Callable[[Any, Tensor], Tensor], *, scaler: torch.amp.GradScaler | None = None,
               amp: str = "off", after: Callable[[], Any] | None = None,
               skip_nonfinite: bool = False) -> tuple[Tensor, Any]:
    """Forward x (under autocast for --amp bf16/fp16), loss_fn(output, y), then zero the
    gradients, backward (through the GradScaler when there is one) and step; `after()` runs after
    the update (LeNet-5's filter renormalisation). Returns (loss, output).

    skip_nonfinite: a NaN or infinite loss is returned before any update, so the caller can stop
    with the weights of the last good step (claims' fits). The engine leaves it off and checks the
    losses in windows instead: on a GPU a check every step would wait for the device every step.
    """
    with autocast(x.device, amp):
        out = net(x)
        loss = loss_fn(out, y)
    if skip_nonfinite and not torch.isfinite(loss):
        return loss, out
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    if after is not None:
        after()
    return loss, out
