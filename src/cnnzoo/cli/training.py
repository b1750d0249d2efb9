"""`cnnzoo train`: a new run from flags, or `--resume DIR` checked against the run's config.json."""
from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CnnzooError, OptionError
from ..flags import FLAGS, add_deprecated, add_device_flags, add_flag
from ..recipes import RECIPES
from .command import Parser
from .models import model_options, read_catalog

if TYPE_CHECKING:
    from ..train.config import TrainConfig

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


def _epilog() -> str:
    return TRAIN_EPILOG.format(recipes="recipes:\n" + recipe_help())


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    if isinstance(p, Parser):
        p.help_epilog = _epilog  # the recipe table is read only when help is shown
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
    add_flag(p, "--augment", help=FLAGS["--augment"].help + " (default: the recipe's)")
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


def config_of(args: argparse.Namespace, model: str) -> TrainConfig:
    """The flags as a TrainConfig (flags left unset keep TrainConfig's defaults, which are the
    flags' defaults: a test keeps them equal)."""
    from ..train.config import TrainConfig  # the engine's package imports torch

    side, channels = _train_side(args.input)
    return TrainConfig(
        model=model, dataset=args.dataset, data_dir=args.data_dir,
        model_options=model_options(model, args.option) if args.option else {},
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
        warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
        augment=args.augment, image_size=side, in_channels=channels, amp=args.amp,
        channels_last=args.channels_last, compile=args.compile, seed=args.seed,
        deterministic=args.deterministic, device=args.device, eval_every=args.eval_every,
        keep_epochs=args.keep_epochs, out=args.out, threads=args.threads,
        tensorboard=args.tensorboard)


# what --resume may change: where the run happens, and (to extend it) how long it is; the model
# is checked by the engine (a run of another model is refused there)
RESUME_MAY_CHANGE = ("device", "threads", "epochs", "model")
FLAG_OF_FIELD = {"image_size": "--input", "in_channels": "--input", "model_options": "--option"}


def _comparable(name: str, value: Any) -> Any:
    return str(Path(value).expanduser().absolute()) if name == "data_dir" and value else value


def _shown(value: Any) -> str:
    return "it unset" if value is None else repr(value)


def resume_conflicts(asked: TrainConfig, saved: TrainConfig, unset: TrainConfig) -> list[str]:
    """The flags that would change the saved run: set (not at their default, `unset`) and
    different from the run's config.json. A flag repeating the run's own value is harmless."""
    conflicts: dict[str, str] = {}
    for field in fields(asked):
        name = field.name
        value = getattr(asked, name)
        if (name in RESUME_MAY_CHANGE or value == getattr(unset, name)
                or _comparable(name, value) == _comparable(name, getattr(saved, name))):
            continue
        flag = FLAG_OF_FIELD.get(name, f"--{name.replace('_', '-')}")
        conflicts.setdefault(flag, f"{flag} (the run has {_shown(getattr(saved, name))}, "
                                   f"not {_shown(value)})")
    return list(conflicts.values())


def check_resume(args: argparse.Namespace) -> None:
    """Refuse (one line) flags that would change the run --resume continues."""
    from ..train.config import TrainConfig  # the engine's package imports torch

    path = Path(args.resume) / "config.json"
    if not path.is_file():
        return  # not a run folder: the engine refuses it in one line
    saved = TrainConfig.load(path)
    changed = resume_conflicts(config_of(args, saved.model), saved, TrainConfig(model=saved.model))
    if changed:
        raise CnnzooError(f"--resume continues {args.resume} with its saved config.json; drop "
                          f"{', '.join(changed)} (only --device, --threads and --epochs may change)")


def run_train(args: argparse.Namespace) -> int:
    from ..train.config import TrainConfig  # the engine's package imports torch
    from ..train.loop import train  # as above

    if args.resume:
        check_resume(args)
        train(TrainConfig(model=args.model) if args.model else None, resume=args.resume,
              device=None if args.device == "auto" else args.device, epochs=args.epochs,
              threads=args.threads, progress=sys.stderr.isatty())
        return 0
    if not args.model:
        raise CnnzooError("name a model to train (see `cnnzoo list`) or give --resume DIR")
    train(config_of(args, args.model), progress=sys.stderr.isatty())
    return 0
