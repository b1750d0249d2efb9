"""Recipe choices on a validation split, never on the test set: train on the first 50,000 images
of Fashion-MNIST's training set and measure accuracy on the last 10,000 (the official test set is
not read at all).

The recipes in src/cnnzoo/train/config.py are chosen with this script; benchmarks/accuracy.py then
reports the chosen recipe once on the test set.

Run: .venv/bin/python benchmarks/validate_recipe.py lenet5 [--epochs N] [--lr LR] [--batch-size B]
         [--weight-decay WD] [--optimizer sgd|adamw] [--schedule S] [--label-smoothing E]
         [--augment | --no-augment] [--amp bf16] [--channels-last] [--holdout 10000]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from cnnzoo.data import load_dataset
from cnnzoo.data.base import ArrayDataset
from cnnzoo.limits import OPTIMIZERS, SCHEDULES
from cnnzoo.train.loop import train


def split_train(holdout: int) -> tuple[ArrayDataset, ArrayDataset]:
    full = load_dataset("fashion-mnist", "train")
    keep = len(full) - holdout

    def part(split: str, sl: slice) -> ArrayDataset:
        return ArrayDataset(full.name, split, full.images[sl], full.labels[sl], full.classes,
                            source=f"{full.source} [{sl.start or 0}:{sl.stop or len(full)}]")

    return part("train", slice(0, keep)), part("validation", slice(keep, None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--optimizer", choices=OPTIMIZERS)
    parser.add_argument("--schedule", choices=SCHEDULES)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--augment", dest="augment", action="store_const", const=True)
    parser.add_argument("--no-augment", dest="augment", action="store_const", const=False)
    parser.add_argument("--amp", default="off", choices=("off", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--holdout", type=int, default=10_000)
    parser.add_argument("--out", help="keep the run folder here (default: a temporary folder)")
    args = parser.parse_args()
    train_set, val_set = split_train(args.holdout)
    out = Path(args.out or tempfile.mkdtemp(prefix="cnnzoo-validate-"))
    r = train(args.model, dataset="fashion-mnist", datasets=(train_set, val_set), epochs=args.epochs,
              batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, optimizer=args.optimizer,
              schedule=args.schedule, label_smoothing=args.label_smoothing, augment=args.augment, amp=args.amp,
              channels_last=args.channels_last, out=str(out / args.model), quiet=False, progress=False)
    print(f"\nvalidation ({len(val_set):,} held-out training images), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"| {args.model} | epochs {r['epochs']} | {args.optimizer or 'recipe'} | {args.schedule or 'recipe'} "
          f"| lr {args.lr or 'recipe'} | wd {args.weight_decay if args.weight_decay is not None else 'recipe'} "
          f"| batch {args.batch_size or 'recipe'} | smoothing {args.label_smoothing} "
          f"| augment {'recipe' if args.augment is None else 'on' if args.augment else 'off'} "
          f"| validation top-1 {r['top1']:.2f}% |")


if __name__ == "__main__":
    main()
