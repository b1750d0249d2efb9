"""The machine a measurement ran on: CPU model and flags, threads, torch version.

Benchmarks print this with every result, and optimize() asks it whether the CPU computes bf16
natively (without AVX512-BF16 or AMX, bf16 is emulated and slower than fp32: resnet20 training
under bf16 autocast ran 10x slower on such a CPU).
"""
from __future__ import annotations

import os
import platform
import time
from math import prod
from typing import Any

import torch

from ..errors import OptionError

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(name)), None)
    except OSError:  # not Linux
        return None


def cpu_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def cpu_flags() -> set[str]:
    return set((_cpuinfo_field("flags") or "").split())


def native_bf16() -> bool:
    """True when the CPU has bf16 arithmetic in hardware (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags() & set(BF16_FLAGS))


def describe() -> dict[str, Any]:
    """CPU, the SIMD flags that matter for inference, threads, load and library versions."""
    flags = cpu_flags()
    simd = sorted(flags & {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                           "amx_bf16", "amx_int8"})
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "flags": simd, "threads": torch.get_num_threads(),
            "load_1min": load, "torch": torch.__version__}


def describe_line(info: dict[str, Any] | None = None) -> str:
    info = info or describe()
    load = f", load {info['load_1min']:.2f}" if info.get("load_1min") is not None else ""
    return (f"machine: {info['cpu']} ({info['cores']} cores; {' '.join(info['flags']) or 'no AVX2'}), "
            f"{info['threads']} threads, torch {info['torch']}{load}")


def matmul_peak_gflops(seconds: float = 1.0, dtype: torch.dtype = torch.float32) -> float:
    """The machine's measured fp32 (or bf16: dtype) dense-arithmetic ceiling (GFLOP/s) with
    torch's thread count.

    The best rate of a few dense kernels, each timed for its share of `seconds` (fastest call):
    torch.mm (MKL or OpenBLAS) on 512- and 1024-square matrices and a 3x3 convolution (256
    channels, 56x56, channels_last), which oneDNN runs with its own kernels. Which is fastest
    depends on the CPU and the shape (on one AMD EPYC, one thread: 100 GFLOP/s for the 512 matmul,
    93 for 1024, 111 for the convolution), and a model's convolutions reach the fastest, so only
    the maximum is a ceiling a runtime's rate can be compared with.
    """
    x = torch.randn(1, 256, 56, 56, dtype=dtype).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).eval().to(dtype)
    conv = conv.to(memory_format=torch.channels_last)
    kernels: list[tuple[Any, float]] = [(lambda: conv(x), 2 * 256 * 256 * 9 * 56 * 56)]
    for n in (512, 1024):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        kernels.append((lambda a=a, b=b: torch.mm(a, b), 2 * n ** 3))
    with torch.inference_mode():
        return best_rate(kernels, seconds)


def best_rate(kernels: list[tuple[Any, float]], seconds: float) -> float:
    """The best rate (G operations/s) of a few kernels, each a (call, operations) pair timed for
    its share of `seconds` after one warm-up call: its fastest call counts, because a shared
    machine only ever slows a call down. Every peak (fp32, bf16, int8) is measured this way."""
    rates = []
    for fn, ops in kernels:
        fn()
        fastest = float("inf")
        deadline = time.perf_counter() + seconds / len(kernels)
        while time.perf_counter() < deadline or fastest == float("inf"):
            start = time.perf_counter()
            fn()
            fastest = min(fastest, time.perf_counter() - start)
        rates.append(ops / fastest / 1e9)
    return max(rates)


def available_memory() -> int | None:
    """Bytes of memory the machine can still give (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# Live copies of the largest activation while a network is checked: the input and output of its
# largest layer in eager mode, and the same two in the runtime that reproduces it.
_LIVE_ACTIVATIONS = 4


def check_fits(model: Any, input_size: tuple[int, ...], batch: int, what: str) -> None:
    """Refuse in one line, before allocating, a batch whose activations cannot fit in memory:
    the largest tensor estimated from the summary (meta tensors: nothing is allocated)."""
    # the summary loads the graph tracer: train.device imports this module (native_bf16) and a
    # training run needs no summary, so it is loaded only when a batch's memory is estimated
    from ..analysis.summary import summary

    free = available_memory()
    if free is None:
        return
    rows = summary(model, input_size).rows
    largest = max((prod(r.output_shape) for r in rows if r.output_shape), default=prod(input_size))
    largest = max(largest, prod(input_size))
    weights = sum(p.numel() for p in model.parameters()) * 4
    need = _LIVE_ACTIVATIONS * batch * largest * 4 + 2 * weights
    if need > free:
        fits = max(1, (free - 2 * weights) // (_LIVE_ACTIVATIONS * largest * 4))
        raise OptionError(f"{what} at batch {batch} needs about {need / 2**30:.1f} GiB (its largest "
                          f"activation is {batch * largest * 4 / 2**30:.1f} GiB), more than the "
                          f"{free / 2**30:.1f} GiB this machine has free: use a batch of at most {fits}")
