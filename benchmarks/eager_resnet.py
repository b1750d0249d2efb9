"""cnnzoo's eager ResNets against torchvision's, same v1.5 layout and the same weights, one process.

For resnet18 and resnet50 (variant v1.5, shortcut B: torchvision's network, loaded by key), it
times inference (eval, no grad) and one training step (zero_grad(set_to_none), forward,
cross-entropy, backward, SGD step) in interleaved repeats whose order alternates every round
(cnnzoo-torchvision, torchvision-cnnzoo, ...), so machine load and allocator state hit both alike.
Each call is timed twice: wall clock, and the CPU time of the process (time.process_time; one
thread), which on a shared machine leaves out the time the scheduler gave to other processes.

The comparison rule, fixed before measuring (issue 19): ratio = median torchvision time / median
cnnzoo time over the same interleaved repeats; >= 1.00 means cnnzoo is at least as fast. Both
sides train with the same optimizer: cnnzoo's ImageNet recipe, SGD lr 0.01, momentum 0.9, weight
decay 5e-4, PyTorch's default implementation for CPU tensors (the per-parameter loop). The spread
column is the interquartile range of the per-round ratios (how much one round can mislead). The
training step is also split into its phases (forward + loss, backward, optimizer step), medians
of each, so a gap shows where it sits. Before timing it checks that both give the same logits.

    python benchmarks/eager_resnet.py --threads 1 --repeats 15 --batch 8
    python benchmarks/eager_resnet.py --profile resnet50 --mode train   # where the time goes, by op
    python benchmarks/eager_resnet.py --aa --modes train   # torchvision vs itself: the noise floor
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn

import cnnzoo
from cnnzoo.export.machine import describe_line

PHASES = ("forward", "backward", "step")
Timed = Callable[[], dict[str, float]]  # one call: seconds per phase


def pair(name: str) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(weights=None)
    zoo = cnnzoo.create_model(name, variant="v1.5", shortcut="B")
    zoo.load_state_dict(tv.state_dict())  # same keys: the v1.5 layout is torchvision's
    return zoo, tv


def inference(model: nn.Module, x: torch.Tensor) -> Timed:
    model.eval()

    def run() -> dict[str, float]:
        start = time.perf_counter()
        with torch.no_grad():
            model(x)
        return {"forward": time.perf_counter() - start}
    return run


def train_step(model: nn.Module, x: torch.Tensor) -> Timed:
    model.train()
    y = torch.arange(x.shape[0]) % 1000
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        return {"forward": t1 - t0, "backward": t2 - t1, "step": t3 - t2}
    return run


def interleaved(fns: dict[str, Timed], repeats: int) -> dict[str, list[dict[str, float]]]:
    """Each contender's phase times per round; the order of the contenders flips every round."""
    for fn in fns.values():
        fn()  # warm-up (also creates the momentum buffers)
    times: dict[str, list[dict[str, float]]] = {k: [] for k in fns}
    order = list(fns)
    for _ in range(repeats):
        for k in order:
            cpu = time.process_time()
            times[k].append(fns[k]())
            times[k][-1]["cpu"] = time.process_time() - cpu
        order.reverse()
    return times


def summarise(name: str, mode: str, batch: int, times: dict[str, list[dict[str, float]]]) -> dict[str, object]:
    total = {k: [sum(r[p] for p in PHASES if p in r) for r in rounds] for k, rounds in times.items()}
    med = {k: statistics.median(v) for k, v in total.items()}
    cpu = {k: statistics.median(r["cpu"] for r in rounds) for k, rounds in times.items()}
    per_round = sorted(t / z for z, t in zip(total["cnnzoo"], total["torchvision"]))
    q = statistics.quantiles(per_round, n=4) if len(per_round) > 1 else [per_round[0]] * 3
    phases = {k: {p: statistics.median(r[p] for r in rounds) for p in PHASES if p in rounds[0]}
              for k, rounds in times.items()}
    return {"model": name, "mode": mode, "batch": batch, "repeats": len(per_round),
            "cnnzoo_s": med["cnnzoo"], "torchvision_s": med["torchvision"],
            "ratio": med["torchvision"] / med["cnnzoo"], "round_ratio_iqr": [q[0], q[2]],
            "phases_s": phases, "cnnzoo_cpu_s": cpu["cnnzoo"], "torchvision_cpu_s": cpu["torchvision"],
            "cpu_ratio": cpu["torchvision"] / cpu["cnnzoo"]}


def measure(name: str, batch: int, repeats: int, modes: list[str], aa: bool = False) -> list[dict[str, object]]:
    zoo, tv = pair(name)
    if aa:  # A/A: torchvision against a copy of itself, in cnnzoo's seat: the ratio's noise floor
        zoo = copy.deepcopy(tv)
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        diff = (zoo.eval()(x) - tv.eval()(x)).abs().max().item()
    assert diff < 1e-4, f"{name}: cnnzoo and torchvision differ by {diff}"
    rows = []
    for mode in modes:
        make = inference if mode == "inference" else train_step
        a, b = (copy.deepcopy(zoo), copy.deepcopy(tv)) if mode == "train" else (zoo, tv)
        times = interleaved({"cnnzoo": make(a, x), "torchvision": make(b, x)}, repeats)
        rows.append(summarise(name, mode, batch, times) | {"max_abs_diff": diff})
    return rows


def profile(name: str, batch: int, mode: str) -> None:
    zoo, tv = pair(name)
    x = torch.randn(batch, 3, 224, 224)
    for label, model in (("cnnzoo", zoo), ("torchvision", tv)):
        run = (inference if mode == "inference" else train_step)(model, x)
        run()
        run()
        with torch.profiler.profile() as prof:
            run()
        print(f"--- {label} {name} {mode}, batch {batch}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=16))


def report(rows: list[dict[str, object]]) -> None:
    print(f"{'model':<9} {'mode':<9} {'batch':>5} {'cnnzoo s':>9} {'tv s':>8} {'tv/cnnzoo':>9} "
          f"{'round IQR':>13} {'cpu tv/cnnzoo':>13}  phases cnnzoo / tv (s)")
    for r in rows:
        lo, hi = r["round_ratio_iqr"]  # type: ignore[misc]
        ph = r["phases_s"]
        phases = "  ".join(f"{p} {ph['cnnzoo'][p]:.3f}/{ph['torchvision'][p]:.3f}"  # type: ignore[index]
                           for p in PHASES if p in ph["cnnzoo"])  # type: ignore[index]
        print(f"{r['model']:<9} {r['mode']:<9} {r['batch']:>5} {r['cnnzoo_s']:>9.4f} {r['torchvision_s']:>8.4f} "
              f"{r['ratio']:>8.3f}x {lo:>6.3f}-{hi:<6.3f} {r['cpu_ratio']:>12.3f}x  {phases}")
    print(f"(median of {rows[0]['repeats']} interleaved repeats, order alternating; tv/cnnzoo >= 1 means "
          "cnnzoo is at least as fast; round IQR: quartiles of the per-round ratios;\n cpu: the same "
          "rule on the process's CPU time; phases: medians of wall-clock time)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--models", default="resnet18,resnet50")
    p.add_argument("--modes", default="inference,train", help="inference, train or both")
    p.add_argument("--profile", metavar="MODEL")
    p.add_argument("--mode", default="train", choices=("inference", "train"), help="for --profile")
    p.add_argument("--json", action="store_true")
    p.add_argument("--aa", action="store_true",
                   help="A/A check: torchvision against a copy of itself (how far 1.00 can drift by noise)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(describe_line())
    if args.profile:
        profile(args.profile, args.batch, args.mode)
        return
    modes = args.modes.split(",")
    rows = [r for m in args.models.split(",") for r in measure(m, args.batch, args.repeats, modes, args.aa)]
    if args.json:
        print(json.dumps(rows, indent=1))
    report(rows)


if __name__ == "__main__":
    main()
