"""cnnzoo's eager ResNets against torchvision's, same v1.5 layout and the same weights, one process.

For resnet18 and resnet50 (variant v1.5, shortcut B: torchvision's network, loaded by key), it
times inference (eval, no grad) and one training step (forward, cross-entropy, backward, SGD
step) in interleaved repeats (cnnzoo, torchvision, cnnzoo, ...), so machine load hits both alike,
and reports the fastest repeat of each and the ratio torchvision / cnnzoo (>= 1: cnnzoo is at
least as fast). Before timing it checks that both give the same logits.

    python benchmarks/eager_resnet.py --threads 1 --repeats 7 --batch 8
    python benchmarks/eager_resnet.py --profile resnet50   # where cnnzoo's time goes, by op
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn

import cnnzoo
from cnnzoo.export.machine import describe_line


def pair(name: str) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(weights=None)
    zoo = cnnzoo.create_model(name, variant="v1.5", shortcut="B")
    zoo.load_state_dict(tv.state_dict())  # same keys: the v1.5 layout is torchvision's
    return zoo, tv


def inference(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    model.eval()

    def run() -> None:
        with torch.no_grad():
            model(x)
    return run


def train_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    model.train()
    y = torch.arange(x.shape[0]) % 1000
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return run


def interleaved_best(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    for fn in fns.values():
        fn()  # warm-up
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def measure(name: str, batch: int, repeats: int) -> list[dict[str, object]]:
    zoo, tv = pair(name)
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        diff = (zoo.eval()(x) - tv.eval()(x)).abs().max().item()
    assert diff < 1e-4, f"{name}: cnnzoo and torchvision differ by {diff}"
    rows = []
    for mode, make in (("inference", inference), ("train step", train_step)):
        a, b = (copy.deepcopy(zoo), copy.deepcopy(tv)) if mode == "train step" else (zoo, tv)
        best = interleaved_best({"cnnzoo": make(a, x), "torchvision": make(b, x)}, repeats)
        rows.append({"model": name, "mode": mode, "batch": batch, "cnnzoo_s": best["cnnzoo"],
                     "torchvision_s": best["torchvision"], "ratio": best["torchvision"] / best["cnnzoo"],
                     "max_abs_diff": diff})
    return rows


def profile(name: str, batch: int) -> None:
    zoo, tv = pair(name)
    x = torch.randn(batch, 3, 224, 224)
    for label, model in (("cnnzoo", zoo), ("torchvision", tv)):
        run = inference(model, x)
        run()
        with torch.profiler.profile() as prof:
            run()
        print(f"--- {label} {name} inference, batch {batch}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--models", default="resnet18,resnet50")
    p.add_argument("--profile", metavar="MODEL")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(describe_line())
    if args.profile:
        profile(args.profile, args.batch)
        return
    rows = [r for m in args.models.split(",") for r in measure(m, args.batch, args.repeats)]
    if args.json:
        print(json.dumps(rows, indent=1))
    print(f"{'model':<10} {'mode':<11} {'batch':>5} {'cnnzoo s':>9} {'torchvision s':>14} {'tv/cnnzoo':>10}")
    for r in rows:
        print(f"{r['model']:<10} {r['mode']:<11} {r['batch']:>5} {r['cnnzoo_s']:>9.4f} "
              f"{r['torchvision_s']:>14.4f} {r['ratio']:>9.3f}x")
    print(f"(best of {args.repeats} interleaved repeats; tv/cnnzoo >= 1 means cnnzoo is at least as fast)")


if __name__ == "__main__":
    main()
