"""The command line: parses arguments and calls the library; nothing else lives here.

Each command is a function `cmd_<name>(args) -> int` plus an `add_<name>(subparsers)` that declares
its arguments. User errors (CnnzooError, bad flags) print one line on stderr and exit 2 or 1;
anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import CnnzooError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        print(f"cnnzoo: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}" if unit == "G" else f"{n / scale:.1f}{unit}"
    return str(int(n))


# --- list ---------------------------------------------------------------------------------
def add_list(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="every model with paper, year, input, parameters and MACs")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import list_models, model_info

    names = list_models(args.pattern)
    if not names:
        raise CnnzooError(f"no model matches {args.pattern!r}: run `cnnzoo list` to see them all")
    infos = [model_info(n) for n in names]
    if args.format == "json":
        rows = [dict(name=i.name, family=i.family, year=i.year, paper=i.paper, url=i.url,
                     input="x".join(map(str, i.input_size)), num_classes=i.num_classes,
                     params=i.params, macs=i.macs, description=i.description) for i in infos]
        print(json.dumps(rows, indent=2))
        return 0
    header = ("model", "paper", "year", "input", "params", "MACs", "description")
    # the authors, as the paper's title in ModelInfo ends with them in parentheses
    rows = [(i.name, i.paper.rsplit("(", 1)[-1].rstrip(")"), str(i.year), "x".join(map(str, i.input_size)),
             f"{i.params:,}" if i.params else "-", _human(i.macs) if i.macs else "-",
             i.description) for i in infos]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) if k != 4 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
              + "  " + r[-1])
    print(f"\n{len(infos)} models; MACs = conv+linear multiply-accumulates at the input shown (batch 1).")
    return 0


# --- visualize ----------------------------------------------------------------------------
def add_visualize(sub: argparse._SubParsersAction) -> None:
    from .visualize.command import add_arguments

    p = sub.add_parser("visualize", help="DeconvNet projections, top-9 activations, filters, "
                       "feature maps, occlusion, filter evolution (PNG)")
    add_arguments(p)
    p.set_defaults(func=cmd_visualize)


def cmd_visualize(args: argparse.Namespace) -> int:
    from .visualize.command import run

    return run(args)


# --- summary / compare -------------------------------------------------------------------
def add_summary(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="layer by layer: shapes with their arithmetic, parameters, "
                       "MACs, receptive field, memory")
    p.add_argument("name", help="a registered model (see `cnnzoo list`)")
    p.add_argument("--input", metavar="C,H,W", help="input size (default: the model's own)")
    p.add_argument("--depth", type=int, metavar="N", help="show blocks deeper than N name levels as one row")
    p.add_argument("--format", choices=("table", "markdown", "json", "csv"), default="table")
    p.add_argument("--train", action="store_true", help="training mode (GoogLeNet's aux heads run)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a model option, e.g. shortcut=A")
    p.set_defaults(func=cmd_summary)


def cmd_summary(args: argparse.Namespace) -> int:
    from .analysis.summary import format_summary

    print(format_summary(args.name, args.input, args.depth, args.format, args.train, args.option))
    return 0


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="models side by side with ratios to a reference "
                       "(default: the lineage LeNet-5 to ResNet-152)")
    p.add_argument("names", nargs="*", metavar="NAME", help="registered models (default: the lineage)")
    p.add_argument("--input", metavar="C,H,W", help="one input size for all (default: each model's own)")
    p.add_argument("--reference", default="alexnet", metavar="NAME", help="ratios to this model")
    p.add_argument("--format", choices=("table", "markdown", "json", "csv"), default="table")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from .analysis.compare import format_compare

    print(format_compare(args.names, args.input, args.reference, args.format))
    return 0


# --- main ---------------------------------------------------------------------------------
COMMANDS = [add_list, add_visualize, add_summary, add_compare]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnzoo", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version="cnnzoo 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CnnzooError as e:
        print(f"cnnzoo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnnzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
