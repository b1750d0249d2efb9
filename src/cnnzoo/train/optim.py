"""Optimizers and learning-rate schedules.

The schedule is a pure function of the global step (`Schedule.factor(step)`), so its whole state
is the step counter: nothing to pickle, and a resumed run sets exactly the same learning rates.

- constant: the base rate (after the warm-up).
- step: x0.1 at 50% and at 75% of the run (He et al.'s 32k and 48k of 64k iterations).
- cosine: half a cosine from the base rate to 0 after the warm-up (Loshchilov & Hutter, SGDR).
- onecycle: Smith's one-cycle policy in its linear form: from base/25 up to base during the
  warm-up, then straight down to 0 at the last step (momentum is not cycled).
The warm-up of the other schedules is linear from base/warmup_steps up to base.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import ResolvedConfig


def build_optimizer(model: nn.Module, config: ResolvedConfig) -> torch.optim.Optimizer:
    """SGD with (non-Nesterov) momentum or AdamW, weight decay on every parameter as the papers did."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum or 0.0,
                               weight_decay=config.weight_decay or 0.0)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay or 0.0)


class Schedule:
    """lr(step) = base_lr * factor(step) for global steps 0 .. total_steps - 1."""

    def __init__(self, kind: str, total_steps: int, warmup_steps: int = 0) -> None:
        self.kind = kind
        self.total_steps = max(1, total_steps)
        self.warmup_steps = min(max(0, warmup_steps), self.total_steps)

    def factor(self, step: int) -> float:
        w, total = self.warmup_steps, self.total_steps
        if self.kind == "onecycle":
            if step < w:
                return 1 / 25 + (1 - 1 / 25) * step / w
            return max(0.0, (total - step) / max(1, total - w))
        if step < w:
            return (step + 1) / w
        t = (step - w) / max(1, total - w)  # 0 .. 1 over the rest of the run
        if self.kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        if self.kind == "step":
            return 0.01 if t >= 0.75 else 0.1 if t >= 0.5 else 1.0
        return 1.0

    def apply(self, optimizer: torch.optim.Optimizer, base_lr: float, step: int) -> float:
        lr = base_lr * self.factor(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr
