"""Spatial rules: how one step of a forward pass maps its input sizes and receptive fields to
its output. A recorded graph keeps one rule per node, so the map sizes can be recomputed for
another input size without running the model (the summary's too-small-input diagnosis), and every
node knows its receptive field (geometry.py, the one geometry). Pure Python: no torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .geometry import Geo, Pair, adaptive_window, union, window_arithmetic, window_size

Size = tuple[int, int] | None  # spatial size of a 4-d tensor, None for a tensor without one


@dataclass(frozen=True)
class Rule:
    """Elementwise / union: the output has the size of its (first) input; fields are united."""

    def size(self, ins: list[Size]) -> Size:
        return next((s for s in ins if s is not None), None)

    def geo(self, geos: list[Geo | None], ins: list[Size]) -> Geo | None:
        if not geos or any(g is None for g in geos):
            return None
        return union(geos)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Window(Rule):
    """A sliding window (convolution, pooling). p pads the start of each axis, p_end its end
    (None: the same as p; they differ for padding="same" with an even kernel)."""

    k: Pair
    s: Pair
    p: Pair
    d: Pair = (1, 1)
    ceil: bool = False
    pooling: bool = False
    p_end: Pair | None = None

    def _end(self, a: int) -> int:
        return self.p[a] if self.p_end is None else self.p_end[a]

    def size(self, ins: list[Size]) -> Size:
        n = ins[0]
        if n is None:
            return None
        return tuple(window_size(n[a], self.k[a], self.s[a], self.p[a], self.d[a], self.ceil,
                                 self._end(a)) for a in range(2))  # type: ignore[return-value]

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].window(self.k, self.s, self.p, self.d)

    def arithmetic(self, n: Pair) -> str:
        parts = [window_arithmetic(n[a], self.k[a], self.s[a], self.p[a], self.d[a], self.ceil,
                                   rounding=self.pooling, p_end=self._end(a)) for a in range(2)]
        return parts[0] if parts[0] == parts[1] else f"H: {parts[0]}; W: {parts[1]}"


@dataclass(frozen=True)
class Adaptive(Rule):
    out: tuple[int | None, int | None]

    def _o(self, n: Pair) -> Pair:
        return tuple(n[a] if self.out[a] is None else self.out[a] for a in range(2))  # type: ignore

    def size(self, ins):
        return None if ins[0] is None else self._o(ins[0])

    def geo(self, geos, ins):
        return None if geos[0] is None or ins[0] is None else geos[0].adaptive(ins[0], self._o(ins[0]))

    def arithmetic(self, n: Pair) -> str:
        o = self._o(n)
        ks = [adaptive_window(n[a], o[a])[0] for a in range(2)]
        what = "global" if o == (1, 1) else "adaptive"
        exact = all(n[a] % o[a] == 0 for a in range(2))
        win = f"window {ks[0]}x{ks[1]}" if exact else f"windows up to {ks[0]}x{ks[1]}"
        return f"{what}: {n[0]}x{n[1]} -> {o[0]}x{o[1]} ({win})"


@dataclass(frozen=True)
class Flatten(Rule):
    def size(self, ins):
        return None

    def geo(self, geos, ins):
        if geos[0] is None:
            return None
        return geos[0].flatten(ins[0]) if ins[0] is not None else geos[0]


@dataclass(frozen=True)
class Merge(Rule):
    """A layer that reads all its input features (Linear): every position of a flattened map;
    `spatial=True` for a reduction straight from a map (x.mean((2, 3)))."""

    spatial: bool = False

    def size(self, ins):
        return None

    def geo(self, geos, ins):
        g = Rule.geo(self, geos, ins)
        if g is None:
            return None
        if self.spatial and ins[0] is not None:
            g = g.flatten(ins[0])
        return g.merge()


@dataclass(frozen=True)
class Slice(Rule):
    first: Pair
    step: Pair

    def size(self, ins):
        n = ins[0]
        if n is None:
            return None
        return tuple(max(0, -(-(n[a] - self.first[a]) // self.step[a])) for a in range(2))

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].slice(self.first, self.step)


@dataclass(frozen=True)
class Pad(Rule):
    before: Pair
    after: Pair

    def size(self, ins):
        n = ins[0]
        return None if n is None else tuple(n[a] + self.before[a] + self.after[a] for a in range(2))

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].pad(self.before)


@dataclass(frozen=True)
class SwapHW(Rule):
    """A transpose of the two spatial axes (x.transpose(2, 3), x.permute(0, 1, 3, 2))."""

    def size(self, ins):
        return None if ins[0] is None else (ins[0][1], ins[0][0])

    def geo(self, geos, ins):
        return None if geos[0] is None else geos[0].swap()


@dataclass(frozen=True)
class Unknown(Rule):
    """An op whose geometry cannot be read: keeps the size it had, and no receptive field."""

    recorded: Size = None

    def size(self, ins):
        return self.recorded

    def geo(self, geos, ins):
        return None


def pair(v: Any) -> Pair:
    """An int or a sequence (kernel_size=3, stride=(2, 1)) as (H, W)."""
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return (int(v), int(v))


def padding(p: Any, k: Pair, d: Pair) -> tuple[Pair, Pair | None]:
    """(padding at the start, at the end or None when the same) of each spatial axis.

    padding="same" pads d*(k-1) in all and PyTorch puts the odd pixel at the end."""
    if isinstance(p, str):
        if p == "valid":
            return (0, 0), None
        total = tuple(d[a] * (k[a] - 1) for a in range(2))
        before = tuple(t // 2 for t in total)
        after = tuple(t - t // 2 for t in total)
        return before, (after if after != before else None)  # type: ignore[return-value]
    return pair(p), None


def slice_rule(index: Any, n_in: Pair, n_out: Pair) -> Rule:
    """x[..., a::s, b::t] on the spatial axes; anything else that changes the map is Unknown."""
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (4 - len(index) + 1) + index[at + 1:]
    index = tuple(index) + (slice(None),) * (4 - len(index))
    first, step = [], []
    for a, i in enumerate(index[2:4]):
        if not isinstance(i, slice) or (i.stop is not None and i.stop < n_in[a]):
            return Unknown(n_out)
        first.append(i.start or 0)
        step.append(i.step or 1)
    rule = Slice(tuple(first), tuple(step))  # type: ignore[arg-type]
    return rule if rule.size([n_in]) == n_out else Unknown(n_out)
