"""Layer-by-layer summary of a network, written out the way the lecture notes do it.

One row per layer, named by its state_dict path: type; kernel, stride, padding, dilation, groups
and ceil mode where they apply; output shape and the output-size arithmetic,
"(32 - 5 + 2*0)/1 + 1 = 28"; parameters; multiply-accumulates; receptive field and jump (effective
stride) at the output; activation memory. Activations, pooling, LRN, concatenations, residual
additions and functional ops in a block's forward (x + y, torch.flatten) are rows too.

The pass runs on a copy of the model on PyTorch's "meta" device (shapes only, no arithmetic and
no memory for the weights), so ResNet-152 at 224x224 takes well under a second and the user's
model is never touched: no hooks, no buffers, no change of mode. Conventions (docs/paper-facts.md):
MACs are the multiply-accumulates of convolutions and fully connected layers (and of layers that
declare `zoo_macs`), batch 1, which is torchvision's "GFLOPS" and docs/paper-facts.md's "MACs"; FLOPs = 2 x
MACs. A second total also counts normalisation, pooling, activations and additions (OPS_NOTE).
Receptive fields follow Araujo et al., Distill 2019 (see trace/geometry.py) and are not clipped to
the image. The pass is recorded by cnnzoo.trace; a row is built from a recorded node's Step.
"""
from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .. import checks
from ..errors import CnnzooError, InputShapeError, OptionError
from ..options import parse_options
from ..registry import ModelInfo, create_model, model_info, validate
from ..trace.geometry import Pair
from ..trace.graph import Graph, simulate
from ..trace.records import Call, Node, Step
from ..trace.rules import Window
from . import render
from .render import fmt_pair

OPS_NOTE = ("Other operations, counted per output element in multiply-add equivalents: "
            "normalisation 1 (a folded scale and shift), LRN n+2 (n squares summed, then the "
            "power and the divide), activation 1, addition 1, pooling the window area "
            "(trainable subsampling: area + 1), adaptive pooling 1 per input element; "
            "dropout, flatten and concatenation 0.")

FORMATS = ("table", "markdown", "json", "csv")


@dataclass(kw_only=True)
class Row(Step):
    """One layer (or, with a depth limit, one block) of a summary: the recorded Step (its
    shapes, window, arithmetic and costs; trace/records.py) and its place in the summary."""

    depth: int
    rf: tuple[float, float] | None = None  # receptive field (H, W) in input pixels
    jump: tuple[float, float] | None = None  # effective stride (H, W) in input pixels
    start: tuple[float, float] | None = None  # centre of output unit (0, 0) in input pixels
    inputs: tuple[str, ...] = ()  # the branches an addition or concatenation reads
    block: bool = False  # a block standing for the layers inside it (depth limit)


# a row's fields in the order JSON, CSV and pandas give them
COLUMNS = ("name", "type", "depth", "input_shape", "output_shape", "kernel", "stride", "padding",
           "dilation", "groups", "ceil_mode", "arithmetic", "params", "macs", "ops", "rf", "jump",
           "start", "memory", "inputs", "functional", "block", "weighted_depth")


@dataclass
class Summary:
    """What `summary()` returns: `.rows`, the totals, and renderers (str() is the table)."""

    model: str
    input_size: tuple[int, int, int]
    rows: list[Row]
    layers: list[Row]  # every layer, whatever the depth limit
    trainable_params: int
    frozen_params: int
    buffers: int
    total_macs: int
    total_ops: int
    activation_memory: int
    param_memory: int
    weighted_depth: int
    mode: str = "eval"
    dtype: str = "float32"
    not_run: list[str] = field(default_factory=list)  # modules with parameters the pass did not run
    not_run_params: int = 0
    depth: int | None = None

    @property
    def total_params(self) -> int:
        return self.trainable_params + self.frozen_params

    @property
    def total_flops(self) -> int:
        """2 x MACs, conv + linear only."""
        return 2 * self.total_macs

    @property
    def total_macs_all(self) -> int:
        """MACs with normalisation, pooling, activations and additions counted too (OPS_NOTE)."""
        return self.total_macs + self.total_ops

    @property
    def total_flops_all(self) -> int:
        return 2 * self.total_macs_all

    def row(self, name: str) -> Row:
        for r in self.layers + self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    # -- rendering ---------------------------------------------------------------------------
    _HEADERS = ("Layer", "Type", "Kernel", "Stride", "Pad", "Options", "Output", "Output size",
                "Params", "MACs", "RF", "Jump", "Memory")

    def _cells(self, r: Row) -> list[str]:
        options = []
        if r.dilation and r.dilation != (1, 1):
            options.append(f"dilation {fmt_pair(r.dilation)}")
        if r.groups and r.groups != 1:
            options.append(f"groups {r.groups}")
        if r.ceil_mode:
            options.append("ceil")
        return [
            r.name, r.type, fmt_pair(r.kernel), fmt_pair(r.stride), fmt_pair(r.padding),
            ", ".join(options), _shape(r.output_shape), r.arithmetic,
            f"{r.params:,}" if r.params else "", f"{r.macs:,}" if r.macs else "",
            fmt_pair(r.rf) if r.rf else "?", fmt_pair(r.jump) if r.jump else "",
            render.human_bytes(r.memory) if r.memory else "",
        ]

    def notes(self) -> list[str]:
        c, h, w = self.input_size
        lines = [
            f"{self.model}: input {c}x{h}x{w}, batch 1, {self.dtype}, {self.mode} mode.",
            f"Parameters: {self.trainable_params:,} trainable + {self.frozen_params:,} frozen = "
            f"{self.total_params:,}"
            + (f"; buffers {self.buffers:,} values (not trained)" if self.buffers else "") + ".",
        ]
        if self.not_run_params:
            lines.append(f"  of which {self.not_run_params:,} in layers this pass does not run: "
                         f"{', '.join(self.not_run) or '?'}"
                         + (" (auxiliary heads run in training mode: mode='train' / --train)"
                            if self.mode == "eval" else "") + ".")
        lines += [
            f"MACs (conv + linear only): {_count(self.total_macs)}; "
            f"FLOPs = 2 x MACs = {_count(self.total_flops)}.",
            f"MACs counting normalisation, pooling, activations and additions too: "
            f"{_count(self.total_macs_all)}; FLOPs = {_count(self.total_flops_all)}.",
            f"Activation memory (sum of layer outputs, batch 1): {render.human_bytes(self.activation_memory)}; "
            f"parameter memory: {render.human_bytes(self.param_memory)}.",
            f"Depth: {self.weighted_depth} weighted layers on the longest path. RF = receptive "
            "field, Jump = effective stride, both in input pixels (RF not clipped to the image).",
            OPS_NOTE,
        ]
        return lines

    def to_table(self, fancy: bool | None = None) -> str:
        """Terminal table: box drawing only when stdout is a terminal (fancy=None), else ASCII."""
        return render.table(self._HEADERS, [self._cells(r) for r in self.rows],
                            "llllllllrrrrr", self.notes(), fancy)

    def to_markdown(self) -> str:
        return render.markdown(self._HEADERS, [self._cells(r) for r in self.rows],
                               "llllllllrrrrr", self.notes())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "input_size": list(self.input_size), "mode": self.mode,
            "dtype": self.dtype, "depth": self.depth,
            "rows": [_row_dict(r) for r in self.rows],
            "totals": {
                "params": self.total_params, "trainable_params": self.trainable_params,
                "frozen_params": self.frozen_params, "buffers": self.buffers,
                "params_not_run": self.not_run_params, "not_run": self.not_run,
                "macs": self.total_macs, "flops": self.total_flops,
                "macs_all": self.total_macs_all, "flops_all": self.total_flops_all,
                "activation_memory_bytes": self.activation_memory,
                "param_memory_bytes": self.param_memory,
                "weighted_depth": self.weighted_depth,
            },
            "conventions": {
                "macs": "multiply-accumulates of conv and linear layers (and zoo_macs layers), batch 1",
                "flops": "2 x macs",
                "macs_all": OPS_NOTE,
                "rf": "receptive field in input pixels, not clipped to the image; jump = effective stride;"
                      " start = centre of output unit (0, 0) in input pixel coordinates",
                "activation_memory": "sum of the layer outputs, batch 1 (views count 0)",
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        fields = list(_row_dict(self.rows[0]).keys()) if self.rows else ["name"]
        rows = []
        for r in self.rows:
            d = _row_dict(r)
            rows.append(["x".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                         for v in d.values()])
        return render.to_csv(fields, rows)

    def render(self, fmt: str = "table", fancy: bool | None = None) -> str:
        if fmt == "table":
            return self.to_table(fancy)
        if fmt == "markdown":
            return self.to_markdown()
        if fmt == "json":
            return self.to_json()
        if fmt == "csv":
            return self.to_csv()
        raise CnnzooError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")

    def __str__(self) -> str:
        return self.to_table()

    def __repr__(self) -> str:
        c, h, w = self.input_size
        return (f"<Summary {self.model}: input {c}x{h}x{w}, {len(self.rows)} rows, "
                f"{self.total_params:,} params, {render.human(self.total_macs)} MACs, "
                f"{self.weighted_depth} weighted layers>")

    def _repr_html_(self) -> str:
        """The table in a notebook."""
        return render.html(self._HEADERS, [self._cells(r) for r in self.rows], "llllllllrrrrr",
                           self.notes())

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (one column per Row field); needs pandas."""
        return render.data_frame([_row_dict(r) for r in self.rows])


def _count(n: int) -> str:
    return f"{n:,} ({render.human(n)})" if n >= 1000 else f"{n:,}"


def _shape(shape: tuple[int, ...] | None) -> str:
    return "x".join(map(str, shape)) if shape else ""


def _row_dict(r: Row) -> dict[str, Any]:
    d = {k: getattr(r, k) for k in COLUMNS}
    for k, v in d.items():
        if isinstance(v, tuple):  # receptive fields are often whole: 5, not 5.0
            d[k] = [int(x) if isinstance(x, float) and x.is_integer() else x for x in v]
    return d


# --- the model: a shape-only copy ----------------------------------------------------------------
def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy whose parameters and buffers live on the meta device (no data is copied) and
    which carries none of the original's hooks."""
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    clone = copy.deepcopy(model, memo)
    _clear_hooks(clone)
    return clone


def _clear_hooks(model: nn.Module) -> None:
    for m in model.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks", "_forward_hooks_with_kwargs",
                     "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called"):
            d = getattr(m, attr, None)
            if d is not None:
                d.clear()


def _build_meta(name: str, options: dict[str, Any]) -> nn.Module:
    """Build a registered model straight on the meta device; models whose construction reads
    tensor values (LeNet-5's connection table) are built for real and copied."""
    try:
        with torch.device("meta"):
            model = create_model(name, **options)
        if all(t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
            return model
    except CnnzooError:
        raise
    except Exception:  # noqa: BLE001 - an op without a meta kernel: build it for real
        pass
    return meta_copy(create_model(name, **options))


def _model_name(model: nn.Module) -> str:
    return getattr(model, "zoo_name", None) or type(model).__name__


def _info(model: nn.Module) -> ModelInfo | None:
    name = getattr(model, "zoo_name", None)
    if not name:
        return None
    try:
        return model_info(name)
    except CnnzooError:
        return None


def parse_input(text: str | Sequence[Any] | None, name: str = "--input") -> tuple[int, ...] | None:
    """'3,224,224', '3x224x224', '224' or '224,224' (the model's channels), or a sequence
    (torchinfo's (N, C, H, W) too) -> positive whole numbers. Anything else (an empty field, a
    letter, 0 or a negative size, too many numbers) raises OptionError with one line."""
    if text is None:
        return None
    if isinstance(text, str):
        text = text.replace("x", ",").replace("X", ",")
    elif not isinstance(text, Sequence):
        raise OptionError(f"{name} takes (C, H, W), got {text!r}")
    parts = checks.int_list(name, text, minimum=1)
    if not 1 <= len(parts) <= 4:
        raise OptionError(f"{name} takes C,H,W (or H,W, or N,C,H,W), e.g. 3,224,224; "
                                 f"got {len(parts)} numbers")
    return parts


def _full_size(size: Sequence[int] | None, info: ModelInfo | None, model: nn.Module) -> tuple[int, int, int]:
    if size is None:
        if info is None:
            raise CnnzooError("give the input size of this model: summary(model, input_size=(C, H, W))")
        return tuple(info.input_size)  # type: ignore[return-value]
    size = tuple(int(v) for v in size)
    if len(size) == 4:  # torchinfo's habit: (N, C, H, W); every figure here is per image
        size = size[1:]
    if len(size) == 3:
        return (size[0], size[1], size[2])
    channels = info.input_size[0] if info else getattr(model, "in_channels", None)
    if channels is None:
        raise CnnzooError("give the input size as (C, H, W)")
    return (channels, size[0], size[-1])


# --- the pass ----------------------------------------------------------------------------------
def _run(graph: Graph, size: tuple[int, int, int], train: bool) -> Graph:
    """Record graph.model on a zero input of `size` (on its device, in its dtype). On failure
    the exception propagates and `graph.failed_in` names the calls that were in progress."""
    model = graph.model
    model.train(train)
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    device = first.device if first is not None else torch.device("meta")
    graph.run(torch.zeros((1, *size), dtype=dtype, device=device))
    return graph


def _trace(model: nn.Module, size: tuple[int, int, int], train: bool) -> Graph:
    return _run(Graph(model), size, train)


def _smallest(nodes: list[Node], ref: Pair) -> Pair:
    """The smallest H (and W) for which no map falls below 1x1, the other side at its reference."""
    best = []
    for axis in range(2):
        lo, hi = 1, ref[axis]
        while lo < hi:
            mid = (lo + hi) // 2
            hw = (mid, ref[1]) if axis == 0 else (ref[0], mid)
            if simulate(nodes, hw) is None:
                hi = mid
            else:
                lo = mid + 1
        best.append(lo)
    return best[0], best[1]


def _failed_in(err: BaseException, failed_in: list[str], name: str,
               size: tuple[int, int, int]) -> BaseException:
    """A forward that raised a plain error (a shape mismatch in a layer) as one line naming the
    layer that was running; the project's own errors and anything else are left as they are."""
    if isinstance(err, CnnzooError) or not isinstance(err, (RuntimeError, ValueError)):
        return err
    named = [n for n in failed_in if n]  # the innermost call in progress names the layer
    where = f" in {named[-1]}" if named else ""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    c, h, w = size
    return InputShapeError(f"{name}: a {c}x{h}x{w} input fails{where}: {first}")


def _diagnose(err: BaseException, failed_in: list[str], name: str, size: tuple[int, int, int],
              info: ModelInfo | None, make: Callable[[], nn.Module], train: bool) -> BaseException:
    """Turn a failed pass into one line: the layer where the map falls below 1x1 and the
    smallest input that works, or the model's own message."""
    c, h, w = size
    if info is not None and info.fixed_size and isinstance(err, InputShapeError):
        return err  # the model says which size it takes
    ref = (info.input_size[1], info.input_size[2]) if info is not None else (224, 224)
    try:
        ref_tracer = _trace(make(), (c, *ref), train)
    except Exception:  # noqa: BLE001 - the reference input fails too: not a size problem
        return _failed_in(err, failed_in, name, size)
    nodes = ref_tracer.nodes
    found = simulate(nodes, (h, w))
    if found is None:
        return _failed_in(err, failed_in, name, size)
    index, out, ins = found
    node = nodes[index]
    layer = node.name
    if not node.row and node.calls and ref_tracer.calls[node.calls[-1]].leaf:
        layer = ref_tracer.calls[node.calls[-1]].name  # an op inside a layer: name the layer
    how = ""
    if isinstance(node.rule, Window) and ins and ins[0] is not None:
        how = f" ({node.type} {fmt_pair(node.rule.k)}/{fmt_pair(node.rule.s)}: {node.rule.arithmetic(ins[0])})"
    mh, mw = _smallest(nodes, ref)
    # the model may demand more than the arithmetic (its own check): confirm with a pass
    smallest = ""
    for hh, ww in ((mh, mw), tuple(ref)):
        try:
            _trace(make(), (c, hh, ww), train)
            smallest = f" The smallest input that works is {c}x{hh}x{ww} (--input {c},{hh},{ww})."
            break
        except Exception:  # noqa: BLE001
            continue
    return InputShapeError(f"{name}: a {h}x{w} input is too small: the map falls to "
                           f"{out[0]}x{out[1]} at {layer}{how}.{smallest}")


# --- rows ----------------------------------------------------------------------------------------
def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def _source_name(nodes: list[Node], index: int, parent: str) -> str:
    while index >= 0 and not nodes[index].row and nodes[index].inputs:
        index = nodes[index].inputs[0]
    if index < 0:
        return "input"
    name = nodes[index].name
    if parent and name.startswith(parent + "."):
        return name[len(parent) + 1:].split(".")[0]
    keep = len(parent.split(".")) if parent else 1
    return ".".join(name.split(".")[:keep])


def _row(node: Node, nodes: list[Node]) -> Row:
    spatial = node.output_shape is not None and len(node.output_shape) == 3
    g = node.geo
    inputs: tuple[str, ...] = ()
    arithmetic = node.arithmetic
    if node.sources and len(node.sources) > 1:
        parent = _parent(node.name)
        inputs = tuple(_source_name(nodes, i, parent) for i in node.sources)
        op = "cat" if "=" in arithmetic else "add"
        arithmetic = f"{op}({', '.join(inputs)})" + (f": {arithmetic}" if arithmetic else "")
    return Row(**{**node.step(), "arithmetic": arithmetic}, depth=len(node.name.split(".")),
               rf=g.rf if g else None, jump=g.jump if g and spatial else None,
               start=g.start if g else None, inputs=inputs)


def _block_row(call: Call, members: list[Row]) -> Row:
    n_in = call.in_shape[-2:] if call.in_shape and len(call.in_shape) == 3 else None
    n_out = call.out_shape[-2:] if call.out_shape and len(call.out_shape) == 3 else None
    arithmetic = ""
    if n_in and n_out and n_in != n_out:
        arithmetic = f"{n_in[0]}x{n_in[1]} -> {n_out[0]}x{n_out[1]}"
    g = call.geo
    return Row(
        name=call.name, type=call.type, depth=call.depth, input_shape=call.in_shape,
        output_shape=call.out_shape, arithmetic=arithmetic,
        params=sum(r.params for r in members), macs=sum(r.macs for r in members),
        ops=sum(r.ops for r in members), rf=g.rf if g else None,
        jump=g.jump if g and n_out else None, start=g.start if g else None,
        memory=sum(r.memory for r in members), block=True, weighted_depth=call.weighted_depth,
    )


def _collapse(tracer: Graph, shown: list[tuple[Node, Row]], depth: int) -> list[Row]:
    out: list[Row] = []
    group: list[Row] = []
    group_call: int | None = None
    for node, row in shown:
        owner = None
        if row.depth > depth:
            owner = next((i for i in node.calls if tracer.calls[i].depth == depth), None)
        if owner != group_call and group:
            out.append(_block_row(tracer.calls[group_call], group))  # type: ignore[index]
            group = []
        group_call = owner
        if owner is None:
            out.append(row)
        else:
            group.append(row)
    if group:
        out.append(_block_row(tracer.calls[group_call], group))  # type: ignore[index]
    return out


def _not_run(model: nn.Module, called: set[int]) -> list[str]:
    missing = {name for name, m in model.named_modules()
               if name and id(m) not in called and next(m.parameters(), None) is not None}
    return sorted(n for n in missing if _parent(n) not in missing)


def summary(model_or_name: nn.Module | str, input_size: Sequence[int] | None = None, *,
            depth: int | None = None, train: bool = False,
            options: Mapping[str, Any] | None = None) -> Summary:
    """Summarise a network layer by layer: see the module docstring.

    model_or_name: a registered name (built with `options`, a dict of the builder's options,
    e.g. {"depth": 32}: they never mix with this function's own keywords) or a model (left
    untouched). input_size: (C, H, W), (H, W) with the model's channels, or torchinfo's
    (N, C, H, W); default the model's ModelInfo.input_size. depth: show blocks below this many
    name levels as one row. train: run the pass in training mode (GoogLeNet's auxiliary heads run).
    Raises OptionError for a bad size or option, InputShapeError with one line (the layer where
    the map falls below 1x1 and the smallest input that works) for an input too small.
    """
    if options is not None and not isinstance(options, Mapping):
        raise OptionError(f"options must be a dict of the model's options, got {options!r}")
    if input_size is not None:
        input_size = parse_input(input_size, "input_size")
    if depth is not None:
        depth = checks.positive_int("depth", depth)
    if not isinstance(model_or_name, (str, nn.Module)):
        raise OptionError(f"summary takes a model name or an nn.Module, got "
                          f"{type(model_or_name).__name__} {model_or_name!r}"[:200])
    if isinstance(model_or_name, str):
        info: ModelInfo | None = model_info(model_or_name)
        name = model_or_name
        options = validate(name, options or {})
        make_meta: Callable[[], nn.Module] = lambda: _build_meta(name, options)  # noqa: E731
        make_real: Callable[[], nn.Module] = lambda: create_model(name, **options)  # noqa: E731
        model = make_meta()
    else:
        if options:
            raise OptionError("options apply to a model name only: build the model with them")
        original = model_or_name
        info, name = _info(original), _model_name(original)
        make_meta = lambda: meta_copy(original)  # noqa: E731
        make_real = lambda: _clear_and_return(copy.deepcopy(original))  # noqa: E731
        model = make_meta()
    size = _full_size(input_size, info, model)

    tracer = Graph(model)
    try:
        _run(tracer, size, train)
    except CnnzooError as err:
        raise _diagnose(err, tracer.failed_in, name, size, info, make_meta, train) from None
    except Exception as err:  # noqa: BLE001 - maybe an op without a meta kernel: try for real
        tracer = Graph(make_real())
        try:
            _run(tracer, size, train)
        except Exception as err2:  # noqa: BLE001
            raise _diagnose(err2, tracer.failed_in, name, size, info, make_real, train) from err
        model = tracer.model

    shown = [(n, _row(n, tracer.nodes)) for n in tracer.nodes if n.row]
    layers = [r for _, r in shown]
    rows = layers if depth is None else _collapse(tracer, shown, depth)
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    frozen = sum(p.numel() for p in params if not p.requires_grad)
    in_rows = sum(r.params for r in layers)
    return Summary(
        model=name, input_size=size, rows=rows, layers=layers,
        trainable_params=trainable, frozen_params=frozen,
        buffers=sum(b.numel() for b in model.buffers()),
        total_macs=sum(r.macs for r in layers), total_ops=sum(r.ops for r in layers),
        activation_memory=sum(r.memory for r in layers),
        param_memory=sum(t.numel() * t.element_size() for t in itertools.chain(params, model.buffers())),
        weighted_depth=max((n.weighted_depth for n in tracer.nodes), default=0),
        mode="train" if train else "eval",
        dtype=str(next((p.dtype for p in params if p.is_floating_point()), torch.float32)).replace("torch.", ""),
        not_run=_not_run(model, tracer.called), not_run_params=trainable + frozen - in_rows,
        depth=depth,
    )


def _clear_and_return(model: nn.Module) -> nn.Module:
    _clear_hooks(model)
    return model


def format_summary(name: str, input_text: str | None = None, depth: int | None = None,
                   fmt: str = "table", train: bool = False, options: Sequence[str] = ()) -> str:
    """The body of `cnnzoo summary`."""
    return summary(name, parse_input(input_text), depth=depth, train=train,
                   options=parse_options(options)).render(fmt)

