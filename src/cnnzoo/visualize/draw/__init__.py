"""Draw a network as its paper does, from cnnzoo's recorded graph: `cnnzoo draw`, `cnnzoo atlas`.

    fig = cnnzoo.draw("lenet5")                        # a matplotlib Figure (LeNet-5's Fig. 2)
    svg = cnnzoo.draw("resnet34", options={"shortcut": "A"}, path="r.svg")   # writes, returns SVG

Styles: `lenet` (feature-map stacks, LeNet-5's Fig. 2), `boxes` (volumes with the next layer's
window, AlexNet's Fig. 2, two towers where groups split the channels), `blocks` (modules top to
bottom: Inception's branches, residual blocks with their shortcut, repeats as "x n", GoogLeNet's
auxiliary heads where they attach). The default is the one the family's paper uses; branching
networks draw only as blocks. Every label is read from the summary's rows (structure.py).
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ... import io as zoo_io
from ...errors import OptionError
from .canvas import figure_bytes, rendered

STYLES = ("lenet", "boxes", "blocks")
# the style of each family's paper (the VGG paper prints tables only; its usual drawing is boxes)
PAPER_STYLE = {"lenet": "lenet", "alexnet": "boxes", "zfnet": "boxes", "vgg": "boxes"}


def default_style(family: str | None) -> str:
    return PAPER_STYLE.get(family or "", "blocks")


def _summaries(model_or_name: Any, options: Mapping[str, Any] | None,
               input_size: Any = None) -> tuple[Any, Any, str | None]:
    """(summary, training summary or None, family) of a name or a model."""
    # both import torch, and `cnnzoo draw --help` imports this package (command.py is in it)
    from ...analysis.summary import summary
    from ...registry import model_info

    s = summary(model_or_name, input_size, options=options)
    training = summary(model_or_name, input_size, options=options, train=True) if s.not_run else None
    name = model_or_name if isinstance(model_or_name, str) else getattr(model_or_name, "zoo_name", None)
    family = model_info(name).family if name else None
    return s, training, family


def styles_for(net: Any) -> tuple[str, ...]:
    """The styles that can draw a network: chains in all three, branching networks as blocks."""
    return ("blocks",) if net.branching else STYLES


def network_of(model_or_name: Any, options: Mapping[str, Any] | None = None,
               input_size: Any = None) -> tuple[Any, str]:
    """(Network, default style) of a name or a model: one summary pass (two with training-only
    heads), shared by every style drawn from it."""
    # structure imports the summary, so torch: not at this package's import, as above
    from .structure import network

    s, training, family = _summaries(model_or_name, options, input_size)
    return network(s, training), default_style(family)


def draw_network(net: Any, style: str, title: str | None = None) -> Any:
    """The Canvas of a Network in one style (OptionError for a style that cannot draw it)."""
    if style not in STYLES:
        raise OptionError(f"unknown style {style!r}: choose one of {', '.join(STYLES)}")
    if style not in styles_for(net):
        raise OptionError(f"{net.name} branches (Inception modules or residual blocks): the {style} "
                          "style draws chains of layers only; use --style blocks")
    module = importlib.import_module(f".{style}", __name__)
    return module.draw(net, _title(net.summary, net.options) if title is None else title)


def drawing(model_or_name: Any, style: str | None = None, *,
            options: Mapping[str, Any] | None = None, input_size: Any = None) -> tuple[Any, Any, str]:
    """(Canvas, Network, style) of a network: the shapes and texts before they become a figure."""
    if style is not None and style not in STYLES:
        raise OptionError(f"unknown style {style!r}: choose one of {', '.join(STYLES)}")
    net, default = network_of(model_or_name, options, input_size)
    net.options = dict(options or {})
    style = style or default
    return draw_network(net, style), net, style


def _title(s: Any, options: Mapping[str, Any] | None) -> str:
    opts = ", ".join(f"{k}={v}" for k, v in (options or {}).items())
    return (f"{s.model}" + (f" ({opts})" if opts else "") + f": {s.total_params:,} parameters, "
            f"{s.total_macs:,} MACs at {s.input_size[0]}x{s.input_size[1]}x{s.input_size[2]}")


def draw(model_or_name: Any, style: str | None = None, path: str | Path | None = None, *,
         options: Mapping[str, Any] | None = None, input_size: Any = None,
         format: str | None = None) -> Any:
    """Draw a registered network (by name, built with `options`) or a model.

    Returns the matplotlib Figure; with path= (.svg, .png or .pdf) the file is written too, and
    an .svg path (or format="svg") returns the SVG text instead. Raises OptionError for an
    unknown style, a style that cannot draw the network (a branching one in lenet or boxes), or
    an unknown file type."""
    canvas, _, _ = drawing(model_or_name, style, options=options, input_size=input_size)
    fig = rendered(canvas)
    fmt = format or (Path(path).suffix.lower().lstrip(".") if path is not None else None)
    if path is not None and not fmt:
        raise OptionError(f"{path}: give the file an extension: .svg, .png or .pdf")
    if fmt is None:
        return fig
    data = figure_bytes(fig, fmt)
    if path is not None:
        zoo_io.write_bytes(path, data)
    return data.decode("utf-8") if fmt == "svg" else fig
