"""Evaluation: top-1, top-5, loss, per-class accuracy and the confusion matrix of a model on an
in-memory data set; and `evaluate(...)`, the body of `cnnzoo eval`."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError, DataError
from .distributed import DistInfo
from .metrics import confusion_matrix, topk_correct


def autocast(device: torch.device, amp: str):
    """The autocast context for an --amp mode ('off' -> no autocast)."""
    if amp == "off":
        return nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def evaluate_arrays(model: nn.Module, images: Tensor, labels: Tensor, adapter: Callable[[Tensor], Tensor],
                    num_classes: int, *, device: torch.device, batch_size: int = 500, amp: str = "off",
                    channels_last: bool = False, dist: DistInfo | None = None) -> dict[str, Any]:
    """Evaluate on uint8 images (N x C x H x W) and int64 labels, in batches, without shuffling.

    Under torchrun each process takes a contiguous share and the sums are added up, so every
    process returns the same numbers. Returns loss, top1, top5 (percent), per_class (percent per
    class, None for classes absent from the split), confusion (list of lists, rows = true class),
    images, images_per_s.
    """
    dist = dist or DistInfo()
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
        x = adapter(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            logits = model(x)
        if isinstance(logits, tuple):  # a model left with its training outputs
            logits = logits[0]
        logits = logits.float()
        if logits.shape[1] != num_classes:
            raise CheckpointError(f"the model has {logits.shape[1]} outputs but the data set has "
                                  f"{num_classes} classes: evaluate it on the data set it was trained for")
        sums += torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                             topk_correct(logits, y, 1).double(), topk_correct(logits, y, 5).double(),
                             torch.tensor(float(y.numel()), dtype=torch.float64, device=device)])
        confusion += confusion_matrix(logits.argmax(1), y, num_classes)
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


def evaluate(checkpoint: str | Path, *, dataset: str | None = None, data_dir: str | None = None,
             split: str = "test", batch_size: int = 500, device: str = "auto",
             confusion_png: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint (run folder, checkpoint folder or model.safetensors) on a data set.

    The data set defaults to the one the model was trained on; inputs are normalised exactly as
    in training (the checkpoint's saved normalisation). Writes the confusion matrix PNG to
    `confusion_png` (default: confusion-<dataset>-<split>.png next to the run's results, or in
    the checkpoint folder). Returns the metrics dict (see evaluate_arrays) plus model, dataset,
    classes, checkpoint and confusion_png.
    """
    from ..data import load_dataset
    from .checkpoint import load_model
    from .distributed import pick_device
    from .plots import confusion_png as draw_confusion
    from .predict import adapter_from_meta

    dev = pick_device(device)
    model, meta = load_model(checkpoint, map_location=dev)
    name = dataset or meta.get("dataset")
    if not name:
        raise CheckpointError("the checkpoint does not say which data set it was trained on: pass --dataset")
    data = load_dataset(name, split, data_dir=data_dir)
    classes = list(data.classes)
    if len(classes) != int(meta["num_classes"]):
        raise DataError(f"data set {name!r} has {len(classes)} classes but the checkpoint's "
                        f"{meta['model']} was trained for {meta['num_classes']}: pick a matching --dataset")
    adapter = adapter_from_meta(meta, data, device=dev)
    result = evaluate_arrays(model, data.images, data.labels, adapter, len(classes), device=dev,
                             batch_size=batch_size)
    folder = Path(meta["path"])
    run_dir = folder.parent.parent if folder.parent.name == "checkpoints" else folder
    if confusion_png is None:
        confusion_png = run_dir / f"confusion-{name}-{split}.png"
    draw_confusion(result["confusion"], classes, confusion_png,
                   title=f"{meta['model']} on {name} ({split}): top-1 {result['top1']:.2f}%")
    result.update(model=meta["model"], dataset=name, split=split, classes=classes,
                  checkpoint=str(folder), epoch=meta.get("epoch"), confusion_png=str(confusion_png))
    return result


def format_report(result: dict[str, Any]) -> str:
    """The human-readable eval report."""
    lines = [f"{result['model']} ({result['checkpoint']}, epoch {result.get('epoch')}) on "
             f"{result['dataset']} {result['split']}: {result['images']} images",
             f"top-1 {result['top1']:.2f}%   top-5 {result['top5']:.2f}%   loss {result['loss']:.4f}",
             "", "per-class accuracy:"]
    width = max(len(c) for c in result["classes"])
    for cls, acc in zip(result["classes"], result["per_class"]):
        lines.append(f"  {cls.ljust(width)}  " + ("   -" if acc is None else f"{acc:6.2f}%"))
    lines.append(f"\nconfusion matrix: {result['confusion_png']}")
    return "\n".join(lines)


def report_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
