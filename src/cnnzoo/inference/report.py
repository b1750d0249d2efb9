"""What `cnnzoo eval` reports: EvalReport (a dict with a repr, HTML and pandas forms), its text
and JSON forms, and the confusion matrix drawn as a PNG."""
from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..errors import CnnzooError
from ..io import save_figure


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
            import pandas as pd  # optional: only this method needs it
        except ImportError:
            raise CnnzooError("to_pandas needs pandas: pip install pandas") from None
        confusion = self.get("confusion", [])
        return pd.DataFrame({"class": self.get("classes", []),
                             "images": [sum(row) for row in confusion],
                             "correct": [row[i] for i, row in enumerate(confusion)],
                             "accuracy_percent": self.get("per_class", [])})




def precision_lines(choice: dict[str, Any]) -> list[str]:
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
        lines += precision_lines(result["precision"])
    return "\n".join(lines)


def report_json(result: dict[str, Any]) -> str:
    return io.json_text(dict(result))  # strict JSON: a non-finite loss is null, said in not_finite


def pyplot() -> Any:
    """matplotlib.pyplot on its file-only backend (imported only when drawing: it is slow to load)."""
    import matplotlib  # slow to load: only when a figure is drawn

    matplotlib.use("Agg", force=False)  # no display needed; keeps working on headless machines
    import matplotlib.pyplot as plt  # as above, after the backend is chosen

    return plt


def save_png(fig: Any, path: str | Path) -> None:
    """Write a figure through cnnzoo.io (the one write path) and close it."""
    plt = pyplot()
    try:
        save_figure(fig, path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def draw_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path,
                  title: str = "") -> None:
    """Row-normalised confusion matrix (true class down, predicted across), counts in the cells."""
    plt = pyplot()
    m = np.asarray(matrix, dtype=float)
    rates = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(classes)
    size = max(5.0, min(0.55 * n + 2, 30.0))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        ax.set_xticks(range(n), labels=list(classes), rotation=60, ha="right")
        ax.set_yticks(range(n), labels=list(classes))
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    save_png(fig, path)
