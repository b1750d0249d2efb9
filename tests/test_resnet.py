"""ResNet family: what the registry-driven tests cannot see (options, block wiring, torchvision
as an oracle). Numbers come from docs/paper-facts.md section 6 (and section 7 for torchvision's v1.5 MACs)."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import cnnzoo
from cnnzoo.errors import CnnzooError, OptionError, UnknownNameError
from cnnzoo.layers import Add
from cnnzoo.models.resnet import CIFAR_BLOCKS, BasicBlock, Bottleneck, ZeroPadShortcut, cifar_resnet, resnet
from model_cases import conv_linear_macs

CIFAR_DEPTHS = (20, 32, 44, 56, 110)  # 1202 is checked separately (big)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _blocks(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]


def _meta_macs(model: nn.Module, size: int) -> int:
    """Conv+linear MACs from PyTorch's FLOP counter, on the meta device (shapes only, no compute)."""
    return conv_linear_macs(model.eval(), torch.zeros(1, 3, size, size, device="meta"))


# --- stride position: v1 (paper / MSRA) vs v1.5 (torchvision) ----------------------------------
@pytest.mark.parametrize("depth", [50, 101])
def test_v1_strides_the_first_1x1_and_v15_the_3x3(depth):
    with torch.device("meta"):
        v1, v15 = resnet(depth), resnet(depth, variant="v1.5")
    for stage in ("layer2", "layer3", "layer4"):
        a, b = getattr(v1, stage)[0], getattr(v15, stage)[0]
        assert (a.conv1.stride, a.conv2.stride) == ((2, 2), (1, 1))
        assert (b.conv1.stride, b.conv2.stride) == ((1, 1), (2, 2))
        assert a.downsample[0].stride == b.downsample[0].stride == (2, 2)
    # no other block strides
    for model in (v1, v15):
        strided = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.stride != (1, 1)]
        assert len(strided) == 1 + 3 * 2  # conv1 + (one conv and one projection) per stage 2..4


def test_basic_blocks_stride_the_first_3x3_in_both_variants():
    with torch.device("meta"):
        for variant in ("v1", "v1.5"):
            block = resnet(18, variant=variant).layer2[0]
            assert (block.conv1.stride, block.conv2.stride) == ((2, 2), (1, 1))


@pytest.mark.parametrize("depth,v1,v15", [
    (18, "1.814G", 1_814_073_344), (34, "3.664G", 3_663_761_408), (50, "3.858G", 4_089_184_256),
    (101, "7.570G", 7_801_405_440), (152, "11.282G", 11_513_626_624)])
def test_macs_v1_and_v15(depth, v1, v15):
    with torch.device("meta"):
        got_v1 = _meta_macs(resnet(depth), 224)
        got_v15 = _meta_macs(resnet(depth, variant="v1.5"), 224)
    assert round(got_v1 / 1e9, 3) == float(v1[:-1])
    assert got_v15 == v15  # torchvision's exact count (paper-facts section 7)


# --- shortcut options ---------------------------------------------------------------------------
def test_option_a_is_parameter_free_zero_padding():
    model = cifar_resnet(20)
    pads = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert [(p.in_channels, p.out_channels, p.stride) for p in pads] == [(16, 32, 2), (32, 64, 2)]
    assert all(sum(1 for _ in p.parameters()) == 0 and not list(p.buffers()) for p in pads)
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in model.modules())

    x = torch.randn(2, 16, 7, 7)  # odd size: subsampling must agree with the stride-2 conv
    out = pads[0](x)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out[:, :16], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert (out[:, 16:] == 0).all()


def test_option_a_block_adds_the_padded_input():
    torch.manual_seed(0)
    block = cifar_resnet(20).layer2[0].eval()
    seen = {}
    block.add.register_forward_hook(lambda m, args, out: seen.update(shortcut=args[1], out=out))
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        y = block(x)
    expected = torch.cat((x[:, :, ::2, ::2], torch.zeros(2, 16, 4, 4)), 1)
    torch.testing.assert_close(seen["shortcut"], expected, rtol=0, atol=0)
    torch.testing.assert_close(y, torch.relu(seen["out"]))


def test_option_a_in_bottleneck_nets_pads_channels_without_stride():
    with torch.device("meta"):
        model = resnet(50, shortcut="A")
    first = model.layer1[0].downsample
    assert isinstance(first, ZeroPadShortcut) and (first.in_channels, first.out_channels, first.stride) == (64, 256, 1)


def test_option_b_projects_only_where_dimensions_change():
    with torch.device("meta"):
        r34, r50 = resnet(34), resnet(50)
    assert [n for n, m in r34.named_modules() if n.endswith("downsample") and m is not None] == \
        ["layer2.0.downsample", "layer3.0.downsample", "layer4.0.downsample"]
    # in bottleneck nets layer1.0 also changes dimensions (64 -> 256)
    assert sum(b.downsample is not None for b in _blocks(r50)) == 4


def test_option_c_projects_every_shortcut():
    with torch.device("meta"):
        model = resnet(34, shortcut="C")
    blocks = _blocks(model)
    assert len(blocks) == 16
    for b in blocks:
        conv, bn = b.downsample
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.bias is None
        assert isinstance(bn, nn.BatchNorm2d)


@pytest.mark.parametrize("shortcut,params", [("A", 21_623_848), ("B", 21_797_672), ("C", 22_716_840)])
def test_resnet34_parameter_counts_per_option(shortcut, params):
    with torch.device("meta"):
        assert _params(resnet(34, shortcut=shortcut)) == params


def test_resnet34_option_a_macs_equal_plain34():
    with torch.device("meta"):
        a = _meta_macs(resnet(34, shortcut="A"), 224)
        plain = _meta_macs(cnnzoo.create_model("plain34"), 224)
    assert a == plain and round(a / 1e9, 3) == 3.644


def test_shortcut_option_values():
    assert resnet(18, shortcut="b").shortcut == "B"
    assert resnet(18, shortcut=None).shortcut is None
    assert resnet(18, shortcut="none").shortcut is None
    with pytest.raises(UnknownNameError, match=r"shortcut=D.*A, B, C"):
        resnet(18, shortcut="D")
    with pytest.raises(UnknownNameError, match=r"variant=v2.*Did you mean v1"):
        cnnzoo.create_model("resnet50", variant="v2")


# --- plain twins ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["plain18", "plain34", *(f"plain{d}" for d in CIFAR_DEPTHS)])
def test_plain_nets_have_no_addition_and_no_shortcut(name):
    with torch.device("meta"):
        model = cnnzoo.create_model(name)
    assert not any(isinstance(m, (Add, ZeroPadShortcut)) for m in model.modules())
    assert all(b.downsample is None and not b.residual for b in _blocks(model))


@pytest.mark.parametrize("depth", CIFAR_DEPTHS)
def test_plain_cifar_nets_have_the_parameters_of_their_option_a_twins(depth):
    with torch.device("meta"):
        plain, res = cnnzoo.create_model(f"plain{depth}"), cnnzoo.create_model(f"resnet{depth}")
    assert _params(plain) == _params(res) == cnnzoo.model_info(f"resnet{depth}").params
    assert sum(isinstance(m, Add) for m in res.modules()) == 3 * CIFAR_BLOCKS[depth]


def test_plain34_equals_resnet34_option_a_in_parameters():
    with torch.device("meta"):
        assert _params(cnnzoo.create_model("plain34")) == _params(resnet(34, shortcut="A")) == 21_623_848


def test_every_addition_is_a_module_hooks_see():
    model = cnnzoo.create_model("resnet20").eval()
    calls = []
    for m in model.modules():
        if isinstance(m, Add):
            m.register_forward_hook(lambda *_: calls.append(1))
    assert not any(isinstance(m, nn.ReLU) and m.inplace for m in model.modules())
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert len(calls) == 9


# --- CIFAR: 6n + 2 weighted layers ---------------------------------------------------------
@pytest.mark.parametrize("depth", CIFAR_DEPTHS)
def test_cifar_resnets_have_6n_plus_2_weighted_layers(depth):
    with torch.device("meta"):
        model = cnnzoo.create_model(f"resnet{depth}")
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == depth == 6 * CIFAR_BLOCKS[depth] + 2
    assert [getattr(model, f"layer{i}")[0].conv2.out_channels for i in (1, 2, 3)] == [16, 32, 64]
    assert model.fc.out_features == 10


def test_cifar_map_sizes_32_16_8():
    model = cnnzoo.create_model("resnet20").eval()
    sizes = {}
    for i in (1, 2, 3):
        getattr(model, f"layer{i}").register_forward_hook(
            lambda m, a, out, i=i: sizes.update({i: tuple(out.shape[1:])}))
    with torch.no_grad():
        model(torch.randn(1, 3, 32, 32))
    assert sizes == {1: (16, 32, 32), 2: (32, 16, 16), 3: (64, 8, 8)}


def test_resnet1202_builds_with_the_papers_parameter_count():
    model = cnnzoo.create_model("resnet1202")  # built for real, but no forward (slow)
    assert _params(model) == 19_421_274
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()) == 1202


def test_cifar_depth_must_be_6n_plus_2():
    with pytest.raises(OptionError, match="6n\\+2"):
        cifar_resnet(21)
    with pytest.raises(OptionError, match="whole number"):
        cifar_resnet("20")


# --- torchvision as the oracle (v1.5, option B) ----------------------------------------------
@pytest.mark.parametrize("depth", [18, 50])
def test_v15_state_dict_keys_and_shapes_equal_torchvision(depth):
    ours = resnet(depth, variant="v1.5").state_dict()
    theirs = getattr(torchvision.models, f"resnet{depth}")().state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


@pytest.mark.parametrize("depth", [18, 50])
def test_v15_with_torchvision_weights_gives_torchvision_outputs(depth):
    torch.manual_seed(0)
    tv = getattr(torchvision.models, f"resnet{depth}")(num_classes=7).eval()
    ours = resnet(depth, num_classes=7, variant="v1.5").eval()
    ours.load_state_dict(tv.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x))


def test_v1_equals_torchvision_with_the_stride_moved_to_the_first_1x1():
    """The v1 bottleneck is torchvision's with conv1/conv2 strides swapped: an independent oracle."""
    torch.manual_seed(0)
    tv = torchvision.models.resnet50(num_classes=5).eval()
    for stage in (tv.layer2, tv.layer3, tv.layer4):
        stage[0].conv1.stride, stage[0].conv2.stride = (2, 2), (1, 1)
    ours = resnet(50, num_classes=5).eval()
    ours.load_state_dict(tv.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), tv(x))


# --- initialisation ------------------------------------------------------------------------------
@pytest.mark.parametrize("depth,last", [(18, "bn2"), (50, "bn3")])
def test_zero_init_residual_zeroes_the_last_bn_gamma(depth, last):
    model = resnet(depth, zero_init_residual=True)
    for block in _blocks(model):
        assert (getattr(block, last).weight == 0).all()
        assert (block.bn1.weight == 1).all()
    assert all((b.last_bn().weight == 1).all() for b in _blocks(resnet(depth)))


def test_zero_init_residual_blocks_start_as_identity_plus_relu():
    model = cifar_resnet(20, zero_init_residual=True).eval()
    block = model.layer1[1]
    x = torch.randn(2, 16, 8, 8).relu()
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)


def test_zero_init_residual_refuses_plain_nets():
    with pytest.raises(CnnzooError, match="plain net"):
        cnnzoo.create_model("plain20", zero_init_residual=True)


def test_he_init_fan_out_and_default_option():
    torch.manual_seed(0)
    w = resnet(18).conv1.weight  # 64 x 3 x 7 x 7: fan_out = 64 * 49
    assert w.std().item() == pytest.approx((2 / (64 * 49)) ** 0.5, rel=0.05)
    torch.manual_seed(0)
    w_default = resnet(18, init="default").conv1.weight  # PyTorch: U(+-1/sqrt(fan_in)) * gain
    assert w_default.abs().max().item() <= 1 / (3 * 49) ** 0.5 + 1e-6
    assert all(m.bias is None for m in resnet(18).modules() if isinstance(m, nn.Conv2d))


# --- any input size ----------------------------------------------------------------------------
@pytest.mark.parametrize("name,sizes", [("resnet18", [(1, 1), (65, 47)]), ("resnet50", [(1, 1), (33, 33)]),
                                        ("resnet20", [(1, 1), (17, 40)]), ("plain20", [(9, 9)])])
def test_any_input_size_down_to_1x1(name, sizes):
    model = cnnzoo.create_model(name, num_classes=3).eval()
    assert not cnnzoo.model_info(name).fixed_size
    with torch.no_grad():
        for h, w in sizes:
            assert model(torch.randn(1, 3, h, w)).shape == (1, 3)


# --- registry facts -----------------------------------------------------------------------------
def test_registered_top5_errors_are_the_verified_ones():
    top5 = {n: cnnzoo.model_info(n).top5_error for n in cnnzoo.list_models("resnet*")}
    assert {n: e for n, e in top5.items() if e is not None} == {"resnet50": 6.7, "resnet101": 6.1,
                                                                "resnet152": 5.7}


def test_plain_names_are_the_resnet_builders_without_shortcuts():
    assert cnnzoo.model_info("plain18").defaults == {"shortcut": "none"}
    model = cnnzoo.create_model("plain56")
    assert model.shortcut is None and model.zoo_name == "plain56"


def test_in_place_path_only_when_unobserved():
    """Unwatched blocks write ReLU and the addition in place (torchvision's speed); a hook anywhere
    in a block gets the out-of-place path: same outputs and gradients, and a hooked BatchNorm's
    output is still its own (negative values not rectified afterwards)."""
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet18", variant="v1.5").train()
    x = torch.randn(2, 3, 64, 64)
    fast = model(x)
    fast.sum().backward()
    grad = model.conv1.weight.grad.clone()
    model.zero_grad()
    seen = []
    handle = model.layer1[0].bn1.register_forward_hook(lambda m, i, o: seen.append(o))
    slow = model(x)
    slow.sum().backward()
    handle.remove()
    assert torch.equal(fast, slow) and torch.allclose(grad, model.conv1.weight.grad)
    assert (seen[0] < 0).any()


def test_stem_relu_in_place_only_when_unobserved():
    """The stem's ReLU is written in place like torchvision's, unless a hook watches bn1 (its
    output must stay its own) or the ReLU: same outputs either way."""
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet18", variant="v1.5").eval()
    x = torch.randn(1, 3, 32, 32)
    fast = model(x)
    seen = []
    handle = model.bn1.register_forward_hook(lambda m, i, o: seen.append(o))
    slow = model(x)
    handle.remove()
    assert torch.equal(fast, slow) and (seen[0] < 0).any()


@pytest.mark.parametrize("where", ["stem", "block"])
def test_replaced_activation_is_called_not_written_out(where):
    """A ReLU replaced by another activation is called (the in-place path only reproduces ReLU):
    the output equals the one computed step by step with a hook forcing the watched path."""
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet18", variant="v1.5").eval()
    if where == "stem":
        model.relu = nn.GELU()
    else:
        model.layer1[0].relu1 = nn.GELU()
    x = torch.randn(1, 3, 32, 32)
    out = model(x)
    handle = nn.modules.module.register_module_forward_hook(lambda m, i, o: None)  # watches all
    try:
        watched = model(x)
    finally:
        handle.remove()
    assert torch.equal(out, watched)
