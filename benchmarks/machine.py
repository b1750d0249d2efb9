"""What the benchmark scripts print about the machine they ran on (one place: cnnzoo.export.machine)."""
from __future__ import annotations

from cnnzoo.export.machine import cpu_flags, cpu_name, describe, describe_line, matmul_peak_gflops, native_bf16

__all__ = ["cpu_flags", "cpu_name", "describe", "describe_line", "matmul_peak_gflops", "native_bf16"]
