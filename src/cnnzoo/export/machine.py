"""The machine a measurement ran on: CPU model and flags, threads, torch version.

Benchmarks print this with every result, and optimize() asks it whether the CPU computes bf16
natively (without AVX512-BF16 or AMX, bf16 is emulated and slower than fp32: resnet20 training
under bf16 autocast ran 10x slower on such a CPU).
"""
from __future__ import annotations

import os
import platform
from typing import Any

import torch

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
