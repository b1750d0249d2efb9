"""Start-up time of the command line against `python -c "import torch"`, measured in one run.

`cnnzoo --help`, `cnnzoo list` (also `list NAME --options`) and `cnnzoo --version` need no
tensors, so they must not import torch (issue #14: they took about 3 s when they did). Each
command runs as a fresh process, interleaved round by round with the baseline so a busy machine
slows all of them alike; the table gives the median wall time and its ratio to importing torch.

    .venv/bin/python benchmarks/startup.py [--rounds 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402

COMMANDS = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "cnnzoo --help": [sys.executable, "-m", "cnnzoo", "--help"],
    "cnnzoo list": [sys.executable, "-m", "cnnzoo", "list"],
    "cnnzoo --version": [sys.executable, "-m", "cnnzoo", "--version"],
    "cnnzoo list resnet20 --options": [sys.executable, "-m", "cnnzoo", "list", "resnet20",
                                       "--options"],
    "cnnzoo train --help": [sys.executable, "-m", "cnnzoo", "train", "--help"],
    "cnnzoo bench --help": [sys.executable, "-m", "cnnzoo", "bench", "--help"],
    "cnnzoo summary lenet5": [sys.executable, "-m", "cnnzoo", "summary", "lenet5"],
}
BASELINE = 'python -c "import torch"'


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the file cache once
        seconds(argv)
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            times[name].append(seconds(argv))
    base = statistics.median(times[BASELINE])
    print(f"# start-up, median of {args.rounds} interleaved rounds; {cpu_name()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"| command | median s | vs {BASELINE} |")
    print("|---|---:|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
