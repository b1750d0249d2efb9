"""What the experiments share: the data, a small step-by-step SGD loop, gradient norms, figures.

The experiments need what happens inside a run at every step (the training error after each
step, gradient norms of chosen layers, two losses on the same weights), so `fit` drives the models
through the engine's step loop (train/step.py's `run_steps` and `train_step`) with its own
batches and after-step callback, rather than through the engine's epochs, whose unit is a run
folder. The data are real: Debian's Fashion-MNIST when installed, else the embedded sample (both
through `cnnzoo.data.load_dataset`).
"""
from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import load_dataset
from ..data.datasets import SAMPLE_DIR
from ..data.idx import locate
from ..errors import CnnzooError
from ..inference.pipeline import InputPipeline
from ..recipes import RECIPES


# --- data ------------------------------------------------------------------------------------
@dataclass
class Data:
    """uint8 images N x 1 x 28 x 28 and int64 labels, train and test, and where they came from."""

    name: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    files: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256


@functools.lru_cache(maxsize=1)
def load_data() -> Data:
    """Fashion-MNIST (Debian's copy, no download) when present, else the embedded sample."""
    try:
        train = load_dataset("fashion-mnist", "train", download=False)
        test = load_dataset("fashion-mnist", "test", download=False)
        name = "Fashion-MNIST"
        paths = [*locate("fashion-mnist", "train", None, False), *locate("fashion-mnist", "test", None, False)]
    except CnnzooError:
        train, test = load_dataset("sample", "train"), load_dataset("sample", "test")
        name = "the embedded Fashion-MNIST sample"
        paths = sorted(SAMPLE_DIR.glob("*-ubyte*"))
    files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    return Data(name, train.images, train.labels, test.images, test.labels, files)


# The images the running claim drew (by split: the set of indices) and the sizes it asked for but
# could not get: run_claim resets this before each claim and records it as the claim's `data`.
_USED: dict[str, set[int]] = {"train": set(), "test": set()}
_SHORT: list[str] = []


def reset_data_record() -> None:
    _USED["train"].clear()
    _USED["test"].clear()
    _SHORT.clear()


def data_record() -> dict[str, Any] | None:
    """The data the running claim used: name, files with their SHA-256, the number of distinct
    training and test images drawn, and every requested size that was not available."""
    if not (_USED["train"] or _USED["test"]):
        return None
    data = load_data()
    return {"name": data.name, "files": dict(data.files), "train_images": len(_USED["train"]),
            "test_images": len(_USED["test"]), "not_available": list(_SHORT)}


def subset(images: Tensor, labels: Tensor, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """n examples drawn at random (without replacement, fixed by seed); fewer when fewer exist
    (recorded in the claim's data record, so the report can say so)."""
    data = load_data()
    split = "train" if labels is data.train_labels else "test" if labels is data.test_labels else ""
    if n > len(labels):
        _SHORT.append(f"{n:,} {split or 'data'} images asked for, {len(labels):,} available in {data.name}")
    n = min(n, len(labels))
    idx = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    if split:
        _USED[split].update(idx.tolist())
    return images[idx], labels[idx]


# Fashion-MNIST's training-set statistics (of pixels / 255), measured once for all experiments.
_MEAN, _STD = 0.2860, 0.3530


def to_input(images: Tensor, size: int = 32, channels: int = 1, fit: str = "pad") -> Tensor:
    """uint8 N x 1 x 28 x 28 -> standardised float N x channels x size x size, through the input
    pipeline cnnzoo trains and predicts with (Fashion-MNIST's training statistics).

    fit "pad": centre the 28x28 image in size x size (LeNet-5's 32x32, the CIFAR nets' 32x32),
    "resize": bilinear resize (the ImageNet networks' 224 / 227 inputs).
    """
    h, w = images.shape[-2:]
    pipeline = InputPipeline(channels, (size, size), (h, w), fit, (_MEAN,) * channels, (_STD,) * channels)
    return pipeline(images.expand(-1, channels, -1, -1)).contiguous()


# --- where the experiments run ----------------------------------------------------------------
# The models and their batches run on this device (`cnnzoo claims --device`); the data, the index
# tensors and the generators that draw batches stay on the CPU, so the batches, and every number
# measured on the CPU, are the same whichever device is chosen.
_DEVICE = ["cpu"]


def use_device(name: str) -> None:
    """Run the experiments' models on `name` ("cpu" or "cuda"); a missing CUDA is one error line."""
    if name not in ("cpu", "cuda"):
        raise CnnzooError(f"--device {name}: the claims run on cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise CnnzooError("--device cuda: this machine has no CUDA GPU that PyTorch can use; "
                          "leave out --device (or give --device cpu)")
    _DEVICE[0] = name


def device() -> torch.device:
    """The device the experiments' models run on."""
    return torch.device(_DEVICE[0])


def on_device(*tensors: Tensor) -> list[Tensor]:
    """These tensors on the experiments' device (the same tensors on the CPU)."""
    return [t.to(device()) for t in tensors]


# --- training --------------------------------------------------------------------------------
def main_logits(out: Any) -> Tensor:
    """The main classifier's output (GoogLeNet returns (logits, aux1, aux2) in training mode)."""
    return out[0] if isinstance(out, tuple) else out


def loss_of(model: nn.Module, out: Any, y: Tensor, aux: bool = True) -> Tensor:
    """Cross-entropy; with GoogLeNet's auxiliary heads, plus their weighted losses when aux."""
    if isinstance(out, tuple):
        loss = F.cross_entropy(out[0], y)
        if aux:
            weight = getattr(model, "aux_loss_weight", 0.3)
            loss = loss + weight * sum(F.cross_entropy(o, y) for o in out[1:])
        return loss
    return F.cross_entropy(out, y)


@dataclass
class Fit:
    """Per-step training losses and errors (% of the step's batch), and the wall time."""

    losses: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    def smoothed_error(self, window: int = 20) -> list[float]:
        out, acc = [], 0.0
        for i, e in enumerate(self.errors):
            acc += e
            if i >= window:
                acc -= self.errors[i - window]
            out.append(acc / min(i + 1, window))
        return out

    def steps_to_error(self, target: float, window: int = 20) -> int | None:
        """First step at which the running training error (over `window` steps) is <= target."""
        for i, e in enumerate(self.smoothed_error(window)):
            if i + 1 >= window and e <= target:
                return i + 1
        return None


def recipe(name: str) -> dict[str, Any]:
    """The training engine's recipe (cnnzoo.recipes RECIPES): optimizer settings and schedule."""
    r = RECIPES[name]
    return dict(lr=r["lr"], momentum=r["momentum"], weight_decay=r["weight_decay"],
                schedule=r["schedule"])


def fit(model: nn.Module, x: Tensor, y: Tensor, *, steps: int, batch: int = 64, lr: float = 0.01,
        momentum: float = 0.9, weight_decay: float = 0.0, schedule: str = "constant",
        warmup: float = 0.0, seed: int = 0, aux: bool = True,
        stop: Callable[[Fit], bool] | None = None,
        on_step: Callable[[int, nn.Module], None] | None = None) -> Fit:
    """SGD with momentum on (x, y), `steps` batches drawn in shuffled epochs, the learning rate
    following the engine's schedules ("constant", "cosine", "onecycle"; warmup = share of steps).

    stop(fit) ends early when it returns True; on_step(step, model) runs after each update.
    A loss that turns NaN or infinite stops the run (recorded as 100% error from there on).
    """
    from ..train.optim import Schedule  # torch's optimizers: claims load only when they run
    from ..train.step import run_steps, train_step  # the engine's step and step loop

    model.to(device())  # before the optimiser takes its parameters
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if schedule == "onecycle" and not warmup:
        warmup = 0.25  # the engine's one-cycle default
    model.train()
    record = Fit()

    def step_on(xb: Tensor, yb: Tensor) -> tuple[Tensor, Any]:
        return train_step(model, xb, yb, opt, lambda out, target: loss_of(model, out, target, aux),
                          skip_nonfinite=True)

    def after(step: int, loss: Tensor, out: Any, yb: Tensor) -> bool:
        if not torch.isfinite(loss):  # the step was skipped: the weights are the last good ones
            record.errors += [100.0] * (steps - step)
            record.losses += [math.inf] * (steps - step)
            return True
        with torch.no_grad():
            wrong = (main_logits(out).argmax(1) != yb).float().mean().item()
        record.losses.append(loss.item())
        record.errors.append(100.0 * wrong)
        if on_step is not None:
            on_step(step, model)
        return stop is not None and stop(record)

    start = time.perf_counter()
    run_steps(_passes(x, y, steps, batch, seed), Schedule(schedule, steps, int(warmup * steps)),
              opt, lr, 0, step_on, after)
    record.steps = len(record.losses)
    record.seconds = time.perf_counter() - start
    return record


def _passes(x: Tensor, y: Tensor, steps: int, batch: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
    """`steps` batches of (x, y) on the experiments' device, drawn in shuffled passes over the
    examples from one generator (a new pass when the rest of one is shorter than a batch). The
    order is drawn on the CPU: the same batches on every device."""
    n = len(y)
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(n, generator=gen), 0
    for _ in range(steps):
        if pos + batch > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + batch]
        pos += batch
        xb, yb = on_device(x[idx], y[idx])
        yield xb, yb


@torch.no_grad()
def error_rate(model: nn.Module, x: Tensor, y: Tensor, batch: int = 500) -> float:
    """Top-1 error (%) in evaluation mode, on the device the model is on."""
    model.eval()
    at = next(model.parameters()).device
    wrong = 0.0
    for i in range(0, len(y), batch):
        xb, yb = x[i:i + batch].to(at), y[i:i + batch].to(at)
        wrong += (main_logits(model(xb)).argmax(1) != yb).sum().item()
    model.train()
    return 100.0 * wrong / max(len(y), 1)


def grad_norms(model: nn.Module, names: Iterable[str]) -> dict[str, float]:
    """L2 norm of the weight gradient of each named module (after a backward)."""
    modules = dict(model.named_modules())
    return {n: float(modules[n].weight.grad.norm()) if modules[n].weight.grad is not None else 0.0
            for n in names}


def weighted_layers(model: nn.Module) -> list[str]:
    """Names of the Conv2d and Linear layers, in definition order."""
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return mean, std


def seconds_per_call(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best of `repeat` timed calls after one warm-up call (seconds)."""
    fn()
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def seeded(seed: int) -> None:
    torch.manual_seed(seed)


# --- figures ---------------------------------------------------------------------------------
def figure(width: float = 6.4, height: float = 3.6, ncols: int = 1) -> tuple[Any, Any]:
    """A matplotlib figure on the Agg backend (no display needed) in the report's style."""
    # matplotlib only when a claim draws: a claim run without figures never loads it
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # after use("Agg"): the backend is chosen before pyplot loads
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), dpi=110, constrained_layout=True)
    for ax in (axes if ncols > 1 else [axes]):
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes


COLOURS = {"sigmoid": "#7f7f7f", "tanh": "#1f77b4", "relu": "#d62728", "table": "#2ca02c",
           "full": "#9467bd", "plain": "#ff7f0e", "residual": "#1f77b4"}


def plot_seeds(ax: Any, curves: Sequence[Sequence[float]], *, colour: str, label: str | None = None,
               style: str = "-", alpha: float = 1.0, x: Sequence[float] | None = None) -> None:
    """One line per experiment over its seeds: the mean, with a band of ± one sd where two or more
    seeds have a value (curves may differ in length: runs that stop at a target end early)."""
    length = max(len(c) for c in curves)
    stats = [mean_std([c[i] for c in curves if i < len(c)]) for i in range(length)]
    xs = list(x) if x is not None else list(range(1, length + 1))
    mean = [m for m, _ in stats]
    ax.plot(xs, mean, style, color=colour, alpha=alpha, label=label)
    if len(curves) > 1:
        ax.fill_between(xs, [m - s for m, s in stats], [m + s for m, s in stats], color=colour,
                        alpha=0.18 * alpha, lw=0)


def seeds_label(seeds: Sequence[int]) -> str:
    """What a plot_seeds figure shows, for its axis label."""
    return f"mean ± sd over {len(seeds)} seeds" if len(seeds) > 1 else f"seed {seeds[0]}"
