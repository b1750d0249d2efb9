"""`cnnzoo eval` and `cnnzoo predict`: a trained run (or a registered model) on data or pictures."""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import OptionError
from ..flags import add_deprecated, add_device_flags, add_flag, add_format_flags, device_of


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a run folder, a checkpoint folder or its model.safetensors")
    add_flag(p, "--dataset", help="data set (default: the one the model was trained on)")
    add_flag(p, "--data-dir")
    add_flag(p, "--split")
    add_flag(p, "--batch-size", default=500)
    add_flag(p, "--out", metavar="FILE.png", help="the confusion-matrix PNG to write (default: "
             "confusion-DATASET-SPLIT.png in the run folder, skipped with a note when "
             "the run is read-only)")
    add_deprecated(p, "--confusion")
    add_format_flags(p, ("table", "json"), "table")
    add_device_flags(p, fast=True)


def _runtime(args: argparse.Namespace) -> str | None:
    """--runtime NAME, or --fast alone: the fast path's best installed runtime; None: plain eager."""
    runtime = args.runtime if args.runtime is not None else \
        "auto" if args.fast or args.precision not in (None, "fp32") else None
    if runtime is not None and args.precision is not None:
        from ..export.precision import check_precision  # imports torch: the command runs a model

        check_precision(args.precision, runtime)  # refused before anything is loaded
    return runtime


def run_eval(args: argparse.Namespace) -> int:
    from ..inference.evaluate import evaluate  # imports torch
    from ..inference.report import format_report, report_json  # as above

    runtime = _runtime(args)
    result = evaluate(args.checkpoint, dataset=args.dataset, data_dir=args.data_dir,
                      split=args.split, batch_size=args.batch_size, device=args.device,
                      confusion_png=args.out, runtime=runtime, precision=args.precision or "fp32")
    print(report_json(result) if args.format == "json" else format_report(result))
    if args.format == "json" and result.get("confusion_note"):
        print(f"note: {result['confusion_note']}", file=sys.stderr)
    return 0


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="[CHECKPOINT] IMAGE",
                   help="a run folder, a checkpoint folder or its model.safetensors (not with "
                   "--model), then image files: PNG, JPEG, ... any size and mode")
    add_flag(p, "--model", help="a registered model instead of a CHECKPOINT (random weights: the "
             "mechanism only, unless --weights)")
    add_flag(p, "--weights")
    add_flag(p, "--top", default=5, help="how many of the most probable classes to show")
    add_format_flags(p, ("table", "json"), "table")
    add_device_flags(p, fast=True)


def run_predict(args: argparse.Namespace) -> int:
    from ..inference.predict import format_predictions, predict  # imports torch: the command runs a model
    from ..inference.run import load_run  # as above

    checkpoint, images = (None, args.paths) if args.model else (args.paths[0], args.paths[1:])
    if not images:
        raise OptionError(f"give image files after the checkpoint {checkpoint} (or --model NAME "
                          "and image files)")
    runtime = _runtime(args)
    run = load_run(checkpoint, args.model, device=device_of(args), weights=args.weights)
    if run.random:
        print(f"cnnzoo: warning: {run.name} has random weights: its classes mean nothing "
              "(give a CHECKPOINT)", file=sys.stderr)
    results = predict(run, images, top_k=args.top, runtime=runtime, precision=args.precision or "fp32",
                      say=lambda line: print(line, file=sys.stderr))
    print(json.dumps(results, indent=2) if args.format == "json" else format_predictions(results))
    return 0
