"""A network as its papers draw it, read from the summary's recorded graph.

The summary (analysis/summary.py, one recorded forward pass) gives every layer with its shapes,
kernel, stride, groups, parameters, and for additions and concatenations the branches they read.
This module groups those rows into what a figure shows:

- `Layer`: one step that changes the map or carries weights (a convolution, a pooling, a fully
  connected layer, LeNet-5's RBF output), with the steps that only follow it (activation,
  normalisation, dropout) as its `extras`;
- `Inception`: parallel branches read from one input and concatenated (Szegedy et al., Fig. 2);
- `Residual`: a main path plus a shortcut (identity, a projection, or option A's zero padding),
  added (He et al., Fig. 2 and 5);
- `Repeat`: consecutive identical units collapsed as "x n";
- `Head`: a part that runs only in training (GoogLeNet's auxiliary classifiers), with the unit
  it reads from.

Every label a style draws is made here, from a summary Row, so the drawings cannot disagree with
`cnnzoo summary`. Nothing here imports matplotlib.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from ...analysis.summary import Row, Summary

# rows that only follow a step: drawn as a note on that step, not as a step of their own
_EXTRA_WORDS = {"BatchNorm2d": "BN", "LocalResponseNorm": "LRN", "Dropout": "dropout",
                "ReLU": "ReLU", "Tanh": "tanh", "Sigmoid": "sigmoid", "ScaledTanh": "scaled tanh",
                "Identity": "", "Flatten": ""}


# --- labels: the one place a number becomes text ---------------------------------------------------
def shape_text(shape: Sequence[int] | None) -> str:
    """6@28x28 for a map (LeNet-5's notation, channels@HxW), 84 for a vector."""
    if not shape:
        return ""
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}x{shape[2]}"
    return "x".join(map(str, shape))


def kernel_text(row: Row) -> str:
    """5x5, 3x3/2 (stride after the slash when it is not 1)."""
    if row.kernel is None:
        return ""
    k = f"{row.kernel[0]}x{row.kernel[1]}"
    if row.stride and row.stride != (1, 1):
        s = row.stride[0] if row.stride[0] == row.stride[1] else f"{row.stride[0]}x{row.stride[1]}"
        k += f"/{s}"
    return k


def kind(row: Row) -> str:
    """conv, pool, fc, rbf, or other."""
    t = row.type.lower()
    if "conv" in t and row.kernel is not None:
        return "conv"
    if "pool" in t or row.type == "Subsampling":
        return "pool"
    if row.type == "Linear" or row.type.startswith("linear"):
        return "fc"
    if row.type.startswith("RBF"):
        return "rbf"
    return "other"


def op_text(row: Row) -> str:
    """The paper's words for a step: '3x3 conv, 64, /2', '3x3 max pool, /2', 'fc 1000'."""
    k, out = kind(row), row.output_shape or ()
    stride = f", /{row.stride[0]}" if row.stride and row.stride != (1, 1) else ""
    if k == "conv":
        text = f"{row.kernel[0]}x{row.kernel[1]} conv, {out[0]}{stride}"  # type: ignore[index]
        if row.type == "PartialConv2d":
            text += ", partial table"
        return text + (f", groups {row.groups}" if row.groups and row.groups > 1 else "")
    if k == "pool":
        if row.kernel is None:  # adaptive: the output size is what it fixes
            how = "avg" if "Avg" in row.type else "max"
            return f"adaptive {how} pool -> {shape_text(out[1:])}" if len(out) == 3 else row.type
        how = "subsampling" if row.type == "Subsampling" else ("avg pool" if "Avg" in row.type
                                                               else "max pool")
        return f"{row.kernel[0]}x{row.kernel[1]} {how}{stride}"
    if k == "fc":
        return f"fc {out[-1]}" if out else "fc"
    if k == "rbf":
        return f"RBF {out[-1]}" if out else "RBF"
    return row.type.removesuffix("()")


def params_text(n: int, times: int = 1) -> str:
    """"1,792 params"; a layer drawn once for `times` identical ones: "36,928 params each"."""
    return (f"{n:,} params" if n != 1 else "1 param") + (" each" if times > 1 else "")


# --- the units ---------------------------------------------------------------------------------------
@dataclass
class Layer:
    row: Row
    extras: list[Row] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def out(self) -> tuple[int, ...] | None:
        return self.row.output_shape

    @property
    def params(self) -> int:
        return self.row.params + sum(r.params for r in self.extras)

    def extra_words(self) -> list[str]:
        words = [_EXTRA_WORDS.get(r.type, r.type.removesuffix("()")) for r in self.extras]
        return [w for w in words if w]

    def signature(self) -> tuple:
        r = self.row
        return (r.type, r.kernel, r.stride, r.padding, r.groups, r.input_shape, r.output_shape,
                r.params, tuple(x.type for x in self.extras))


@dataclass
class Inception:
    name: str
    branches: list[list[Layer]]  # each branch's steps, in the order concatenated
    branch_names: list[str]
    concat: Row
    extras: list[Row] = field(default_factory=list)

    @property
    def out(self) -> tuple[int, ...] | None:
        return self.concat.output_shape

    @property
    def params(self) -> int:
        return sum(s.params for b in self.branches for s in b)

    @property
    def reduced(self) -> bool:
        """True when a 1x1 convolution comes before a larger one in some branch (Fig. 2b)."""
        return any(len(b) > 1 and kind(b[0].row) == "conv" and b[0].row.kernel == (1, 1)
                   for b in self.branches)

    def signature(self) -> tuple:
        return (self.name,)  # modules of one network differ in width: never collapsed


@dataclass
class Residual:
    name: str
    main: list[Layer]
    shortcut: list[Layer]  # empty: identity
    add: Row
    extras: list[Row] = field(default_factory=list)  # after the addition (the last ReLU)

    @property
    def out(self) -> tuple[int, ...] | None:
        return self.add.output_shape

    @property
    def params(self) -> int:
        return sum(s.params for s in self.main + self.shortcut)

    def shortcut_kind(self) -> str:
        """identity, projection (a convolution on the shortcut) or zero-pad (option A)."""
        if not self.shortcut:
            return "identity"
        if any(kind(s.row) == "conv" for s in self.shortcut):
            return "projection"
        return "zero-pad" if "ZeroPad" in self.shortcut[0].row.type else self.shortcut[0].row.type

    def signature(self) -> tuple:
        return (tuple(s.signature() for s in self.main), tuple(s.signature() for s in self.shortcut),
                tuple(r.type for r in self.extras), self.add.input_shape, self.add.output_shape)


@dataclass
class Repeat:
    unit: Unit
    names: list[str]  # the units collapsed, first to last

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def out(self) -> tuple[int, ...] | None:
        return self.unit.out

    @property
    def params(self) -> int:
        return self.unit.params * self.count


@dataclass
class Head:
    """Units that run only in training, reading the output of the unit named `after`."""

    name: str
    units: list[Layer]
    after: str

    @property
    def params(self) -> int:
        return sum(u.params for u in self.units)


Unit = Union[Layer, Inception, Residual, Repeat]


@dataclass
class Network:
    name: str
    summary: Summary
    units: list[Unit]  # the path that runs at inference
    heads: list[Head]  # training-only parts
    options: dict[str, Any] = field(default_factory=dict)  # the builder options it was made with

    @property
    def branching(self) -> bool:
        return any(not isinstance(_base(u), Layer) for u in self.units)

    def layers(self) -> list[Layer]:
        """Every Layer of the inference path, repeats expanded once."""
        out: list[Layer] = []
        for u in self.units:
            out += _layers_of(_base(u))
        return out

    def layer_names(self) -> list[str]:
        """The name to write beside each of `layers()`: a repeat names its first and last layer
        and its count, "conv3_2 ... conv3_3 (x 2)"."""
        out: list[str] = []
        for u in self.units:
            names = [s.name for s in _layers_of(_base(u))]
            if isinstance(u, Repeat) and len(names) == 1:
                names = [f"{u.names[0]} ... {u.names[-1]} (x {u.count})"]
            out += names
        return out

    def layer_counts(self) -> list[int]:
        """How many times each of `layers()` stands in the network (a repeat's count)."""
        out: list[int] = []
        for u in self.units:
            out += [u.count if isinstance(u, Repeat) else 1] * len(_layers_of(_base(u)))
        return out


def _base(u: Any) -> Any:
    return u.unit if isinstance(u, Repeat) else u


def _layers_of(u: Any) -> list[Layer]:
    if isinstance(u, Layer):
        return [u]
    if isinstance(u, Inception):
        return [s for b in u.branches for s in b]
    if isinstance(u, Residual):
        return u.main + u.shortcut
    return []


# --- grouping the rows -----------------------------------------------------------------------------
def _is_step(row: Row) -> bool:
    """A row drawn as a step: it has a window or weights, or changes the shape (not a reshape)."""
    if row.type in _EXTRA_WORDS and not row.params or row.type == "BatchNorm2d":
        return False
    if row.kernel is not None or row.macs or kind(row) != "other":
        return True
    return row.output_shape != row.input_shape and not _reshape(row)


def _reshape(row: Row) -> bool:
    def n(s: Sequence[int] | None) -> int:
        p = 1
        for d in s or ():
            p *= d
        return p
    return not row.params and n(row.input_shape) == n(row.output_shape)


def _layers(rows: list[Row]) -> list[Layer]:
    """Steps with the rows that follow each as its extras (extras before any step are kept as a
    step of their own, so nothing is lost)."""
    out: list[Layer] = []
    for r in rows:
        if _is_step(r) or not out:
            out.append(Layer(r))
        else:
            out[-1].extras.append(r)
    return out


def _child(name: str, prefix: str) -> str:
    rest = name[len(prefix):] if prefix else name
    return rest.split(".")[0]


def _groups(rows: list[Row], prefix: str) -> list[tuple[str, list[Row]]]:
    """Consecutive rows grouped by their next name component under `prefix`."""
    out: list[tuple[str, list[Row]]] = []
    for r in rows:
        c = _child(r.name, prefix)
        if out and out[-1][0] == c:
            out[-1][1].append(r)
        else:
            out.append((c, [r]))
    return out


def _join(rows: list[Row], prefix: str) -> Row | None:
    """The addition or concatenation made directly in this module (it names its branches)."""
    for r in rows:
        if len(r.inputs) > 1 and "." not in r.name[len(prefix):]:
            return r
    return None


def _unit(name: str, rows: list[Row], prefix: str) -> list[Unit]:
    """The units of one module's rows (prefix: the module's name and a dot)."""
    join = _join(rows, prefix)
    if join is not None:
        at = rows.index(join)
        before, after = rows[:at], rows[at + 1:]
        children = dict(_groups(before, prefix))
        if join.arithmetic.startswith("cat"):
            names = [c for c in join.inputs if c in children]
            return [Inception(name, [_layers(children[c]) for c in names], names, join,
                              after)]
        short = [c for c in join.inputs[1:] if c in children]
        short_rows = [r for c in short for r in children[c]]
        main = [r for r in before if r not in short_rows]
        return [Residual(name, _layers(main), _layers(short_rows), join, after)]
    units: list[Unit] = []
    for child, sub in _groups(rows, prefix):
        full = f"{prefix}{child}"
        units += _unit(full, sub, full + ".") if any(r.name != full for r in sub) else _layers(sub)
    return _merge_extras(units)


def _merge_extras(units: list[Unit]) -> list[Unit]:
    """A lone activation, normalisation or dropout joins the Layer before it as an extra."""
    out: list[Unit] = []
    for u in units:
        last = out[-1] if out else None
        if isinstance(u, Layer) and not _is_step(u.row) and isinstance(last, Layer):
            last.extras += [u.row, *u.extras]
        elif isinstance(u, Layer) and not _is_step(u.row) and isinstance(last, (Inception, Residual)):
            last.extras += [u.row, *u.extras]
        else:
            out.append(u)
    return out


def _collapse(units: list[Unit]) -> list[Unit]:
    """Consecutive units with the same signature become one Repeat (x n)."""
    out: list[Unit] = []
    for u in units:
        last = out[-1] if out else None
        base = _base(last) if last is not None else None
        if last is not None and not isinstance(u, Repeat) and type(base) is type(u) \
                and base.signature() == u.signature():
            if isinstance(last, Repeat):
                last.names.append(_name(u))
            else:
                out[-1] = Repeat(last, [_name(last), _name(u)])
        else:
            out.append(u)
    return out


def _name(u: Any) -> str:
    return u.name if not isinstance(u, Repeat) else u.names[0]


def network(s: Summary, training: Summary | None = None) -> Network:
    """The units of a summary; `training`: the same network summarised in training mode, whose
    extra top-level modules (the ones `s.not_run` names) become Heads."""
    units = _collapse(_unit(s.model, list(s.layers), ""))
    heads: list[Head] = []
    if training is not None and s.not_run:
        order = [r.name for r in training.layers]
        for top in s.not_run:
            rows = [r for r in training.layers if r.name == top or r.name.startswith(top + ".")]
            if not rows:
                continue
            first = order.index(rows[0].name)
            before = next((order[i] for i in range(first - 1, -1, -1)
                           if not any(order[i].startswith(t + ".") for t in s.not_run)), "input")
            heads.append(Head(top, _layers(rows), _top_unit(units, before)))
    return Network(s.model, s, units, heads)


def _top_unit(units: list[Unit], row_name: str) -> str:
    """The name of the unit holding a row (a head attaches to it)."""
    for u in units:
        base = _base(u)
        names = [_name(u)] + (u.names if isinstance(u, Repeat) else [])
        if any(row_name == n or row_name.startswith(n + ".") for n in names):
            return _name(u)
        if isinstance(base, Layer) and row_name in [base.name] + [r.name for r in base.extras]:
            return base.name
    return row_name
