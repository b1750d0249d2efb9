"""How a command declares itself: one `Command` row, and a module with two functions.

A command is a row of `cnnzoo.cli.COMMANDS`: its name, its one-line help, and the module that
holds `add_<name>_arguments(parser)` (declares its arguments) and `run_<name>(args) -> int` (does
the work). The module is imported only when its command is chosen, so `cnnzoo --help` and
`cnnzoo list` pay for no package they do not use.

A command declares every flag from the vocabulary (`cnnzoo.flags.add_flag`, `add_deprecated`,
`add_format_flags`, `add_device_flags`) and its positional arguments with `add_argument`; the CLI
adds nothing to, and takes nothing from, a parser a command has declared. `Parser` gives every
parser, sub-commands' included, one-line errors, no abbreviations and each flag's default in its
help; a command's help may end in a table that is rendered only when shown (`help_epilog`).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn


class Parser(argparse.ArgumentParser):
    """One-line errors; no abbreviations (`--option` must never be read as `--options`); the
    examples' line breaks kept. `help_epilog`, when set, renders the epilog when help is shown."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.help_epilog: Callable[[], str] | None = None

    def format_help(self) -> str:
        if self.help_epilog is not None:
            self.epilog = self.help_epilog()
        return super().format_help()

    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        print(f"cnnzoo: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


@dataclass(frozen=True)
class Command:
    """One command of `cnnzoo`: `module` defines add_<name>_arguments and run_<name>."""

    name: str
    help: str
    module: str
    note: str = ""  # said after the help in the command's own --help only

    def function(self, kind: str) -> Callable[..., Any]:
        # the command's module is imported only when the command is used (it may import torch)
        return getattr(importlib.import_module(self.module), kind.format(self.name))

    def declare(self, parser: argparse.ArgumentParser) -> None:
        self.function("add_{}_arguments")(parser)

    def run(self, args: argparse.Namespace) -> int:
        return int(self.function("run_{}")(args) or 0)
