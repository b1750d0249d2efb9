"""One optimisation step and the loop that drives the steps, written once: the training engine
(train/loop.py, an epoch at a time) and the claims' short fits (claims/common.fit, a step budget)
both run them. Each caller keeps its own batches (the engine's epoch order and augmentation, the
fits' re-shuffled passes) and its own bookkeeping in the after-step callback.

    loss, out = train_step(net, x, y, optimizer, loss_fn)      # x: the model's input
    lr = run_steps(batches, schedule, optimizer, base_lr, first, step, after)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ..inference.evaluate import autocast
from .optim import Schedule


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


def run_steps(batches: Iterable[tuple[Tensor, Tensor]], schedule: Schedule,
              optimizer: torch.optim.Optimizer, base_lr: float, first: int,
              step: Callable[[Tensor, Tensor], tuple[Tensor, Any]],
              after: Callable[[int, Tensor, Any, Tensor], bool]) -> float:
    """For each batch (x, y): the learning rate of global step `first`, `first` + 1, ... from the
    schedule, then step(x, y) -> (loss, output), then after(global step, loss, output, y), which
    ends the loop by returning True (or by raising). Batches are drawn one at a time, so an
    iterator that draws them lazily draws none past the last step. Returns the last learning
    rate set (base_lr when there was no batch).
    """
    lr = base_lr
    for global_step, (x, y) in enumerate(batches, first):
        lr = schedule.apply(optimizer, base_lr, global_step)
        loss, out = step(x, y)
        if after(global_step, loss, out, y):
            break
    return lr
