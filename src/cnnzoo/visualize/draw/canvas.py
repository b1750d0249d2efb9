"""A drawing surface measured in inches, and the figure's bytes.

Styles place boxes, lines and text in inch coordinates (y grows upwards) and record every text's
box as they place it, so a style can keep labels apart and the tests can check that no two texts
overlap. Text stays text in SVG (`svg.fonttype: none`), selectable and searchable; the font is
DejaVu Sans, the one matplotlib ships, named with generic fallbacks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ... import io as zoo_io
from ...errors import OptionError

FORMATS = ("svg", "png", "pdf")
FONT = 8.0  # points: legible at the figure's natural size
_EM = 0.6  # DejaVu Sans' widest common glyphs are about 0.6 em; used to reserve room for text
RC: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": "cnnzoo", "font.family": "DejaVu Sans",
      "font.size": FONT, "savefig.dpi": 150}


MAX_WIDTH = 11.0  # inches: a sequence wider than this continues on a new row


def wrap(xs: list[float], half: list[float]) -> list[tuple[int, float]]:
    """(row, shift) of each item of a left-to-right sequence (centres xs, half widths half), so
    that no row is wider than MAX_WIDTH: a row ends before the item that would cross it, and the
    next row starts where the previous item was (x - shift), keeping the room for the label of
    the connection between them."""
    out: list[tuple[int, float]] = []
    row, shift = 0, 0.0
    for i, x in enumerate(xs):
        if i and x + half[i] - shift > MAX_WIDTH and xs[i - 1] > shift:
            row, shift = row + 1, xs[i - 1]
        out.append((row, shift))
    return out


def text_size(text: str, size: float = FONT) -> tuple[float, float]:
    """(width, height) in inches a line of text takes, a little generous."""
    lines = text.split("\n")
    return (max(len(t) for t in lines) * size * _EM / 72 + 0.04,
            len(lines) * size * 1.25 / 72)


@dataclass
class Canvas:
    """Shapes and texts in inches, collected before the figure is made (its size is known then)."""

    shapes: list[tuple[str, tuple, dict]] = field(default_factory=list)
    texts: list[tuple[float, float, str, dict]] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float, str]] = field(default_factory=list)

    def text(self, x: float, y: float, s: str, *, size: float = FONT, ha: str = "center",
             va: str = "center", **kw: Any) -> tuple[float, float, float, float]:
        """Place a text; returns its box (x0, y0, x1, y1) in inches."""
        w, h = text_size(s, size)
        x0 = x - w / 2 if ha == "center" else (x if ha == "left" else x - w)
        y0 = y - h / 2 if va == "center" else (y if va == "bottom" else y - h)
        self.texts.append((x, y, s, dict(fontsize=size, ha=ha, va=va, **kw)))
        box = (x0, y0, x0 + w, y0 + h)
        self.boxes.append((*box, s))
        return box

    def rect(self, x: float, y: float, w: float, h: float, **kw: Any) -> None:
        self.shapes.append(("rect", (x, y, w, h), kw))

    def poly(self, points: list[tuple[float, float]], **kw: Any) -> None:
        self.shapes.append(("poly", (points,), kw))

    def line(self, points: list[tuple[float, float]], **kw: Any) -> None:
        self.shapes.append(("line", (points,), kw))

    def arrow(self, a: tuple[float, float], b: tuple[float, float], **kw: Any) -> None:
        self.shapes.append(("arrow", (a, b), kw))

    def circle(self, x: float, y: float, r: float, **kw: Any) -> None:
        self.shapes.append(("circle", (x, y, r), kw))

    def extent(self) -> tuple[float, float, float, float]:
        xs: list[float] = []
        ys: list[float] = []
        for b in self.boxes:
            xs += [b[0], b[2]]
            ys += [b[1], b[3]]
        for kind, args, _ in self.shapes:
            pts = _points(kind, args)
            xs += [p[0] for p in pts]
            ys += [p[1] for p in pts]
        return min(xs), min(ys), max(xs), max(ys)

    def overlaps(self) -> list[tuple[str, str]]:
        """Pairs of texts whose boxes intersect (the tests ask for none)."""
        out = []
        for i, a in enumerate(self.boxes):
            for b in self.boxes[i + 1:]:
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    out.append((a[4], b[4]))
        return out

    def figure(self, title: str = "", margin: float = 0.15) -> Any:
        """The matplotlib Figure (Agg canvas, no pyplot state), sized to what was drawn."""
        # matplotlib is slow to import and `cnnzoo draw --help` loads this module: only when rendering
        from matplotlib import patches
        from matplotlib.figure import Figure

        x0, y0, x1, y1 = self.extent()
        x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
        fig = Figure(figsize=(x1 - x0, y1 - y0))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_axis_off()
        for kind, args, kw in self.shapes:
            style = {"linewidth": 0.8, "edgecolor": "#333333", "facecolor": "none", **kw}
            if kind == "rect":
                ax.add_patch(patches.Rectangle(args[:2], args[2], args[3], **style))
            elif kind == "poly":
                ax.add_patch(patches.Polygon(args[0], closed=True, **style))
            elif kind == "circle":
                ax.add_patch(patches.Circle(args[:2], args[2], **style))
            elif kind == "line":
                xs, ys = zip(*args[0])
                ax.plot(xs, ys, color=kw.get("color", "#555555"), linewidth=kw.get("linewidth", 0.7),
                        linestyle=kw.get("linestyle", "-"))
            else:
                ax.annotate("", xy=args[1], xytext=args[0], arrowprops=dict(
                    arrowstyle="-|>", color=kw.get("color", "#444444"), linewidth=kw.get("linewidth", 0.8),
                    linestyle=kw.get("linestyle", "-"), shrinkA=0, shrinkB=0, mutation_scale=7))
        for x, y, s, kw in self.texts:
            ax.text(x, y, s, **kw)
        if title:
            fig.suptitle("")  # titles are placed by the styles as texts, measured like the rest
        return fig


def _points(kind: str, args: tuple) -> list[tuple[float, float]]:
    if kind == "rect":
        x, y, w, h = args
        return [(x, y), (x + w, y + h)]
    if kind in ("poly", "line"):
        return list(args[0])
    if kind == "circle":
        x, y, r = args
        return [(x - r, y - r), (x + r, y + r)]
    return [args[0], args[1]]


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """The figure as SVG, PNG or PDF bytes (rendered in memory; files are written by cnnzoo.io)."""
    # matplotlib is slow to import and `cnnzoo draw --help` loads this module: only when rendering
    import matplotlib

    if fmt not in FORMATS:
        raise OptionError(f"cannot draw to .{fmt}: write .svg, .png or .pdf")
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]  # the stub lists literal keys
        return zoo_io.figure_bytes(fig, fmt, metadata={"Date": None} if fmt in ("svg", "pdf")
                                   else None, facecolor="white")


def rendered(canvas: Canvas) -> Any:
    # matplotlib is slow to import and `cnnzoo draw --help` loads this module: only when rendering
    import matplotlib

    with matplotlib.rc_context(RC):  # type: ignore[arg-type]  # the stub lists literal keys
        return canvas.figure()
