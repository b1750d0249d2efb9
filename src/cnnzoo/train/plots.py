"""Learning curves as PNG (matplotlib, imported only when drawing; the confusion matrix is
inference.report's)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..inference.report import pyplot as _pyplot
from ..inference.report import save_png as _save


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
    # matplotlib only when a run draws its curves: the engine imports this module without it
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        fig.suptitle(title)
    _save(fig, path)
