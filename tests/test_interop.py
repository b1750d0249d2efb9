"""from_torchvision: cnnzoo's torchvision-layout variants give torchvision's outputs (within
1e-5) for the same weights and input; weights that do not fit are named."""
from __future__ import annotations

import pytest
import torch

import cnnzoo
from cnnzoo.errors import CnnzooError

tvm = pytest.importorskip("torchvision.models")

CASES = [
    ("alexnet_tv", lambda: tvm.alexnet()),
    ("vgg16", lambda: tvm.vgg16()),
    ("vgg16_bn", lambda: tvm.vgg16_bn()),
    ("googlenet_tv", lambda: tvm.googlenet(aux_logits=False, init_weights=True)),
    ("resnet18", lambda: tvm.resnet18()),
    ("resnet50", lambda: tvm.resnet50()),
]


def _randomise_norm_statistics(model: torch.nn.Module) -> None:
    """Fresh BatchNorm layers are the identity in eval mode; random statistics make the test bite."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("name, make", CASES, ids=[c[0] for c in CASES])
@torch.no_grad()
def test_outputs_equal_torchvision(name, make):
    torch.manual_seed(0)
    theirs = make().eval()
    _randomise_norm_statistics(theirs)
    ours = cnnzoo.from_torchvision(theirs)
    assert ours.zoo_name == name
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    expected = theirs(x)
    torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_from_state_dict_with_ddp_prefix_and_explicit_name():
    theirs = tvm.resnet18(num_classes=7).eval()
    state = {f"module.{k}": v for k, v in theirs.state_dict().items()}
    ours = cnnzoo.from_torchvision(state, name="resnet18")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


def test_keys_that_do_not_fit_are_named():
    state = tvm.vgg16().state_dict()
    state["classifier.6.weight"] = torch.zeros(10, 5)
    with pytest.raises(CnnzooError, match=r"do not fit cnnzoo's vgg16: .*classifier\.6\.weight"):
        cnnzoo.from_torchvision(state, name="vgg16")
    state = tvm.resnet18().state_dict()
    state["extra.weight"] = torch.zeros(3)
    with pytest.raises(CnnzooError, match=r"extra\.weight"):
        cnnzoo.from_torchvision(state, name="resnet18")


def test_unrecognised_state_dict_says_to_pass_a_name():
    with pytest.raises(CnnzooError, match="pass name="):
        cnnzoo.from_torchvision({"foo.weight": torch.zeros(3, 3)})


@pytest.mark.parametrize("bad", [object(), None, 3, "resnet18.pth", {"fc.weight": [1.0, 2.0]},
                                 {1: torch.zeros(2)}, {}, {"features.0.weight": torch.zeros(2, 2)}])
def test_from_torchvision_refuses_non_state_dicts_with_one_line(bad):
    with pytest.raises(CnnzooError) as e:
        cnnzoo.from_torchvision(bad)
    assert "\n" not in str(e.value)


def test_from_torchvision_wrong_shapes_name_the_keys():
    state = cnnzoo.create_model("resnet18", variant="v1.5").state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    with pytest.raises(CnnzooError, match=r"layer1\.0\.conv1\.weight"):
        cnnzoo.from_torchvision(state)
