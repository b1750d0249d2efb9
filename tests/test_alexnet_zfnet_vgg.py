"""AlexNet, ZFNet and VGG against their papers and docs/paper-facts.md sections 2-4.

Shape and count checks build the models on the meta device (no memory, no arithmetic), so the
whole file runs in seconds even for VGG-19.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnzoo
from cnnzoo.errors import InputShapeError, OptionError
from cnnzoo.models.vgg import CONFIGS

MINE = ["alexnet", "alexnet_tv", "zfnet", "zfnet_wide", "vgg11", "vgg11_lrn", "vgg13", "vgg16c",
        "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def meta_model(name: str, **options) -> nn.Module:
    with torch.device("meta"):
        return cnnzoo.create_model(name, **options).eval()


def output_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Per-sample output shape of every named child, from one forward."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, module in model.named_children():
        module.register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    model(x)
    return shapes


def macs(model: nn.Module, x: torch.Tensor) -> int:
    """Conv + linear multiply-accumulates per sample, by PyTorch's own FLOP counter."""
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    counts = counter.get_flop_counts()["Global"]
    return sum(n for op, n in counts.items()
               if str(op).split(".")[1] in ("convolution", "addmm", "mm")) // 2 // x.shape[0]


def meta_input(size: int) -> torch.Tensor:
    return torch.zeros(1, 3, size, size, device="meta")


def hand_lrn(a: torch.Tensor, k=2.0, n=5, alpha=1e-4, beta=0.75) -> torch.Tensor:
    """AlexNet Sec. 3.3 written out: b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2)^beta,
    the sum over the channels that exist."""
    channels = a.shape[1]
    out = torch.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        out[:, i] = a[:, i] / (k + alpha * (a[:, lo:hi + 1] ** 2).sum(1)) ** beta
    return out


# ---------------------------------------------------------------- AlexNet (docs/paper-facts.md section 2)

def test_alexnet_shapes_follow_the_paper():
    shapes = output_shapes(meta_model("alexnet"), meta_input(227))
    assert shapes["conv1"] == (96, 55, 55)
    assert shapes["pool1"] == (96, 27, 27)
    assert shapes["conv2"] == (256, 27, 27)
    assert shapes["pool2"] == (256, 13, 13)
    assert [shapes[f"conv{i}"] for i in (3, 4, 5)] == [(384, 13, 13), (384, 13, 13), (256, 13, 13)]
    assert shapes["pool5"] == (256, 6, 6)
    assert shapes["flatten"] == (9216,)
    assert shapes["fc6"] == shapes["fc7"] == (4096,) and shapes["fc8"] == (1000,)


def test_alexnet_groups_on_exactly_conv2_conv4_conv5():
    model = meta_model("alexnet")
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert {n: m.groups for n, m in convs.items()} == {
        "conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    # The paper's kernel depths: 11x11x3, 5x5x48, 3x3x256, 3x3x192, 3x3x192
    assert [tuple(m.weight.shape[1:]) for m in convs.values()] == [
        (3, 11, 11), (48, 5, 5), (256, 3, 3), (192, 3, 3), (192, 3, 3)]
    dense = meta_model("alexnet", towers=1)
    assert all(m.groups == 1 for m in dense.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("layer, params", [
    ("conv1", 34_944), ("conv2", 307_456), ("conv3", 885_120), ("conv4", 663_936),
    ("conv5", 442_624), ("fc6", 37_752_832), ("fc7", 16_781_312), ("fc8", 4_097_000),
])
def test_alexnet_per_layer_parameters(layer, params):
    model = meta_model("alexnet")
    assert sum(p.numel() for p in getattr(model, layer).parameters()) == params


def test_alexnet_grouped_convolution_keeps_towers_apart():
    """conv2 output maps 0-127 read only conv1 maps 0-47 (GPU 1), maps 128-255 only 48-95."""
    torch.manual_seed(0)
    conv2 = cnnzoo.create_model("alexnet").conv2
    x = torch.randn(1, 96, 27, 27)
    y = conv2(x)
    x2 = x.clone()
    x2[:, :48] += 1.0  # disturb GPU 1's maps only
    changed = (conv2(x2) - y).abs().flatten(2).amax(2)[0] > 0
    assert changed[:128].all() and not changed[128:].any()


def test_alexnet_dense_option_counts():
    model = meta_model("alexnet", towers=1)
    assert sum(p.numel() for p in model.parameters()) == 62_378_344
    assert round(macs(model, meta_input(227)) / 1e6) == 1135  # paper-facts: 1.135 GMACs


def test_alexnet_rejects_224_with_the_arithmetic():
    model = cnnzoo.create_model("alexnet").eval()
    with pytest.raises(InputShapeError) as err:
        model(torch.zeros(1, 3, 224, 224))
    msg = str(err.value)
    assert "AlexNet's arithmetic needs 227x227: 224 with stride 4 and no padding does not give 55" in msg
    assert "alexnet_tv" in msg and "\n" not in msg


def test_alexnet_options_are_checked():
    with pytest.raises(OptionError, match="towers"):
        cnnzoo.create_model("alexnet", towers=3)
    with pytest.raises(OptionError, match="init"):
        cnnzoo.create_model("alexnet", init="he")


def test_alexnet_paper_initialisation():
    torch.manual_seed(0)
    model = cnnzoo.create_model("alexnet")
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        layer = getattr(model, name)
        expected = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0
        assert torch.equal(layer.bias, torch.full_like(layer.bias, expected)), name
        assert layer.weight.mean().abs() < 2e-3, name
    # fc6 has 37.7M weights: its sample std pins the N(0, 0.01) down to well under 1%
    assert model.fc6.weight.std().item() == pytest.approx(0.01, rel=0.01)
    assert model.conv1.weight.std().item() == pytest.approx(0.01, rel=0.05)
    torch.manual_seed(0)
    default = cnnzoo.create_model("alexnet", init="default")
    assert not torch.equal(default.conv2.bias, torch.ones_like(default.conv2.bias))


def test_alexnet_dropout_on_the_outputs_of_fc6_and_fc7():
    names = [n for n, _ in meta_model("alexnet").named_children()]
    assert names[names.index("fc6"):] == ["fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
    model = meta_model("alexnet")
    assert model.drop6.p == model.drop7.p == 0.5
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 2


def test_alexnet_paper_order_of_relu_lrn_pool():
    names = [n for n, _ in meta_model("alexnet").named_children()]
    assert names[:names.index("fc6")] == [
        "conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", "conv3", "relu3",
        "conv4", "relu4", "conv5", "relu5", "pool5", "flatten"]
    model = meta_model("alexnet")
    for pool in (model.pool1, model.pool2, model.pool5):  # overlapping pooling z=3, s=2
        assert (pool.kernel_size, pool.stride) == (3, 2)


def test_alexnet_tv_state_dict_keys_equal_torchvisions():
    tvm = pytest.importorskip("torchvision.models")
    with torch.device("meta"):
        theirs = tvm.alexnet()
    ours = meta_model("alexnet_tv")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [v.shape for v in ours.state_dict().values()] == [
        v.shape for v in theirs.state_dict().values()]
    # Same modules in the same order, plus our flatten module (torchvision calls torch.flatten).
    leaves = lambda m: [(n, type(x).__name__) for n, x in m.named_modules() if not list(x.children())]
    assert [leaf for leaf in leaves(ours) if leaf[0] != "flatten"] == leaves(theirs)
    assert not any(getattr(m, "inplace", False) for m in ours.modules())


@torch.no_grad()
def test_alexnet_tv_equals_torchvision_at_another_size():
    """torchvision's weights by key; 256x256 exercises the adaptive pooling (7x7 -> 6x6)."""
    tvm = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    theirs = tvm.alexnet(num_classes=10).eval()
    ours = cnnzoo.create_model("alexnet_tv", num_classes=10).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 256, 256)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


def test_alexnet_tv_smallest_input():
    model = cnnzoo.create_model("alexnet_tv").eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 63, 63)).shape == (1, 1000)
        with pytest.raises(RuntimeError):  # below the check's minimum, PyTorch itself fails
            nn.Sequential(*model.features)(torch.zeros(1, 3, 62, 62))
    with pytest.raises(InputShapeError, match="63x63"):
        model(torch.zeros(1, 3, 62, 62))


# ---------------------------------------------------------------- LRN (docs/paper-facts.md section 0)

@pytest.mark.parametrize("name, layers", [
    ("alexnet", ("norm1", "norm2")), ("zfnet", ("norm1", "norm2")), ("vgg11_lrn", ("norm1",)),
])
def test_lrn_is_the_papers_formula(name, layers):
    model = cnnzoo.create_model(name)
    g = torch.Generator().manual_seed(0)
    # Large activations, so the alpha * sum a^2 term matters as much as k
    a = torch.randn(2, 12, 5, 5, generator=g) * 60
    for layer in layers:
        torch.testing.assert_close(getattr(model, layer)(a), hand_lrn(a), rtol=1e-5, atol=1e-6)
        # and not Caffe's replica (k=1, alpha/n): the test can tell them apart
        assert not torch.allclose(getattr(model, layer)(a), hand_lrn(a, k=1.0, alpha=2e-5))


# ---------------------------------------------------------------- ZFNet (docs/paper-facts.md section 3)

def test_zfnet_shapes_follow_the_papers_figure():
    shapes = output_shapes(meta_model("zfnet"), meta_input(224))
    sides = {n: s[1] for n, s in shapes.items() if len(s) == 3}
    assert sides["conv1"] == 110 and sides["pool1"] == sides["norm1"] == 55
    assert sides["conv2"] == 26 and sides["pool2"] == sides["norm2"] == 13
    assert sides["conv3"] == sides["conv4"] == sides["conv5"] == 13
    assert shapes["pool5"] == (256, 6, 6)
    assert [shapes[n][0] for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [96, 256, 384, 384, 256]
    conv1, conv2 = meta_model("zfnet").conv1, meta_model("zfnet").conv2
    assert (conv1.kernel_size, conv1.stride, conv2.kernel_size, conv2.stride) == ((7, 7), (2, 2), (5, 5), (2, 2))


def test_zfnet_is_dense_and_normalises_after_pooling():
    model = meta_model("zfnet")
    assert all(m.groups == 1 for m in model.modules() if isinstance(m, nn.Conv2d))
    names = [n for n, _ in model.named_children()]
    assert names == ["conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2",
                     "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5", "flatten",
                     "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
    assert model.drop6.p == model.drop7.p == 0.5


def test_zfnet_wide_is_variant_b():
    model = meta_model("zfnet_wide")
    assert [model.conv3.out_channels, model.conv4.out_channels, model.conv5.out_channels] == [512, 1024, 512]
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e5) / 10 == 107.6  # paper-facts: 107.6M (no exact figure: ours is computed)
    info = cnnzoo.model_info("zfnet_wide")
    assert info.params == params and "params" in info.computed
    assert f"{params:,}" in cnnzoo.model_info("zfnet_wide").description
    assert round(macs(model, meta_input(224)) / 1e7) / 100 == 2.48  # paper-facts: 2.48 GMACs


def test_zfnet_initialisation():
    torch.manual_seed(0)
    model = cnnzoo.create_model("zfnet")
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert not m.bias.any()
    assert model.fc6.weight.std().item() == pytest.approx(0.01, rel=0.01)


@torch.no_grad()
def test_zfnet_renormalize_filters():
    torch.manual_seed(0)
    model = cnnzoo.create_model("zfnet")
    model.conv1.weight[:3] *= 50  # RMS ~0.5: over the radius
    model.conv4.weight[7] *= 20   # RMS ~0.2
    before = {n: p.clone() for n, p in model.named_parameters()}
    assert model.renormalize_filters(radius=0.1) == 4
    rms = model.conv1.weight.pow(2).mean(dim=(1, 2, 3)).sqrt()
    torch.testing.assert_close(rms[:3], torch.full((3,), 0.1))
    rms4 = model.conv4.weight[7].pow(2).mean().sqrt()
    torch.testing.assert_close(rms4, torch.tensor(0.1))
    # the direction of a rescaled filter is kept; everything else is untouched
    cos = nn.functional.cosine_similarity(model.conv1.weight[0].flatten(), before["conv1.weight"][0].flatten(), 0)
    assert cos.item() == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(model.conv1.weight[3:], before["conv1.weight"][3:])
    for name, p in model.named_parameters():
        if name not in ("conv1.weight", "conv4.weight"):
            assert torch.equal(p, before[name]), name
    assert model.renormalize_filters() == 0  # idempotent
    with pytest.raises(OptionError):
        model.renormalize_filters(radius=0)


# ---------------------------------------------------------------- VGG (docs/paper-facts.md section 4)

# Paper Table 1: number of conv layers, how many are 1x1, and the width of each block.
TABLE_1 = {
    "vgg11": (8, 0, [64, 128, 256, 512, 512]),
    "vgg11_lrn": (8, 0, [64, 128, 256, 512, 512]),
    "vgg13": (10, 0, [64, 128, 256, 512, 512]),
    "vgg16c": (13, 3, [64, 128, 256, 512, 512]),
    "vgg16": (13, 0, [64, 128, 256, 512, 512]),
    "vgg19": (16, 0, [64, 128, 256, 512, 512]),
}


@pytest.mark.parametrize("name", list(TABLE_1))
def test_vgg_configurations_match_table_1(name):
    convs_expected, one_by_one, widths = TABLE_1[name]
    model = meta_model(name)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == convs_expected
    assert sum(m.kernel_size == (1, 1) for _, m in convs) == one_by_one
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for _, m in convs if m.kernel_size != (1, 1))
    assert [m.out_channels for n, m in convs if n.endswith("_1")] == widths
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.modules()) == (name == "vgg11_lrn")
    assert [n for n, m in model.named_children() if isinstance(m, nn.Linear)] == ["fc6", "fc7", "fc8"]


def test_vgg_c_puts_its_1x1_convs_last_in_blocks_3_to_5():
    model = meta_model("vgg16c")
    ones = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert ones == ["conv3_3", "conv4_3", "conv5_3"]
    assert CONFIGS["C"].count("conv1-256") == 1 and CONFIGS["C"].count("conv1-512") == 2


def test_vgg_layer_names_and_shapes():
    model = meta_model("vgg16")
    shapes = output_shapes(model, meta_input(224))
    assert [shapes[f"pool{b}"] for b in range(1, 6)] == [
        (64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    names = [n for n, _ in model.named_children()]
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-9:] == ["pool5", "flatten", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]
    lrn = [n for n, _ in meta_model("vgg11_lrn").named_children()]
    assert lrn[:4] == ["conv1_1", "relu1_1", "norm1", "pool1"]
    bn = [n for n, _ in meta_model("vgg11_bn").named_children()]
    assert bn[:4] == ["conv1_1", "bn1_1", "relu1_1", "pool1"]


@pytest.mark.parametrize("name", ["vgg11", "vgg13", "vgg16", "vgg19",
                                  "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"])
def test_vgg_tensors_line_up_with_torchvision(name):
    """from_torchvision maps by order: every tensor must meet one of the same shape."""
    tvm = pytest.importorskip("torchvision.models")
    with torch.device("meta"):
        theirs = getattr(tvm, name)().state_dict()
    ours = meta_model(name).state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]


def test_vgg_initialisation():
    torch.manual_seed(0)
    model = cnnzoo.create_model("vgg11")
    assert model.fc6.weight.std().item() == pytest.approx(0.01, rel=0.01)
    assert model.conv5_2.weight.std().item() == pytest.approx(0.01, rel=0.01)
    assert not any(m.bias.any() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    glorot = cnnzoo.create_model("vgg11", init="glorot")
    bound = (6 / (512 * 9 + 512 * 9)) ** 0.5
    assert glorot.conv5_2.weight.abs().max().item() <= bound * (1 + 1e-6)  # float32 rounding
    assert glorot.conv5_2.weight.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.02)
    with pytest.raises(OptionError, match="config"):
        cnnzoo.create_model("vgg11", config="F")


# ---------------------------------------------------------------- registry facts vs docs/paper-facts.md

# docs/paper-facts.md's figures as printed, with the precision they are printed to.
SPECS_MACS = {
    "alexnet": (724.4, 1e6), "alexnet_tv": (714.2, 1e6), "zfnet": (1.168, 1e9),
    "zfnet_wide": (2.48, 1e9), "vgg11": (7.61, 1e9), "vgg11_lrn": (7.61, 1e9), "vgg13": (11.31, 1e9),
    "vgg16c": (11.77, 1e9), "vgg16": (15.47, 1e9), "vgg19": (19.63, 1e9),
    "vgg11_bn": (7.609, 1e9), "vgg13_bn": (11.308, 1e9), "vgg16_bn": (15.470, 1e9),
    "vgg19_bn": (19.632, 1e9),
}


@pytest.mark.parametrize("name", MINE)
def test_measured_macs_round_to_the_specs_figure(name):
    figure, unit = SPECS_MACS[name]
    decimals = len(str(figure).split(".")[1])
    measured = macs(meta_model(name), meta_input(cnnzoo.model_info(name).input_size[1]))
    assert round(measured / unit, decimals) == figure
    assert cnnzoo.model_info(name).macs == measured


def test_reported_errors():
    assert cnnzoo.model_info("alexnet").top5_error == 18.2
    assert "ILSVRC-2012" in cnnzoo.model_info("alexnet").top5_error_note
    assert cnnzoo.model_info("zfnet").top5_error == 16.4
    # VGG's Table 3 is unconfirmed ([R]) in docs/paper-facts.md: no error is claimed
    assert all(cnnzoo.model_info(n).top5_error is None for n in MINE if n.startswith("vgg"))
    assert cnnzoo.model_info("alexnet").fixed_size and not cnnzoo.model_info("alexnet_tv").fixed_size


@pytest.mark.parametrize("name", MINE)
def test_forward_order_is_registration_order(name):
    """DeconvNet walks the layers in registration order: the forward must call them so."""
    model = meta_model(name)
    called: list[str] = []
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    for n, m in leaves:
        m.register_forward_hook(lambda mod, i, o, n=n: called.append(n))
    model(meta_input(cnnzoo.model_info(name).input_size[1]))
    assert called == [n for n, _ in leaves]
    assert not any(getattr(m, "inplace", False) for _, m in leaves)
