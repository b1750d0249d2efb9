"""Every GPU check of the project in one run, printing one table (driven by benchmarks/gpu.sh).

Rows: training-step throughput of resnet20 (batch 256) in fp32, AMP bf16, AMP fp16, channels_last
and torch.compile; inference throughput of resnet50 v1.5 (batch 64) eager vs channels_last vs
torch.compile (+ bf16/fp16 autocast), each measured side by side; then the Fashion-MNIST
accuracy runs of the recipe goals (lenet5, lenet5_modern, resnet20) with AMP bf16, time-boxed.

--dry-run: print the plan, build each model on the CPU and run one tiny step of each kind (so the
script is exercised without a GPU; the test suite calls it). --cpu: run the whole plan on the
CPU at toy sizes.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext

import torch
import torch.nn.functional as F

import cnnzoo

ACCURACY_GOALS = {"lenet5": 90.0, "lenet5_modern": 91.5, "resnet20": 94.0}  # benchmarks/accuracy.py


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn: Callable[[], object], images: int, device: torch.device, steps: int) -> float:
    for _ in range(3):  # warm-up (and compilation)
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return images * steps / (time.perf_counter() - start)


def _autocast(device: torch.device, amp: str):
    if amp == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def training_rows(device: torch.device, batch: int, steps: int, compile_ok: bool) -> Iterator[tuple[str, str, float]]:
    variants = [("fp32", False, False), ("bf16", False, False), ("fp16", False, False),
                ("bf16", True, False)] + ([("bf16", True, True)] if compile_ok else [])
    for amp, channels_last, compiled in variants:
        if amp == "fp16" and device.type != "cuda":
            continue
        model = cnnzoo.create_model("resnet20").to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
        step_model = torch.compile(model) if compiled else model
        x = torch.randn(batch, 3, 32, 32, device=device).to(memory_format=fmt)
        y = torch.randint(0, 10, (batch,), device=device)

        def step(amp=amp, step_model=step_model, x=x, y=y, opt=opt, scaler=scaler) -> None:
            with _autocast(device, amp):
                loss = F.cross_entropy(step_model(x), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        name = f"train resnet20 b{batch} {amp}" + (" channels_last" if channels_last else "") + \
            (" compile" if compiled else "")
        yield (name, "img/s", _rate(step, batch, device, steps))


@torch.inference_mode()
def inference_rows(device: torch.device, batch: int, steps: int, size: int,
                   compile_ok: bool) -> Iterator[tuple[str, str, float]]:
    model = cnnzoo.create_model("resnet50", variant="v1.5").eval().to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    variants = [("fp32", False, False), ("fp32", True, False), ("bf16", True, False), ("fp16", True, False)]
    if compile_ok:
        variants += [("fp32", True, True), ("bf16", True, True)]
    for amp, channels_last, compiled in variants:
        if amp == "fp16" and device.type != "cuda":
            continue
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        m = model.to(memory_format=fmt)
        run_model = torch.compile(m) if compiled else m
        xf = x.to(memory_format=fmt)

        def run(amp=amp, run_model=run_model, xf=xf) -> None:
            with _autocast(device, amp):
                run_model(xf)
        name = f"infer resnet50 b{batch} {amp}" + (" channels_last" if channels_last else "") + \
            (" compile" if compiled else "")
        yield (name, "img/s", _rate(run, batch, device, steps))


def accuracy_rows(device: torch.device, dataset: str, data_dir: str | None, epochs: int | None,
                  budget_s: float) -> Iterator[tuple[str, str, float]]:
    import tempfile

    from cnnzoo.train.loop import train

    deadline = time.perf_counter() + budget_s
    for name, goal in ACCURACY_GOALS.items():
        if time.perf_counter() > deadline:
            yield (f"accuracy {name} (skipped: time box)", "%", float("nan"))
            continue
        start = time.perf_counter()
        result = train(name, dataset=dataset, data_dir=data_dir, epochs=epochs, device=str(device),
                       amp="bf16", out=tempfile.mkdtemp(prefix=f"gpu-{name}-"), progress=False, quiet=True)
        top1 = float(result["top1"]) if result.get("top1") is not None else float("nan")
        yield (f"accuracy {name} on {dataset} (goal {goal}%, {time.perf_counter() - start:.0f} s)", "%", top1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="plan + one tiny step of each kind on the CPU")
    parser.add_argument("--cpu", action="store_true", help="the whole plan on the CPU at toy sizes")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--epochs", type=int, help="accuracy runs: override the recipes' epochs")
    parser.add_argument("--accuracy-budget", type=float, default=330.0, help="seconds for the accuracy runs")
    parser.add_argument("--no-accuracy", action="store_true")
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not (args.dry_run or args.cpu)
    if not cuda and not (args.dry_run or args.cpu):
        raise SystemExit("gpu_checks: no CUDA device (use --cpu or --dry-run to exercise the script)")
    device = torch.device("cuda" if cuda else "cpu")
    tiny = not cuda
    name = torch.cuda.get_device_name(device) if cuda else "CPU (dry run)" if args.dry_run else "CPU"
    print(f"device: {name}; torch {torch.__version__}; cuda {torch.version.cuda}; cnnzoo {cnnzoo.__version__}")
    # Each row is printed the moment it is measured: if the 600 s limit cuts the run short, the
    # rows measured so far are still on screen.
    width = 64
    print(f"\n| {'check'.ljust(width)} | value | unit |")
    print(f"|{'-' * (width + 2)}|-------|------|", flush=True)

    def show(rows: Iterable[tuple[str, str, float]]) -> None:
        for check, unit, value in rows:
            print(f"| {check.ljust(width)} | {value:.1f} | {unit} |", flush=True)

    compile_ok = cuda  # compile on the CPU takes minutes: the GPU run only
    show(training_rows(device, 8 if tiny else 256, 1 if tiny else 30, compile_ok))
    show(inference_rows(device, 2 if tiny else 64, 1 if tiny else 30, 64 if tiny else 224, compile_ok))
    if not args.no_accuracy and not args.dry_run:
        dataset = "sample" if tiny else "fashion-mnist"
        show(accuracy_rows(device, dataset, args.data_dir, 1 if tiny else args.epochs, args.accuracy_budget))

if __name__ == "__main__":
    main()
