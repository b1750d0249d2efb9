"""The `boxes` style: AlexNet's Fig. 2 (Krizhevsky et al. 2012) and the VGG drawings after it.

Each layer's output is a volume: height for the map's rows, the oblique depth for its columns,
the thickness for its channels (on a log scale); a fully connected layer is a thin bar. The
window of the next layer is drawn on the volume's face with lines to the unit it makes, and its
size and stride are written above. Where a grouped convolution splits the channels (AlexNet's two
GPUs, groups=2), every map that travels in groups is drawn as that many towers: a grouped layer
connects each tower to its own, a full one (conv3, the dense layers) connects every tower to
every tower. Names and maps@HxW are written under each volume.
"""
from __future__ import annotations

import math

from .canvas import FONT, Canvas, text_size, wrap
from .structure import Layer, Network, op_text, params_text, shape_text

SMALL = FONT - 1
_DEPTH = 0.5  # oblique depth relative to the height scale


def _split(layers: list[Layer]) -> list[int]:
    """How many towers each map (input first) travels in: a grouped convolution's groups, for the
    map it reads and the map it makes, carried through layers that act per channel."""
    towers = [1] * (len(layers) + 1)
    for i, layer in enumerate(layers):
        g = layer.row.groups or 1
        if g > 1:
            towers[i] = towers[i + 1] = g
    for _ in range(2):  # pooling acts per channel: its input and output travel alike
        for i, layer in enumerate(layers):
            if not layer.row.params and len(layer.out or ()) == 3 and i > 0:
                towers[i] = towers[i + 1] = max(towers[i], towers[i + 1])
    return towers


def _size(shape: tuple[int, ...], towers: int) -> tuple[float, float, float]:
    """(thickness, height, oblique depth) of one tower of a map, in inches."""
    if len(shape) == 3:
        c, h, w = shape
        return (0.05 + 0.05 * math.log2(max(c // towers, 1) + 1), 0.09 * math.sqrt(h),
                _DEPTH * 0.09 * math.sqrt(w))
    n = shape[-1] if shape else 1
    return 0.09, 0.3 + 0.09 * math.log2(max(n, 2)), 0.0


def _cuboid(c: Canvas, x: float, y: float, t: float, h: float, d: float, fill: str) -> None:
    """A volume whose front face has its lower-left corner at (x, y)."""
    dx = dy = d * 0.7
    c.rect(x, y, t, h, facecolor=fill)
    if d:
        c.poly([(x, y + h), (x + dx, y + h + dy), (x + t + dx, y + h + dy), (x + t, y + h)],
               facecolor="#ffffff")
        c.poly([(x + t, y), (x + t + dx, y + dy), (x + t + dx, y + h + dy), (x + t, y + h)],
               facecolor="#e4e9f2")


def draw(net: Network, title: str) -> Canvas:
    layers = net.layers()
    s = net.summary
    shapes = [tuple(s.input_size)] + [tuple(l_.out or ()) for l_ in layers]
    towers = _split(layers)
    sizes = [_size(sh, g) for sh, g in zip(shapes, towers)]
    under = [f"{n}\n{shape_text(sh)}" + (f"\n{g} towers of {sh[0] // g}" if g > 1 else "")
             for n, sh, g in zip(["input"] + net.layer_names(), shapes, towers)]
    above = [""] + [_op(l_, n) for l_, n in zip(layers, net.layer_counts())]
    width = [max(sz[0] + sz[2] * 0.7, text_size(u, SMALL)[0]) for sz, u in zip(sizes, under)]
    xs = [width[0] / 2]
    for i in range(1, len(shapes)):
        xs.append(xs[-1] + max(width[i - 1] / 2 + width[i] / 2 + 0.3, text_size(above[i], SMALL)[0] + 0.08))
    split_h = max((sz[1] + sz[2] * 0.7 for sz, g in zip(sizes, towers) if g > 1), default=0.0)
    top = max(sz[1] / 2 + sz[2] * 0.7 + (split_h + 0.2) / 2 * (g > 1) for sz, g in zip(sizes, towers))
    bottom = -max(sz[1] / 2 + (split_h + 0.2) / 2 * (g > 1) for sz, g in zip(sizes, towers))
    over = max(text_size(a, SMALL)[1] for a in above)
    pitch = top - bottom + over + max(text_size(u, SMALL)[1] for u in under) + 0.6
    rows = wrap(xs, [w / 2 for w in width])
    px = [x - shift for x, (_, shift) in zip(xs, rows)]
    py = [-row * pitch for row, _ in rows]
    c = Canvas()
    faces = [_map(c, px[i], py[i], sz, g, split_h) for i, (sz, g) in enumerate(zip(sizes, towers))]
    for i in range(1, len(shapes)):
        _connect(c, faces[i - 1], faces[i], layers[i - 1], shapes[i - 1], sizes[i - 1],
                 py[i] != py[i - 1])
        c.text(px[i] - (xs[i] - xs[i - 1]) / 2, py[i] + top + 0.1, above[i], va="bottom", size=SMALL)
    for i, u in enumerate(under):
        c.text(px[i], py[i] + bottom - 0.1, u, va="top", size=SMALL)
    c.text(0.0, top + 0.2 + over, title, ha="left", va="bottom", size=FONT + 1, fontweight="bold")
    return c


def _op(layer: Layer, times: int) -> str:
    lines = [op_text(layer.row)]
    if layer.extra_words():
        lines.append(", ".join(layer.extra_words()))
    if layer.params:
        lines.append(params_text(layer.params, times))
    return "\n".join(lines)


def _map(c: Canvas, x: float, y0: float, size: tuple[float, float, float], towers: int,
         split_h: float) -> list[tuple[float, float, float, float]]:
    """Draw a map's towers centred on (x, y0); returns each tower's (x, y, t, h), bottom first."""
    t, h, d = size
    x0 = x - (t + d * 0.7) / 2
    if towers == 1:
        ys = [y0 - h / 2]
    else:
        pitch = split_h + 0.2
        ys = [y0 - h / 2 + (k - (towers - 1) / 2) * pitch for k in range(towers)]
    fill = "#f2f5fa" if d else "#e9e9e9"
    for y in ys:
        _cuboid(c, x0, y, t, h, d, fill)
    return [(x0, y, t, h) for y in ys]


def _connect(c: Canvas, src: list, dst: list, layer: Layer, shape: tuple[int, ...],
             size: tuple[float, float, float], broken: bool) -> None:
    """The window of `layer` on each source tower, with lines to the towers it reads into
    (broken: the next map starts a new row; the lines leave right and arrive from the left)."""
    grouped = (layer.row.groups or 1) > 1 and len(src) == len(dst)
    per_channel = not layer.row.params and len(src) == len(dst)
    for i, (x, y, t, h) in enumerate(src):
        targets = [dst[i]] if grouped or per_channel else dst
        d = size[2] * 0.7
        if layer.row.kernel is not None and len(shape) == 3:
            kh = max(0.03, h * layer.row.kernel[0] / shape[1])
            kd = max(0.02, d * layer.row.kernel[1] / shape[2])
            wx, wy = x + t + d * 0.45, y + h * 0.45 + d * 0.45
            c.poly([(wx, wy), (wx + kd, wy + kd), (wx + kd, wy + kd + kh), (wx, wy + kh)],
                   edgecolor="#1f5fbf", linewidth=0.8)
            corner = (wx + kd, wy + kd + kh / 2)
        else:
            corner = (x + t + d, y + h / 2)
        if broken:
            c.arrow(corner, (x + t + d + 0.35, corner[1]), color="#1f5fbf")
            continue
        for tx, ty, _, th in targets:
            c.line([corner, (tx, ty + th * 0.5)], color="#1f5fbf", linewidth=0.5)
    if broken:
        for tx, ty, _, th in dst:
            c.arrow((tx - 0.35, ty + th * 0.5), (tx, ty + th * 0.5), color="#1f5fbf")
