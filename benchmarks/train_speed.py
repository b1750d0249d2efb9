"""One LeNet-5 training epoch on the full Fashion-MNIST (60,000 images): cnnzoo's engine against
the usual tutorial pipeline, in the same run, same model, batch size and optimizer.

Baseline: torchvision.datasets.FashionMNIST + Compose([Pad(2), ToTensor()]) + DataLoader(shuffle=True,
num_workers=0) and a plain loop (forward, cross-entropy, backward, SGD step).
cnnzoo: `cnnzoo.train.loop.train("lenet5", dataset="fashion-mnist", epochs=1, augment=False)`;
also with `channels_last=True` (an engine option; same model, same arithmetic), and the same
engine run data-parallel by `torchrun --nproc_per_node=2 -m cnnzoo train` with one thread per
process (the same global batch, half per process, gradients averaged by DDP over gloo). Its images/s
counts the training steps only (not loading, evaluation or checkpoints), the same
work as the timed baseline loop. Also the machine's measured fp32 matmul peak and the fraction
of it each pipeline reaches (training = 3 x the forward MACs, 2 FLOPs a MAC), and what the
baseline's per-image split into data work and model step allows any pipeline to gain.
Batch size: lenet5's training recipe on Fashion-MNIST unless --batch-size says otherwise.

Run: .venv/bin/python benchmarks/train_speed.py [--threads N] [--batch-size B]
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

import cnnzoo
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.loop import train
from machine import cpu_name, matmul_peak_gflops
from step_speed import seconds_per_call, training_step

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def baseline_images_per_s(root: Path, batch: int) -> float:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in DEBIAN.glob("*.gz"):  # torchvision reads the decompressed IDX files
        with gzip.open(gz) as src, open(raw / gz.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    data = datasets.FashionMNIST(str(root), train=True, download=False,
                                 transform=transforms.Compose([transforms.Pad(2), transforms.ToTensor()]))
    loader = DataLoader(data, batch_size=batch, shuffle=True, num_workers=0, drop_last=True)
    torch.manual_seed(0)
    model = cnnzoo.create_model("lenet5").train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    seen = 0
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
        seen += x.shape[0]
    return seen / (time.perf_counter() - start)


def torchrun_images_per_s(out: Path, nproc: int, batch: int) -> float:
    """The engine under torchrun: `nproc` processes, one intra-op thread each."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "cnnzoo", "train", "lenet5", "--dataset", "fashion-mnist", "--epochs", "1",
           "--batch-size", str(batch), "--no-augment", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "results.json").read_text())["images_per_s"]


def model_step_images_per_s(batch: int, steps: int = 50) -> float:
    """The ceiling: forward, backward and SGD step on one ready batch tensor, no data work."""
    return batch / seconds_per_call(training_step("lenet5", batch), steps, warmup=5)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice); "
                        "on a machine shared with other jobs, 1 avoids OpenMP oversubscription")
    parser.add_argument("--batch-size", type=int,
                        default=TrainConfig("lenet5", dataset="fashion-mnist").resolved().batch_size,
                        help="batch size of every pipeline (default: lenet5's recipe, %(default)s)")
    args = parser.parse_args()
    batch = args.batch_size
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = cpu_name()
    macs = cnnzoo.summary("lenet5").total_macs
    peak = matmul_peak_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline_images_per_s(Path(tmp) / "tv", batch)
        result = train("lenet5", dataset="fashion-mnist", epochs=1, batch_size=batch, augment=False,
                       out=str(Path(tmp) / "run"), quiet=True, progress=False)
        result_cl = train("lenet5", dataset="fashion-mnist", epochs=1, batch_size=batch, augment=False,
                          channels_last=True, out=str(Path(tmp) / "run-cl"), quiet=True, progress=False)
        ours_ddp = torchrun_images_per_s(Path(tmp) / "run-ddp", nproc=2, batch=batch)
    ours, ours_cl = result["images_per_s"], result_cl["images_per_s"]
    ceiling = model_step_images_per_s(batch)
    flops_per_image = 3 * 2 * macs
    print(f"machine: {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}; batch {batch}")
    print(f"fp32 matmul peak (best dense kernel, see cnnzoo.export.machine): {peak:.1f} GFLOP/s; "
          f"LeNet-5 training {flops_per_image / 1e6:.2f} MFLOP/image")
    print()
    print("| pipeline | images/s | vs baseline | fraction of matmul peak |")
    print("|---|---|---|---|")
    print(f"| torchvision FashionMNIST + ToTensor + DataLoader (baseline) | {base:,.0f} | 1.00x | "
          f"{base * flops_per_image / (peak * 1e9):.2%} |")
    print(f"| cnnzoo engine (in-memory uint8 batches) | {ours:,.0f} | {ours / base:.2f}x | "
          f"{ours * flops_per_image / (peak * 1e9):.2%} |")
    print(f"| cnnzoo engine, --channels-last | {ours_cl:,.0f} | {ours_cl / base:.2f}x | "
          f"{ours_cl * flops_per_image / (peak * 1e9):.2%} |")
    print(f"| cnnzoo engine, torchrun 2 processes x 1 thread | {ours_ddp:,.0f} | {ours_ddp / base:.2f}x | "
          f"{ours_ddp * flops_per_image / (peak * 1e9):.2%} |")
    print(f"| model step alone on a ready tensor (ceiling, no data work) | {ceiling:,.0f} | "
          f"{ceiling / base:.2f}x | {ceiling * flops_per_image / (peak * 1e9):.2%} |")
    # Per image the baseline pays its data work d plus the model step s, and no pipeline can pay
    # less than s: the ceiling row's ratio (d + s) / s bounds every speed-up. A faster step s'
    # speeds up the baseline too (same model), so a ratio of 3 needs (d + s') / s' >= 3: s' <= d / 2.
    step_us, data_us = 1e6 / ceiling, 1e6 / base - 1e6 / ceiling
    print()
    print(f"per image: baseline data work {data_us:.1f} us + model step {step_us:.1f} us. With free data work "
          f"no pipeline passes {(data_us + step_us) / step_us:.2f}x; 3x needs a model step of "
          f"<= {data_us / 2:.1f} us/image ({step_us / (data_us / 2):.1f}x faster than this one)")


if __name__ == "__main__":
    main()
