"""`cnnzoo draw` and `cnnzoo atlas`: thin over the library (declared without importing torch)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ... import io as zoo_io
from ...errors import OptionError
from ...flags import add_flag


def add_draw_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="NAME|RUN", help="a registered model (`cnnzoo list`) or a run "
                   "folder (the trained network, at the input size it was trained on)")
    add_flag(p, "--style")
    add_flag(p, "--option")
    add_flag(p, "--input")
    add_flag(p, "--out", metavar="FILE.svg|.png|.pdf", default=None,
             help="the file to write (default: NAME-STYLE.svg in the current folder)")


def run_draw(args: argparse.Namespace) -> int:
    from ...registry import model_options  # imported here: the drawing pulls in torch
    from . import drawing  # as above
    from .canvas import figure_bytes, rendered  # as above

    target = args.model
    options = None
    if Path(target).is_dir():
        from ...inference.run import load_run  # imports torch, as above

        if args.option:
            raise OptionError("--option goes with a model NAME: a run folder's network is fixed")
        run = load_run(target)
        model, size = run.model, (run.pipeline.channels, *run.pipeline.size)
        name = run.name
    else:
        options = model_options(target, args.option)
        model, size, name = target, None, target
    if args.input:
        size = tuple(args.input)
    out = Path(args.out) if args.out else None
    fmt = out.suffix.lower().lstrip(".") if out else "svg"
    if fmt not in ("svg", "png", "pdf"):
        raise OptionError(f"--out {out}: write .svg, .png or .pdf")
    canvas, net, style = drawing(model, args.style, options=options, input_size=size)
    out = out or Path(f"{name}-{style}.svg")
    zoo_io.write_bytes(out, figure_bytes(rendered(canvas), fmt))
    print(f"{out}: {name} in the {style} style ({net.summary.total_params:,} parameters)",
          file=sys.stderr)
    return 0


def add_atlas_arguments(p: argparse.ArgumentParser) -> None:
    add_flag(p, "--out", metavar="DIR", required=True,
             help="the folder to write the site into (empty, or an earlier atlas)")
    add_flag(p, "--claims", help="a claims report folder (`cnnzoo claims --out DIR`) to link to")


def run_atlas(args: argparse.Namespace) -> int:
    from .atlas import build_atlas  # imports torch: only when the command runs

    index, count, seconds = build_atlas(args.out, claims=args.claims)
    print(f"{index}: the atlas of {count} networks, built in {seconds:.1f} s", file=sys.stderr)
    return 0
