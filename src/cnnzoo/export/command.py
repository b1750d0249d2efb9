"""`cnnzoo export` and `cnnzoo bench`: their declarations (from the CLI's vocabulary) and bodies."""
from __future__ import annotations

import argparse
import sys

from ..flags import add_deprecated, add_flag, add_format_flags
from ..limits import RUNTIMES
from ..options import parse_options


def _options(pairs: list[str] | None) -> dict:
    return parse_options(pairs)  # checked against the model's options when it is built


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="MODEL|RUN", help="a registered model (random weights) or a run "
                   "folder / checkpoint (its input pipeline goes into the file's metadata)")
    add_flag(p, "--format", choices=("onnx", "pt2"), default="onnx",
             help="ONNX (checked with onnx.checker and ONNX Runtime) or a torch.export program")
    add_flag(p, "--out", metavar="FILE", help="output file (default MODEL.onnx / MODEL.pt2)")
    add_flag(p, "--opset", help="ONNX opset (default: the exporter's)")
    add_flag(p, "--option", help="model option (model names only)")
    add_flag(p, "--precision", choices=("fp32", "int8"), default="fp32", help="int8: a QDQ ONNX "
             "file (per-channel int8 weights, uint8 activations) with its quantisation parameters, "
             "calibrated on the run's training images (the embedded sample for a model name)")
    add_flag(p, "--batch", default="dynamic")


def run_export(args: argparse.Namespace) -> int:
    from .exporter import export  # imports torch: only when the command runs

    result = export(args.source, args.format, args.out, batch=args.batch, opset=args.opset,
                    options=_options(args.option), precision=args.precision)
    print(result.report())
    return 0


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="MODEL|RUN", help="a registered model or a run folder")
    add_flag(p, "--runtime", repeated=True, choices=RUNTIMES,
             help=f"a runtime to measure by hand-set configuration ({', '.join(RUNTIMES)}); "
             "repeat the flag for several (default: every installed one)")
    add_flag(p, "--rounds", default=5, help="interleaved rounds (default 5)")
    add_flag(p, "--seconds", default=1.0, help="seconds per contender per round")
    add_flag(p, "--bf16", help="the older spelling of --precision bf16")
    add_flag(p, "--precision", default="fp32",
             help="also measure the fast path in this precision (auto: every one the CPU runs "
             "natively, and say which auto picks); refused where the CPU would emulate it")
    add_flag(p, "--option", help="model option (model names only)")
    add_flag(p, "--threads", help="CPU threads for every contender")
    add_format_flags(p, ("table", "json"), "table")
    add_flag(p, "--batch-size", default=8, help="images per call")
    add_deprecated(p, "--batch (bench)")


def run_bench(args: argparse.Namespace) -> int:
    from .bench import bench, format_bench, to_json  # imports torch, as above

    say = (lambda text: print(f"bench: {text}", file=sys.stderr)) if sys.stderr.isatty() else None
    result = bench(args.source, batch=args.batch_size, runtimes=args.runtime, rounds=args.rounds,
                   round_seconds=args.seconds, options=_options(args.option), bf16=args.bf16,
                   precision=args.precision, progress=say)
    print(to_json(result) if args.format == "json" else format_bench(result))
    return 0
