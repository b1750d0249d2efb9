"""Validation of user-given values, in one place.

Every number or size a user gives (a CLI flag, a model option, a TrainConfig field, a value read
from a run folder's JSON) is checked here, so a NaN learning rate, a count of 0 or an input size of
`3,,32` is refused up front with one line that names the value and says what it must be, before
anything is written. The helpers return the checked value, so callers write
`lr = checks.positive_float("--lr", lr)`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .errors import OptionError


def _is_int(value: Any) -> bool:
    # bool is an int to Python, never to a user: `num_classes=True` is a mistake
    return isinstance(value, int) and not isinstance(value, bool)


def integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number within [minimum, maximum] (either bound optional)."""
    if not _is_int(value):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        else:
            raise OptionError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise OptionError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise OptionError(f"{name} must be at most {maximum}, got {value}")
    return value


def positive_int(name: str, value: Any, *, maximum: int | None = None) -> int:
    """A whole number >= 1 (counts, sizes, batch sizes, epochs)."""
    return integer(name, value, minimum=1, maximum=maximum)


def real(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
         above: float | None = None, below: float | None = None) -> float:
    """A finite number within bounds: minimum/maximum inclusive, above/below exclusive."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise OptionError(f"{name} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise OptionError(f"{name} must be at least {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise OptionError(f"{name} must be at most {maximum:g}, got {value:g}")
    if above is not None and value <= above:
        raise OptionError(f"{name} must be greater than {above:g}, got {value:g}")
    if below is not None and value >= below:
        raise OptionError(f"{name} must be less than {below:g}, got {value:g}")
    return value


def text(name: str, value: Any, *, optional: bool = False) -> Any:
    """A non-empty string (a path, a model or layer name, a list of ids). An empty one is refused
    rather than read as "not given"; None passes when `optional`."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise OptionError(f"{name} must be text, got {type(value).__name__} {value!r}"[:200])
    if not value.strip():
        raise OptionError(f"{name} must not be empty")
    if "\0" in value:
        raise OptionError(f"{name} must not contain a NUL character")
    return value


def positive_float(name: str, value: Any, *, maximum: float | None = None) -> float:
    """A finite number > 0 (learning rates, scales)."""
    return real(name, value, above=0.0, maximum=maximum)


def int_list(name: str, text: str | Sequence[Any], *, length: int | None = None,
             minimum: int | None = 1) -> tuple[int, ...]:
    """'3,224,224' (or a sequence) as whole numbers; empty fields and non-numbers are refused."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    values = []
    for part in parts:
        if isinstance(part, str):
            part = part.strip()
            if not part or not part.lstrip("-").isdigit():
                raise OptionError(f"{name} takes comma-separated whole numbers, got {text!r}")
            part = int(part)
        values.append(integer(name, part, minimum=minimum))
    if length is not None and len(values) != length:
        raise OptionError(f"{name} takes {length} comma-separated numbers, got {text!r}")
    return tuple(values)
