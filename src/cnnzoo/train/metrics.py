"""Counting what a classifier gets right, without leaving the device until asked.

Accuracies are reported in percent (top-1, top-5); `loss` is the mean cross-entropy.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..inference.evaluate import confusion_matrix, topk_correct  # noqa: F401  (one count, for both)


class Meter:
    """Running sums of loss, top-1 and top-5 hits over the images seen, kept on the device.

    The sums are float64/int64 so a long epoch neither loses precision nor depends on the order
    in which partial sums were taken (for exact resume)."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss*n, top1, top5, n

    def add(self, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        n = target.shape[0]
        with torch.no_grad():
            upd = torch.stack([loss.detach().double() * n,
                               topk_correct(logits, target, 1).double(),
                               topk_correct(logits, target, 5).double(),
                               torch.tensor(float(n), dtype=torch.float64, device=self.sums.device)])
            self.sums += upd

    def values(self) -> dict[str, float]:
        loss_sum, top1, top5, n = self.sums.tolist()
        n = max(n, 1.0)
        return {"loss": loss_sum / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n, "images": int(n)}


def is_finite(x: float) -> bool:
    return not (math.isnan(x) or math.isinf(x))


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    return out.getvalue()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def read_csv(text: str) -> list[dict[str, Any]]:
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        rows.append({k: _parse(v) for k, v in row.items()})
    return rows


def _parse(v: str) -> Any:
    if v == "":
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v
