"""Model options: the one place a `KEY=VALUE` option is parsed and a model's options are checked.

Each family declares the values its builder takes as data (`Choice`, `Flag`, `Number`), next to
the builder, with the `@takes(...)` decorator. `create_model`, the CLI (`--option KEY=VALUE` on
`summary`, `train`, ...) and direct builder calls all go through `check_options`, so the same bad
`init=` raises the same error, with the same wording, in every family:

- an unknown option name, or a value that is not one of an option's choices, raises
  `UnknownOptionError` (both an `UnknownNameError` and an `OptionError`) with close matches;
- any other bad value (wrong type, out of range) raises `OptionError` saying what is allowed.

Typical use from a command (a registered model's options are looked up in cnnzoo.registry):

    options = registry.model_options(name, args.option)   # parse + check, before anything is written
    model = create_model(name, **options)
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import OptionError, UnknownOptionError, close_matches
from .limits import MAX_CHANNELS, MAX_CLASSES

# --- parsing ----------------------------------------------------------------------------------
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def parse_value(text: str) -> Any:
    """'true'/'false' -> bool, 'none' -> None, '3' -> int, '0.5'/'1e-3' -> float, else the text.

    Only plain decimal literals become numbers ('nan', 'inf' and '1_000' stay text, so a numeric
    option refuses them with a clear message instead of taking a NaN)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    if _INT.fullmatch(lowered):
        return int(lowered)
    if _FLOAT.fullmatch(lowered):
        return float(lowered)
    return text


def parse_options(pairs: Iterable[str] | None, flag: str = "--option") -> dict[str, Any]:
    """['shortcut=A', 'aux_logits=false', 'dropout=0.5'] -> {'shortcut': 'A', ...}.

    A pair without '=', an empty or non-identifier key, or a key given twice is refused with one
    line naming `flag`."""
    options: dict[str, Any] = {}
    for pair in pairs or ():
        if not isinstance(pair, str):
            raise OptionError(f"{flag} takes KEY=VALUE text, got {pair!r}")
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise OptionError(f"{flag} takes KEY=VALUE (e.g. {flag} init=default), got {pair!r}")
        if key in options:
            raise OptionError(f"{flag} {key}= is given twice: give each option once")
        options[key] = parse_value(value)
    return options


# --- the allowed values, declared as data ---------------------------------------------------------
class Option:
    """What one builder option accepts. `check` returns the value the builder gets."""

    def check(self, name: str, value: Any) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        """The allowed values in words, for `cnnzoo list --options` and error messages."""
        raise NotImplementedError


def _same_kind(a: Any, b: Any) -> bool:
    # True == 1 to Python, never to a user: a bool matches only a bool
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    numbers = (int, float)
    return type(a) is type(b) or (isinstance(a, numbers) and isinstance(b, numbers))


@dataclass(frozen=True)
class Choice(Option):
    """One of a fixed set of values. Text matches case-insensitively; 'none' matches None."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", values)

    def check(self, name: str, value: Any) -> Any:
        for choice in self.values:
            if _same_kind(choice, value) and choice == value:
                return choice
        if isinstance(value, str):
            for choice in self.values:
                if (choice is None and value.lower() == "none") or (
                        isinstance(choice, str) and choice.lower() == value.lower()):
                    return choice
        texts = [_text(c) for c in self.values]
        raise UnknownOptionError(
            f"option {name}={_text(value)} is not allowed.{close_matches(str(value), texts)} "
            f"Choose one of: {', '.join(texts)}."
        )

    def describe(self) -> str:
        return "one of " + ", ".join(_text(c) for c in self.values)


@dataclass(frozen=True)
class Flag(Option):
    """true or false."""

    def check(self, name: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise OptionError(f"option {name} takes true or false, got {_text(value)}")

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Number(Option):
    """A finite number (`whole`: a whole number) within bounds: minimum/maximum inclusive,
    above/below exclusive."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    whole: bool = False

    def check(self, name: str, value: Any) -> int | float:
        kind = "a whole number" if self.whole else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise OptionError(f"option {name} takes {kind} {self._range()}, got {_text(value)}")
        if self.whole:
            if not float(value).is_integer():
                raise OptionError(f"option {name} takes {kind} {self._range()}, got {value}")
            value = int(value)
        if ((self.minimum is not None and value < self.minimum)
                or (self.maximum is not None and value > self.maximum)
                or (self.above is not None and value <= self.above)
                or (self.below is not None and value >= self.below)):
            raise OptionError(f"option {name} takes {kind} {self._range()}, got {value}")
        return value if self.whole else float(value)

    def _range(self) -> str:
        low = (f">= {self.minimum:g}" if self.minimum is not None
               else f"> {self.above:g}" if self.above is not None else "")
        high = (f"<= {self.maximum:g}" if self.maximum is not None
                else f"< {self.below:g}" if self.below is not None else "")
        return " and ".join(p for p in (low, high) if p)

    def describe(self) -> str:
        return f"{'a whole number' if self.whole else 'a number'} {self._range()}".strip()


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, (str, int, float)) else repr(value)


# Options shared by every builder (create_model's own keywords).
# The caps (cnnzoo.limits) refuse sizes no machine can build (num_classes=10**12) with a line,
# not a MemoryError, and are the ones a run folder is checked against.
COMMON: dict[str, Option] = {
    "num_classes": Number(minimum=1, maximum=MAX_CLASSES, whole=True),
    "in_channels": Number(minimum=1, maximum=MAX_CHANNELS, whole=True),
}
DROPOUT = Number(minimum=0.0, below=1.0)  # the probability of zeroing a unit; 1 would zero all


def check_options(owner: str, options: Mapping[str, Any], specs: Mapping[str, Option]) -> dict[str, Any]:
    """The checked (and normalised) options, or one-line errors naming `owner` (a model name)."""
    checked: dict[str, Any] = {}
    for key, value in options.items():
        spec = specs.get(key) if isinstance(key, str) else None
        if spec is None:
            known = sorted(k for k in specs if k not in COMMON)
            raise UnknownOptionError(
                f"model {owner!r} has no option {key!r}.{close_matches(str(key), known)} "
                f"Its options are: {', '.join(known) or 'none'}."
            )
        checked[key] = spec.check(key, value)
    return checked


_Builder = TypeVar("_Builder", bound=Callable[..., Any])


def takes(**specs: Option) -> Callable[[_Builder], _Builder]:
    """Declare the values a builder's keyword options take; calls are checked against them.

    `num_classes` and `in_channels` are checked for every builder. The specs are kept on the
    builder as `option_specs` (the registry and `cnnzoo list` read them)."""
    all_specs = {**COMMON, **specs}

    def decorate(builder: _Builder) -> _Builder:
        @functools.wraps(builder)
        def build(**kwargs: Any) -> Any:
            # build.__name__, read at call time: a builder factory may rename the builder
            return builder(**check_options(build.__name__, kwargs, all_specs))

        build.option_specs = all_specs  # type: ignore[attr-defined]
        return build  # type: ignore[return-value]

    return decorate
