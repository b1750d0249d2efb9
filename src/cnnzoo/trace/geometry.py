"""Output-size arithmetic and receptive fields, one spatial axis at a time.

The lecture-notes form of a convolution's output size, (H - k + 2p)/s + 1 (with floor or ceil
where the division is not exact, and PyTorch's rule that a ceil-mode window may not start in the
right padding), and the receptive-field recurrence of Araujo et al., "Computing Receptive Fields
of Convolutional Neural Networks", Distill 2019 (https://distill.pub/2019/computing-receptive-fields/):

    rf_out = rf_in + (k_eff - 1) * jump_in,   jump_out = jump_in * s,
    start_out = start_in + ((k_eff - 1) / 2 - p) * jump_in,   k_eff = d * (k - 1) + 1

`start` is the centre of output unit 0 in input pixel coordinates (pixel i has centre i), so unit u
sees the input pixels [start + u*jump - (rf-1)/2, start + u*jump + (rf-1)/2] (before clipping to the
image). Where branches meet (a concatenation or a residual addition), the field is the union of the
fields of the inputs: for aligned branches, the largest of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

Pair = tuple[int, int]
_T = TypeVar("_T")


def window_size(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False,
                p_end: int | None = None) -> int:
    """Output length of a convolution or pooling window along one axis (PyTorch's rule).

    p pads the start of the axis; p_end the end (default p). They differ only for
    padding="same" with an even d*(k-1), where PyTorch puts the odd pixel at the end."""
    p_end = p if p_end is None else p_end
    span = n + p + p_end - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and out > 0 and (out - 1) * s >= n + p:  # the last window may not start in the padding
        out -= 1
    return out


def window_arithmetic(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False,
                      rounding: bool = False, p_end: int | None = None) -> str:
    """'(32 - 5 + 2*0)/1 + 1 = 28'; floor()/ceil() written where the rounding matters.

    rounding=True (pooling) always writes the floor or ceil, because it is the layer's rule.
    """
    p_end = p if p_end is None else p_end
    pads = f"2*{p}" if p == p_end else f"{p}+{p_end}"
    expr = f"{n} - {k} + {pads}" if d == 1 else f"{n} - {d}*({k} - 1) - 1 + {pads}"
    span = n + p + p_end - d * (k - 1) - 1  # the value of expr in both forms
    if ceil:
        core = f"ceil(({expr})/{s})"
    elif rounding or span % s:
        core = f"floor(({expr})/{s})"
    else:
        core = f"({expr})/{s}"
    out = window_size(n, k, s, p, d, ceil, p_end)
    if out != (-(-span // s) if ceil else span // s) + 1:
        return f"{core} + 1 - 1 = {out} (a last window would start in the padding)"
    return f"{core} + 1 = {out}"


def adaptive_window(n: int, o: int) -> tuple[int, float, float]:
    """(largest window, stride, centre offset of window 0) of adaptive pooling from n to o."""
    if n % o == 0:
        k = n // o
        return k, float(k), (k - 1) / 2
    k = max(math.ceil((j + 1) * n / o) - (j * n) // o for j in range(o))
    first = math.ceil(n / o)
    return k, n / o, (first - 1) / 2


def _two(values: list[float]) -> tuple[float, float]:
    return (values[0], values[1])


def _swap(v: tuple[_T, _T]) -> tuple[_T, _T]:
    return (v[1], v[0])


@dataclass(frozen=True)
class Geo:
    """Receptive field (rf), effective stride (jump) and centre of unit 0 (start), per axis (H, W).

    `flat` is the (H, W) of a map that was flattened into features: a layer that reads all the
    features (Linear) then sees every position of that map. `axes` is the input axis each map
    axis runs along: (0, 1), or (1, 0) after the map was transposed (x.transpose(2, 3)).
    """

    rf: tuple[float, float] = (1.0, 1.0)
    jump: tuple[float, float] = (1.0, 1.0)
    start: tuple[float, float] = (0.0, 0.0)
    flat: Pair | None = None
    axes: Pair = (0, 1)

    def window(self, k: Pair, s: Pair, p: Pair, d: Pair = (1, 1)) -> Geo:
        rf, jump, start = [], [], []
        for a in range(2):
            keff = d[a] * (k[a] - 1) + 1
            rf.append(self.rf[a] + (keff - 1) * self.jump[a])
            jump.append(self.jump[a] * s[a])
            start.append(self.start[a] + ((keff - 1) / 2 - p[a]) * self.jump[a])
        return Geo(_two(rf), _two(jump), _two(start), axes=self.axes)

    def adaptive(self, n: Pair, o: Pair) -> Geo:
        rf, jump, start = [], [], []
        for a in range(2):
            k, s, c = adaptive_window(n[a], o[a])
            rf.append(self.rf[a] + (k - 1) * self.jump[a])
            jump.append(self.jump[a] * s)
            start.append(self.start[a] + c * self.jump[a])
        return Geo(_two(rf), _two(jump), _two(start), axes=self.axes)

    def slice(self, first: Pair, step: Pair) -> Geo:
        return Geo(self.rf, _two([self.jump[a] * step[a] for a in range(2)]),
                   _two([self.start[a] + first[a] * self.jump[a] for a in range(2)]), axes=self.axes)

    def pad(self, before: Pair) -> Geo:
        return Geo(self.rf, self.jump, _two([self.start[a] - before[a] * self.jump[a] for a in range(2)]),
                   axes=self.axes)

    def flatten(self, size: Pair) -> Geo:
        return Geo(self.rf, self.jump, self.start, flat=size, axes=self.axes)

    def swap(self) -> Geo:
        """The map transposed (H <-> W): each axis keeps its field, now along the other axis."""
        return Geo(_swap(self.rf), _swap(self.jump), _swap(self.start),
                   None if self.flat is None else _swap(self.flat), _swap(self.axes))

    def merge(self) -> Geo:
        """A layer that reads every position of a flattened map (Linear after Flatten)."""
        if self.flat is None:
            return self
        lo = [self.start[a] - (self.rf[a] - 1) / 2 for a in range(2)]
        hi = [self.start[a] + (self.flat[a] - 1) * self.jump[a] + (self.rf[a] - 1) / 2 for a in range(2)]
        return Geo(_two([hi[a] - lo[a] + 1 for a in range(2)]),
                   _two([self.jump[a] * self.flat[a] for a in range(2)]),
                   _two([(lo[a] + hi[a]) / 2 for a in range(2)]), axes=self.axes)

    def bounds(self, unit: Pair = (0, 0)) -> tuple[tuple[float, float], tuple[float, float]]:
        """((lo_h, hi_h), (lo_w, hi_w)): the input pixels unit (i, j) sees, not clipped."""
        out = []
        for a in range(2):
            c = self.start[a] + unit[a] * self.jump[a]
            out.append((c - (self.rf[a] - 1) / 2, c + (self.rf[a] - 1) / 2))
        return tuple(out)  # type: ignore[return-value]

    def box(self, first: Pair, last: Pair | None = None) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) inclusive in input pixels: what the units from `first` to `last` (a
        rectangle of the map, default the one unit) see, not clipped to the image. Fractional
        bounds (adaptive pooling with uneven windows) are widened to whole pixels."""
        lo, hi = self.bounds(first), self.bounds(last or first)
        spans = [(math.floor(min(lo[a][0], hi[a][0])), math.ceil(max(lo[a][1], hi[a][1])))
                 for a in range(2)]
        by_input = [spans[self.axes.index(axis)] for axis in range(2)]  # back to the input's axes
        return (by_input[0][0], by_input[0][1], by_input[1][0], by_input[1][1])


def union(geos: list[Geo]) -> Geo | None:
    """The field of a unit that reads several aligned inputs: the union of their fields."""
    geos = [g for g in geos if g is not None]
    if len(geos) == 1:
        return geos[0]
    if len({g.axes for g in geos}) > 1:
        return None  # a map added to its own transpose: no rectangle describes the field
    rf, jump, start = [], [], []
    for a in range(2):
        lo = min(g.start[a] - (g.rf[a] - 1) / 2 for g in geos)
        hi = max(g.start[a] + (g.rf[a] - 1) / 2 for g in geos)
        rf.append(hi - lo + 1)
        jump.append(max(g.jump[a] for g in geos))
        start.append((lo + hi) / 2)
    return Geo(_two(rf), _two(jump), _two(start), geos[0].flat, geos[0].axes)

