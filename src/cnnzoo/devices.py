"""Which device a model runs on: pick_device("auto" | "cpu" | "cuda" | "cuda:N" | "mps").

On the ground floor (torch and the error classes only), so the flag vocabulary, inference and
the training engine all read the one rule from below."""
from __future__ import annotations

import torch

from .errors import OptionError


def pick_device(device: str, local_rank: int = 0) -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise OptionError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(f"device {device!r} asked for but no CUDA GPU is available: use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        elif dev.index >= torch.cuda.device_count():
            raise OptionError(f"device {device!r} does not exist: this machine has "
                              f"{torch.cuda.device_count()} GPU(s)")
    elif dev.type not in ("cpu", "mps"):
        raise OptionError(f"unsupported device {device!r}: use auto, cpu or cuda")
    return dev
