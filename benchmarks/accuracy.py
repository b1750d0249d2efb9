"""Test accuracy on the full Fashion-MNIST (train 60,000 / test 10,000) with cnnzoo's fixed
default recipes (src/cnnzoo/train/config.py; nothing tuned on the test set).

Run: .venv/bin/python benchmarks/accuracy.py lenet5 lenet5_modern [--epochs N] [--out DIR]
         [--amp bf16] [--channels-last]

--amp bf16 and --channels-last are the engine's speed options (bf16 autocast runs on the CPU's
AMX/AVX-512 units where it has them); they change how fast a run goes, not the recipe.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from cnnzoo.limits import AMP_MODES
from cnnzoo.train.loop import train

GOALS = {"lenet5": 90.0, "lenet5_modern": 91.5, "resnet20": 94.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    parser.add_argument("--amp", default="off", choices=AMP_MODES)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="cnnzoo-accuracy-"))
    rows = []
    for name in args.models:
        result = train(name, dataset="fashion-mnist", epochs=args.epochs, out=str(root / name),
                       amp=args.amp, channels_last=args.channels_last, quiet=False, progress=False)
        rows.append((name, result))
    print(f"\nfull Fashion-MNIST test set, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"amp {args.amp}{', channels_last' if args.channels_last else ''}")
    print("| model | epochs | test top-1 | goal | met | wall time |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        goal = GOALS.get(name)
        met = "-" if goal is None else ("yes" if r["top1"] >= goal else "no")
        print(f"| {name} | {r['epochs']} | {r['top1']:.2f}% | {goal if goal else '-'} | {met} | "
              f"{r['wall_time_s'] / 60:.1f} min |")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the engine has saved the run and said how to resume it
        raise SystemExit(130) from None
