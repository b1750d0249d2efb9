"""Progress display: a one-line bar with the epoch's ETA, redrawn with \\r when stderr is a
terminal; nothing per step otherwise (logs get the plain per-epoch lines the loop prints, each
with the run's ETA)."""
from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

from ..inference.progress import duration  # noqa: F401  (train.loop imports it from here)


class Progress:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None, interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):  # closed or replaced streams have no terminal
            tty = False
        self.active = enabled and tty
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def update(self, epoch: int, epochs: int, step: int, steps: int, loss: float, acc: float,
               images_per_s: float, force: bool = False, eta: float | None = None) -> None:
        if not self.active:
            return
        t = time.monotonic()
        if not force and t - self._last < self.interval:
            return
        self._last = t
        width = shutil.get_terminal_size((80, 20)).columns
        text = (f"epoch {epoch}/{epochs} {step}/{steps} loss {loss:.4f} acc {100 * acc:.2f}% "
                f"{images_per_s:,.0f} img/s" + (f" ETA {duration(eta)}" if eta is not None else ""))
        bar_width = max(0, min(30, width - len(text) - 4))
        filled = int(bar_width * step / max(1, steps))
        bar = f"[{'#' * filled}{'.' * (bar_width - filled)}] " if bar_width >= 5 else ""
        line = (bar + text)[: width - 1]
        self._write("\r" + line + " " * (width - 1 - len(line)))
        self._shown = True

    def clear(self) -> None:
        if self.active and self._shown:
            width = shutil.get_terminal_size((80, 20)).columns
            self._write("\r" + " " * (width - 1) + "\r")
            self._shown = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must not kill the run
            self.active = False
