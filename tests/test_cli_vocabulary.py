"""One vocabulary across subcommands (issue #14) and numbers checked before anything runs (#11).

Every flag of every (sub)command must be declared from cnnzoo.flags.FLAGS (same name, same validator), old
spellings must keep working with a one-line notice, and a bad number must be one line on stderr
and exit status 2 while the command line is parsed: nothing runs, no folder is created.
"""
from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator

import pytest

from cnnzoo import cli
from cnnzoo.cli import build_parser
from cnnzoo.flags import DEPRECATED, FLAGS

Parsers = Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Parsers:
    """Every parser of the command line with its path, e.g. ('visualize', 'occlusion')."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


PARSERS = list(walk(build_parser()))
LEAVES = [(path, p) for path, p in PARSERS
          if path and not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)]


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings
            and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


def minimal_argv(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with placeholders for what it requires (positionals and required flags)."""
    argv = list(path)
    for a in parser._actions:
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction) and a.nargs in (None, "+"):
            argv.append("x")
        elif a.option_strings and a.required:
            argv += [a.option_strings[0], "x"]
    return argv


def parse(argv: list[str]) -> tuple[argparse.Namespace | None, int, str]:
    """(namespace or None, exit status, stderr) of parsing argv the way main() does."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return build_parser(only=argv[0]).parse_args(argv), 0, err.getvalue()
        except SystemExit as e:
            return None, int(e.code or 0), err.getvalue()


def test_every_command_is_reachable_and_has_flags():
    names = {path for path, _ in LEAVES}
    for command in ("list", "summary", "compare", "train", "eval", "predict", "completion"):
        assert (command,) in names
    for tool in ("deconv", "top9", "filters", "featuremaps", "occlusion", "evolution"):
        assert ("visualize", tool) in names


@pytest.mark.parametrize("path,parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_flag_is_drawn_from_the_table(path, parser):
    for action in options(parser):
        vocabulary = getattr(action, "vocabulary", None)
        assert vocabulary, f"{' '.join(path)} {action.option_strings}: not declared from cnnzoo.flags.FLAGS"
        if vocabulary.startswith("deprecated:"):
            old = DEPRECATED[vocabulary.split(":", 1)[1]]
            assert action.option_strings == [old.name] and action.help == argparse.SUPPRESS
            continue
        flag = FLAGS[vocabulary]
        assert action.option_strings == [flag.name]
        assert action.type is flag.type, f"{flag.name} in {' '.join(path)} has its own validator"


def test_one_concept_one_name():
    """The spellings issue #14 found for one concept are gone from every parser's visible flags."""
    visible = {s for _, p in LEAVES for a in options(p) if a.help != argparse.SUPPRESS
               for s in a.option_strings}
    for old in ("--num-channels", "--count", "--confusion", "--image-size", "--json", "--no-augment"):
        assert old not in visible
    for concept in ("--top", "--out", "--input", "--format", "--device", "--threads", "--option"):
        assert concept in visible


def test_tensor_commands_take_device_and_threads():
    for path, parser in LEAVES:
        if path[0] in ("train", "eval", "predict") or path[:1] == ("visualize",) and path[1] != "evolution":
            flags = {s for a in options(parser) for s in a.option_strings}
            assert {"--device", "--threads"} <= flags, path


def host(flag: str, deprecated: bool = False) -> tuple[tuple[str, ...], argparse.ArgumentParser]:
    """The first (sub)command that declares `flag`."""
    for path, parser in LEAVES:
        for a in options(parser):
            if flag in a.option_strings and (getattr(a, "vocabulary", "").startswith("deprecated:") == deprecated):
                return path, parser
    raise AssertionError(f"no command declares {flag}")


@pytest.mark.parametrize("key", sorted(DEPRECATED))
def test_each_old_spelling_works_and_warns(key):
    old = DEPRECATED[key]
    path, parser = next((p, q) for p, q in LEAVES
                        if (old.command is None or old.command in p)
                        and any(getattr(a, "vocabulary", "") == f"deprecated:{key}" for a in options(q)))
    base = minimal_argv(path, parser)
    value = [] if old.value is not None else ["7"]
    args, status, err = parse([*base, old.name, *value])
    assert status == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "deprecated" in lines[0] and old.replacement in lines[0]
    stored = getattr(args, old.dest)
    if not old.replacement.startswith("--"):
        return  # a flag that has no effect any more: accepted with the notice, nothing replaces it
    new_args, status, new_err = parse([*base, *old.replacement.split(), *value])
    assert status == 0 and new_err == "", new_err
    assert stored == getattr(new_args, old.dest)


def test_bare_augment_is_the_old_switch():
    args, status, err = parse(["train", "lenet5", "--augment"])
    assert status == 0 and args.augment is True and "deprecated" in err
    args, status, err = parse(["train", "lenet5", "--augment", "crop"])
    assert status == 0 and args.augment == "crop" and err == ""


# The examples from issues #11 and #14: one line, exit 2, before anything runs.
BAD = [
    ["train", "lenet5", "--lr", "nan"], ["train", "lenet5", "--lr", "inf"],
    ["train", "lenet5", "--lr", "-0.1"], ["train", "lenet5", "--weight-decay", "nan"],
    ["train", "lenet5", "--epochs", "0"], ["train", "lenet5", "--seed", str(2**64)],
    ["train", "lenet5", "--augment", "crop,crop"], ["train", "lenet5", "--image-size", "-4"],
    ["predict", "run", "x.png", "--top", "0"], ["predict", "run", "x.png", "--top", "-3"],
    ["visualize", "occlusion", "--model", "lenet5", "--image", "x.png", "--size", "0"],
    ["visualize", "occlusion", "--model", "lenet5", "--image", "x.png", "--stride", "0"],
    ["visualize", "featuremaps", "--model", "lenet5", "--image", "x.png", "--layer", "c1",
     "--limit", "-1"],
    ["visualize", "evolution", "run", "--count", "-5"],
    ["visualize", "top9", "--model", "lenet5", "--layer", "c1", "--limit", "0"],
    ["summary", "lenet5", "--input", "3,,32"], ["summary", "lenet5", "--input", "3,0,32"],
    ["summary", "lenet5", "--input", "1,2,3,4"], ["eval", "run", "--batch-size", "-1"],
    ["eval", "run", "--threads", "0"], ["train", "lenet5", "--device", "gpu"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_numbers_are_one_line_exit_2_and_write_nothing(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "error" in line]) == 1 and err[-1].startswith("cnnzoo: error: ")
    assert list(tmp_path.iterdir()) == []


# --- property-based: any text for any validated flag parses or is refused in one line ------------
def _validated_flags() -> list[tuple[str, list[str]]]:
    cases = []
    for name, flag in FLAGS.items():
        if flag.type is None and flag.choices is None:
            continue
        path, parser = host(name)
        cases.append((name, minimal_argv(path, parser)))
    return cases


VALIDATED = _validated_flags()


def check_any_value(flag: str, base: list[str], text: str) -> None:
    args, status, err = parse([*base, f"{flag}={text}"])
    if status == 0:
        assert args is not None and err == ""
        return
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnzoo: error: "), err
    assert "Traceback" not in err


def _property_test(max_examples: int):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    numbers = st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["nan", "inf", "-inf", "0", "-0", "1e309", "3,,32", "", " ", "1,2", "all",
                         "0x10", "1_000", "٣", "3,224,224", "crop,flip", "cuda:x", "None"]),
        st.text(max_size=12),
    )

    @settings(max_examples=max_examples)
    @given(case=st.sampled_from(VALIDATED), text=numbers)
    def run(case, text):
        check_any_value(case[0], case[1], text)

    return run


def test_cli_numbers_property_quick():
    _property_test(200)()


@pytest.mark.slow
def test_cli_numbers_property_10k():
    _property_test(10_000)()


# --- no abbreviations: a prefix of a long flag is refused, never read as the longer flag -------
def test_every_parser_refuses_abbreviations():
    for path, parser in PARSERS:
        assert parser.allow_abbrev is False, " ".join(path) or "cnnzoo"
    # `--option` is a prefix of `--options`: on list it must be refused, not read as --options
    args, status, err = parse(["list", "resnet20", "--option", "shortcut=A"])
    assert status == 2 and "unrecognized arguments: --option" in err
    args, status, err = parse(["train", "lenet5", "--epoch", "3"])
    assert status == 2 and "--epoch" in err


def test_bench_batch_size_is_the_name_and_batch_the_old_spelling():
    args, status, err = parse(["bench", "resnet20", "--batch-size", "4"])
    assert status == 0 and args.batch_size == 4 and err == ""
    args, status, err = parse(["bench", "resnet20", "--batch", "4"])
    assert status == 0 and args.batch_size == 4
    assert err.strip() == ("cnnzoo: warning: --batch is deprecated and will be removed in the next "
                           "release; write --batch-size")
    args, status, err = parse(["export", "resnet20", "--batch", "dynamic"])
    assert status == 0 and args.batch == "dynamic" and err == ""  # export's own concept


def test_export_and_bench_help_say_they_run_on_the_cpu_and_what_batch_means(capsys):
    for command in ("export", "bench"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        out = capsys.readouterr().out
        assert "on the CPU" in out, command
    assert "batch dimension" in FLAGS["--batch"].help and "--batch-size" in FLAGS["--batch"].help


def test_visualize_format_is_table_or_json_with_text_deprecated():
    base = ["visualize", "filters", "--model", "lenet5"]
    args, status, err = parse([*base, "--format", "table"])
    assert status == 0 and args.format == "table" and err == ""
    args, status, err = parse(base)
    assert args.format == "table"
    args, status, err = parse([*base, "--format", "text"])
    assert status == 0 and args.format == "table"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "deprecated" in lines[0] and "--format table" in lines[0]
