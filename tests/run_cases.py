"""Helpers shared by the tests that drive the CLI in-process or need a stopped run folder."""
from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

# A short training on the embedded sample: enough for a real run folder, cheap enough to repeat.
FAST = dict(dataset="sample", batch_size=256, quiet=True, progress=False)


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run `cnnzoo ARGS` in this process (the entry point's own code path, without paying a
    Python start-up per call; test_cli_entry_point runs the real console command)."""
    from cnnzoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:
            code = e.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def copy_run(stopped: Path, tmp_path: Path) -> Path:
    """A private copy of a run folder, for a test that may damage it."""
    copy = tmp_path / "run"
    shutil.copytree(stopped, copy)
    return copy
