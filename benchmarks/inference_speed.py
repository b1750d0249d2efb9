"""The issue-13 goals: cnnzoo's fast path against ONNX Runtime, OpenVINO and torch.compile (each
set up by hand) and torchvision's eager model with the same weights, for resnet50 (v1.5, the form
torchvision has) and googlenet_tv at batch 1 and 8, fp32, in one process with interleaved rounds.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/inference_speed.py --threads 2 [--no-compile]

Prints one `cnnzoo bench` table per case and a summary (speedup, vs_best_runtime, fraction of
the measured fp32 matmul peak); --json FILE also writes every result.
"""
from __future__ import annotations

import argparse
import json

import torch

from cnnzoo.export.bench import bench, format_bench
from cnnzoo.export.runtimes import installed_runtimes

CASES = [("resnet50", {"variant": "v1.5"}), ("googlenet_tv", {})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--models", default=",".join(n for n, _ in CASES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes to build)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runtimes = [r for r in installed_runtimes() if not (args.no_compile and r == "compile")]
    results = []
    for name, options in CASES:
        if name not in args.models.split(","):
            continue
        for batch in map(int, args.batches.split(",")):
            result = bench(name, batch=batch, runtimes=runtimes, rounds=args.rounds,
                           round_seconds=args.seconds, options=options)
            print(format_bench(result), "\n", flush=True)
            results.append(result)
    print("| model | batch | fast path | speedup vs torchvision eager | vs_best_runtime (best) | % fp32 peak |")
    print("|---|---|---|---|---|---|")
    for r in results:
        speedup = f"{r['speedup']:.2f}x" if r["speedup"] else "-"
        print(f"| {r['model']} | {r['batch']} | {r['fast_path']['runtime']} | {speedup} | "
              f"{r['vs_best_runtime']:.2f}x ({r['best_runtime']}) | {100 * r['fast_path_peak_fraction']:.0f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
