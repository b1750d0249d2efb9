"""The command line as a user meets it: `python -m cnnzoo ...` in a subprocess, no terminal."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cnnzoo


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnzoo", *args], capture_output=True, text=True,
                          timeout=300)


def test_list_shows_every_model_with_numbers():
    result = run("list")
    assert result.returncode == 0, result.stderr
    for name in cnnzoo.list_models():
        assert f"\n{name} " in "\n" + result.stdout
    assert "60,000" in result.stdout  # lenet5's parameters


def test_list_json_is_machine_readable():
    result = run("list", "lenet5*", "--format", "json")
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["lenet5", "lenet5_modern"]
    assert rows[0]["params"] == 60000 and rows[0]["year"] == 1998


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unknown_command_and_bad_flag_are_one_line():
    assert "invalid choice" in _one_line_error(run("lsit"))
    assert "unrecognized arguments" in _one_line_error(run("list", "--bogus"))
    assert "--format" in _one_line_error(run("list", "--format", "xml"))


def test_no_match_is_one_line():
    assert "no model matches" in _one_line_error(run("list", "nothing*"))


def test_compare_takes_model_options(capsys):
    from cnnzoo.cli import main

    def params(*extra: str) -> int:
        assert main(["compare", "resnet18", "--format", "json", *extra]) == 0
        out = json.loads(capsys.readouterr().out)
        return next(m["params"] for m in out["models"] if m["name"] == "resnet18")

    # option A's zero-padding shortcuts have no projection weights: fewer parameters than B
    assert params("--option", "shortcut=A") < params()
    assert main(["compare", "resnet18", "lenet5", "--option", "shortcut=A"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lenet5" in err[0] and "shortcut" in err[0]


def test_list_options_names_each_models_options_and_values(capsys):
    from cnnzoo.cli import main

    assert main(["list", "resnet20", "--options"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("resnet20: ") and "shortcut=A (one of A, B, C" in out
    assert main(["list", "lenet5", "--options", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"model": "lenet5", "option": "connections", "default": "table",
            "allowed": "one of table, full"} in rows


def test_bare_visualize_prints_its_help_and_exits_0():
    result = run("visualize")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: cnnzoo visualize") and "evolution" in result.stdout


def test_missing_torchvision_weights_name_the_flag_not_the_python_argument(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cnnzoo", "predict", "--model", "resnet18",
                             "--weights", "torchvision",
                             str(Path(cnnzoo.__file__).parent / "examples" / "grace_hopper.jpg")],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TORCH_HOME": str(tmp_path)})
    line = _one_line_error(result)
    assert "--weights FILE" in line and "weights=PATH" not in line
