"""How commands declare themselves (cnnzoo/cli/command.py) and what the CLI does with them:
every command's help renders; the CLI never touches argparse's private parts; one meaning per
flag (`--runtime` is one runtime, repeated in bench); `--resume` checks the flags against the run's
own config.json."""
from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path

import pytest

import cnnzoo
from cnnzoo.cli import COMMANDS, build_parser, main
from cnnzoo.cli.training import check_resume, config_of
from cnnzoo.train.config import TrainConfig

SRC = Path(cnnzoo.__file__).parent
CLI_MODULES = [*sorted((SRC / "cli").glob("*.py")), SRC / "flags.py", SRC / "export" / "command.py",
               SRC / "claims" / "command.py", SRC / "visualize" / "command.py",
               SRC / "visualize" / "draw" / "command.py"]
SUBCOMMANDS = [(c.name,) for c in COMMANDS] + [
    ("visualize", tool) for tool in ("deconv", "top9", "filters", "featuremaps", "occlusion",
                                     "evolution")]


def parse(argv: list[str]):
    """(namespace or None, exit status, stderr) of parsing argv as main() does."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return build_parser(only=argv[0]).parse_args(argv), 0, err.getvalue()
        except SystemExit as e:
            return None, int(e.code or 0), err.getvalue()


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=[" ".join(p) for p in SUBCOMMANDS])
def test_every_help_renders(path, capsys):
    """A help text is %-formatted by argparse: a literal '%' in a flag's help crashed
    `cnnzoo eval --help` and `predict --help` (the --precision help's '99%')."""
    with pytest.raises(SystemExit) as e:
        main([*path, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: cnnzoo {' '.join(path)}")


def test_each_command_module_declares_and_runs_its_command():
    for command in COMMANDS:
        assert callable(command.function("add_{}_arguments")), command.name
        assert callable(command.function("run_{}")), command.name


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_the_cli_uses_no_private_attribute(path):
    """Commands declare through argparse's public API; nothing reaches into a parser's `_x`."""
    tree = ast.parse(path.read_text())
    private = [f"{path.name}:{node.lineno} .{node.attr}" for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr.startswith("_")
               and not node.attr.startswith("__")]
    assert private == []


# --- one meaning per flag --------------------------------------------------------------------
def test_runtime_is_one_runtime_and_bench_takes_it_repeated():
    args, status, err = parse(["bench", "resnet20", "--runtime", "eager", "--runtime", "onnxruntime"])
    assert status == 0 and args.runtime == ["eager", "onnxruntime"] and err == ""
    args, status, _ = parse(["bench", "resnet20"])
    assert status == 0 and args.runtime is None  # every installed runtime
    args, status, _ = parse(["eval", "run", "--runtime", "onnxruntime"])
    assert status == 0 and args.runtime == "onnxruntime"


@pytest.mark.parametrize("argv", [["bench", "resnet20", "--runtime", "eager,onnxruntime"],
                                  ["eval", "run", "--runtime", "eager,onnxruntime"]])
def test_a_runtime_list_is_refused_in_one_line_naming_the_new_spelling(argv):
    _, status, err = parse(argv)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1
    assert "--runtime eager --runtime onnxruntime" in lines[0]


@pytest.mark.parametrize("argv, word", [(["eval", "run", "--runtime", "tensorrt"], "'tensorrt'"),
                                        (["bench", "resnet20", "--runtime", "auto"], "'auto'")])
def test_an_unknown_runtime_is_refused_while_parsing(argv, word):
    _, status, err = parse(argv)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and word in lines[0] and "invalid choice" in lines[0]


def test_an_old_format_word_is_refused_under_its_own_name_where_the_new_one_is_no_choice():
    _, status, err = parse(["export", "resnet20", "--format", "text"])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "invalid choice: 'text'" in lines[0]
    args, status, err = parse(["export", "resnet20", "--format", "pt2"])
    assert status == 0 and args.format == "pt2" and err == ""


# --- --resume against the run's config.json ----------------------------------------------------
def test_unset_train_flags_are_the_configs_defaults():
    """--resume tells a flag given from one left unset by TrainConfig's defaults: they must be
    the flags' defaults."""
    args, status, _ = parse(["train", "lenet5"])
    assert status == 0 and config_of(args, "lenet5") == TrainConfig(model="lenet5")


@pytest.fixture
def saved_run(tmp_path):
    from cnnzoo.io import write_json

    config = TrainConfig(model="lenet5", lr=0.01, epochs=15, seed=3, augment="none").to_json()
    write_json(tmp_path / "config.json", config)
    return tmp_path


@pytest.mark.parametrize("flags", [[], ["--epochs", "30", "--threads", "1", "--device", "cpu"],
                                   ["--lr", "0.01", "--seed", "3"], ["--augment", "none"],
                                   ["lenet5", "--dataset", "sample"]])
def test_resume_accepts_what_may_change_and_the_runs_own_values(saved_run, flags):
    model = [flags.pop(0)] if flags[:1] == ["lenet5"] else []
    args, status, err = parse(["train", *model, "--resume", str(saved_run), *flags])
    assert status == 0, err
    check_resume(args)  # no error


@pytest.mark.parametrize("flags, words", [
    (["--lr", "0.1"], "drop --lr (the run has 0.01, not 0.1)"),
    (["--seed", "4"], "--seed (the run has 3, not 4)"),
    (["--dataset", "mnist"], "--dataset"),
    (["--input", "28"], "--input"),
    (["--option", "connections=full"], "--option"),
])
def test_resume_refuses_a_flag_that_would_change_the_run(saved_run, flags, words, capsys):
    assert main(["train", "--resume", str(saved_run), *flags]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "only --device, --threads and --epochs" in lines[0]
    assert sorted(p.name for p in saved_run.iterdir()) == ["config.json"]  # nothing written
