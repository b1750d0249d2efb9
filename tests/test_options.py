"""The one option helper (cnnzoo.options): parsing, per-builder checks, and the CLI's one-line errors.

Driven by the registry: every declared option of every model gets a bad value, so a model
registered tomorrow is covered the moment it lands."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.errors import CnnzooError, OptionError, UnknownNameError, UnknownOptionError
from cnnzoo.limits import MAX_CHANNELS, MAX_CLASSES
from cnnzoo.options import Choice, Flag, Number, parse_options, parse_value
from cnnzoo.registry import builder_options, option_specs


def _bad_values(spec) -> list[str]:
    """Text values the option must refuse, as a user would type them after KEY=."""
    if isinstance(spec, Choice):
        return ["wide_bogus", "true"] if not any(isinstance(v, bool) for v in spec.values) else ["x"]
    if isinstance(spec, Flag):
        return ["maybe", "2"]
    if isinstance(spec, Number):
        too_big = spec.maximum if spec.maximum is not None else spec.below
        out = ["nan", "abc"]
        if too_big is not None:
            out.append(str(too_big + 1))
        return out
    raise AssertionError(f"no bad values known for {spec!r}")


CASES = [(name, key, bad) for name in cnnzoo.list_models()
         for key, spec in option_specs(name).items() for bad in _bad_values(spec)]


def test_every_builder_option_is_declared():
    # an option missing from @takes would reach the builder unchecked
    for name in cnnzoo.list_models():
        assert set(option_specs(name)) == set(builder_options(name)), name


@pytest.mark.parametrize("name,key,bad", CASES)
def test_bad_option_is_one_line_through_the_cli(name, key, bad, capsys):
    assert main(["summary", name, "--option", f"{key}={bad}"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("cnnzoo: error:") and key in err
    assert "Traceback" not in err


# train: every declared option of every model, with its first bad value
TRAIN_CASES = sorted({(name, key): bad for name, key, bad in reversed(CASES)}.items())


@pytest.mark.parametrize("name_key,bad", TRAIN_CASES)
def test_bad_option_through_train_is_one_line(name_key, bad, tmp_path, capsys):
    name, key = name_key
    code = main(["train", name, "--option", f"{key}={bad}", "--epochs", "1",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.count("\n") == 0 and key in err, err
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_same_bad_init_raises_the_same_class_in_every_family():
    kinds = set()
    for name in cnnzoo.list_models():
        with pytest.raises(CnnzooError) as e:
            cnnzoo.create_model(name, init="bogus")
        kinds.add(type(e.value))
    assert kinds == {UnknownOptionError}
    assert issubclass(UnknownOptionError, UnknownNameError) and issubclass(UnknownOptionError, OptionError)


def test_unknown_option_names_close_matches():
    with pytest.raises(UnknownNameError, match=r"no option 'inceptoin'.*Did you mean inception"):
        cnnzoo.create_model("googlenet", inceptoin="naive")


@pytest.mark.parametrize("text,value", [("true", True), ("False", False), ("none", None), ("3", 3),
                                        ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("v1.5", "v1.5"),
                                        ("nan", "nan"), ("inf", "inf"), ("1_000", "1_000"), ("A", "A")])
def test_parse_value(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


@pytest.mark.parametrize("pairs", [["shortcut"], ["=A"], ["a b=1"], ["x=1", "x=2"], [3]])
def test_parse_options_refuses_malformed_pairs(pairs):
    with pytest.raises(OptionError):
        parse_options(pairs)


def test_choices_normalise_case_and_none():
    assert cnnzoo.create_model("resnet20", shortcut="b").zoo_options == {"shortcut": "B"}
    assert cnnzoo.create_model("resnet20", shortcut="None").shortcut is None


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(), max_size=2), st.binary(max_size=4))


@settings(max_examples=60, deadline=None)
@given(name=st.one_of(_ANY, st.sampled_from(["lenet6", "resnet", ""])))
def test_create_model_bad_names_are_cnnzoo_errors(name):
    with pytest.raises(CnnzooError):
        cnnzoo.create_model(name)


def _buildable_size(value, top):
    """What cnnzoo.checks.integer accepts: a whole number (an int, or a float with a whole value
    such as 1.0, which it converts) within [1, top]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return False
    return 1 <= value <= top


_BAD_CLASSES = _ANY.filter(lambda v: v is not None and not _buildable_size(v, MAX_CLASSES))
_BAD_CHANNELS = _ANY.filter(lambda v: v is not None and not _buildable_size(v, MAX_CHANNELS))


@settings(max_examples=60, deadline=None)
@given(num_classes=_BAD_CLASSES, in_channels=st.one_of(st.none(), _BAD_CHANNELS))
def test_create_model_bad_sizes_are_cnnzoo_errors(num_classes, in_channels):
    with pytest.raises(OptionError, match="num_classes"):
        cnnzoo.create_model("resnet20", num_classes=num_classes, in_channels=in_channels)
    with pytest.raises(OptionError, match="in_channels"):
        cnnzoo.create_model("lenet5", in_channels=num_classes)


@settings(max_examples=80, deadline=None)
@given(name=st.sampled_from(["lenet5", "resnet20"]),
       key=st.sampled_from(["init", "dropout", "head", "pooling", "shortcut", "zero_init_residual", "bogus"]),
       value=_ANY)
def test_create_model_any_option_value_builds_or_is_a_cnnzoo_error(name, key, value):
    spec = option_specs(name).get(key)
    try:
        expected = spec.check(key, value) if spec else CnnzooError
    except CnnzooError:
        expected = CnnzooError
    if expected is CnnzooError:
        with pytest.raises(CnnzooError):  # never a raw TypeError/ValueError/KeyError
            cnnzoo.create_model(name, **{key: value})
    else:
        assert cnnzoo.create_model(name, **{key: value}).zoo_options[key] == expected
