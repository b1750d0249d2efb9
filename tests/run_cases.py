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


def reseal(folder: Path) -> None:
    """Rewrite a checkpoint folder's SHA-256s (meta.json "files") and the seal in its weights'
    header after a test edited its files on purpose, as a forger who knows the format would: the
    checks that stand behind the checksums are tested this way."""
    import json

    from safetensors.torch import load_file

    from cnnzoo.inference import checkpoint as reader
    from cnnzoo.train import checkpoint as ckpt

    meta = json.loads((folder / "meta.json").read_text())
    files = {name: reader.sha256((folder / name).read_bytes())
             for name in ("state.safetensors", "state.json") if (folder / name).exists()}
    tensors = load_file(str(folder / "model.safetensors"))
    data = ckpt.tensor_bytes(tensors, {reader.SEAL_KEY: json.dumps(reader.seal({**meta, "files": files}))})
    (folder / "model.safetensors").write_bytes(data)
    (folder / "meta.json").write_text(json.dumps({**meta, "files": {**files, "model.safetensors":
                                                                      reader.sha256(data)}}))
