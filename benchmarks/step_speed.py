"""Training-step throughput of one model under the engine's speed options (--amp bf16,
--channels-last) against plain fp32 NCHW in the same run: forward, cross-entropy, backward and an
SGD step on one ready batch, so only the arithmetic differs between rows. With --compile every
row is measured a second time through torch.compile (Inductor; compilation is done in the untimed
warm-up steps).

bf16 autocast pays off on CPUs with AVX-512 BF16 / AMX (oneDNN runs the convolutions there) and on
GPUs; the flags the CPU reports are printed with the results.

Run: .venv/bin/python benchmarks/step_speed.py resnet20 [--batch-size 128] [--steps 20] [--threads N]
         [--compile]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
from torch import nn

import cnnzoo
from machine import cpu_flags, cpu_name


def training_step(name: str, batch: int, amp: bool = False, channels_last: bool = False,
                  compiled: bool = False) -> Callable[[], None]:
    """One SGD training step of a fresh `name` on a ready batch of random grey images."""
    torch.manual_seed(0)
    info = cnnzoo.model_info(name)
    channels, size = 1, info.input_size[-1]  # Fashion-MNIST: grey images, fed through in_channels
    model = cnnzoo.create_model(name, in_channels=channels).train()
    x = torch.randn(batch, channels, size, size)
    y = torch.randint(0, info.num_classes, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    forward = torch.compile(model) if compiled else model

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = forward(x)
        logits = out[0] if isinstance(out, tuple) else out
        nn.functional.cross_entropy(logits.float(), y).backward()
        optimizer.step()

    return step


def seconds_per_call(fn: Callable[[], object], calls: int, warmup: int = 3) -> float:
    """Mean wall time of `fn` after `warmup` untimed calls (where torch.compile compiles)."""
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def images_per_s(name: str, amp: bool, channels_last: bool, compiled: bool, batch: int, steps: int) -> float:
    return batch / seconds_per_call(training_step(name, batch, amp, channels_last, compiled), steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--compile", action="store_true", help="also measure each row through torch.compile")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16_flags = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16", "amx_tile"}) or ["none"]
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"bf16 hardware: {', '.join(bf16_flags)}")
    print(f"{args.model}, batch {args.batch_size}, {args.steps} timed steps\n")
    print("| precision | layout | torch.compile | images/s | vs fp32 NCHW eager |")
    print("|---|---|---|---|---|")
    base = None
    for compiled in (False, True) if args.compile else (False,):
        for amp in (False, True):
            for cl in (False, True):
                r = images_per_s(args.model, amp, cl, compiled, args.batch_size, args.steps)
                base = base or r
                print(f"| {'bf16 autocast' if amp else 'fp32'} | {'channels_last' if cl else 'NCHW'} | "
                      f"{'yes' if compiled else 'no'} | {r:,.0f} | {r / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
