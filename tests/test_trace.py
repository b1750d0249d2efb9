"""cnnzoo.trace, the one forward-pass recorder: its room (what it may import, what needs no
torch), its two records kept apart, the summary's rows built from its Step, and its op table.
The numbers it records are checked through the summary and DeconvNet (test_summary.py,
test_visualize.py)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnzoo
from cnnzoo.analysis.summary import COLUMNS, Row
from cnnzoo.trace.graph import record
from cnnzoo.trace.ops import OPS
from cnnzoo.trace.records import Node, Replay, Step

SRC = Path(cnnzoo.__file__).parent


def _import_graph() -> dict[str, set[str]]:
    """scripts/measure_architecture.py's import graph of src/cnnzoo (ast, function-level too)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "measure_architecture.py"
    spec = importlib.util.spec_from_file_location("measure_architecture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.import_graph(SRC)


def test_trace_imports_only_the_floors_below_it():
    """analysis/ and visualize/ import trace/, never the reverse (imports inside functions too)."""
    graph = _import_graph()
    allowed = {"cnnzoo.errors", "cnnzoo.layers", "cnnzoo._lazy", "cnnzoo"}
    trace = {m for m in graph if m.startswith("cnnzoo.trace")}
    assert {"cnnzoo.trace.graph", "cnnzoo.trace.ops", "cnnzoo.trace.modules"} <= trace
    above = {(m, d) for m in trace for d in graph[m]
             if d.startswith("cnnzoo") and not d.startswith("cnnzoo.trace") and d not in allowed}
    assert not above, f"trace/ imports from above its floor: {sorted(above)}"
    assert "cnnzoo.trace.graph" in graph["cnnzoo.analysis.summary"]


def test_geometry_rules_and_records_import_without_torch():
    code = ("import sys; import cnnzoo.trace.geometry, cnnzoo.trace.rules, cnnzoo.trace.records; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_what_the_summary_reads_and_what_deconvnet_replays_are_apart():
    """Node holds no tensor and no op; Replay holds no summary column; one of each per step."""
    node_fields = {f.name for f in fields(Node)}
    replay_fields = {f.name for f in fields(Replay)}
    assert not node_fields & replay_fields
    assert {"tensors", "outputs", "module", "func"} <= replay_fields
    model = cnnzoo.create_model("resnet20").eval()
    graph = record(model, torch.zeros(1, 3, 32, 32))
    assert len(graph.nodes) == len(graph.replays) > 50
    for node, replay in zip(graph.nodes, graph.replays):
        assert all(not isinstance(getattr(node, f), torch.Tensor) for f in node_fields)
        if replay.module is not None and node.row:  # a layer: the node is named by its module
            assert graph.names[id(replay.module)] == node.name.split("#")[0]
        else:
            assert node.functional and replay.op and node.name.split(".")[-1].startswith(
                node.type.removesuffix("()"))


def test_a_summary_row_is_a_step_and_every_field_is_a_column():
    """Row adds to the trace's Step instead of repeating its fields, and the JSON/CSV column
    order names each of Row's fields once (a field added to Step shows up, or this fails)."""
    step = {f.name for f in fields(Step)}
    row = [f.name for f in fields(Row)]
    assert issubclass(Row, Step) and step <= set(row)
    assert sorted(COLUMNS) == sorted(row) and len(set(COLUMNS)) == len(COLUMNS)
    s = cnnzoo.summary("lenet5")
    assert list(s.to_dict()["rows"][0]) == list(COLUMNS)
    c1 = s.row("c1")
    assert (c1.kernel, c1.stride, c1.output_shape, c1.params) == ((5, 5), (1, 1), (6, 28, 28), 156)


class _One(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, x):
        return self.op(x)


@pytest.mark.parametrize("op, name, rule", [
    (lambda x: F.conv2d(x, torch.ones(2, 3, 3, 3), stride=2), "conv2d", "Window"),
    (lambda x: F.max_pool2d(x, 2), "max_pool2d", "Window"),
    (lambda x: F.lp_pool2d(x, 2, 2), "lp_pool2d", "Window"),
    (lambda x: F.adaptive_avg_pool2d(x, 1), "adaptive_avg_pool2d", "Adaptive"),
    (lambda x: x[:, :, ::2, 1::2], "getitem", "Slice"),
    (lambda x: x[:, :, :3], "getitem", "Unknown"),
    (lambda x: F.pad(x, (1, 1, 2, 0)), "pad", "Pad"),
    (lambda x: x.transpose(2, 3), "transpose", "SwapHW"),
    (lambda x: x.permute(0, 2, 1, 3), "permute", "Unknown"),
    (lambda x: torch.flatten(x, 1), "flatten", "Flatten"),
    (lambda x: x.view(1, -1), "flatten", "Flatten"),
    (lambda x: x.mean((2, 3)), "mean", "Merge"),
    (lambda x: torch.sigmoid(x), "sigmoid", "Rule"),
    (lambda x: F.interpolate(x, scale_factor=2), "interpolate", "Unknown"),
])
def test_each_op_is_read_by_its_handler(op, name, rule):
    """The op table (and the shape fallback behind it) gives each op its spatial rule."""
    graph = record(_One(op), torch.zeros(1, 3, 8, 8))
    node = next(n for n in graph.nodes if n.functional and n.name.split(".")[-1] == name)
    assert type(node.rule).__name__ == rule


def test_the_op_table_names_only_ops_the_recorder_sees():
    assert {"conv2d", "max_pool2d", "linear", "getitem", "pad", "transpose"} <= set(OPS)
    assert all(callable(h) for h in OPS.values())
