"""Evaluation: top-1, top-5, loss, per-class accuracy and the confusion matrix of a model on an
in-memory data set; and `evaluate(...)`, the body of `cnnzoo eval`."""
from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import io
from ..errors import CheckpointError, CnnzooError, DataError, OptionError
from ..io import check_target
from .checkpoint import run_folder_of
from .distributed import DistInfo
from .metrics import confusion_matrix, topk_correct
from .progress import ImageProgress


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
                    channels_last: bool = False, dist: DistInfo | None = None,
                    on_batch: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate on uint8 images (N x C x H x W) and int64 labels, in batches, without shuffling.

    on_batch(done, total): called after each batch with the images done so far (for progress).

    Under torchrun each process takes a contiguous share and the sums are added up, so every
    process returns the same numbers. Returns loss, top1, top5 (percent), per_class (percent per
    class, None for classes absent from the split), confusion (list of lists, rows = true class),
    images, images_per_s.
    """
    dist = dist or DistInfo()
    if labels.shape[0] == 0:
        raise DataError("the evaluation split is empty: nothing to evaluate")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"--batch-size must be at least 1, got {batch_size!r}")
    was_training = model.training
    model.eval()
    n_all = labels.shape[0]
    share = torch.arange(n_all).tensor_split(dist.world)[dist.rank] if dist.enabled else None
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
    dist.all_reduce(sums)
    dist.all_reduce(confusion)
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


class EvalReport(dict):
    """The result of `evaluate`: a dict (loss, top1, top5, per_class, confusion, images, model,
    dataset, split, classes, checkpoint, epoch, confusion_png...) with a short repr and an HTML
    table for notebooks."""

    def __repr__(self) -> str:
        return (f"EvalReport({self.get('model')} on {self.get('dataset')} {self.get('split')}: "
                f"top-1 {self.get('top1', float('nan')):.2f}%, top-5 "
                f"{self.get('top5', float('nan')):.2f}%, loss {self.get('loss', float('nan')):.4f}, "
                f"{self.get('images') or 0:,} images)")

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(f"<tr><td>{escape(str(c))}</td><td>"
                       f"{'-' if a is None else f'{a:.2f}%'}</td></tr>"
                       for c, a in zip(self.get("classes", []), self.get("per_class", [])))
        return (f"<p><b>{escape(str(self.get('model')))}</b> on {escape(str(self.get('dataset')))} "
                f"{escape(str(self.get('split')))} ({self.get('images') or 0:,} images): top-1 "
                f"<b>{self['top1']:.2f}%</b>, top-5 {self['top5']:.2f}%, loss {self['loss']:.4f}</p>"
                f"<table><tr><th>class</th><th>accuracy</th></tr>{rows}</table>")

    def to_json(self) -> str:
        return io.json_text(dict(self))  # strict JSON: a non-finite loss is null, said in not_finite

    def to_pandas(self) -> Any:
        """Per-class accuracy and counts as a pandas DataFrame (pandas must be installed)."""
        try:
            import pandas as pd
        except ImportError:
            raise CnnzooError("to_pandas needs pandas: pip install pandas") from None
        confusion = self.get("confusion", [])
        return pd.DataFrame({"class": self.get("classes", []),
                             "images": [sum(row) for row in confusion],
                             "correct": [row[i] for i, row in enumerate(confusion)],
                             "accuracy_percent": self.get("per_class", [])})


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
    from .. import checks
    from ..runs import LoadedRun, load_run
    from .distributed import pick_device
    from .plots import confusion_png as draw_confusion

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
    data, pipeline = run.load_data(dataset, split, data_dir)
    name = data.name
    if len(data) == 0:
        raise DataError(f"the {name} {split} split is empty: nothing to evaluate")
    classes = list(data.classes)
    num_classes = int(run.meta.get("num_classes", len(classes)))
    if len(classes) != num_classes:
        raise DataError(f"data set {name!r} has {len(classes)} classes but the checkpoint's "
                        f"{run.name} was trained for {num_classes}: pick a matching --dataset")
    model = run.model
    choice = None
    if runtime is not None:
        # the runtimes take any batch; the choice among them is timed on up to 32 images (timing
        # 500 ImageNet-size images per candidate and round would take minutes)
        model = run.optimized(runtime, batch=min(batch_size, 32), precision=precision)
        choice = _precision_choice(model)
    bar = ImageProgress(progress)
    try:
        result = evaluate_arrays(model, data.images, data.labels, pipeline, len(classes),
                                 device=dev, batch_size=batch_size, on_batch=bar)
        if choice is not None and choice["precision"] != "fp32":
            fp32 = evaluate_arrays(run.model, data.images, data.labels, pipeline, len(classes),
                                   device=dev, batch_size=batch_size, on_batch=bar)
            choice.update(top1=result["top1"], top1_fp32=fp32["top1"],
                          top1_lost_points=fp32["top1"] - result["top1"])
    finally:
        bar.clear()
    if choice is not None:
        result["precision"] = choice
    title = f"{run.name} on {name} ({split}): top-1 {result['top1']:.2f}%"
    note = None
    if confusion_png is not None:
        draw_confusion(result["confusion"], classes, confusion_png, title=title)
    else:
        # the default goes beside the run; a read-only run is read, never failed on (readers
        # modify nothing): the PNG is skipped with one note
        run_dir = run_folder_of(run.checkpoint or ".")
        default = run_dir / f"confusion-{name}-{split}.png"
        try:
            if not os.access(run_dir, os.W_OK):
                raise PermissionError(errno.EACCES, "the run folder is read-only")
            draw_confusion(result["confusion"], classes, check_target(default), title=title)
            confusion_png = default
        except (OSError, CnnzooError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            note = (f"confusion matrix not written ({why}): give --out FILE.png to write it "
                    "elsewhere")
    result.update(model=run.name, dataset=name, split=split, classes=classes,
                  checkpoint=str(Path(run.checkpoint or ".")), epoch=run.meta.get("epoch"),
                  confusion_png=None if confusion_png is None else str(confusion_png))
    if note:
        result["confusion_note"] = note
    return EvalReport(result)


def _precision_choice(model: Any) -> dict[str, Any]:
    from ..export.precision import describe_choice

    return describe_choice(model)


def _precision_lines(choice: dict[str, Any]) -> list[str]:
    lines = ["", *choice["notes"]]
    if "top1_fp32" in choice:
        lost = choice["top1_lost_points"]
        lines.append(f"{choice['precision']} ({choice['runtime']}): top-1 {choice['top1']:.2f}% against "
                     f"fp32 {choice['top1_fp32']:.2f}% on the same images: "
                     + (f"{lost:.2f} points lost" if lost >= 0 else f"{-lost:.2f} points gained"))
    return lines


def format_report(result: dict[str, Any]) -> str:
    """The human-readable eval report."""
    lines = [f"{result['model']} ({result['checkpoint']}, epoch {result.get('epoch')}) on "
             f"{result['dataset']} {result['split']}: {result['images']:,} images",
             f"top-1 {result['top1']:.2f}%   top-5 {result['top5']:.2f}%   loss {result['loss']:.4f}",
             "", "per-class accuracy:"]
    width = max(len(c) for c in result["classes"])
    for cls, acc in zip(result["classes"], result["per_class"]):
        lines.append(f"  {cls.ljust(width)}  " + ("   -" if acc is None else f"{acc:6.2f}%"))
    if result.get("confusion_png"):
        lines.append(f"\nconfusion matrix: {result['confusion_png']}")
    elif result.get("confusion_note"):
        lines.append(f"\n{result['confusion_note']}")
    if result.get("precision"):
        lines += _precision_lines(result["precision"])
    return "\n".join(lines)


def report_json(result: dict[str, Any]) -> str:
    return io.json_text(dict(result))  # strict JSON: a non-finite loss is null, said in not_finite
