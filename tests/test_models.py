"""Registry-driven tests: every registered model is held to its ModelInfo (the docs/paper-facts.md numbers),
runs forward and backward, matches its golden output, survives torch.export, and rejects input it
cannot take with a ValueError that says what to do. A model is covered the moment it registers."""
from __future__ import annotations

import json

import pytest
import torch

import cnnzoo
from cnnzoo.errors import InputShapeError, UnknownNameError
from cnnzoo.protocols import CountsOwnMacs
from model_cases import conv_linear_macs, golden_output, golden_path, reference_input, seeded_model

ALL = cnnzoo.list_models()
# Networks whose forward+backward and export at the reference input take several seconds each on
# 2 cores: the default run checks their counts, golden outputs and errors; `-m slow` runs the rest.
HEAVY = {n for n in ALL if (cnnzoo.model_info(n).macs or 0) > 3e9} | {"resnet1202"}
LIGHT = [n for n in ALL if n not in HEAVY]


def _on_meta(name):
    """The model with meta tensors: shapes and counts without memory or arithmetic."""
    with torch.device("meta"):
        return cnnzoo.create_model(name)


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", [n for n in ALL if cnnzoo.model_info(n).params])
def test_parameter_count_matches_specs(name):
    model = _on_meta(name)
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert count == cnnzoo.model_info(name).params


@pytest.mark.parametrize("name", [n for n in ALL if cnnzoo.model_info(n).macs])
def test_macs_match_specs(name):
    info = cnnzoo.model_info(name)
    model = _on_meta(name).eval()
    if any(isinstance(m, CountsOwnMacs) for m in model.modules()):
        # PyTorch's counter sees LeNet-5's C3 as a dense conv; its own count is the summary's
        assert cnnzoo.summary(name).total_macs == info.macs
        return
    macs = conv_linear_macs(model, reference_input(name).to("meta"))
    assert macs == pytest.approx(info.macs, rel=info.macs_tolerance)


@pytest.mark.parametrize("name", [n for n in ALL if cnnzoo.model_info(n).computed])
def test_computed_figures_equal_the_summary(name):
    info = cnnzoo.model_info(name)
    assert info.computed <= {"params", "macs"}
    s = cnnzoo.summary(name)
    if "params" in info.computed:
        assert s.total_params == info.params
    if "macs" in info.computed:
        assert s.total_macs == info.macs


def test_every_model_has_params_and_macs():
    # `cnnzoo list` shows no blanks: a figure is the paper's or marked computed
    assert [n for n in ALL if not (cnnzoo.model_info(n).params and cnnzoo.model_info(n).macs)] == []


def _forward_backward(name):
    info = cnnzoo.model_info(name)
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).train()
    x = reference_input(name, batch=2)
    out = model(x)
    outputs = out if isinstance(out, tuple) else (out,)
    for o in outputs:
        assert o.shape == (2, info.num_classes)
        assert torch.isfinite(o).all()
    sum(o.float().pow(2).mean() for o in outputs).backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all()
                                       or p.grad.abs().sum() == 0)]
    assert not no_grad, f"parameters without a gradient: {no_grad[:10]}"


@pytest.mark.parametrize("name", LIGHT)
def test_forward_backward_every_parameter_learns(name):
    _forward_backward(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEAVY & set(ALL)))
def test_forward_backward_heavy(name):
    _forward_backward(name)


@pytest.mark.parametrize("name", [n for n in ALL if n not in HEAVY])
def test_golden_output(name):
    _check_golden(name)


# resnet1202's eval-mode output from fresh BatchNorm statistics overflows to NaN (see
# _calibrate_batch_norm): no golden can pin it; its parameter count and export are tested instead.
NO_GOLDEN = {"resnet1202"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEAVY - NO_GOLDEN))
def test_golden_output_heavy(name):
    _check_golden(name)


def test_every_golden_file_belongs_to_a_model():
    # a golden file nobody compares is dead weight; one per registered model, no more
    assert {p.stem for p in golden_path(ALL[0]).parent.glob("*.json")} == set(ALL) - NO_GOLDEN


def _check_golden(name):
    path = golden_path(name)
    assert path.exists(), f"no golden file for {name}: run tests/update_golden.py {name} on purpose"
    expected = json.loads(path.read_text())["output"]
    got = golden_output(name)
    scale = max(abs(v) for v in expected[:-1]) + 1e-12
    assert got[:-1] == pytest.approx(expected[:-1], rel=1e-4, abs=1e-4 * scale)


def _calibrate_batch_norm(model, name):
    """Give BatchNorm running statistics from one batch, as any use of the net would. Fresh
    statistics (mean 0, var 1) let the residual stream of resnet1202 grow 2x a block in eval mode
    until it overflows: the untrained paper network, not an export problem."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if norms:
        for m in norms:
            m.momentum = None  # cumulative average: this one batch
        model.train()
        with torch.no_grad():
            model(reference_input(name, batch=2, seed=1))
    model.eval()


def _export_round_trip(name):
    model = seeded_model(name)
    _calibrate_batch_norm(model, name)
    x = reference_input(name, batch=1)
    with torch.no_grad():
        expected = model(x)
        assert torch.isfinite(expected).all()
        program = torch.export.export(model, (x,))
        got = program.module()(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", LIGHT)
def test_survives_torch_export(name):
    _export_round_trip(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEAVY))
def test_survives_torch_export_heavy(name):
    _export_round_trip(name)


@pytest.mark.parametrize("name", LIGHT)
def test_eval_output_is_plain_logits(name):
    """No auxiliary outputs at evaluation time (GoogLeNet's aux heads are training-only)."""
    model = seeded_model(name).eval()
    with torch.no_grad():
        out = model(reference_input(name, batch=1))
    assert isinstance(out, torch.Tensor)


@pytest.mark.parametrize("name", ALL)
def test_wrong_channel_count_says_what_to_do(name):
    info = cnnzoo.model_info(name)
    model = _on_meta(name).eval()
    c, h, w = info.input_size
    with pytest.raises(InputShapeError) as err:
        model(torch.zeros(1, c + 1, h, w))
    msg = str(err.value)
    assert name in msg and f"{c + 1} channels" in msg and "in_channels" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("name", [n for n in ALL if cnnzoo.model_info(n).fixed_size])
def test_fixed_size_models_reject_other_sizes(name):
    info = cnnzoo.model_info(name)
    c, h, w = info.input_size
    model = _on_meta(name).eval()
    with pytest.raises(ValueError) as err:
        model(torch.zeros(1, c, h - 4, w - 4))
    msg = str(err.value)
    assert name in msg and f"{h}" in msg and f"{h - 4}x{w - 4}" in msg


def test_lenet5_given_28x28_says_pad_to_32():
    model = cnnzoo.create_model("lenet5")
    with pytest.raises(ValueError, match=r"lenet5 .*32 x 32.*28x28.*pad 28x28 digits to 32x32"):
        model(torch.zeros(1, 1, 28, 28))


def test_unknown_model_names_close_matches():
    with pytest.raises(UnknownNameError, match=r"unknown model 'lenet6'.*Did you mean lenet5"):
        cnnzoo.create_model("lenet6")
    with pytest.raises(KeyError):  # still a KeyError for code that expects one
        cnnzoo.model_info("lenet")


def test_unknown_option_names_close_matches():
    with pytest.raises(UnknownNameError, match=r"no option 'pool'.*Did you mean pooling"):
        cnnzoo.create_model("lenet5", pool="max")


def test_registry_refuses_duplicate_names():
    from cnnzoo.registry import register
    info = cnnzoo.model_info("lenet5")
    with pytest.raises(ValueError, match="already registered"):
        register(info, lambda **kw: None)


def test_list_models_pattern_and_order():
    assert cnnzoo.list_models("lenet5*") == ["lenet5", "lenet5_modern"]
    assert len(set(ALL)) == len(ALL)


def test_num_classes_and_in_channels_are_honoured():
    model = cnnzoo.create_model("lenet5_modern", num_classes=7, in_channels=3)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    with pytest.raises(ValueError, match="num_classes"):
        cnnzoo.create_model("lenet5_modern", num_classes=0)


def test_hooks_are_the_protocols_and_only_where_documented():
    from cnnzoo import protocols as p
    from cnnzoo.models.lenet import PartialConv2d, RBFOutput

    with torch.device("meta"):
        zf, gn, rn, le = (cnnzoo.create_model(n) for n in ("zfnet", "googlenet", "resnet20", "lenet5"))
    assert isinstance(zf, p.FilterRenormalizing) and not isinstance(rn, p.FilterRenormalizing)
    assert isinstance(gn, p.AuxiliaryLoss) and gn.aux_loss_weight == 0.3
    assert not isinstance(zf, p.AuxiliaryLoss)
    lenet_layers = [m for m in le.modules() if isinstance(m, p.CountsOwnMacs)]
    assert {type(m) for m in lenet_layers} == {PartialConv2d, RBFOutput}
    assert [type(m) for m in le.modules() if isinstance(m, p.HasDenseWeight)] == [PartialConv2d]
    assert all(isinstance(m, p.RegisteredModel) and m.zoo_name for m in (zf, gn, rn, le))
