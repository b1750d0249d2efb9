"""One forward pass, recorded: the one recorder of the project.

    graph = record(model, x)        # every layer call and functional op, with shapes and costs
    graph.nodes[i]                  # Node: what the summary reads (shapes, window, costs, field)
    graph.replays[i]                # Replay: what DeconvNet walks back down (op, tensors, feeds)

Rooms: `geometry` (output-size arithmetic, receptive fields), `rules` (how a step maps sizes and
fields), `records` (Step, Node, Replay, Call), `ops` (the functional-op table), `modules` (the
layer table), `graph` (the recorder). analysis/ and visualize/ import this package; it imports
nothing of theirs. Names load on first use, so `trace.geometry` imports without torch.
"""
from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {"record": "graph", "Graph": "graph", "simulate": "graph", "layer_names": "graph",
         "unknown_layer_message": "graph", "Node": "records", "Replay": "records",
         "Step": "records", "Call": "records", "Port": "records"}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
