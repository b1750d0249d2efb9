"""LeNet-5 against the 1998 paper (docs/paper-facts.md section 1)."""
from __future__ import annotations

import pytest
import torch

import cnnzoo
from cnnzoo.errors import OptionError
from cnnzoo.models.lenet import PartialConv2d, RBFOutput, ScaledTanh, Subsampling

# Paper Table I as printed: rows = S2 maps 0-5, columns = C3 maps 0-15.
TABLE_I = """
X . . . X X X . . X X X X . X X
X X . . . X X X . . X X X X . X
X X X . . . X X X . . X . X X X
. X X X . . X X X X . . X . X X
. . X X X . . X X X X . X X . X
. . . X X X . . X X X X . X X X
"""


def test_c3_connections_equal_table_i():
    expected = torch.tensor([[c == "X" for c in row.split()] for row in TABLE_I.strip().splitlines()])
    c3 = cnnzoo.create_model("lenet5").c3
    assert isinstance(c3, PartialConv2d)
    assert torch.equal(c3.connections(), expected)


def test_c3_unconnected_maps_do_not_influence_output():
    """Perturbing an S2 map that Table I does not wire to C3 map j leaves map j unchanged."""
    c3 = cnnzoo.create_model("lenet5").c3
    x = torch.randn(1, 6, 14, 14)
    y = c3(x)
    x2 = x.clone()
    x2[:, 3] += 5.0  # S2 map 3 feeds C3 maps 1,2,3,6,7,8,9,12,14,15 only
    changed = (c3(x2) - y).abs().flatten(2).amax(2)[0] > 0
    assert changed.tolist() == [j in (1, 2, 3, 6, 7, 8, 9, 12, 14, 15) for j in range(16)]


@pytest.mark.parametrize("layer, params", [
    ("c1", 156), ("s2", 12), ("c3", 1516), ("s4", 32), ("c5", 48120), ("f6", 10164), ("output", 0),
])
def test_per_layer_parameters(layer, params):
    model = cnnzoo.create_model("lenet5")
    assert sum(p.numel() for p in getattr(model, layer).parameters()) == params


def test_shapes_follow_the_paper():
    model = cnnzoo.create_model("lenet5")
    shapes = {}
    for name in ("c1", "s2", "c3", "s4", "c5"):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    model(torch.zeros(1, 1, 32, 32))
    assert shapes == {"c1": (6, 28, 28), "s2": (6, 14, 14), "c3": (16, 10, 10),
                      "s4": (16, 5, 5), "c5": (120, 1, 1)}


def test_scaled_tanh_constants():
    f = ScaledTanh()
    x = torch.tensor([-1.0, 0.0, 1.0, 3.0])
    torch.testing.assert_close(f(x), 1.7159 * torch.tanh(2 * x / 3))
    assert f(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=1e-4)  # f(1) = 1 by design


def test_subsampling_is_sum_times_coefficient_plus_bias():
    s = Subsampling(2)
    with torch.no_grad():
        s.weight.copy_(torch.tensor([0.5, -2.0]))
        s.bias.copy_(torch.tensor([1.0, 0.25]))
    x = torch.arange(32, dtype=torch.float32).view(1, 2, 4, 4)
    block_sums = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    expected = block_sums * torch.tensor([0.5, -2.0]).view(1, 2, 1, 1) + torch.tensor([1.0, 0.25]).view(1, 2, 1, 1)
    torch.testing.assert_close(s(x), expected)


def test_rbf_output_is_negated_squared_distance_to_fixed_codes():
    model = cnnzoo.create_model("lenet5")
    rbf = model.output
    assert isinstance(rbf, RBFOutput)
    codes = rbf.centres
    assert codes.shape == (10, 84) and set(codes.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(c.tolist()) for c in codes}) == 10  # distinct codes
    assert not any(p.requires_grad for p in rbf.parameters())
    x = torch.randn(3, 84)
    expected = -((x[:, None, :] - codes[None]) ** 2).sum(-1)
    torch.testing.assert_close(rbf(x), expected, rtol=1e-5, atol=1e-4)
    # the code of class k is the nearest centre to itself: argmax picks it
    assert rbf(codes).argmax(1).tolist() == list(range(10))


def test_paper_initialisation_bounds():
    """U(-2.4/F, 2.4/F) with F the fan-in of the unit (Appendix A)."""
    model = cnnzoo.create_model("lenet5")
    assert model.c1.weight.abs().max() <= 2.4 / 25
    assert model.c5.weight.abs().max() <= 2.4 / (16 * 25)
    assert model.f6.weight.abs().max() <= 2.4 / 120
    c3 = model.c3
    first = c3.weight[:3]  # C3 map 0 reads three S2 maps: fan-in 75
    assert first.abs().max() <= 2.4 / 75
    assert c3.weight[-6:].abs().max() <= 2.4 / 150  # map 15 reads all six


def test_modern_variant_options():
    model = cnnzoo.create_model("lenet5_modern")
    assert isinstance(model.c3, torch.nn.Conv2d) and isinstance(model.s2, torch.nn.MaxPool2d)
    assert isinstance(model.c1_act, torch.nn.ReLU) and isinstance(model.output, torch.nn.Linear)
    assert not hasattr(model, "s2_act")


def test_bad_option_value_is_one_clear_line():
    with pytest.raises(OptionError, match=r"pooling=median.*subsampling, avg, max"):
        cnnzoo.create_model("lenet5", pooling="median")


def test_rbf_head_refuses_more_than_ten_classes():
    with pytest.raises(ValueError, match="head='linear'"):
        cnnzoo.create_model("lenet5", num_classes=100)
    assert cnnzoo.create_model("lenet5", num_classes=100, head="linear")(torch.zeros(1, 1, 32, 32)).shape == (1, 100)
