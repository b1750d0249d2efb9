"""`cnnzoo export` and `cnnzoo bench`: argument declarations and bodies (cli.py wires them in)."""
from __future__ import annotations

import argparse
import sys

from ..errors import CnnzooError
from ..limits import PRECISIONS, RUNTIMES


def _options(pairs: list[str] | None) -> dict:
    from ..options import parse_options

    return parse_options(pairs)  # checked against the model's options when it is built


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="MODEL|RUN", help="a registered model (random weights) or a run "
                   "folder / checkpoint (its input pipeline goes into the file's metadata)")
    p.add_argument("--format", choices=("onnx", "pt2"), default="onnx", dest="export_format",
                   help="ONNX (checked with onnx.checker and ONNX Runtime) or a torch.export program")
    p.add_argument("--out", metavar="FILE", help="output file (default MODEL.onnx / MODEL.pt2)")
    p.add_argument("--batch", default="dynamic", metavar="dynamic|N", help="batch dimension (default dynamic)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset (default: the exporter's)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model option (model names only)")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="int8: a QDQ ONNX file "
                   "(per-channel int8 weights, uint8 activations) with its quantisation parameters, "
                   "calibrated on the run's training images (the embedded sample for a model name)")


def run_export(args: argparse.Namespace) -> int:
    from .exporter import export

    result = export(args.source, args.export_format, args.out, batch=args.batch, opset=args.opset,
                    options=_options(args.option), precision=args.precision)
    print(result.report())
    return 0


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="MODEL|RUN", help="a registered model or a run folder")
    p.add_argument("--batch", type=int, default=8, metavar="N", help="images per call (default 8)")
    p.add_argument("--runtime", metavar="LIST", help=f"comma-separated runtimes to measure by hand-set "
                   f"configuration ({', '.join(RUNTIMES)}; default: every installed one)")
    p.add_argument("--rounds", type=int, default=5, metavar="N", help="interleaved rounds (default 5)")
    p.add_argument("--seconds", type=float, default=1.0, metavar="S", help="seconds per contender per round")
    p.add_argument("--bf16", action="store_true", help="the older spelling of --precision bf16")
    p.add_argument("--precision", choices=("auto", *PRECISIONS), default="fp32",
                   help="also measure the fast path in this precision (auto: every one the CPU runs "
                   "natively, and say which auto picks); refused where the CPU would emulate it")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model option (model names only)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for every contender")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run_bench(args: argparse.Namespace) -> int:
    from .bench import bench, format_bench, to_json

    runtimes = None
    if args.runtime is not None:
        runtimes = [r.strip() for r in args.runtime.split(",") if r.strip()]
        if not runtimes:
            raise CnnzooError(f"--runtime takes a comma-separated list of {', '.join(RUNTIMES)}")
    say = (lambda text: print(f"bench: {text}", file=sys.stderr)) if sys.stderr.isatty() else None
    result = bench(args.source, batch=args.batch, runtimes=runtimes, rounds=args.rounds,
                   round_seconds=args.seconds, options=_options(args.option), bf16=args.bf16,
                   precision=args.precision, progress=say)
    print(to_json(result) if args.json else format_bench(result))
    return 0
