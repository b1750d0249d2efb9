"""What one forward pass records, in three small records:

- `Step`: the columns of one layer or op as a summary shows it (shapes, window, arithmetic,
  costs). `Node` (here) and `analysis.summary.Row` are both a Step with their own additions, so a
  summary row is built from a node's Step, never by copying its fields one by one.
- `Node`: a Step with its place in the graph (producers, spatial rule, receptive field, the
  module calls it ran inside): what the summary and the receptive-field tools read.
- `Replay`: what a walk back down the graph needs (DeconvNet): the layer or the functional op
  with its arguments, the tensors by identity, where each came from, their version counters.

`Graph.nodes[i]` and `Graph.replays[i]` describe the same step. `Reading` is what the op and
layer tables (ops.py, modules.py) read off one step. Pure Python: torch only for type hints.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .geometry import Geo, Pair
from .rules import Rule

if TYPE_CHECKING:  # type hints only: this module is imported without torch
    from torch import Tensor, nn

Port = tuple[int, int]  # (node index, output index); node -1 is the model input


@dataclass(kw_only=True)
class Step:
    """One layer or functional op as a summary shows it. Shapes exclude the batch."""

    name: str
    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    kernel: Pair | None = None
    stride: Pair | None = None
    padding: Pair | None = None
    dilation: Pair | None = None
    groups: int | None = None
    ceil_mode: bool | None = None
    arithmetic: str = ""
    params: int = 0
    macs: int = 0
    ops: int = 0  # other operations (summary.OPS_NOTE), multiply-add equivalents
    memory: int = 0  # bytes of the output, batch 1
    functional: bool = False  # a tensor op in a forward, not a module
    weighted_depth: int = 0  # weighted layers on the longest path from the input to here

    def step(self) -> dict[str, Any]:
        """This record's Step fields, by name (what a summary row is made of)."""
        return {f.name: getattr(self, f.name) for f in fields(Step)}


@dataclass(kw_only=True)
class Node(Step):
    """One step of the forward pass (a layer call, or a functional op outside a layer) and its
    place in the graph."""

    rule: Rule = field(default_factory=Rule)
    inputs: list[int] = field(default_factory=list)  # producer node indices (-1: the model input)
    geo: Geo | None = None
    row: bool = True  # shown in the summary (False: an op inside a layer, or a bookkeeping op)
    sources: list[int] = field(default_factory=list)  # for add/concat: the input nodes
    calls: tuple[int, ...] = ()  # the module calls (containers) this node ran inside


@dataclass
class Replay:
    """What a walk back down needs of one node: the op itself and the tensors, by identity."""

    module: nn.Module | None = None  # the layer (None for a functional op)
    op: str = ""  # the functional op's name ("transpose", "add", ...)
    func: Any = None  # the functional op, with its arguments, to replay it
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    tensors: list[Tensor] = field(default_factory=list)  # the recorded inputs, in argument order
    feeds: list[Port] = field(default_factory=list)  # where each of `tensors` came from
    in_versions: list[int] = field(default_factory=list)  # their version counters at the call
    outputs: list[Tensor] = field(default_factory=list)
    out_versions: list[int] = field(default_factory=list)

    def inputs_intact(self) -> bool:
        """False when an in-place op after this node changed one of its inputs."""
        return all(t._version == v for t, v in zip(self.tensors, self.in_versions))

    def output_intact(self, port: int) -> bool:
        """False when an in-place op after this node changed its output `port`."""
        return self.outputs[port]._version == self.out_versions[port]


@dataclass
class Call:
    """A module call in progress or done (containers are kept for --depth and layer outputs)."""

    name: str  # with '#2', '#3' for repeated calls of one module
    type: str
    depth: int
    leaf: bool  # a module without children
    known: bool  # a leaf whose costs and geometry are read from its type (its internals are skipped)
    first_node: int
    child_calls: int = 0
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    geo: Geo | None = None
    weighted_depth: int = 0
    ancestors: tuple[int, ...] = ()
    module_name: str = ""  # the module's own name (state_dict path)
    versions: dict[int, int] = field(default_factory=dict)  # id(input) -> version at the call
    output: Tensor | None = None  # the first tensor of the output
    producer: Port | None = None  # the node (and output) that made it


@dataclass
class Reading:
    """What an op or layer handler reads off one step: its spatial rule and costs, and the
    columns only some steps have. The recorder fills the window columns and the arithmetic of a
    Window or Adaptive rule itself."""

    rule: Rule
    macs: int = 0
    ops: int = 0
    arithmetic: str = ""
    groups: int | None = None
    branches: bool = False  # the inputs are branches that meet here (add, concat)
    name: str | None = None  # the name to show, when not the op's own (view -> flatten)
    through: bool = False  # a layer of unknown type that is the internal op that made its output
