"""The `blocks` style: module-level diagrams, top to bottom, as GoogLeNet's Fig. 2-3 and
ResNet's Fig. 2-3 draw them.

A layer is a box in the papers' words ("3x3 conv, 128, /2"), with what follows it (BN, ReLU, LRN)
in small type; an Inception module is its branches side by side into the filter concatenation
(the naive module has no 1x1 reductions, so it is drawn with none); a residual block is its main
path with the shortcut on the right: a plain line for the identity, a box for a projection, a
dashed line for option A's zero padding. Identical consecutive units are drawn once inside a
dashed frame marked "x n". Shapes (maps@HxW) are written on the arrows between units, names and
parameters in the left column, training-only heads (GoogLeNet's auxiliary classifiers) on the
right where they attach.
"""
from __future__ import annotations

from .canvas import FONT, Canvas
from .structure import Head, Inception, Layer, Network, Repeat, Residual, Unit, op_text, params_text, shape_text

X0 = 4.6  # the trunk
LEFT = X0 - 3.05  # right edge of the left column (names, parameters)
BOX_W, BOX_H = 1.9, 0.34
BRANCH_DX, BRANCH_W = 1.45, 1.32
GAP = 0.36  # between units: room for the arrow and the shape on it
SHORT_X = X0 + 1.95  # the shortcut's line
AUX_X = X0 + 4.45
SMALL = FONT - 1


def _box(c: Canvas, x: float, y: float, layer: Layer, w: float = BOX_W, fill: str = "#eef3fb") -> float:
    """A layer's box with its top at y; returns the y of its bottom."""
    c.rect(x - w / 2, y - BOX_H, w, BOX_H, facecolor=fill)
    extras = ", ".join(layer.extra_words())
    if extras:
        c.text(x, y - 0.115, op_text(layer.row))
        c.text(x, y - 0.255, extras, size=SMALL, color="#555555")
    else:
        c.text(x, y - BOX_H / 2, op_text(layer.row))
    return y - BOX_H


def _left(c: Canvas, y: float, lines: list[str]) -> None:
    c.text(LEFT, y, "\n".join(lines), ha="right", va="top", size=SMALL, color="#333333")


def _arrow(c: Canvas, y: float, shape: tuple[int, ...] | None,
           reads: tuple[int, ...] | None = None) -> float:
    """The arrow between two units, with the shape it carries (and the shape the next unit
    reads, when a reshape between them flattens it); returns the y below it."""
    c.arrow((X0, y), (X0, y - GAP))
    text = shape_text(shape)
    if reads and shape and tuple(reads) != tuple(shape):
        text += f", flattened to {shape_text(reads)}"
    if text:
        c.text(X0 - 0.08, y - GAP / 2, text, ha="right", size=SMALL, color="#1f4f8f")
    return y - GAP


def _input_of(u: Unit) -> tuple[int, ...] | None:
    base = u.unit if isinstance(u, Repeat) else u
    return base.row.input_shape if isinstance(base, Layer) else None


def _layer(c: Canvas, y: float, u: Layer, note: list[str]) -> float:
    _left(c, y, ([u.name, params_text(u.params)] if u.params else [u.name]) + note)
    return _box(c, X0, y, u)


def _inception(c: Canvas, y: float, u: Inception, note: list[str]) -> float:
    kind = "with dimension reductions" if u.reduced else "naive version"
    _left(c, y, [u.name, f"Inception, {kind}", params_text(u.params)] + note)
    n = len(u.branches)
    xs = [X0 + (j - (n - 1) / 2) * BRANCH_DX for j in range(n)]
    c.line([(xs[0], y), (xs[-1], y)])
    depth = max(len(b) for b in u.branches)
    bottom = y - 0.12 - depth * (BOX_H + 0.14)
    for x, branch in zip(xs, u.branches):
        yy = y
        for layer in branch:
            c.arrow((x, yy), (x, yy - 0.12))
            yy = _box(c, x, yy - 0.12, layer, BRANCH_W) - 0.02
            yy -= 0.0
        c.arrow((x, yy), (x, bottom - 0.12))
    c.line([(xs[0], bottom - 0.12), (xs[-1], bottom - 0.12)])
    arithmetic = u.concat.arithmetic.split(": ", 1)[-1]
    c.arrow((X0, bottom - 0.12), (X0, bottom - 0.24))
    c.rect(X0 - BOX_W / 2, bottom - 0.24 - BOX_H, BOX_W, BOX_H, facecolor="#fdf1e1")
    c.text(X0, bottom - 0.24 - 0.115, "filter concatenation")
    c.text(X0, bottom - 0.24 - 0.255, arithmetic, size=SMALL, color="#555555")
    return bottom - 0.24 - BOX_H


def _residual(c: Canvas, y: float, u: Residual, note: list[str]) -> float:
    _left(c, y, [u.name, f"residual block, {u.shortcut_kind()} shortcut", params_text(u.params)]
          + note)
    top = y
    for i, layer in enumerate(u.main):
        if i:
            c.arrow((X0, y), (X0, y - 0.14))
            y -= 0.14
        y = _box(c, X0, y, layer)
    c.arrow((X0, y), (X0, y - 0.16))
    add_y = y - 0.16 - 0.09
    c.circle(X0, add_y, 0.09, facecolor="white")
    c.text(X0, add_y, "+", size=FONT + 1)
    if u.extras:
        c.text(X0 - 0.16, add_y, ", ".join(Layer(u.add, u.extras).extra_words()), ha="right",
               size=SMALL, color="#555555")
    _shortcut(c, u, top + 0.1, add_y)
    return add_y - 0.09


def _shortcut(c: Canvas, u: Residual, top: float, add_y: float) -> None:
    kind = u.shortcut_kind()
    dashed = "--" if kind == "zero-pad" else "-"
    c.line([(X0, top), (SHORT_X, top), (SHORT_X, add_y)], linestyle=dashed, color="#333333")
    c.arrow((SHORT_X, add_y), (X0 + 0.09, add_y), linestyle=dashed)
    mid = (top + add_y) / 2
    if kind == "projection":
        y = mid + BOX_H / 2 + 0.1 * (len(u.shortcut) > 1)
        for layer in u.shortcut:
            if kind == "projection" and layer.row.kernel is None:
                continue  # the BN of a projection is written in the conv's box
            _box(c, SHORT_X, y, layer, 1.6, fill="#f3f3f3")
        c.text(SHORT_X + 0.88, mid, f"projection\n{params_text(sum(s.params for s in u.shortcut))}",
               ha="left", size=SMALL, color="#555555")
    elif kind == "zero-pad":
        row = u.shortcut[0].row
        step = (row.input_shape[-1] // row.output_shape[-1]
                if row.input_shape and row.output_shape else 1)
        c.text(SHORT_X + 0.08, mid, f"option A: zero-padding\n{shape_text(row.input_shape)} -> "
               f"{shape_text(row.output_shape)}\n(subsampled by {step}, {params_text(row.params)})",
               ha="left", size=SMALL,
               color="#555555")
    else:
        c.text(SHORT_X + 0.08, mid, "identity", ha="left", size=SMALL, color="#555555")


def _draw_unit(c: Canvas, y: float, u: Unit, note: list[str] | None = None) -> float:
    if isinstance(u, Repeat):
        return _repeat(c, y, u)
    if isinstance(u, Inception):
        return _inception(c, y, u, note or [])
    if isinstance(u, Residual):
        return _residual(c, y, u, note or [])
    return _layer(c, y, u, note or [])


def _repeat(c: Canvas, y: float, u: Repeat) -> float:
    note = [f"x {u.count}: {u.names[0]} ... {u.names[-1]}", f"{params_text(u.params)} in all"]
    bottom = _draw_unit(c, y - 0.1, u.unit, note)
    right = SHORT_X + 1.75 if isinstance(u.unit, Residual) else X0 + BOX_W / 2 + 0.15
    bottom = min(bottom, y - 0.1 - (len(note) + 3) * (SMALL * 1.25 / 72))
    c.rect(LEFT - 2.0, bottom - 0.08, right - LEFT + 2.0, y - bottom + 0.08, linestyle="--",
           edgecolor="#8a2d2d")
    c.text(right - 0.05, y - 0.05, f"x {u.count}", ha="right", va="top", size=FONT + 1,
           color="#8a2d2d", fontweight="bold")
    return bottom - 0.08


def _head(c: Canvas, y: float, h: Head) -> None:
    c.line([(X0, y), (AUX_X - 0.6, y)], color="#8a2d2d", linestyle="--")
    c.arrow((AUX_X - 0.6, y), (AUX_X - 0.6, y - 0.2), color="#8a2d2d")
    c.text(AUX_X + 0.05, y + 0.02, f"{h.name}: training only\n{params_text(h.params)}", va="bottom",
           size=SMALL, color="#8a2d2d", ha="left")
    yy = y - 0.2
    x = AUX_X - 0.6
    for i, layer in enumerate(h.units):
        if i:
            c.arrow((x, yy), (x, yy - 0.12), color="#8a2d2d")
            yy -= 0.12
        yy = _box(c, x, yy, layer, 1.5, fill="#fbeeee")
    c.text(x, yy - 0.05, shape_text(h.units[-1].out), va="top", size=SMALL, color="#1f4f8f")


def draw(net: Network, title: str) -> Canvas:
    c = Canvas()
    s = net.summary
    c.text(0.0, 0.45, title, ha="left", va="bottom", size=FONT + 1, fontweight="bold")
    c.rect(X0 - 0.6, 0.0, 1.2, 0.26, facecolor="#ffffff")
    c.text(X0, 0.13, "input")
    y = _arrow(c, 0.0, s.input_size)
    heads = {h.after: h for h in net.heads}
    for i, u in enumerate(net.units):
        y = _draw_unit(c, y, u)
        names = u.names if isinstance(u, Repeat) else [u.name]
        head = next((heads[n] for n in names if n in heads), None)
        if head is not None:
            _head(c, y - GAP / 2, head)
        if i < len(net.units) - 1:
            y = _arrow(c, y, u.out, _input_of(net.units[i + 1]))
    c.text(X0, y - 0.1, f"output {shape_text(net.units[-1].out)}", va="top", size=SMALL,
           color="#1f4f8f")
    return c
