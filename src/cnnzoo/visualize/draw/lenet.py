"""The `lenet` style: LeNet-5's Fig. 2 (LeCun et al. 1998).

Each layer's output is a stack of feature maps (a vector layer a column of units), labelled with
its name and maps@size ("C1: feature maps 6@28x28"); between two stacks, the connection as the
paper names it (Convolutions, Subsampling, Full connection, Gaussian connections) with its window,
the step after it (the activation) and its parameters; the window is drawn in the source map with
lines to one unit of the next. Only chains of layers can be drawn this way (no branches).
"""
from __future__ import annotations

from .canvas import FONT, Canvas, text_size, wrap
from .structure import Layer, Network, kernel_text, kind, params_text, shape_text

_CONNECTION = {"conv": "Convolutions", "fc": "Full connection", "rbf": "Gaussian connections"}
_MAX_SIDE = 1.45  # inches: the largest map
_STACK = 8  # at most this many maps drawn in a stack


def _connection(layer: Layer, times: int) -> str:
    r = layer.row
    k = kind(r)
    if k == "pool":
        word = ("Subsampling" if r.type == "Subsampling" else
                "Max pooling" if "Max" in r.type else "Average pooling")
    else:
        word = _CONNECTION.get(k, r.type)
    if r.type == "PartialConv2d":
        word += " (partial table)"
    details = [kernel_text(r)] + layer.extra_words()
    lines = [word, ", ".join(d for d in details if d)]
    if r.params:
        lines.append(params_text(r.params, times))
    return "\n".join(line for line in lines if line)


def _label(name: str, shape: tuple[int, ...]) -> str:
    spatial = len(shape) == 3 and (shape[1] > 1 or shape[2] > 1)
    word = "feature maps" if spatial else "layer"
    head, repeated, count = name.partition(" (x ")  # "conv3_2 ... conv3_3 (x 2)": a repeat
    if repeated:
        return f"{head.upper()} (x {count}\n{word} {shape_text(shape)}"
    return f"{head.upper()}: {word}\n{shape_text(shape)}"


def _side(h: int, largest: int) -> float:
    power = 1.0 if largest <= 64 else 0.5  # small inputs to scale, large ones by square root
    return max(0.12, _MAX_SIDE * (h / largest) ** power)


def _footprint(shape: tuple[int, ...], largest: int) -> tuple[float, float, float]:
    """(width, height, offset) of a stack: maps are squares offset diagonally."""
    if len(shape) == 3 and (shape[1] > 1 or shape[2] > 1):
        n = min(shape[0], _STACK)
        off = 0.06 if n > 1 else 0.0
        return _side(shape[2], largest) + off * (n - 1), _side(shape[1], largest) + off * (n - 1), off
    units = shape[0] if shape else 1
    return 0.14, min(_MAX_SIDE, 0.25 + 0.09 * units ** 0.5), 0.0


def draw(net: Network, title: str) -> Canvas:
    layers = net.layers()
    s = net.summary
    first = s.input_size
    shapes: list[tuple[int, ...]] = [tuple(first)] + [tuple(l_.out or ()) for l_ in layers]
    names = ["input"] + net.layer_names()
    largest = max(first[1], first[2])
    foot = [_footprint(sh, largest) for sh in shapes]
    labels = [_label(n, sh) for n, sh in zip(names, shapes)]
    conns = [""] + [_connection(l_, n) for l_, n in zip(layers, net.layer_counts())]
    col = [max(f[0], text_size(lab)[0]) for f, lab in zip(foot, labels)]
    centers = [col[0] / 2]
    for i in range(1, len(shapes)):
        centers.append(centers[-1] + max(col[i - 1] / 2 + col[i] / 2 + 0.35,
                                         text_size(conns[i])[0] + 0.1))
    c = Canvas()
    top = max(f[1] for f in foot) / 2
    bottom = -top
    above = max(text_size(lab)[1] for lab in labels)
    pitch = 2 * top + above + max(text_size(t)[1] for t in conns) + 0.7
    rows = wrap(centers, [w / 2 for w in col])
    xs = [x - shift for x, (_, shift) in zip(centers, rows)]
    ys = [-row * pitch for row, _ in rows]
    windows = []
    for i, (sh, f) in enumerate(zip(shapes, foot)):
        windows.append(_stack(c, xs[i], ys[i], sh, f))
        c.text(xs[i], ys[i] + top + 0.12, labels[i], va="bottom")
    for i in range(1, len(shapes)):
        _connect(c, windows[i - 1], windows[i], layers[i - 1], shapes[i - 1], ys[i] != ys[i - 1])
        mid = xs[i] - (centers[i] - centers[i - 1]) / 2
        c.text(mid, ys[i] + bottom - 0.12, conns[i], va="top", color="#222222")
    _title(c, title, 0.0, top + 0.2 + above + 0.1)
    return c


def _stack(c: Canvas, x: float, y: float, shape: tuple[int, ...], foot: tuple[float, float, float]
           ) -> tuple[float, float, float, float]:
    """Draw one stack centred at (x, y); returns the front map's box (x0, y0, side_w, side_h)."""
    w, h, off = foot
    x0, y0 = x - w / 2, y - h / 2
    if off == 0.0 and not (len(shape) == 3 and (shape[1] > 1 or shape[2] > 1)):
        c.rect(x0, y0, w, h, facecolor="#f4f4f4")
        n = min(shape[0] if shape else 1, 12)
        for k in range(1, n):
            yy = y0 + h * k / n
            c.line([(x0, yy), (x0 + w, yy)], color="#bbbbbb", linewidth=0.4)
        return x0, y0, w, h
    n = min(shape[0], _STACK)
    side_w, side_h = w - off * (n - 1), h - off * (n - 1)
    for k in range(n - 1, -1, -1):  # back to front: the front map last, on top
        c.rect(x0 + off * k, y0 + off * (n - 1 - k), side_w, side_h,
               facecolor="white" if k else "#f7f7f7", linewidth=0.6)
    return x0, y0 + off * (n - 1), side_w, side_h


def _connect(c: Canvas, a: tuple, b: tuple, layer: Layer, src: tuple[int, ...], broken: bool) -> None:
    """The window of `layer` in the source map, with lines to one unit of the next map (broken:
    the next map starts a new row; the lines leave to the right and arrive from the left)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    r = layer.row
    target = (bx + bw * 0.35, by + bh * 0.6)
    if broken:
        end = target
        target = (ax + aw + 0.3, ay + ah * 0.6)
        c.arrow(target, (target[0] + 0.15, target[1]), color="#1f5fbf")
        c.arrow((bx - 0.3, end[1]), (bx, end[1]), color="#1f5fbf")
    if r.kernel is not None and len(src) == 3:
        kw = max(0.04, aw * r.kernel[1] / max(src[2], 1))
        kh = max(0.04, ah * r.kernel[0] / max(src[1], 1))
        wx, wy = ax + aw * 0.62 - kw / 2, ay + ah * 0.6 - kh / 2
        c.rect(wx, wy, kw, kh, edgecolor="#1f5fbf", linewidth=0.8)
        c.line([(wx + kw, wy + kh), target], color="#1f5fbf", linewidth=0.5)
        c.line([(wx + kw, wy), target], color="#1f5fbf", linewidth=0.5)
        c.circle(*target, 0.012, facecolor="#1f5fbf", edgecolor="#1f5fbf")
        return
    for y in (ay, ay + ah):  # a full connection: every unit of the source
        c.line([(ax + aw, y), target if broken else (bx, by + bh / 2)], color="#1f5fbf",
               linewidth=0.5)


def _title(c: Canvas, title: str, x: float, y: float) -> None:
    c.text(x, y, title, size=FONT + 1, ha="left", va="bottom", fontweight="bold")
