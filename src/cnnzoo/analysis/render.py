"""Tables for people and for machines: a terminal table (box drawing and bold headers only on a
terminal, plain ASCII in a pipe), markdown, CSV. JSON is written by the callers (json.dumps)."""
from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Sequence
from html import escape

from ..errors import CnnzooError


def is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M'."""
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}{unit}"
    return f"{n:g}{unit}"


def fmt_pair(v: tuple[float, float] | None) -> str:
    """'5' for (5, 5), '3x5' otherwise; integers without decimals."""
    if v is None:
        return ""

    def one(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:.3g}"

    return one(v[0]) if v[0] == v[1] else f"{one(v[0])}x{one(v[1])}"


def human_bytes(n: float) -> str:
    for suffix, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {suffix}"
    return f"{int(n)} B"


def _drop_empty(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str):
    keep = [k for k in range(len(headers)) if any(r[k] for r in rows)]
    return ([headers[k] for k in keep], [[r[k] for k in keep] for r in rows],
            "".join(align[k] for k in keep))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str,
          notes: Sequence[str] = (), fancy: bool | None = None) -> str:
    """A text table. align: one of 'l'/'r' per column. Columns empty in every row are left out.
    fancy=None: box drawing (and a bold header unless NO_COLOR is set) only on a terminal."""
    if fancy is None:
        fancy = is_terminal()
    headers, rows, align = _drop_empty(headers, rows, align)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]

    def cells(r: Sequence[str]) -> list[str]:
        return [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align)]

    lines = []
    if fancy:
        bold = "" if os.environ.get("NO_COLOR") else "\033[1m"
        reset = "\033[0m" if bold else ""
        rule = lambda a, b, c: a + b.join("─" * (w + 2) for w in widths) + c  # noqa: E731
        lines.append(rule("┌", "┬", "┐"))
        lines.append("│ " + " │ ".join(bold + c + reset for c in cells(headers)) + " │")
        lines.append(rule("├", "┼", "┤"))
        lines += ["│ " + " │ ".join(cells(r)) + " │" for r in rows]
        lines.append(rule("└", "┴", "┘"))
    else:
        lines.append("  ".join(cells(headers)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(cells(r)).rstrip() for r in rows]
    return "\n".join(lines + ([""] + list(notes) if notes else []))


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str,
             notes: Sequence[str] = ()) -> str:
    headers, rows, align = _drop_empty(headers, rows, align)

    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines + ([""] + [f"{n}  " for n in notes] if notes else []))


def to_csv(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()


def html(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str,
         notes: Sequence[str] = ()) -> str:
    """An HTML table (what a notebook shows), the notes under it; empty columns dropped."""
    headers, rows, align = _drop_empty(headers, rows, align)
    style = {"l": "left", "r": "right"}
    head = "".join(f'<th style="text-align:{style[a]}">{escape(h)}</th>' for h, a in zip(headers, align))
    body = "".join("<tr>" + "".join(f'<td style="text-align:{style[a]}">{escape(c)}</td>'
                                    for c, a in zip(r, align)) + "</tr>" for r in rows)
    foot = "".join(f"<p>{escape(n)}</p>" for n in notes)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"


def data_frame(records: Sequence[dict]) -> object:
    """A pandas DataFrame of `records` (one dict per row); one clear line when pandas is missing."""
    try:
        # pandas is optional (cnnzoo[notebook]) and slow to import: only to_pandas() needs it
        import pandas as pd
    except ImportError:
        raise CnnzooError("to_pandas() needs pandas: pip install pandas") from None
    return pd.DataFrame.from_records(list(records))
