"""The command line: parses arguments and calls the library; nothing else lives here.

Each command is one row of `COMMANDS` (name, help, the module that declares and runs it: see
`cli/command.py`). One vocabulary: every flag of every command is drawn from `cnnzoo.flags.FLAGS`
(name, validator, help, default), so `--top` is "how many to show" everywhere (the K strongest, or
in evolution the first K filters; each command's help says which), `--out` is where results go,
`--input` is the input size, `--format` the format of the result and `--device`/`--threads` say
where tensors run. Old spellings (`DEPRECATED`) keep working for one release and say so on stderr.

Numbers are validated by their flag's type function (cnnzoo.checks) while the command line is
parsed, before anything runs or is written: a bad value is one line on stderr and exit status 2.
User errors found later (CnnzooError) are one line and exit status 1; anything else is a bug and
keeps its traceback. Bare `cnnzoo` prints the help and exits 0. `--threads` is applied here, once,
for every command that declares it.

Start-up: nothing here imports torch. Only the chosen command's module is imported and its
arguments declared (`build_parser(only=...)`); `cnnzoo list` (with `--options`) and `train --help`'s
models-by-recipe read the torch-free catalog. No parser takes abbreviations (allow_abbrev=False).
"""
# PYTHON_ARGCOMPLETE_OK
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import CnnzooError
from .command import Command, Parser

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

DESCRIPTION = """\
cnnzoo: the classic convolutional networks (LeNet-5, AlexNet, ZFNet, VGG, GoogLeNet, ResNet)
as their papers describe them, and the tools to look inside, train, evaluate and visualise them."""

EXAMPLES = """\
examples:
  cnnzoo list 'resnet*'                          the ResNets with paper, year, parameters, MACs
  cnnzoo summary lenet5                          layer by layer, with the output-size arithmetic
  cnnzoo compare resnet18 plain18 --format json  side by side, machine-readable
  cnnzoo train lenet5 --out runs/l5              train on the embedded Fashion-MNIST sample
  cnnzoo eval runs/l5                            top-1, top-5, per class, confusion matrix
  cnnzoo predict runs/l5 src/cnnzoo/examples/shirt.png --top 3
                                                 the 3 most probable classes of a picture
  cnnzoo visualize filters runs/l5 --out f.png   what the first layer learned

`cnnzoo COMMAND --help` shows a command's flags. Exit status: 0 on success, 1 for a problem
found while running, 2 for a bad command line (both say what to do in one line on stderr)."""

_ON_THE_CPU = "Runs on the CPU (the export package takes no device); --threads sets its CPU threads."

COMMANDS = (
    Command("list", "every model with paper, year, input, parameters and MACs", "cnnzoo.cli.models"),
    Command("summary", "layer by layer: shapes with their arithmetic, parameters, MACs, receptive "
            "field, memory", "cnnzoo.cli.models"),
    Command("compare", "models side by side with ratios to a reference (default: the lineage "
            "LeNet-5 to ResNet-152)", "cnnzoo.cli.models"),
    Command("train", "train a model on a data set; writes a run folder", "cnnzoo.cli.training"),
    Command("eval", "top-1, top-5, per-class accuracy and a confusion matrix", "cnnzoo.cli.inference"),
    Command("predict", "the most probable classes of image files", "cnnzoo.cli.inference"),
    Command("visualize", "DeconvNet projections, top-9 activations, filters, feature maps, "
            "occlusion, filter evolution (PNG)", "cnnzoo.visualize.command"),
    Command("export", "a model or a trained run to ONNX or a torch.export program, checked against "
            "eager outputs", "cnnzoo.export.command", note="Traces and checks on the CPU."),
    Command("bench", "throughput and latency of a model on every installed runtime, against "
            "torchvision's eager model", "cnnzoo.export.command", note=_ON_THE_CPU),
    Command("claims", "the lineage's claims as experiments with verdicts: a lab report (JSON, "
            "Markdown, HTML)", "cnnzoo.claims.command"),
    Command("draw", "a network drawn as its paper does (SVG, PNG, PDF): LeNet-5's maps, AlexNet's "
            "volumes, Inception and residual blocks", "cnnzoo.visualize.draw.command"),
    Command("atlas", "a static site of the lineage: every network drawn, its summary and the "
            "paper's figures beside cnnzoo's", "cnnzoo.visualize.draw.command"),
    Command("completion", "print the shell code for tab completion: "
            "eval \"$(cnnzoo completion bash)\"", "cnnzoo.cli.shell"),
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (only=NAME) every command listed but only NAME's arguments
    declared: declaring a command imports its module, and `--help` or `list` should not pay for
    the others."""
    parser = Parser(prog="cnnzoo", description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        description = f"{command.help}. {command.note}" if command.note else command.help
        p = sub.add_parser(command.name, help=command.help, description=description)
        p.set_defaults(func=command.run)
        if only is None or only == command.name:
            command.declare(p)
    return parser


def _command_name(argv: Sequence[str]) -> str | None:
    """The command a command line names (the first word not starting with '-')."""
    return next((a for a in argv if not a.startswith("-")), None)


# The library's messages name its Python arguments; on the command line they are flags.
# (The hook: a user error raised by the library is rewritten here, once, on its way out.)
API_TO_CLI = {"pass weights=PATH": "give --weights FILE"}


def _cli_words(message: str) -> str:
    for api, flag in API_TO_CLI.items():
        message = message.replace(api, flag)
    return message


def _apply_threads(args: argparse.Namespace) -> None:
    """--threads N, else OMP_NUM_THREADS, else PyTorch's choice (the engine's one rule), for
    every command that declares --threads (bare `cnnzoo visualize` declares none)."""
    if "threads" in vars(args):
        from ..train.threads import apply  # imports torch: only for a command that runs tensors

        apply(args.threads)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "_ARGCOMPLETE" in os.environ:  # tab completion: every command's flags are needed
        import argcomplete  # optional, and only for tab completion

        argcomplete.autocomplete(build_parser())
    parser = build_parser(only=_command_name(argv) or "")  # "": no command's flags
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        _apply_threads(args)
        return int(args.func(args) or 0)
    except CnnzooError as e:
        print(f"cnnzoo: error: {_cli_words(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnnzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
