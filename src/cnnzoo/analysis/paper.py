# mypy: disable-error-code="union-attr,index,operator,arg-type"
# (Summary rows have Optional shape fields that are set for the layers read here, and model
# attributes such as `.conv1` are typed Tensor | Module by torch; the checks above are by value.)
"""The papers' own per-layer figures beside cnnzoo's summary: `cnnzoo summary MODEL --paper`.

Where a paper prints a table of its network (LeNet-5's parameters and connections per layer,
AlexNet's neurons per layer, GoogLeNet's Table 1 params and ops, VGG's Table 1 layers and Table 2
parameters, ResNet's Table 1 output sizes and FLOPs, the CIFAR ResNets' parameters in Table 6),
`paper_table(name)` holds it as data, and `format_paper(summary_or_name, fmt)` lines it up row by
row with cnnzoo's summary rows: the paper's figure, ours, the difference and its reason.

Units, said where they are printed: the ResNet paper's "FLOPs" and GoogLeNet's "ops" are
multiply-adds, i.e. cnnzoo's MACs (not 2 x MACs). LeNet-5's "connections" are the
multiply-accumulates plus one per bias, and for the subsampling layers the four inputs and the
bias of each unit.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownNameError, close_matches
from ..models.vgg import CONFIGS
from ..registry import builder_options, list_models, model_info
from . import render
from .summary import FORMATS, Row, Summary, summary

# Keys a paper row can give, with how they are shown.
COLUMNS = {
    "layer": "layer",
    "output": "output size",
    "neurons": "neurons",
    "params": "parameters",
    "connections": "connections",
    "macs": "multiply-adds",
}


@dataclass(frozen=True)
class PaperRow:
    """One row of a paper's table. match: the summary rows it covers (a name, or a prefix ending
    in '.' for a whole block); paper: the paper's figures by COLUMNS key; note: why ours differs."""

    layer: str
    match: tuple[str, ...]
    paper: dict[str, Any]
    note: str = ""


@dataclass
class PaperTable:
    model: str
    source: str
    rows: list[PaperRow]
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        keys = {k for r in self.rows for k in r.paper}
        return [k for k in COLUMNS if k in keys]


# --- the tables --------------------------------------------------------------------------------
def _lenet() -> PaperTable:
    rows = [
        PaperRow("Input", ("input",), {"output": "32x32"}),
        PaperRow("C1", ("c1",), {"output": "6@28x28", "params": 156, "connections": 122_304}),
        PaperRow("S2", ("s2",), {"output": "6@14x14", "params": 12, "connections": 5_880}),
        PaperRow("C3", ("c3",), {"output": "16@10x10", "params": 1_516, "connections": 151_600}),
        PaperRow("S4", ("s4",), {"output": "16@5x5", "params": 32, "connections": 2_000}),
        PaperRow("C5", ("c5",), {"output": "120", "params": 48_120, "connections": 48_120}),
        PaperRow("F6", ("f6",), {"output": "84", "params": 10_164, "connections": 10_164}),
        PaperRow("Output (RBF)", ("output",), {"output": "10", "params": 0, "connections": 840},
                 "the RBF centres are fixed +-1 codes: 840 values, not trained"),
    ]
    return PaperTable("lenet5", "LeCun et al. 1998, Sec. II-B (per-layer text) and Fig. 2", rows, [
        "Connections = multiply-accumulates + one per bias (per output unit); a subsampling unit "
        "has 4 inputs and a bias (5 connections, 2 trainable parameters per map).",
        "Paper totals: 60,000 trainable parameters (the sum above), 340,908 connections.",
    ])


def _alexnet() -> PaperTable:
    rows = [
        PaperRow("input", ("input",), {"neurons": 150_528},
                 "the paper's 224x224x3; cnnzoo takes 227x227x3, the size the 11x11/4 conv1 "
                 "arithmetic needs for 55x55 (Caffe's choice)"),
        PaperRow("conv1", ("conv1",), {"neurons": 253_440},
                 "253,440 is not 55x55x96 = 290,400 nor any map this layer can make: a known "
                 "inconsistency in the paper (stats.stackexchange.com/q/132897)"),
        PaperRow("conv2", ("conv2",), {"neurons": 186_624}),
        PaperRow("conv3", ("conv3",), {"neurons": 64_896}),
        PaperRow("conv4", ("conv4",), {"neurons": 64_896}),
        PaperRow("conv5", ("conv5",), {"neurons": 43_264}),
        PaperRow("fc6", ("fc6",), {"neurons": 4_096}),
        PaperRow("fc7", ("fc7",), {"neurons": 4_096}),
        PaperRow("fc8", ("fc8",), {"neurons": 1_000}),
    ]
    return PaperTable("alexnet", "Krizhevsky et al. 2012, Sec. 3.5 (neurons per layer)", rows, [
        "Neurons = elements of each layer's output map (both towers together).",
        "Paper total: \"60 million parameters\"; cnnzoo counts 60,965,224.",
    ])


def _zfnet(wide: bool) -> PaperTable:
    c3, c4, c5 = (512, 1024, 512) if wide else (384, 384, 256)
    rows = [
        PaperRow("layer 1 conv 7x7/2", ("conv1",), {"output": "110x110x96"}),
        PaperRow("layer 1 pool 3x3/2", ("pool1",), {"output": "55x55x96"}),
        PaperRow("layer 2 conv 5x5/2", ("conv2",), {"output": "26x26x256"}),
        PaperRow("layer 2 pool 3x3/2", ("pool2",), {"output": "13x13x256"}),
        PaperRow("layer 3 conv 3x3/1", ("conv3",), {"output": f"13x13x{c3}"}),
        PaperRow("layer 4 conv 3x3/1", ("conv4",), {"output": f"13x13x{c4}"}),
        PaperRow("layer 5 conv 3x3/1", ("conv5",), {"output": f"13x13x{c5}"}),
        PaperRow("layer 5 pool 3x3/2", ("pool5",), {"output": f"6x6x{c5}"}),
        PaperRow("layer 6 fc", ("fc6",), {"output": "4096"}),
        PaperRow("layer 7 fc", ("fc7",), {"output": "4096"}),
    ]
    return PaperTable("zfnet_wide" if wide else "zfnet",
                      "Zeiler & Fergus 2014, Fig. 3" + (" and Table 2 (512/1024/512 in layers 3-5)"
                                                        if wide else ""), rows,
                      ["The paper gives the map sizes but no paddings; cnnzoo's paddings (conv1 1, "
                       "pool1 1, pool2 1, conv3-5 1) reproduce them.",
                       "The paper prints no parameter counts."])


# GoogLeNet's Table 1: (name, our rows, output, paper params, paper ops). Params and ops as printed.
_GOOGLENET = [
    ("convolution 7x7/2", ("conv1",), "112x112x64", 2_700, 34_000_000),
    ("max pool 3x3/2", ("pool1",), "56x56x64", None, None),
    ("convolution 3x3/1", ("conv2_reduce", "conv2"), "56x56x192", 112_000, 360_000_000),
    ("max pool 3x3/2", ("pool2",), "28x28x192", None, None),
    ("inception (3a)", ("inception3a.",), "28x28x256", 159_000, 128_000_000),
    ("inception (3b)", ("inception3b.",), "28x28x480", 380_000, 304_000_000),
    ("max pool 3x3/2", ("pool3",), "14x14x480", None, None),
    ("inception (4a)", ("inception4a.",), "14x14x512", 364_000, 73_000_000),
    ("inception (4b)", ("inception4b.",), "14x14x512", 437_000, 88_000_000),
    ("inception (4c)", ("inception4c.",), "14x14x512", 463_000, 100_000_000),
    ("inception (4d)", ("inception4d.",), "14x14x528", 580_000, 119_000_000),
    ("inception (4e)", ("inception4e.",), "14x14x832", 840_000, 170_000_000),
    ("max pool 3x3/2", ("pool4",), "7x7x832", None, None),
    ("inception (5a)", ("inception5a.",), "7x7x832", 1_072_000, 54_000_000),
    ("inception (5b)", ("inception5b.",), "7x7x1024", 1_388_000, 71_000_000),
    ("avg pool 7x7/1", ("avgpool",), "1x1x1024", None, None),
    ("linear", ("fc",), "1x1x1000", 1_000_000, 1_000_000),
]

_GOOGLENET_NOTES = {
    "convolution 7x7/2": "7x7x3x64 = 9,408 weights (+64 biases), not 2.7K; the paper's 34M ops "
                         "are its 2.7K x 112x112, while the filter count gives 118M",
    "inception (4c)": "the filter counts of this row give 509K weights, not 463K",
    "inception (5a)": "the filter counts give 1,042K weights, fewer than the printed 1,072K, and "
                      "51M multiply-adds, not 54M",
}


def _googlenet() -> PaperTable:
    rows = []
    for name, match, output, params, ops in _GOOGLENET:
        paper: dict[str, Any] = {"output": output}
        if params is not None:
            paper.update(params=params, macs=ops)
        note = _GOOGLENET_NOTES.get(name, "the printed figures are rounded (K = 1,000); ours "
                                          "include biases" if params else "")
        rows.append(PaperRow(name, match, paper, note))
    return PaperTable("googlenet", "Szegedy et al. 2015, Table 1", rows, [
        "The paper's \"ops\" are multiply-adds: cnnzoo's MACs (not 2 x MACs). They agree with the "
        "filter counts of Table 1 to rounding, except conv1 and 5a.",
        "The params column does NOT follow from the table's own filter counts in several rows "
        "(conv1 2.7K where 7x7x3x64 gives 9.4K; 4c 463K where the counts give 509K; 5a 1,072K "
        "where they give 1,042K). cnnzoo builds the filter counts (they match the BVLC Caffe "
        "replica and torchvision), so both are shown; the paper does not say how the column was "
        "computed. Its sum is about 6.8M, against 7.0M counted (5 million in the text).",
        "The auxiliary classifiers are not in Table 1; they run in training mode only.",
    ])


def _vgg(name: str) -> PaperTable:
    config = builder_options(name)["config"]
    rows: list[PaperRow] = []
    block, i = 1, 0
    for item in CONFIGS[config]:
        if item == "LRN":
            rows.append(PaperRow("LRN", ("norm1",), {"layer": "LRN"}))
        elif item.startswith("conv"):
            i += 1
            rows.append(PaperRow(item, (f"conv{block}_{i}",), {"layer": item}))
        else:
            rows.append(PaperRow("maxpool", (f"pool{block}",), {"layer": "maxpool"}))
            block, i = block + 1, 0
    for fc, width in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
        rows.append(PaperRow(f"FC-{width}", (fc,), {"layer": f"FC-{width}"}))
    table2 = {"A": 133, "A-LRN": 133, "B": 133, "C": 134, "D": 138, "E": 144}[config]
    note = ("batch norm is not in the paper: its scales and shifts add parameters"
            if builder_options(name).get("batch_norm") else "the paper rounds to millions")
    rows.append(PaperRow("total (Table 2)", ("",), {"params": table2 * 1_000_000}, note))
    if config in ("D", "E"):
        rows.append(PaperRow("total (ResNet paper, Sec. 4.1)", ("",),
                             {"macs": {"D": 15_300_000_000, "E": 19_600_000_000}[config]},
                             "the ResNet paper's 'FLOPs' are multiply-adds = cnnzoo's MACs; "
                             + _VGG_MACS_NOTE[config]))
    return PaperTable(name, f"Simonyan & Zisserman 2014, Table 1 (column {config}) and Table 2",
                      rows, ["Table 1 names a conv by its kernel and maps (conv3-64 = 3x3, 64 "
                             "maps); cnnzoo's traced layer is named the same way beside it.",
                             "Table 2 gives parameters in millions only."])


# Why the ResNet paper's VGG totals differ from cnnzoo's (worked out from the summary's numbers:
# VGG-16 15.47G with the FC layers, 15.35G for the convolutions alone; VGG-19 19.63G and 19.51G).
_VGG_MACS_NOTE = {
    "D": "its 15.3G is not 15.47G rounded (that gives 15.5G): the convolutions alone give "
         "15.35G, 15.3G to 3 digits, so the figure leaves out the FC layers' 0.12G",
    "E": "its 19.6G is the whole network (convolutions and FC layers, 19.63G) to 3 digits; the "
         "convolutions alone give 19.51G",
}

_RESNET_FLOPS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}
# How each printed figure relates to cnnzoo's count (v1, 224x224): ResNet-34's and -50's are
# truncated, not rounded (3.66G -> 3.6, 3.86G -> 3.8); the others agree with rounding.
_RESNET_FLOPS_NOTE = {
    18: "cnnzoo's 1.81G to 2 significant digits",
    34: "cnnzoo's 3.66G cut (truncated) to 2 digits, not rounded (that gives 3.7)",
    50: "cnnzoo's 3.86G cut (truncated) to 2 digits, not rounded (that gives 3.9)",
    101: "cnnzoo's 7.57G rounded to 2 significant digits",
    152: "cnnzoo's 11.28G rounded to 3 significant digits",
}


def _resnet(name: str, depth: int, plain: bool) -> PaperTable:
    stages = [("conv1", ("conv1",), "112x112"), ("conv2_x", ("maxpool", "layer1."), "56x56"),
              ("conv3_x", ("layer2.",), "28x28"), ("conv4_x", ("layer3.",), "14x14"),
              ("conv5_x", ("layer4.",), "7x7"), ("average pool, 1000-d fc", ("fc",), "1x1")]
    rows = [PaperRow(s, m, {"output": o}) for s, m, o in stages]
    rows.append(PaperRow("total FLOPs (= multiply-adds)", ("",), {"macs": _RESNET_FLOPS[depth]},
                         "the paper's \"FLOPs\" are multiply-adds, cnnzoo's MACs; the paper's "
                         "figure is " + _RESNET_FLOPS_NOTE[depth] + ("; the plain net has the same FLOPs (Sec. 4.1)"
                                                 if plain else "")
                         + "; the v1.5 variant (stride on the 3x3) costs more"))
    return PaperTable(name, "He et al. 2016, Table 1", rows, [
        "Table 1's FLOPs are multiply-adds (\"FLOPs\" in the paper = cnnzoo's MACs, not 2 x MACs).",
        "Output sizes are H x W; conv2_x starts with the 3x3/2 max-pool.",
    ])


_CIFAR_PARAMS = {20: 270_000, 32: 460_000, 44: 660_000, 56: 850_000, 110: 1_700_000,
                 1202: 19_400_000}


def _cifar(name: str, depth: int, plain: bool) -> PaperTable:
    rows = [PaperRow("first 3x3 conv", ("conv1",), {"output": "32x32x16"}),
            PaperRow(f"{depth // 6 * 2} layers, 16 filters", ("layer1.",), {"output": "32x32x16"}),
            PaperRow(f"{depth // 6 * 2} layers, 32 filters", ("layer2.",), {"output": "16x16x32"}),
            PaperRow(f"{depth // 6 * 2} layers, 64 filters", ("layer3.",), {"output": "8x8x64"}),
            PaperRow("global average pool, 10-way fc", ("fc",), {"output": "10"})]
    if depth in _CIFAR_PARAMS:
        rows.append(PaperRow("total (Table 6)", ("",), {"params": _CIFAR_PARAMS[depth]},
                             "rounded to 2 significant digits"
                             + ("; the plain net's parameters equal the residual net's (option A "
                                "shortcuts have none)" if plain else "")))
    return PaperTable(name, "He et al. 2016, Sec. 4.2 (the layer table) and Table 6", rows,
                      ["6n+2 weighted layers: 3 stages of 2n 3x3 convs, option A (parameter-free) "
                       "shortcuts."])


# The tables, by the kind a network declares on its ModelInfo (paper_table = (kind, *arguments)).
_TABLES: dict[str, Callable[..., PaperTable]] = {
    "lenet5": _lenet, "alexnet": _alexnet, "zfnet": _zfnet, "googlenet": _googlenet, "vgg": _vgg,
    "resnet": _resnet, "cifar": _cifar}


def _table(name: str) -> PaperTable | None:

    declared = model_info(name).paper_table
    if not declared:
        return None
    kind, *arguments = declared
    return _TABLES[kind](*arguments)


def paper_table(name: str) -> PaperTable:
    """The paper's own table for a registered model; UnknownNameError for a model whose paper
    prints none (it names the models that have one)."""
    model_info(name)  # an unknown model name fails here, with its close matches
    table = _table(name)
    if table is None:
        have = papers_with_tables()
        raise UnknownNameError(f"{name!r} is not a network a paper prints a table of (it is a "
                               f"variant).{close_matches(name, have)} Models with one: "
                               f"{', '.join(have)}.")
    return table


def papers_with_tables() -> list[str]:
    """The registered models whose paper prints a table to compare with."""
    return [name for name in list_models() if _table(name) is not None]


# --- alignment ---------------------------------------------------------------------------------
def _members(s: Summary, match: tuple[str, ...]) -> list[Row]:
    if match == ("",):
        return list(s.layers)
    return [r for r in s.layers
            if any(r.name == m or (m.endswith(".") and r.name.startswith(m)) for m in match)]


def _output(row: Row | None, input_size: tuple[int, int, int], style: str) -> str:
    shape = input_size if row is None else row.output_shape
    if not shape:
        return ""
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    if "x" not in style:  # a bare count: "84", "120"
        return str(shape[0]) if shape[1] == shape[2] == 1 else str(shape[0] * shape[1] * shape[2])
    c, h, w = shape
    if "@" in style:
        return f"{c}@{h}x{w}"
    if style.count("x") == 1:  # "112x112": H x W only
        return f"{h}x{w}"
    if style.count("x") == 2:
        return f"{h}x{w}x{c}"
    return str(c * h * w)


def _connections(rows: list[Row]) -> int:
    total = 0
    for r in rows:
        out = 1
        for d in r.output_shape or ():
            out *= d
        if r.type == "Subsampling":
            total += out * (r.kernel[0] * r.kernel[1] + 1)
        elif r.macs:
            total += r.macs + (out if r.params else 0)
    return total


def _layer_label(r: Row | None) -> str:
    if r is None:
        return ""
    if r.type == "Conv2d":
        return f"conv{r.kernel[0]}-{r.output_shape[0]}"
    if r.type == "MaxPool2d":
        return "maxpool"
    if r.type == "Linear":
        return f"FC-{r.output_shape[0]}"
    if r.type == "LocalResponseNorm":
        return "LRN"
    return r.type


def compare_rows(s: Summary, table: PaperTable) -> list[dict[str, Any]]:
    """Each paper row with cnnzoo's figures for the same layers and the differences."""
    out = []
    for pr in table.rows:
        members = [] if pr.match == ("input",) else _members(s, pr.match)
        last = members[-1] if members else None
        ours: dict[str, Any] = {}
        for key, value in pr.paper.items():
            if key == "output":
                ours[key] = _output(last, s.input_size, str(value)) if (members or pr.match == ("input",)) else ""
            elif key == "params":
                ours[key] = s.total_params if pr.match == ("",) else sum(r.params for r in members)
            elif key == "macs":
                ours[key] = sum(r.macs for r in members)
            elif key == "connections":
                ours[key] = _connections(members)
            elif key == "neurons":
                shape = s.input_size if pr.match == ("input",) else (last.output_shape if last else ())
                n = 1
                for d in shape:
                    n *= d
                ours[key] = n
            elif key == "layer":
                ours[key] = _layer_label(last)
        diff = {k: ours[k] - v for k, v in pr.paper.items()
                if isinstance(v, (int, float)) and isinstance(ours.get(k), (int, float))}
        agrees = all(ours.get(k) == v for k, v in pr.paper.items())
        shown = "(total)" if pr.match == ("",) else "-" if pr.match == ("input",) else " + ".join(
            m + "*" if m.endswith(".") else m for m in pr.match)
        out.append({"layer": pr.layer, "cnnzoo": shown,
                    "cnnzoo_rows": [r.name for r in members] if pr.match != ("",) else ["(total)"],
                    "paper": dict(pr.paper), "ours": ours, "diff": diff, "agrees": agrees,
                    "note": pr.note})
    return out


def _num(v: Any) -> str:
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.3g}"
    if isinstance(v, (int, float)):
        return f"{int(v):,}"
    return str(v)


def _diff(v: float, paper: float) -> str:
    if v == 0:
        return "0"
    pct = f" ({v / paper:+.1%})" if paper else ""
    return f"{int(v):+,}{pct}"


def format_paper(summary_or_name: Summary | str, fmt: str = "table", **options: Any) -> str:
    """The paper's table beside cnnzoo's summary, as a terminal table, markdown or JSON.

    summary_or_name: a Summary of a model whose paper has a table, or its registered name
    (summarised at its paper input size with `options`)."""
    if fmt not in FORMATS or fmt == "csv":
        raise UnknownNameError(f"unknown format {fmt!r} for --paper: choose one of table, markdown, json")
    s = summary(summary_or_name, options=options) if isinstance(summary_or_name, str) else summary_or_name
    table = paper_table(s.model)
    compared = compare_rows(s, table)
    if fmt == "json":
        return json.dumps({"model": s.model, "source": table.source, "input_size": list(s.input_size),
                           "columns": {k: COLUMNS[k] for k in table.columns},
                           "rows": compared, "notes": table.notes}, indent=2)
    # A paper "layer" column that only repeats the row's own label (VGG's Table 1 names) is not
    # printed twice: the first column shows it, beside cnnzoo's layer.
    same_label = all(r.paper.get("layer", r.layer) == r.layer for r in table.rows)
    width = {k: (1 if k == "layer" and same_label else 2) + (k not in ("output", "layer"))
             for k in table.columns}
    headers = ["Paper layer", "cnnzoo rows"]
    for key in table.columns:
        if width[key] > 1:
            headers.append(f"Paper {COLUMNS[key]}")
        headers.append(f"cnnzoo {COLUMNS[key]}")
        if key not in ("output", "layer"):
            headers.append("Diff")
    headers.append("Note")
    body = []
    for c in compared:
        cells = [c["layer"], c["cnnzoo"]]
        for key in table.columns:
            if key in c["paper"]:
                cells += ([_num(c["paper"][key])] if width[key] > 1 else []) + \
                    [_num(c["ours"].get(key, ""))]
                if key not in ("output", "layer"):
                    cells.append(_diff(c["diff"].get(key, 0), c["paper"][key]))
            else:
                cells += [""] * width[key]
        cells.append(c["note"] if not c["agrees"] or c["note"] else "")
        body.append(cells)
    align = "ll" + "".join(("l" * width[k] if k in ("output", "layer") else "rrr")
                           for k in table.columns) + "l"
    notes = [f"{s.model}: {table.source}; cnnzoo at input {'x'.join(map(str, s.input_size))}."] + table.notes
    if fmt == "markdown":
        return render.markdown(headers, body, align, notes)
    return render.table(headers, body, align, notes)
