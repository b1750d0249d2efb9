"""Progress of inference over images: 'eval 3,500/10,000 images, 1,234 img/s, ETA 5.3s' on a
terminal, nothing otherwise (the training loop's bar, train.progress, reuses `duration`)."""
from __future__ import annotations

import sys
import time


def duration(seconds: float) -> str:
    """12.3s, 4m05s, 2h03m: short enough for a progress line."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class ImageProgress:
    """'eval 3,500/10,000 images, 1,234 img/s, ETA 5.3s' redrawn on stderr when it is a
    terminal; nothing otherwise. Call it with (images done, total); clear() at the end."""

    def __init__(self, enabled: bool, what: str = "eval") -> None:
        self.what = what
        try:
            self.active = enabled and sys.stderr.isatty()
        except (AttributeError, ValueError):
            self.active = False
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.active or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (total - done) / max(rate, 1e-9)
        try:
            sys.stderr.write(f"\r{self.what} {done:,}/{total:,} images, {rate:,.0f} img/s, "
                             f"ETA {duration(eta)}   ")
            sys.stderr.flush()
        except (OSError, ValueError):
            self.active = False

    def clear(self) -> None:
        if self.active:
            try:
                sys.stderr.write("\r" + " " * 60 + "\r")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
