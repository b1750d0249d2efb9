"""User-facing errors.

Everything a user can get wrong (a name, an option, an input shape, a file) raises a subclass of
`CnnzooError` with a one-line message that says what is wrong and what to do. The CLI prints that
line and exits non-zero; anything else that escapes is a bug and keeps its traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class CnnzooError(Exception):
    """A user error: the message is one line saying what is wrong and what to do."""


class UnknownNameError(CnnzooError, KeyError):
    """An unknown model, option, layer, data set... name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class OptionError(CnnzooError, ValueError):
    """An option value a builder or command cannot take."""


class UnknownOptionError(UnknownNameError, OptionError):
    """An option name a model does not have, or a value outside an option's choices: catchable
    as an unknown name and as a bad option alike."""


class InputShapeError(CnnzooError, ValueError):
    """A tensor whose shape the network cannot take."""


class DataError(CnnzooError):
    """Missing, truncated or corrupt data."""


class CheckpointError(CnnzooError):
    """A checkpoint that is missing, corrupt or for another model."""


def close_matches(name: str, candidates: Iterable[str], n: int = 5) -> str:
    """' Did you mean a, b?' or '' — for appending to an error message."""
    candidates = list(candidates)
    matches = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    if not matches:
        matches = [c for c in candidates if name.lower() in c.lower()][:n]
    return f" Did you mean {', '.join(matches)}?" if matches else ""
