"""benchmarks/gpu.sh: syntax-checked and dry-run on the CPU, so the one-shot GPU run cannot fail
on a typo."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_script_syntax():
    subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu.sh")], check=True)


def test_gpu_script_dry_run_prints_one_table():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("device: CPU (dry run)")
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].split("|")[1].strip() == "check"
    checks = [line.split("|")[1].strip() for line in table[1:]]
    assert any(c.startswith("train resnet20") and "bf16" in c for c in checks)
    assert any(c.startswith("infer resnet50") and "channels_last" in c for c in checks)
    assert all(float(line.split("|")[2]) > 0 for line in table[1:])
