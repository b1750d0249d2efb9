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


# --- train / eval / predict -----------------------------------------------------------------
def _option_value(text: str):
    """KEY=VALUE model options: numbers, true/false and none are parsed, the rest kept as text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _model_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CnnzooError(f"--option takes KEY=VALUE, got {pair!r}")
        options[key] = _option_value(value)
    return options


def add_train(sub: argparse._SubParsersAction) -> None:
    from .train.config import AMP_MODES, OPTIMIZERS, SCHEDULES

    p = sub.add_parser("train", help="train a model on a data set; writes a run folder")
    p.add_argument("model", nargs="?", help="a registered model (see `cnnzoo list`); "
                   "omit it with --resume")
    p.add_argument("--dataset", default="sample", help="sample (default), fashion-mnist, mnist, "
                   "cifar10, cifar100, imagefolder")
    p.add_argument("--data-dir", help="folder holding a local copy of the data set")
    p.add_argument("--out", help="run folder (default runs/MODEL-TIMESTAMP)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly where it stopped")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="global batch (split across torchrun processes)")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--warmup-epochs", type=float)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random crops (and flips where they make sense); default: the recipe's")
    p.add_argument("--image-size", type=int, help="input size, where the architecture allows it")
    p.add_argument("--amp", choices=AMP_MODES, default="off",
                   help="mixed precision: bf16 on a GPU or on a CPU with AVX-512 BF16/AMX (about 2x "
                   "faster for resnet20 on such a CPU), fp16 on a GPU")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--eval-every", type=int, default=1, metavar="N")
    p.add_argument("--keep-epochs", type=int, metavar="N", help="per-epoch checkpoints to keep")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="model option, "
                   "e.g. --option shortcut=A (repeatable)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .train.config import TrainConfig
    from .train.loop import train

    if args.resume:
        # The run's own config.json defines it; only where it runs may change.
        base = vars(build_parser().parse_args(["train", "--resume", args.resume]))
        changed = [f"--{k.replace('_', '-')}" for k, v in vars(args).items()
                   if k not in ("resume", "device", "model") and v != base.get(k)]
        if changed:
            raise CnnzooError(f"--resume continues {args.resume} with its saved config.json; "
                              f"drop {', '.join(changed)} (only --device may change)")
        train(TrainConfig(model=args.model) if args.model else None, resume=args.resume,
              device=None if args.device == "auto" else args.device, progress=sys.stderr.isatty())
        return 0
    if not args.model:
        raise CnnzooError("name a model to train (see `cnnzoo list`) or give --resume DIR")
    config = TrainConfig(
        model=args.model, dataset=args.dataset, data_dir=args.data_dir,
        model_options=_model_options(args.option), epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing, augment=args.augment,
        image_size=args.image_size, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, seed=args.seed, deterministic=args.deterministic,
        device=args.device, eval_every=args.eval_every, keep_epochs=args.keep_epochs, out=args.out)
    train(config, progress=sys.stderr.isatty())
    return 0


def add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="top-1, top-5, per-class accuracy and a confusion matrix")
    p.add_argument("checkpoint", help="a run folder, a checkpoint folder or its model.safetensors")
    p.add_argument("--dataset", help="default: the one the model was trained on")
    p.add_argument("--data-dir")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--device", default="auto")
    p.add_argument("--confusion", metavar="FILE.png", help="where to write the confusion matrix")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from .train.evaluate import evaluate, format_report, report_json

    result = evaluate(args.checkpoint, dataset=args.dataset, data_dir=args.data_dir,
                      split=args.split, batch_size=args.batch_size, device=args.device,
                      confusion_png=args.confusion)
    print(report_json(result) if args.json else format_report(result))
    return 0


def add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="top-k classes of image files with a trained model")
    p.add_argument("checkpoint", help="a run folder, a checkpoint folder or its model.safetensors")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, ... any size and mode")
    p.add_argument("--top", type=int, default=5, metavar="K")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from .train.predict import format_predictions, predict

    results = predict(args.checkpoint, args.images, top_k=args.top)
    print(json.dumps(results, indent=2) if args.json else format_predictions(results))
    return 0


# --- main ---------------------------------------------------------------------------------
COMMANDS = [add_list, add_train, add_eval, add_predict, add_visualize, add_summary, add_compare]


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
