"""The command line's vocabulary: every flag of every command, declared once.

`FLAGS` gives each flag one name, validator, help and default, so `--top` is "how many to show"
everywhere, `--out` is where results go, and a number is checked (cnnzoo.checks, bounds from
cnnzoo.limits) while the command line is parsed. `DEPRECATED` keeps old spellings working for one
release, with a notice. Commands declare their flags with `add_flag` / `add_deprecated`: the CLI's
own commands (cnnzoo/cli/) and the command packages (visualize, claims, export, draw) alike, so
this module sits below all of them and imports no torch.

One name, one meaning. Where a command uses several values of a flag it takes the flag repeated
(`--option`, bench's `--runtime`), never a different syntax under the same name: `--runtime` is one
fast-path runtime everywhere (eval and predict run on it, bench measures each one given). `--format`
is the format of a command's result: what it prints (table, json, ...), or for export the file it
writes (onnx, pt2).
"""
from __future__ import annotations

import argparse
import builtins
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import checks
from .errors import OptionError
from .limits import (
    AMP_MODES,
    MAX_BATCH,
    MAX_COUNT,
    MAX_EPOCHS,
    MAX_LR,
    MAX_SEED,
    MAX_SIDE,
    MAX_THREADS,
    MAX_WARMUP_EPOCHS,
    MAX_WEIGHT_DECAY,
    OPTIMIZERS,
    PRECISIONS,
    RUNTIMES,
    SCHEDULES,
)


# --- validators ------------------------------------------------------------------------------
def typed(kind: type, check: Callable[..., Any], **bounds: Any) -> Callable[[str], Any]:
    """An argparse type: text -> number, then the range check of cnnzoo.checks."""
    word = "whole number" if kind is int else "number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {word}, got {text!r}") from None
        try:
            return check("value", value, **bounds)
        except OptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = f"{check.__name__}{bounds or ''}"
    return parse


def _sizes(text: str) -> tuple[int, ...]:
    """'3,224,224', '224,224' or '224' (C,H,W; the model's channels where omitted)."""
    try:
        values = checks.int_list("value", text.replace("x", ","))
    except OptionError as e:
        raise argparse.ArgumentTypeError(f"{e}; write C,H,W, e.g. 3,224,224") from None
    if not 1 <= len(values) <= 3:
        raise argparse.ArgumentTypeError(f"write C,H,W (or H,W or one side), got {text!r}")
    checks.int_list("value", values, minimum=1)
    if max(values) > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"sizes must be at most {MAX_SIDE}, got {text!r}")
    return values


def _indices(text: str) -> tuple[int, ...]:
    """'0,1,2': channel indices."""
    try:
        return checks.int_list("value", text, minimum=0)
    except OptionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _limit(text: str) -> int | None:
    """A positive count of images, or 'all' (None)."""
    if text.strip().lower() == "all":
        return None
    return COUNT(text)


def _batch(text: str) -> int | str:
    """A positive batch size, or 'dynamic' (an exported model's batch left free)."""
    if text.strip().lower() == "dynamic":
        return "dynamic"
    return COUNT(text)


def _key_value(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"write KEY=VALUE, e.g. shortcut=A, got {text!r}")
    return text


def parse_augment(text: str) -> str:
    parts = [p.strip() for p in text.lower().split(",")]
    if parts == ["none"] or (parts and set(parts) <= {"crop", "flip"} and len(set(parts)) == len(parts)):
        return ",".join(parts)
    raise argparse.ArgumentTypeError(f"write crop,flip | crop | flip | none, got {text!r}")


# values that were renamed: old word -> the word to write now (visualize's `--format text`). The
# old word is read as the new one, with a notice, wherever the new one is among the command's
# choices; elsewhere it is refused under its own name.
RENAMED_FORMATS: dict[str, str] = {"text": "table"}


class _Renamed(str):
    """The new word, remembering the old one: argparse's choices check sees the new word, and its
    one-line refusal (`invalid choice: 'text'`) names what the user wrote."""

    old: str

    def __new__(cls, new: str, old: str) -> "_Renamed":
        word = super().__new__(cls, new)
        word.old = old
        return word

    def __repr__(self) -> str:
        return repr(self.old)


def _format_word(text: str) -> str:
    new = RENAMED_FORMATS.get(text)
    return text if new is None else _Renamed(new, text)


class _FormatAction(argparse.Action):
    """Stores --format's word; an old word (already checked against the choices as the new one)
    is stored as the new one, with the one-line notice."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if isinstance(values, _Renamed):
            print(f"cnnzoo: warning: {option_string} {values.old} is deprecated and will be removed "
                  f"in the next release; write {option_string} {values}", file=sys.stderr)
            values = str(values)
        setattr(namespace, self.dest, values)


def _runtime(text: str) -> str:
    """One fast-path runtime (the choices check follows); a list is refused in one line."""
    if "," in text:
        first, _, rest = text.partition(",")
        raise argparse.ArgumentTypeError(
            f"one runtime per --runtime, got {text!r}: repeat the flag (bench measures each "
            f"one given), e.g. --runtime {first.strip()} --runtime {rest.split(',')[0].strip()}")
    return _text(text)


def _device(text: str) -> str:
    if text == "auto" or text == "cpu" or text == "mps" or text == "cuda" or (
            text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"write auto, cpu, cuda, cuda:N or mps, got {text!r}")


COUNT = typed(int, checks.positive_int, maximum=MAX_COUNT)


def _text(text: str) -> str:
    """Any text flag (a path, a name, a list): an empty value is refused, never read as 'not
    given' (`--out ''` would otherwise write to the default place)."""
    try:
        return checks.text("value", text)
    except OptionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


class AugmentAction(argparse.Action):
    """--augment SPEC; a bare --augment (the old on/off switch) means the recipe's, with a notice."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if values is None:
            print("cnnzoo: warning: --augment without a value is deprecated and will be removed in "
                  "the next release; write --augment crop,flip | crop | flip | none",
                  file=sys.stderr)
            values = True
        setattr(namespace, self.dest, values)


@dataclass(frozen=True)
class Flag:
    """One flag of the vocabulary: the same name, validator and meaning in every subcommand."""

    name: str                       # --name
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    default: Any = None
    action: str | builtins.type[argparse.Action] | None = None  # store_true, append, ...
    choices: tuple[str, ...] | None = None
    nargs: str | None = None
    const: Any = None


FLAGS: dict[str, Flag] = {f.name: f for f in [
    # what to run on
    Flag("--model", "a registered model (see `cnnzoo list`), built with random weights unless "
         "--weights is given", type=_text, metavar="NAME"),
    Flag("--weights", "pretrained weights for --model: 'torchvision' (from torch's hub cache) "
         "or a weight FILE", type=_text, metavar="torchvision|FILE"),
    Flag("--option", "a model option, e.g. shortcut=A (repeatable; `cnnzoo list NAME --options` "
         "lists them)", _key_value, "KEY=VALUE", action="append"),
    Flag("--options", "list each model's options (--option KEY=VALUE) with their defaults and "
         "allowed values", action="store_true"),
    Flag("--input", "input size as C,H,W (or H,W, or one side)", _sizes, "C,H,W"),
    Flag("--dataset", "data set: sample, fashion-mnist, mnist, cifar10, cifar100, imagefolder",
         type=_text, metavar="NAME"),
    Flag("--data-dir", "folder holding a local copy of the data set", type=_text, metavar="DIR"),
    Flag("--split", "which split", choices=("test", "train"), default="test"),
    Flag("--image", "a picture file of any size and mode (PNG, JPEG, ...)", type=_text, metavar="IMAGE"),
    Flag("--layer", "a layer name, e.g. conv5 (`cnnzoo summary NAME` shows them)", type=_text, metavar="NAME"),
    Flag("--channel", "one feature map (channel index)", typed(int, checks.integer, minimum=0),
         "K"),
    Flag("--channels", "these feature maps (channel indices)", _indices, "C1,C2,..."),
    # how many, and where results go
    Flag("--top", "how many to show: the K strongest classes, channels or maps (evolution: the "
         "first K filters)", COUNT, "K"),
    Flag("--limit", "look at the first N images only ('all': every image)", _limit, "N|all"),
    Flag("--batch-size", "images per batch", typed(int, checks.positive_int, maximum=MAX_BATCH), "N"),
    Flag("--out", "where to write the result", type=_text, metavar="PATH"),
    Flag("--format", "what to print", _format_word, choices=("table", "json"),
         action=_FormatAction),
    # where tensors run
    Flag("--device", "where tensors run: auto (a GPU if there is one), cpu, cuda, cuda:N, mps",
         _device, "DEVICE", default="auto"),
    Flag("--threads", "CPU threads for PyTorch (default: $OMP_NUM_THREADS if set, else "
         "PyTorch's choice)", typed(int, checks.positive_int, maximum=MAX_THREADS), "N"),
    Flag("--fast", "run the model through cnnzoo's fast inference path (same numbers, faster)",
         action="store_true"),
    Flag("--runtime", "the fast path's runtime: " + ", ".join(("auto", *RUNTIMES)),
         type=_runtime, metavar="NAME", choices=("auto", *RUNTIMES)),
    Flag("--precision", "the fast path's precision (implies --fast): fp32; bf16 or int8 where the "
         "CPU runs them natively, checked against fp32 on the run's held-out images; auto: the "
         "fastest that keeps >= 99% top-1 agreement and <= 0.5 point of accuracy",
         choices=("auto", *PRECISIONS)),
    # summary
    Flag("--depth", "show blocks deeper than N name levels as one row", COUNT, "N"),
    Flag("--train", "training mode (GoogLeNet's auxiliary heads run)", action="store_true"),
    Flag("--paper", "add the figures the paper prints, row by row, with the differences",
         action="store_true"),
    Flag("--reference", "ratios to this model", type=_text, metavar="NAME", default="alexnet"),
    # train
    Flag("--resume", "continue the run in DIR exactly where it stopped (or extend it with "
         "--epochs)", type=_text, metavar="DIR"),
    Flag("--epochs", "epochs to train", typed(int, checks.positive_int, maximum=MAX_EPOCHS), "N"),
    Flag("--optimizer", "optimizer", choices=OPTIMIZERS),
    Flag("--lr", "peak learning rate", typed(float, checks.positive_float, maximum=MAX_LR), "LR"),
    Flag("--momentum", "SGD momentum (AdamW's beta1)",
         typed(float, checks.real, minimum=0.0, below=1.0), "M"),
    Flag("--weight-decay", "weight decay", typed(float, checks.real, minimum=0.0, maximum=MAX_WEIGHT_DECAY),
         "WD"),
    Flag("--schedule", "learning-rate schedule", choices=SCHEDULES),
    Flag("--warmup-epochs", "linear warm-up length in epochs",
         typed(float, checks.real, minimum=0.0, maximum=MAX_WARMUP_EPOCHS), "E"),
    Flag("--label-smoothing", "label smoothing", typed(float, checks.real, minimum=0.0, below=1.0),
         "S", default=0.0),
    Flag("--augment", "batch augmentation: crop,flip | crop | flip | none", parse_augment,
         "SPEC", nargs="?", action=AugmentAction),
    Flag("--amp", "mixed precision: bf16 on a GPU or on a CPU with AVX-512 BF16/AMX (about 2x "
         "faster for resnet20 on such a CPU), fp16 on a GPU", choices=AMP_MODES,
         default="off"),
    Flag("--channels-last", "channels-last memory format", action="store_true"),
    Flag("--compile", "torch.compile the model", action="store_true"),
    Flag("--seed", "random seed", typed(int, checks.integer, minimum=0, maximum=MAX_SEED), "N",
         default=0),
    Flag("--deterministic", "deterministic algorithms (slower)", action="store_true"),
    Flag("--eval-every", "evaluate on the test split every N epochs (and after the last)", COUNT,
         "N", default=1),
    Flag("--keep-epochs", "per-epoch checkpoints to keep (default: all)", COUNT, "N"),
    Flag("--tensorboard", "also log to TensorBoard (DIR/tensorboard)", action="store_true"),
    # visualize
    Flag("--whole-map", "keep the whole feature map instead of its strongest unit",
         action="store_true"),
    Flag("--size", "the grey square's side in input pixels", COUNT, "PX"),
    Flag("--stride", "the grey square's step in input pixels", COUNT, "PX"),
    Flag("--target", "class index or name to follow (default: the prediction)", type=_text, metavar="CLASS"),
    # claims
    Flag("--full", "the long versions of the experiments", action="store_true"),
    Flag("--only", "only these, by id or number", type=_text, metavar="ID[,ID]"),
    Flag("--list", "list them and exit", action="store_true"),
    # export (bench takes --batch-size: images per call)
    Flag("--batch", "the exported file's batch dimension: a fixed N, or 'dynamic' (any batch "
         "size at run time); not the images per call, which is --batch-size", _batch, "dynamic|N"),
    Flag("--opset", "ONNX opset", typed(int, checks.integer, minimum=7, maximum=100), "N"),
    Flag("--rounds", "interleaved measuring rounds", COUNT, "N"),
    Flag("--seconds", "seconds per contender per round",
         typed(float, checks.positive_float, maximum=3600.0), "S"),
    Flag("--bf16", "also measure in bf16 (CPUs with native bf16 only)", action="store_true"),
    # draw, atlas
    Flag("--style", "how to draw: lenet (LeNet-5's Fig. 2), boxes (AlexNet's volumes), blocks "
         "(modules; default: the family paper's)", choices=("lenet", "boxes", "blocks")),
    Flag("--claims", "a claims report folder (`cnnzoo claims --out DIR`) to link to", type=_text,
         metavar="DIR"),
]}


@dataclass(frozen=True)
class Deprecated:
    """An old spelling kept for one release: stores into the new flag's place, with a notice."""

    name: str
    replacement: str          # what to write instead, shown in the notice
    dest: str
    value: Any = None         # stored as is (nargs=0), or None: the argument, parsed by `type`
    type: Callable[[str], Any] | None = None
    command: str | None = None  # where the spelling is old only in one command

    @property
    def key(self) -> str:
        return f"{self.name} ({self.command})" if self.command else self.name


DEPRECATED: dict[str, Deprecated] = {d.key: d for d in [
    Deprecated("--json", "--format json", "format", value="json"),
    Deprecated("--confusion", "--out", "out", type=_text),
    Deprecated("--image-size", "--input", "input", type=lambda t: (COUNT(t),)),
    Deprecated("--num-channels", "--top", "top", type=COUNT),
    Deprecated("--count", "--top", "top", type=COUNT),
    Deprecated("--no-augment", "--augment none", "augment", value="none"),
    # pictures now go through the run's own input pipeline, fitted as in training
    Deprecated("--fit", "nothing: the picture is fitted as the model was trained", "fit",
               type=str),
    # featuremaps' --limit was "show at most N maps"; --limit now means images looked at
    Deprecated("--limit", "--top", "top", type=COUNT, command="featuremaps"),
    # bench's images per call were --batch; --batch-size is that everywhere else
    Deprecated("--batch", "--batch-size", "batch_size", type=COUNT, command="bench"),
]}


class _DeprecatedAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, spelling: Deprecated, **kwargs: Any):
        self.spelling = spelling
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        old = self.spelling
        print(f"cnnzoo: warning: {option_string} is deprecated and will be removed in the next "
              f"release; write {old.replacement}", file=sys.stderr)
        setattr(namespace, self.dest, old.value if self.nargs == 0 else values)


def add_flag(parser: Any, name: str, *, repeated: bool = False, **overrides: Any) -> argparse.Action:
    """Declare FLAGS[name] on a parser (or group). Only help, metavar, default, choices and
    required may be specialised by a command: the validator is the vocabulary's. `repeated`: the
    command takes several values, one per use of the flag (a list, or None when not given).

    Help is plain text (a `%` is a percent sign); a default other than None/False is shown."""
    allowed = {"help", "metavar", "default", "choices", "required"}
    if set(overrides) - allowed:
        raise TypeError(f"{name}: only {sorted(allowed)} may be overridden")
    flag = FLAGS[name]
    kwargs: dict[str, Any] = dict(help=flag.help, default=flag.default)
    for key in ("type", "metavar", "choices", "nargs", "const"):
        if getattr(flag, key) is not None:
            kwargs[key] = getattr(flag, key)
    if flag.action is not None:
        kwargs["action"] = flag.action
        if flag.action in ("store_true",):
            kwargs.pop("default")
    if repeated:
        if flag.action is not None:
            raise TypeError(f"{name}: only a flag that stores one value may be repeated")
        kwargs["action"] = "append"
    kwargs.update(overrides)
    kwargs["help"] = _help_text(kwargs["help"], kwargs.get("default"))
    action = parser.add_argument(flag.name, **kwargs)
    action.vocabulary = name  # read by the vocabulary tests
    return action


def _help_text(text: str, default: Any) -> str:
    """argparse reads help as a %-format: escape the text, then name the default (if any)."""
    text = text.replace("%", "%%")
    if "default" not in text and not (default is None or default is False
                                      or default is argparse.SUPPRESS):
        text += " (default: %(default)s)"
    return text


def add_deprecated(parser: Any, name: str,
                   type: Callable[[str], Any] | None = None) -> argparse.Action:
    """Declare the old spelling DEPRECATED[name] (hidden from --help)."""
    old = DEPRECATED[name]
    kwargs: dict[str, Any] = dict(dest=old.dest, spelling=old, help=argparse.SUPPRESS,
                                  default=argparse.SUPPRESS)
    if old.value is not None:
        kwargs["nargs"] = 0
    else:
        kwargs["type"] = type or old.type
    action = parser.add_argument(old.name, action=_DeprecatedAction, **kwargs)
    action.vocabulary = f"deprecated:{name}"
    return action


def add_format_flags(parser: argparse.ArgumentParser, choices: tuple[str, ...], default: str,
             what: str = "what to print") -> None:
    add_flag(parser, "--format", choices=choices, default=default, help=what)
    add_deprecated(parser, "--json")


def add_device_flags(parser: argparse.ArgumentParser, fast: bool = False) -> None:
    add_flag(parser, "--device")
    add_flag(parser, "--threads")
    if fast:
        add_flag(parser, "--fast")
        add_flag(parser, "--runtime")
        add_flag(parser, "--precision")


def device_of(args: argparse.Namespace) -> str:
    """--device auto -> a GPU when there is one, else the CPU (the engine's one rule)."""
    from .devices import pick_device  # imports torch: only when a command runs

    return str(pick_device(args.device))
