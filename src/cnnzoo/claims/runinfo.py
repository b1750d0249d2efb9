"""What makes a claims report one traceable run: the commit, the CPU, the threads, the device.

A report's numbers are reproducible only with the code, the machine's numerics and the thread
count that produced them, so `environment()` records all three, and a report is extended
(`--only` into its folder) only by a run of the same commit and mode.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..errors import CnnzooError
from .common import device

# The CPU features that change the numerics or the speed of PyTorch's CPU kernels.
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "asimd", "sve")


def commit() -> str:
    """The git revision of cnnzoo's source (with "+modified" when the tracked files differ from
    it), else the installed package's version."""
    src = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no",
                                "--", "."], capture_output=True, text=True, timeout=10, check=True).stdout
        return rev + ("+modified" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return f"cnnzoo {__version__}"


def cpu() -> str:
    """The CPU's model name and the flags in CPU_FLAGS it has (Linux's /proc/cpuinfo)."""
    name, flags = platform.processor() or platform.machine(), set[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:  # reading only
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name in ("", platform.machine(), platform.processor()):
                    name = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    have = [f for f in CPU_FLAGS if f in flags]
    return f"{name} ({', '.join(have) if have else 'no listed SIMD flags'})"


def device_name() -> str:
    """The device the experiments ran on: "cpu" or the GPU's name (`cnnzoo claims --device`)."""
    return torch.cuda.get_device_name() if device().type == "cuda" else "cpu"


def environment(seconds: float | None = None) -> dict[str, Any]:
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit(), "cpu": cpu(), "threads": torch.get_num_threads(),
            "device": device_name(),
            "python": sys.version.split()[0], "torch": torch.__version__,
            "total_seconds": None if seconds is None else round(seconds, 1)}


def check_mergeable(out: Path, mode: str) -> None:
    """A report already in `out` may be extended only by a run of the same commit and mode: one
    CnnzooError line otherwise (a folder with no readable report is fine: it is started afresh)."""
    try:
        doc = json.loads((out / "claims.json").read_text(encoding="utf-8"))
        env, old_mode = doc["environment"], doc["mode"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    here = commit()
    there = env.get("commit") if isinstance(env, dict) else None
    here_device = device_name()
    there_device = env.get("device", "cpu") if isinstance(env, dict) else "cpu"
    if there_device != here_device:
        raise CnnzooError(f"--out {out} holds a report run on {there_device}; this run is on {here_device}: "
                          f"a report is one run, so give another --out")
    if old_mode != mode or there != here or here.endswith("+modified"):
        raise CnnzooError(
            f"--out {out} holds a {old_mode} report of commit {there or 'unknown'}; this {mode} run "
            f"is commit {here}: a report is one run, so give another --out (or run all claims there)")
