"""How many CPU threads PyTorch runs: one decision for train and eval.

PyTorch starts one OpenMP thread per core. On a machine other jobs share, that oversubscribes
the cores and a small network trains 10-15x slower than with one thread (measured for lenet5 on a
busy 2-core machine: 6 min 54 s instead of about 25 s). So the thread count is a setting:
`--threads N`, else OMP_NUM_THREADS when the environment sets it, else PyTorch's default.
"""
from __future__ import annotations

import os

import torch

from .. import checks


def resolve(threads: int | None = None) -> int | None:
    """The thread count asked for: `threads`, else a valid OMP_NUM_THREADS, else None (torch's)."""
    if threads is not None:
        return checks.positive_int("--threads", threads, maximum=1024)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return None


def apply(threads: int | None = None) -> int:
    """Set PyTorch's intra-op thread count (see `resolve`) and return the count now in force."""
    n = resolve(threads)
    if n is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def describe(n: int) -> str:
    return f"{n} CPU thread{'s' if n != 1 else ''}"
