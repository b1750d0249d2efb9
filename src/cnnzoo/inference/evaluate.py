"""Evaluation: top-1, top-5, loss, per-class accuracy and the confusion matrix of a model on an
in-memory data set (`evaluate_arrays`, which the training loop runs too); and `evaluate(...)`,
the body of `cnnzoo eval` (its report and text form: inference.report)."""
from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import checks
from ..devices import pick_device
from ..errors import CheckpointError, CnnzooError, DataError, OptionError
from ..io import check_target
from .checkpoint import run_folder_of
from .fast import precision_choice
from .progress import ImageProgress
from .report import EvalReport, draw_confusion
from .run import LoadedRun, load_run


class Reducer(Protocol):
    """What evaluate_arrays needs of a process group (train.distributed.DistInfo is one)."""

    rank: int
    world: int

    @property
    def enabled(self) -> bool: ...

    def all_reduce(self, tensor: Tensor) -> Tensor: ...


def topk_correct(logits: Tensor, target: Tensor, k: int) -> Tensor:
    """How many rows have the target among the k largest logits (a 0-d int64 tensor)."""
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # N x k
    return (top == target.unsqueeze(1)).any(dim=1).sum()


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """num_classes x num_classes int64 counts; row = true class, column = predicted class."""
    flat = target.long() * num_classes + pred.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def autocast(device: torch.device, amp: str):
    """The autocast context for an --amp mode ('off' -> no autocast)."""
    if amp == "off":
        return nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def finite_logits(out: Tensor | tuple[Tensor, ...], what: str) -> Tensor:
    """The main classifier's logits of a model's output, as float32, refused when not finite.

    A model left in training mode returns GoogLeNet's (logits, aux1, aux2): the first is the
    classifier's. NaN or infinite logits mean broken weights; no prediction or accuracy made from
    them means anything, so they raise CheckpointError (one line naming `what` was fed)."""
    logits = (out[0] if isinstance(out, tuple) else out).float()
    if not torch.isfinite(logits).all():
        raise CheckpointError(f"the model's outputs for {what} are not finite (NaN or infinite): "
                              "its weights are broken")
    return logits


@torch.no_grad()
def evaluate_arrays(model: nn.Module, images: Tensor, labels: Tensor, pipeline: Callable[[Tensor], Tensor],
                    num_classes: int, *, device: torch.device, batch_size: int = 500, amp: str = "off",
                    channels_last: bool = False, dist: Reducer | None = None,
                    on_batch: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate on uint8 images (N x C x H x W) and int64 labels, in batches, without shuffling.

    on_batch(done, total): called after each batch with the images done so far (for progress).

    dist (the training engine's DistInfo under torchrun): each process takes a contiguous share and
    the sums are added up, so every process returns the same numbers. Returns loss, top1, top5
    (percent), per_class (percent per class, None for classes absent from the split), confusion
    (list of lists, rows = true class), images, images_per_s.
    """
    if labels.shape[0] == 0:
        raise DataError("the evaluation split is empty: nothing to evaluate")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"--batch-size must be at least 1, got {batch_size!r}")
    was_training = model.training
    model.eval()
    n_all = labels.shape[0]
    group = dist if dist is not None and dist.enabled else None
    share = None if group is None else torch.arange(n_all).tensor_split(group.world)[group.rank]
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss*n, top1, top5, n
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    n_local = n_all if share is None else share.numel()
    for lo in range(0, n_local, batch_size):
        idx = slice(lo, min(lo + batch_size, n_local)) if share is None else share[lo:lo + batch_size]
        x = images[idx].to(device, non_blocking=True)
        y = labels[idx].to(device, non_blocking=True)
        x = pipeline(x)  # the run's InputPipeline: uint8 -> the model's input
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            out = model(x)
        logits = finite_logits(out, f"images {lo}..{lo + len(y) - 1}")
        if logits.shape[1] != num_classes:
            raise CheckpointError(f"the model has {logits.shape[1]} outputs but the data set has "
                                  f"{num_classes} classes: evaluate it on the data set it was trained for")
        sums += torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                             topk_correct(logits, y, 1).double(), topk_correct(logits, y, 5).double(),
                             torch.tensor(float(y.numel()), dtype=torch.float64, device=device)])
        confusion += confusion_matrix(logits.argmax(1), y, num_classes)
        if on_batch is not None:
            on_batch(lo + len(y), n_local)
    if group is not None:
        group.all_reduce(sums)
        group.all_reduce(confusion)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    model.train(was_training)
    loss_sum, top1, top5, n = sums.tolist()
    conf = confusion.cpu()
    totals = conf.sum(1)
    per_class = [100 * conf[i, i].item() / totals[i].item() if totals[i] else None for i in range(num_classes)]
    n = max(n, 1.0)
    return {"loss": loss_sum / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n,
            "per_class": per_class, "confusion": conf.tolist(), "images": int(n),
            "images_per_s": n / max(elapsed, 1e-9)}


def evaluate(checkpoint: str | Path | Any, *, dataset: str | None = None,
             data_dir: str | None = None, split: str = "test", batch_size: int = 500,
             device: str = "auto", confusion_png: str | Path | None = None,
             runtime: str | None = None, progress: bool = True, precision: str = "fp32") -> EvalReport:
    """Evaluate a checkpoint (run folder, checkpoint folder or model.safetensors, or a LoadedRun)
    on a data set.

    The data set defaults to the one the model was trained on (read from where it was read, at
    the size it was trained at); inputs go through the run's own InputPipeline. Writes the
    confusion matrix PNG to exactly `confusion_png` (refused in one line if it is a folder, a
    symlink, a device or a FIFO); by default to confusion-<dataset>-<split>.png in the run folder
    (or the checkpoint folder), skipped with a note (result["confusion_note"], confusion_png
    None) when that folder cannot be written: a reader never fails on a read-only run. runtime: run the model through
    cnnzoo.export.optimize(model, runtime=...). precision (with a runtime): "fp32", "bf16",
    "int8" or "auto" (export.precision); below fp32 the fp32 model is evaluated on the same
    images too, and the report gives both top-1 and the points lost. progress: show a progress line on stderr when it
    is a terminal. Returns an EvalReport (see evaluate_arrays) plus
    model, dataset, classes, checkpoint and confusion_png.
    """
    batch_size = checks.positive_int("--batch-size", batch_size)
    if confusion_png is not None and not Path(confusion_png).parent.is_dir():
        raise DataError(f"cannot write the confusion matrix to {confusion_png}: "
                        f"{Path(confusion_png).parent} is not a folder; give another --out")
    if confusion_png is not None:
        check_target(confusion_png, "the confusion matrix")
    dev = pick_device(device)
    run = checkpoint if isinstance(checkpoint, LoadedRun) else load_run(checkpoint, device=dev)
    if run.random:
        raise CheckpointError("evaluate needs a trained checkpoint, not random weights")
    data, run = run.load_data(dataset, split, data_dir)
    name = data.name
    if len(data) == 0:
        raise DataError(f"the {name} {split} split is empty: nothing to evaluate")
    classes = list(data.classes)
    num_classes = int(run.meta.get("num_classes", len(classes)))
    if len(classes) != num_classes:
        raise DataError(f"data set {name!r} has {len(classes)} classes but the checkpoint's "
                        f"{run.name} was trained for {num_classes}: pick a matching --dataset")
    bar = ImageProgress(progress)
    try:
        result = _evaluate_run(run, data, dev, batch_size, runtime, precision, bar)
    finally:
        bar.clear()
    title = f"{run.name} on {name} ({split}): top-1 {result['top1']:.2f}%"
    note = None
    if confusion_png is not None:
        draw_confusion(result["confusion"], classes, confusion_png, title=title)
    else:
        confusion_png, note = _confusion_beside_run(run, result["confusion"], classes, title,
                                                    f"confusion-{name}-{split}.png")
    result.update(model=run.name, dataset=name, split=split, classes=classes,
                  checkpoint=str(Path(run.checkpoint or ".")), epoch=run.meta.get("epoch"),
                  confusion_png=None if confusion_png is None else str(confusion_png))
    if note:
        result["confusion_note"] = note
    return EvalReport(result)


def _evaluate_run(run: LoadedRun, data: Any, dev: torch.device, batch_size: int,
                  runtime: str | None, precision: str, bar: ImageProgress) -> dict[str, Any]:
    """evaluate_arrays on the run's model, or on its fast path's model when `runtime` is given;
    below fp32 the fp32 model too, on the same images, and the report says what was lost."""
    def on(model: nn.Module) -> dict[str, Any]:
        return evaluate_arrays(model, data.images, data.labels, run.pipeline, len(data.classes),
                               device=dev, batch_size=batch_size, on_batch=bar)

    if runtime is None:
        return on(run.model)
    # the runtimes take any batch; the choice among them is timed on up to 32 images (timing
    # 500 ImageNet-size images per candidate and round would take minutes)
    model = run.optimized(runtime, batch=min(batch_size, 32), precision=precision)
    choice = precision_choice(model)
    result = on(model)
    choice["top1"] = result["top1"]  # every precision's block says what it scored
    if choice["precision"] != "fp32":
        fp32 = on(run.model)
        choice.update(top1_fp32=fp32["top1"], top1_lost_points=fp32["top1"] - result["top1"])
    result["precision"] = choice
    return result


def _confusion_beside_run(run: LoadedRun, confusion: list[list[int]], classes: list[str],
                          title: str, filename: str) -> tuple[Path | None, str | None]:
    """(the PNG written in the run folder, None), or (None, a note saying why it was not).

    A read-only run is read, never failed on (readers modify nothing): the PNG is skipped with
    one note."""
    run_dir = run_folder_of(run.checkpoint or ".")
    default = run_dir / filename
    try:
        if not os.access(run_dir, os.W_OK):
            raise PermissionError(errno.EACCES, "the run folder is read-only")
        draw_confusion(confusion, classes, check_target(default), title=title)
        return default, None
    except (OSError, CnnzooError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return None, (f"confusion matrix not written ({why}): give --out FILE.png to write it "
                      "elsewhere")
