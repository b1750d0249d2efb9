"""README.md works as written (issue #14).

Fast: every `cnnzoo ...` command the README shows (in code blocks and in the prose) parses with
today's command line, every file and link it names exists, the example pictures are what their
README says, and the activation block runs. Slow: every command block and Python block runs, in
order, in a fresh copy of the repository (the setup part of the first command excepted: it builds
the environment the tests already run in; the test command excepted: it is this suite).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
VENV = Path(sys.prefix) if (Path(sys.prefix) / "bin" / "activate").exists() else None
SETUP = "bash scripts/setup.sh && "
TEST_COMMAND = ".venv/bin/python -m pytest -q"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands() -> list[str]:
    """Every cnnzoo command line in the README: block lines and inline `cnnzoo ...` spans."""
    lines = [line.split("  #")[0].strip() for block in blocks("bash") for line in block.splitlines()]
    inline = re.findall(r"`((?:\.venv/bin/)?cnnzoo [^`]+)`", README)
    found = []
    for line in lines + inline:
        for part in line.split("&&"):
            words = shlex.split(part.strip(), comments=True)
            for i, word in enumerate(words):
                if word.endswith("cnnzoo") or word.endswith("cnnzoo\""):
                    found.append(words[i + 1:])
                    break
                if word == "-m" and i + 1 < len(words) and words[i + 1] == "cnnzoo":
                    found.append(words[i + 2:])
                    break
    return [" ".join(shlex.quote(w) for w in argv) for argv in found]


COMMANDS = commands()


def test_the_readme_has_commands_to_check():
    assert len(blocks("bash")) >= 5 and len(blocks("python")) >= 2 and len(COMMANDS) >= 25


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_parses(command, capsys):
    argv = [word for word in shlex.split(command) if word != "COMMAND"]  # `cnnzoo COMMAND --help`
    if "--help" in argv or not argv:
        with pytest.raises(SystemExit) as e:
            build_parser(only=argv[0] if argv and argv[0] != "--help" else "").parse_args(argv)
        assert e.value.code == 0
        return
    args = build_parser(only=argv[0]).parse_args(argv)
    assert args.func is not None
    err = capsys.readouterr().err
    assert "deprecated" not in err, f"the README uses an old spelling: {command}: {err}"


def test_every_file_and_link_it_names_exists():
    named = set(re.findall(r"src/cnnzoo/examples/[\w.-]+\.(?:png|jpg)", README))
    named |= set(re.findall(r"\]\(((?!https?:)[^)#]+)\)", README))
    assert named
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"README names files that are not in the repository: {missing}"


def test_no_placeholder_files_and_bench_compares_with_torchvision():
    """Every picture it names is a shipped example; `bench resnet50` gets its torchvision ratio
    (torchvision's ResNet-50 is v1.5; cnnzoo's default is the paper's v1)."""
    for placeholder in ("photo.jpg", "IMAGE.png", "cat.jpg", "shirt.jpg", "boot.png"):
        assert re.search(rf"(?<![\w/]){re.escape(placeholder)}", README) is None, placeholder
    for command in COMMANDS:
        if command.startswith("bench resnet50"):
            assert "variant=v1.5" in command, command


def test_example_pictures_are_the_sample_images_they_claim_to_be():
    import numpy as np
    from PIL import Image

    from cnnzoo.data import load_dataset

    test = load_dataset("sample", "test")
    for name, index in {"ankle_boot": 0, "shirt": 4, "sneaker": 9, "bag": 18}.items():
        pixels = np.asarray(Image.open(ROOT / "src/cnnzoo/examples" / f"{name}.png"))
        assert np.array_equal(pixels, test.images[index, 0].numpy()), name
        assert test.classes[int(test.labels[index])].lower().replace(" ", "_") == name


def fresh_copy(tmp: Path) -> Path:
    """The repository's tracked files (a fresh checkout), with the test environment as .venv."""
    copy = tmp / "cnnzoo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
                           ).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    if VENV is None:
        pytest.skip("no .venv beside the repository: README's commands name .venv")
    (copy / ".venv").symlink_to(VENV)
    return copy


def bash(script: str, cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_activation_block_runs(tmp_path):
    """The block that says how to activate the environment, run as written."""
    block = next(b for b in blocks("bash") if ". .venv/bin/activate" in b)
    result = bash(block, fresh_copy(tmp_path), 60)
    assert result.returncode == 0, result.stderr
    assert "usage: cnnzoo" in result.stdout and "examples:" in result.stdout


@pytest.mark.slow
def test_every_block_runs_as_written(tmp_path):
    copy = fresh_copy(tmp_path)
    first, *rest = blocks("bash")
    assert SETUP in first and TEST_COMMAND in first
    # the first block without building the environment (it exists) and without this suite
    first = "\n".join(line.replace(SETUP, "") for line in first.splitlines()
                      if not line.startswith(TEST_COMMAND))
    script = "set -x\n" + "\n".join([first, *rest])
    result = bash(script, copy, 1500)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    for written in ("runs/l5/results.json", "deconv.png", "top9.png", "filters.png", "maps.png",
                    "occlusion.png", "evolution.png", "claims-report/claims.html", "l5.onnx",
                    "resnet20.pt2"):
        assert (copy / written).exists(), written
    for block in blocks("python"):
        result = subprocess.run([str(copy / ".venv/bin/python"), "-c", block], cwd=copy,
                                capture_output=True, text=True, timeout=600,
                                env={**os.environ, "MPLBACKEND": "Agg"})
        assert result.returncode == 0, (block, result.stderr[-3000:])
