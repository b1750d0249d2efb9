"""The command line: parses arguments and calls the library; nothing else lives here.

One vocabulary: every flag of every subcommand is drawn from `cnnzoo.flags.FLAGS` (name,
validator, help, default), so `--top` is "how many to show" everywhere (the K strongest, or in evolution the
first K filters; each command's help says which), `--out` is where results go, `--input`
is the input size, `--format` picks the printed format and `--device`/`--threads` say where
tensors run. Old spellings (`DEPRECATED`) keep working for one release and say so on stderr.

Numbers are validated by their flag's type function (cnnzoo.checks) while the command line is
parsed, before anything runs or is written: a bad value is one line on stderr and exit status 2.
User errors found later (CnnzooError) are one line and exit status 1; anything else is a bug and
keeps its traceback. Bare `cnnzoo` prints the help and exits 0.

Start-up: nothing here imports torch. Only the chosen subcommand's arguments are declared
(`build_parser(only=...)`), and `cnnzoo list` (with `--options`) and `train --help`'s
models-by-recipe read the torch-free catalog (catalog.json, written from the registry by
`write_catalog()` and tested equal to it). No parser takes abbreviations (allow_abbrev=False).
"""
# PYTHON_ARGCOMPLETE_OK
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__
from .errors import CnnzooError, OptionError
from .flags import (
    DEPRECATED_WORDS,
    FLAGS,
    AugmentAction,
    add_deprecated,
    add_device_flags,
    add_flag,
    add_format_flags,
    device_of,
    parse_augment,
)

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

CATALOG = Path(__file__).with_name("catalog.json")


# --- the parser -------------------------------------------------------------------------------------
class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default where there is one, and keeps the examples' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (action.option_strings and "default" not in text
                and not (default is None or default is False or default is argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """One-line errors; no abbreviations (`--option` must never be read as `--options`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        if action.choices is not None and len(arg_strings) == 1 and action.option_strings:
            new = DEPRECATED_WORDS.get((action.option_strings[0], arg_strings[0]))
            if new is not None and new in action.choices:
                print(f"cnnzoo: warning: {action.option_strings[0]} {arg_strings[0]} is deprecated "
                      f"and will be removed in the next release; write "
                      f"{action.option_strings[0]} {new}", file=sys.stderr)
                arg_strings = [new]
        return super()._get_values(action, arg_strings)

    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        print(f"cnnzoo: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


# --- list ---------------------------------------------------------------------------------------
def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3f}{unit}" if unit == "G" else f"{n / scale:.1f}{unit}"
    return str(int(n))


LIST_FIELDS = ("name", "family", "paper", "url", "year", "input_size", "num_classes",
               "description", "params", "macs")


def catalog_from_registry() -> list[dict[str, Any]]:
    """What `cnnzoo list` (and `list --options`, `train --help`) shows, from the live registry
    (imports torch and every model family): the model's facts, its default training recipe and
    its --option names with defaults and allowed values."""
    from .registry import list_models, model_info

    rows = []
    for name in list_models():
        info = model_info(name)
        row = {k: getattr(info, k) for k in LIST_FIELDS}
        row["input_size"] = list(row["input_size"])
        row["recipe"] = info.recipe
        row["recipe_by_option"] = [list(entry) for entry in info.recipe_by_option]
        row["options"] = _live_option_rows(name)
        rows.append(row)
    return rows


def write_catalog(path: str | Path = CATALOG) -> Path:
    """Regenerate catalog.json after changing a registration (a test checks it is current)."""
    from .io import write_text

    return write_text(path, json.dumps(catalog_from_registry(), indent=1) + "\n")


def read_catalog() -> list[dict[str, Any]]:
    """The registry's facts without importing torch (from catalog.json; live if it is missing)."""
    try:
        return json.loads(CATALOG.read_text())
    except FileNotFoundError:
        return catalog_from_registry()


def add_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'resnet*'")
    add_format_flags(p, ("table", "json"), "table")
    add_flag(p, "--options")


def _live_option_rows(name: str) -> list[dict[str, Any]]:
    """A model's --option names with their defaults and allowed values (imports the models)."""
    from .registry import builder_options, option_specs

    defaults = builder_options(name)
    rows = []
    for key, spec in option_specs(name).items():
        default = defaults.get(key)
        rows.append(dict(option=key, allowed=spec.describe(),
                         default=str(default).lower() if isinstance(default, bool) or default is None
                         else default))
    return rows


def model_option_rows(names: Sequence[str]) -> list[dict[str, Any]]:
    """Each model's --option names with their defaults and allowed values, from the catalog
    (no torch)."""
    catalog = {row["name"]: row for row in read_catalog()}
    return [dict(model=name, **option) for name in names for option in catalog[name]["options"]]


def cmd_list(args: argparse.Namespace) -> int:
    import fnmatch

    infos = [i for i in read_catalog() if fnmatch.fnmatchcase(i["name"], args.pattern)]
    if not infos:
        raise CnnzooError(f"no model matches {args.pattern!r}: run `cnnzoo list` to see them all")
    if args.options:
        options = model_option_rows([i["name"] for i in infos])
        if args.format == "json":
            print(json.dumps(options, indent=2, default=str))
            return 0
        for name in [i["name"] for i in infos]:
            mine = [r for r in options if r["model"] == name]
            print(f"{name}: " + ("; ".join(f"{r['option']}={r['default']} ({r['allowed']})"
                                          for r in mine) or "no options"))
        return 0
    if args.format == "json":
        records = [dict(name=i["name"], family=i["family"], year=i["year"], paper=i["paper"],
                     url=i["url"], input="x".join(map(str, i["input_size"])),
                     num_classes=i["num_classes"], params=i["params"], macs=i["macs"],
                     description=i["description"]) for i in infos]
        print(json.dumps(records, indent=2))
        return 0
    header = ("model", "paper", "year", "input", "params", "MACs", "description")
    # the authors, as the paper's title in ModelInfo ends with them in parentheses
    rows = [(i["name"], i["paper"].rsplit("(", 1)[-1].rstrip(")"), str(i["year"]),
             "x".join(map(str, i["input_size"])), f"{i['params']:,}" if i["params"] else "-",
             _human(i["macs"]) if i["macs"] else "-", i["description"]) for i in infos]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) if k != 4 else c.rjust(w) for k, (c, w) in enumerate(zip(r, widths)))
              + "  " + r[-1])
    print(f"\n{len(infos)} models; MACs = conv+linear multiply-accumulates at the input shown (batch 1).")
    return 0


# --- summary / compare --------------------------------------------------------------------------
def add_summary(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a registered model (see `cnnzoo list`)")
    add_flag(p, "--input", help="input size as C,H,W (or H,W, or one side; default: the model's own)")
    add_flag(p, "--depth")
    add_format_flags(p, ("table", "markdown", "json", "csv"), "table")
    add_flag(p, "--train")
    add_flag(p, "--option")
    add_flag(p, "--paper")


def cmd_summary(args: argparse.Namespace) -> int:
    from .analysis.summary import format_summary

    if args.paper:
        from .analysis.paper import format_paper

        # the paper's table is at the paper's own input size, all rows, eval mode: a flag it
        # cannot honour is refused rather than silently ignored
        ignored = [f for f, v in (("--input", args.input), ("--depth", args.depth),
                                  ("--train", args.train)) if v]
        if ignored:
            raise OptionError(f"--paper compares with the paper's table at its own input size, "
                              f"every row, eval mode: drop {', '.join(ignored)} (or drop --paper)")
        print(format_paper(args.name, args.format, **_model_options(args.name, args.option)))
        return 0
    print(format_summary(args.name, args.input, args.depth, args.format, args.train, args.option or ()))
    return 0


def add_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="registered models (default: the lineage)")
    add_flag(p, "--input", help="one input size for all, C,H,W (default: each model's own)")
    add_flag(p, "--reference")
    add_format_flags(p, ("table", "markdown", "json", "csv"), "table")
    add_flag(p, "--option", help="a model option for every compared model, e.g. variant=v1.5 "
             "(repeatable)")


def cmd_compare(args: argparse.Namespace) -> int:
    from .analysis.compare import format_compare
    from .options import parse_options

    print(format_compare(args.names, args.input, args.reference, args.format,
                         parse_options(args.option)))
    return 0


# --- train / eval / predict ---------------------------------------------------------------------
TRAIN_EPILOG = """\
Every flag left unset comes from the model family's recipe, chosen on a validation split
(src/cnnzoo/train/config.py); `cnnzoo train MODEL` prints the resolved values in its banner.

{recipes}

examples:
  cnnzoo train lenet5 --out runs/l5                        the embedded sample (offline, seconds)
  cnnzoo train resnet20 --dataset cifar10 --epochs 40
  cnnzoo train lenet5 --dataset imagefolder --data-dir DIR --augment crop
  cnnzoo train --resume runs/l5 --epochs 30                continue, or extend a finished run"""


def _recipe_value(value: Any) -> str:
    if value is None:
        return "-"
    return {True: "crop,flip", False: "none"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def recipe_help() -> str:
    """The recipe table of `train --help`: each recipe's values, the embedded sample's in
    brackets where they differ, and which models train with it (from the torch-free catalog)."""
    import textwrap

    from .recipes import RECIPES

    keys = ("optimizer", "lr", "momentum", "weight_decay", "schedule", "warmup_epochs",
            "batch_size", "epochs", "augment")
    head = ["recipe"] + [k.replace("_", "-") for k in keys]
    rows = []
    for name, recipe in RECIPES.items():
        sample = recipe.get("sample", {})
        rows.append([name] + [("25%" if k == "warmup_epochs" and recipe.get(k) is None  # onecycle's
                               else _recipe_value(recipe.get(k))) + (
            f" ({_recipe_value(sample[k])})" if k in sample and sample[k] != recipe.get(k) else "")
            for k in keys])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [head, *rows]]
    lines += ["", "(in brackets: on the embedded sample, --dataset sample, the default). "
              "Models by recipe:"]
    catalog = read_catalog()
    for name in RECIPES:
        models = [row["name"] for row in catalog if row["recipe"] == name]
        models += [f"{row['name']} with --option {key}={value}" for row in catalog
                   for key, value, recipe in row.get("recipe_by_option", ())
                   if recipe == name and row["recipe"] != name]
        lines += textwrap.wrap(", ".join(models) or "-", width=96, initial_indent=f"  {name}: ",
                               subsequent_indent="    ")
    return "\n".join(lines)


class _TrainParser(_Parser):
    """Renders the recipe table only when help is asked for."""

    def format_help(self) -> str:
        self.epilog = TRAIN_EPILOG.format(recipes="recipes:\n" + recipe_help())
        return super().format_help()


def add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="a registered model (see `cnnzoo list`); omit it "
                   "with --resume")
    add_flag(p, "--dataset", default="sample")
    add_flag(p, "--data-dir")
    add_flag(p, "--out", help="the run folder to write (default: runs/MODEL-TIMESTAMP)",
             metavar="DIR")
    add_flag(p, "--resume")
    for name in ("--epochs", "--batch-size", "--optimizer", "--lr", "--momentum", "--weight-decay",
                 "--schedule", "--warmup-epochs", "--label-smoothing"):
        add_flag(p, name)
    augment = p.add_argument("--augment", type=parse_augment, nargs="?", action=AugmentAction,
                             metavar="SPEC", help=FLAGS["--augment"].help + " (default: the recipe's)")
    augment.vocabulary = "--augment"  # type: ignore[attr-defined]
    add_deprecated(p, "--no-augment")
    add_flag(p, "--input", help="input size (one side, or C,H,W matching the data), where the "
             "architecture allows it (default: the model's own)")
    add_deprecated(p, "--image-size")
    for name in ("--amp", "--channels-last", "--compile", "--seed", "--deterministic"):
        add_flag(p, name)
    add_device_flags(p)
    add_flag(p, "--eval-every")
    add_flag(p, "--keep-epochs")
    add_flag(p, "--tensorboard")
    add_flag(p, "--option")


def _train_side(size: tuple[int, ...] | None) -> tuple[int | None, int | None]:
    """--input as (side, channels): C,H,W keeps its channel count, which the data must then have
    (the pipeline refuses a mismatch in one line), instead of dropping it."""
    if size is None:
        return None, None
    if len(set(size[-2:])) != 1:
        raise OptionError(f"--input: training takes square inputs, got {','.join(map(str, size))}")
    return size[-1], (size[0] if len(size) == 3 else None)


def _set_threads(n: int | None) -> None:
    """--threads N, else OMP_NUM_THREADS, else PyTorch's choice (the engine's one rule)."""
    from .train.threads import apply

    apply(n)


# what --resume may change: where the run happens, and (to extend it) how long it is
_RESUME_MAY_CHANGE = ("resume", "device", "threads", "epochs", "model", "func", "command")


def cmd_train(args: argparse.Namespace) -> int:
    from .train.config import TrainConfig
    from .train.loop import train

    if args.resume:
        # The run's own config.json defines it; only where it runs, and its length, may change.
        base = vars(build_parser(only="train").parse_args(["train", "--resume", args.resume]))
        changed = [f"--{k.replace('_', '-')}" for k, v in vars(args).items()
                   if k not in _RESUME_MAY_CHANGE and v != base.get(k)]
        if changed:
            raise CnnzooError(f"--resume continues {args.resume} with its saved config.json; drop "
                              f"{', '.join(changed)} (only --device, --threads and --epochs may change)")
        train(TrainConfig(model=args.model) if args.model else None, resume=args.resume,
              device=None if args.device == "auto" else args.device, epochs=args.epochs,
              threads=args.threads, progress=sys.stderr.isatty())
        return 0
    if not args.model:
        raise CnnzooError("name a model to train (see `cnnzoo list`) or give --resume DIR")
    side, channels = _train_side(args.input)
    config = TrainConfig(
        model=args.model, dataset=args.dataset, data_dir=args.data_dir,
        model_options=_model_options(args.model, args.option), epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, schedule=args.schedule, warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing, augment=args.augment,
        image_size=side, in_channels=channels, amp=args.amp, channels_last=args.channels_last,
        compile=args.compile, seed=args.seed, deterministic=args.deterministic,
        device=args.device, eval_every=args.eval_every, keep_epochs=args.keep_epochs, out=args.out,
        threads=args.threads, tensorboard=args.tensorboard)
    train(config, progress=sys.stderr.isatty())
    return 0


def _model_options(name: str, pairs: Sequence[str] | None) -> dict[str, Any]:
    """--option KEY=VALUE pairs, parsed and checked against the model's options (one line if bad)."""
    from .registry import model_options

    return model_options(name, pairs)


def add_eval(p: argparse.ArgumentParser) -> None:
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
        from .export.precision import check_precision

        check_precision(args.precision, runtime)  # refused before anything is loaded
    return runtime


def cmd_eval(args: argparse.Namespace) -> int:
    from .inference.evaluate import evaluate
    from .inference.report import format_report, report_json

    _set_threads(args.threads)
    runtime = _runtime(args)
    result = evaluate(args.checkpoint, dataset=args.dataset, data_dir=args.data_dir,
                      split=args.split, batch_size=args.batch_size, device=args.device,
                      confusion_png=args.out, runtime=runtime, precision=args.precision or "fp32")
    print(report_json(result) if args.format == "json" else format_report(result))
    if args.format == "json" and result.get("confusion_note"):
        print(f"note: {result['confusion_note']}", file=sys.stderr)
    return 0


def add_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="[CHECKPOINT] IMAGE",
                   help="a run folder, a checkpoint folder or its model.safetensors (not with "
                   "--model), then image files: PNG, JPEG, ... any size and mode")
    add_flag(p, "--model", help="a registered model instead of a CHECKPOINT (random weights: the "
             "mechanism only, unless --weights)")
    add_flag(p, "--weights")
    add_flag(p, "--top", default=5, help="how many of the most probable classes to show")
    add_format_flags(p, ("table", "json"), "table")
    add_device_flags(p, fast=True)


# The library's messages name its Python arguments; on the command line they are flags.
# (The hook: a user error raised by the library is rewritten here, once, on its way out.)
API_TO_CLI = {"pass weights=PATH": "give --weights FILE"}


def _cli_words(message: str) -> str:
    for api, flag in API_TO_CLI.items():
        message = message.replace(api, flag)
    return message


def cmd_predict(args: argparse.Namespace) -> int:
    from .inference.predict import format_predictions, predict
    from .inference.run import load_run

    checkpoint, images = (None, args.paths) if args.model else (args.paths[0], args.paths[1:])
    if not images:
        raise OptionError(f"give image files after the checkpoint {checkpoint} (or --model NAME "
                          "and image files)")
    _set_threads(args.threads)
    runtime = _runtime(args)
    run = load_run(checkpoint, args.model, device=device_of(args), weights=args.weights)
    if run.random:
        print(f"cnnzoo: warning: {run.name} has random weights: its classes mean nothing "
              "(give a CHECKPOINT)", file=sys.stderr)
    results = predict(run, images, top_k=args.top, runtime=runtime, precision=args.precision or "fp32",
                      say=lambda line: print(line, file=sys.stderr))
    print(json.dumps(results, indent=2) if args.format == "json" else format_predictions(results))
    return 0


# --- visualize ----------------------------------------------------------------------------------
def add_visualize(p: argparse.ArgumentParser) -> None:
    from .visualize.command import add_arguments

    add_arguments(p)


def cmd_visualize(args: argparse.Namespace) -> int:
    from .visualize.command import run

    if args.visualize_command is not None:  # bare `cnnzoo visualize` only prints its help
        _set_threads(getattr(args, "threads", None))
    return run(args)


# --- commands that live in their own package (claims, export, bench) ----------------------------
def _adopt(parser: argparse.ArgumentParser) -> None:
    """Hold a package's own parser to the vocabulary: flags named in FLAGS get the table's
    validator (the package keeps its help and default); the vocabulary tests flag any other."""
    for action in parser._actions:
        for option in action.option_strings:
            flag = FLAGS.get(option)
            if flag is not None:
                if flag.type is not None:
                    action.type = flag.type
                setattr(action, "vocabulary", option)  # noqa: B010 (argparse's Action has no slot)


def _package_command(module: str, add_name: str = "add_arguments", run_name: str = "run"
                     ) -> tuple[Callable[[argparse.ArgumentParser], None],
                                Callable[[argparse.Namespace], int]]:
    """add(parser) and run(args) of cnnzoo.<module>, imported only when the command is used."""
    import importlib

    def add(parser: argparse.ArgumentParser) -> None:
        getattr(importlib.import_module(f"cnnzoo.{module}"), add_name)(parser)
        _adopt(parser)

    def run(args: argparse.Namespace) -> int:
        _set_threads(getattr(args, "threads", None))
        return int(getattr(importlib.import_module(f"cnnzoo.{module}"), run_name)(args) or 0)

    return add, run


def _json_as_format(add: Callable[[argparse.ArgumentParser], None]
                    ) -> Callable[[argparse.ArgumentParser], None]:
    """A package parser's own `--json` switch becomes the vocabulary's --format (table|json),
    with --json kept as the deprecated spelling."""
    def declare(parser: argparse.ArgumentParser) -> None:
        add(parser)
        if "--json" in parser._option_string_actions:
            _drop(parser, "--json")
            add_format_flags(parser, ("table", "json"), "table")
    return declare


def _drop(parser: argparse.ArgumentParser, option: str) -> argparse.Action:
    """Remove a package parser's own declaration of `option` (to declare it from FLAGS)."""
    action = parser._option_string_actions.pop(option)
    parser._remove_action(action)
    for group in parser._action_groups:
        if action in group._group_actions:
            group._group_actions.remove(action)
    return action


_ON_THE_CPU = ("Runs on the CPU (the export package takes no device); --threads sets its CPU "
               "threads.")


def _export_arguments(add: Callable[[argparse.ArgumentParser], None]
                      ) -> Callable[[argparse.ArgumentParser], None]:
    """export's --batch is the file's batch dimension (not images per call): say so."""
    def declare(parser: argparse.ArgumentParser) -> None:
        add(parser)
        default = _drop(parser, "--batch").default
        add_flag(parser, "--batch", default=default)
        parser.description = f"{parser.description}. Traces and checks on the CPU."
    return declare


def _bench_arguments(add: Callable[[argparse.ArgumentParser], None]
                     ) -> Callable[[argparse.ArgumentParser], None]:
    """bench's images per call are --batch-size, as in train/eval/top9 (--batch: deprecated)."""
    def declare(parser: argparse.ArgumentParser) -> None:
        add(parser)
        default = _drop(parser, "--batch").default
        add_flag(parser, "--batch-size", default=default, help="images per call")
        add_deprecated(parser, "--batch (bench)")
        parser.description = f"{parser.description}. {_ON_THE_CPU}"
    return declare


def _bench_runner(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def bench(args: argparse.Namespace) -> int:
        args.batch = args.batch_size  # what the export package's run_bench reads
        args.json = getattr(args, "format", "table") == "json"
        return run(args)
    return bench


def _present(module: str) -> bool:
    """Whether cnnzoo.<module> is there, by its file (importing it could pull in torch)."""
    return (Path(__file__).parent / (module.replace(".", "/") + ".py")).is_file()


# --- draw, atlas ---------------------------------------------------------------------------------
def _draw_commands() -> list[Command]:
    """`draw` and `atlas`, declared from cnnzoo.visualize.draw.command (no torch at import)."""
    import importlib

    def declared(what: str) -> tuple[Callable[[argparse.ArgumentParser], None],
                                     Callable[[argparse.Namespace], int]]:
        def add(parser: argparse.ArgumentParser) -> None:
            module = importlib.import_module("cnnzoo.visualize.draw.command")
            getattr(module, f"add_{what}_arguments")(parser, add_flag)

        def run(args: argparse.Namespace) -> int:
            return int(getattr(importlib.import_module("cnnzoo.visualize.draw.command"),
                               f"run_{what}")(args) or 0)
        return add, run

    return [Command("draw", "a network drawn as its paper does (SVG, PNG, PDF): LeNet-5's maps, "
                    "AlexNet's volumes, Inception and residual blocks", *declared("draw")),
            Command("atlas", "a static site of the lineage: every network drawn, its summary and "
                    "the paper's figures beside cnnzoo's", *declared("atlas"))]


# --- completion ---------------------------------------------------------------------------------
def add_completion(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh", "fish", "tcsh", "powershell"),
                   help="the shell to complete in")


def cmd_completion(args: argparse.Namespace) -> int:
    try:
        import argcomplete
    except ImportError:
        raise CnnzooError("shell completion needs argcomplete: pip install argcomplete") from None
    print(argcomplete.shellcode(["cnnzoo"], shell=args.shell))
    return 0


# --- main ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    parser_class: type[_Parser] = _Parser


def _commands() -> list[Command]:
    commands = [
        Command("list", "every model with paper, year, input, parameters and MACs", add_list, cmd_list),
        Command("summary", "layer by layer: shapes with their arithmetic, parameters, MACs, "
                "receptive field, memory", add_summary, cmd_summary),
        Command("compare", "models side by side with ratios to a reference (default: the lineage "
                "LeNet-5 to ResNet-152)", add_compare, cmd_compare),
        Command("train", "train a model on a data set; writes a run folder", add_train, cmd_train,
                _TrainParser),
        Command("eval", "top-1, top-5, per-class accuracy and a confusion matrix", add_eval, cmd_eval),
        Command("predict", "the most probable classes of image files", add_predict, cmd_predict),
        Command("visualize", "DeconvNet projections, top-9 activations, filters, feature maps, "
                "occlusion, filter evolution (PNG)", add_visualize, cmd_visualize),
    ]
    if _present("export.command"):
        add_export, run_export = _package_command("export.command", "add_export_arguments",
                                                  "run_export")
        commands.append(Command("export", "a model or a trained run to ONNX or a torch.export "
                                "program, checked against eager outputs",
                                _export_arguments(add_export), run_export))
        add_bench, run_bench = _package_command("export.command", "add_bench_arguments", "run_bench")
        commands.append(Command("bench", "throughput and latency of a model on every installed "
                                "runtime, against torchvision's eager model",
                                _bench_arguments(_json_as_format(add_bench)),
                                _bench_runner(run_bench)))
    if _present("claims.command"):
        commands.append(Command("claims", "the lineage's claims as experiments with verdicts: a "
                                "lab report (JSON, Markdown, HTML)", *_package_command("claims.command")))
    if _present("visualize.draw.command"):
        commands += _draw_commands()
    commands += [
        Command("completion", "print the shell code for tab completion: "
                "eval \"$(cnnzoo completion bash)\"", add_completion, cmd_completion),
    ]
    return commands


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (only=NAME) every command listed but only NAME's flags declared:
    declaring a command can import its package, and `--help` or `list` should not pay for that."""
    parser = _Parser(prog="cnnzoo", description=DESCRIPTION, epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in _commands():
        sub._parser_class = command.parser_class  # add_parser takes no class before Python 3.14
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        p.set_defaults(func=command.run)
        if only is None or only == command.name:
            command.add(p)
    return parser


def _command_name(argv: Sequence[str]) -> str | None:
    """The subcommand a command line names (the first word not starting with '-')."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "_ARGCOMPLETE" in os.environ:  # tab completion: every command's flags are needed
        import argcomplete

        argcomplete.autocomplete(build_parser())
    parser = build_parser(only=_command_name(argv) or "")  # "": no command's flags
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CnnzooError as e:
        print(f"cnnzoo: error: {_cli_words(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cnnzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
