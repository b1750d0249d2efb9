"""Where a LeNet-5 training step spends its time on this machine, to see what bounds its speed.

1. The three convolutions of the paper's LeNet-5 (C1 1->6 on 32x32, C3 6->16 on 14x14, C5 16->120 on
   5x5; C3 dense here, as PartialConv2d runs it) timed alone: forward, and forward + backward (C1 needs
   no input gradient, as in training), with PyTorch's convolution against the same arithmetic
   written as im2col (unfold + matmul).
2. torch.profiler over whole training steps of lenet5 (step_speed.py's step: forward,
   cross-entropy, backward, SGD with momentum), the top operators by own time.

Run: .venv/bin/python benchmarks/lenet5_step_profile.py [--batch-size 64] [--threads N]
"""
from __future__ import annotations

import argparse
from typing import Callable

import torch
import torch.nn.functional as F

from machine import cpu_name
from step_speed import seconds_per_call, training_step

CONVS = {"c1": (1, 6, 32), "c3": (6, 16, 14), "c5": (16, 120, 5)}  # in, out, input side (5x5 kernels)


def ms(fn: Callable[[], object]) -> float:
    return 1e3 * seconds_per_call(fn, calls=200, warmup=10)


def conv_rows(batch: int) -> list[tuple[str, float, float, float]]:
    rows = []
    for name, (cin, cout, side) in CONVS.items():
        needs_input_grad = name != "c1"  # C1 reads the images, which need no gradient
        x = torch.randn(batch, cin, side, side, requires_grad=needs_input_grad)
        w = torch.randn(cout, cin, 5, 5, requires_grad=True)
        b = torch.randn(cout, requires_grad=True)
        wrt = [w, b] + ([x] if needs_input_grad else [])
        grad = torch.randn_like(F.conv2d(x, w, b))

        def conv_step(x=x, w=w, b=b, wrt=wrt, grad=grad) -> None:
            torch.autograd.grad(F.conv2d(x, w, b), wrt, grad)

        def im2col_step(x=x, w=w, b=b, wrt=wrt, grad=grad, cout=cout) -> None:
            y = w.view(cout, -1) @ F.unfold(x, 5) + b.view(1, -1, 1)
            torch.autograd.grad(y, wrt, grad.view(batch, cout, -1))

        rows.append((name, ms(lambda x=x, w=w, b=b: F.conv2d(x, w, b)), ms(conv_step), ms(im2col_step)))
    return rows


def profile_table(batch: int, steps: int = 50) -> tuple[float, str]:
    from torch.profiler import ProfilerActivity, profile

    step = training_step("lenet5", batch)  # the same step as step_speed.py's fp32 NCHW row
    step_ms = 1e3 * seconds_per_call(step, calls=steps, warmup=10)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return step_ms, prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch_size
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; batch {batch}\n")
    print("| conv | forward ms | forward + backward ms | same as im2col (unfold + matmul) ms |")
    print("|---|---|---|---|")
    total = 0.0
    for name, fwd, both, im2col in conv_rows(batch):
        total += both
        print(f"| {name} | {fwd:.3f} | {both:.3f} | {im2col:.3f} |")
    step_ms, table = profile_table(batch)
    print(f"\nthe three convolutions, forward + backward: {total:.2f} ms a step, {total * 1e3 / batch:.1f} us an image")
    print(f"whole training step (unprofiled): {step_ms:.2f} ms, {step_ms * 1e3 / batch:.1f} us an image\n")
    print(table)


if __name__ == "__main__":
    main()
