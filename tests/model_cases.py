"""Helpers shared by the registry-driven model tests."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

import cnnzoo

# aten ops whose FLOPs are conv/linear multiply-accumulates (x2)
_MAC_OPS = ("convolution", "addmm", "mm", "bmm", "baddbmm")


def reference_input(name: str, batch: int = 1, seed: int = 0) -> torch.Tensor:
    c, h, w = cnnzoo.model_info(name).input_size
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, c, h, w, generator=g)


def seeded_model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return cnnzoo.create_model(name)


def conv_linear_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Conv + linear MACs of one forward, counted by PyTorch's own FLOP counter (an oracle
    independent of cnnzoo's summary)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    flops = sum(n for op, n in counter.get_flop_counts()["Global"].items()
                if any(str(op).startswith(f"aten.{name}") for name in _MAC_OPS))
    return flops // 2 // x.shape[0]


def golden_path(name: str):
    from pathlib import Path
    return Path(__file__).parent / "golden" / f"{name}.json"


@torch.no_grad()
def golden_output(name: str) -> list[float]:
    """The first logits of a seeded model (eval mode) on a seeded input at the reference size."""
    model = seeded_model(name).eval()
    out = model(reference_input(name, batch=1))
    # significant digits, not decimals: paper-initialised deep nets give logits near 1e-8
    return [float(f"{v:.7g}") for v in out[0, :8].tolist()] + [float(f"{out.sum().item():.7g}")]
