"""Learning curves and confusion matrices as PNG (matplotlib, imported only when drawing)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display needed; keeps working on headless machines
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> None:
    plt = _pyplot()
    try:
        save_figure(fig, path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def learning_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Loss and accuracy per epoch, train and test, side by side."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [r["epoch"] for r in rows]
    ax_loss.plot(epochs, [r.get("train_loss") for r in rows], "o-", label="train")
    test = [(r["epoch"], r["test_loss"]) for r in rows if r.get("test_loss") is not None]
    if test:
        ax_loss.plot(*zip(*test), "s-", label="test")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.set_title("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_acc.plot(epochs, [r.get("train_top1") for r in rows], "o-", label="train top-1")
    test = [(r["epoch"], r["test_top1"]) for r in rows if r.get("test_top1") is not None]
    if test:
        ax_acc.plot(*zip(*test), "s-", label="test top-1")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("accuracy")
    ax_acc.legend()
    ax_acc.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        fig.suptitle(title)
    _save(fig, path)


def confusion_png(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path,
                  title: str = "") -> None:
    """Row-normalised confusion matrix (true class down, predicted across), counts in the cells."""
    import numpy as np

    plt = _pyplot()
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
    _save(fig, path)
