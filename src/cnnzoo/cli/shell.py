"""`cnnzoo completion SHELL`: the shell code for tab completion (through argcomplete)."""
from __future__ import annotations

import argparse

from ..errors import CnnzooError


def add_completion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh", "fish", "tcsh", "powershell"),
                   help="the shell to complete in")


def run_completion(args: argparse.Namespace) -> int:
    try:
        import argcomplete  # optional: only this command needs it
    except ImportError:
        raise CnnzooError("shell completion needs argcomplete: pip install argcomplete") from None
    print(argcomplete.shellcode(["cnnzoo"], shell=args.shell))
    return 0
