"""cnnzoo.visualize: ZFNet's DeconvNet against captum, photo conversion, occlusion against captum,
top-9 on real Fashion-MNIST images, filters, feature maps, evolution, the CLI and its errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import cnnzoo
import cnnzoo.data
from cnnzoo.errors import CheckpointError, CnnzooError, InputShapeError, OptionError, UnknownNameError
from cnnzoo.layers import Flatten
from cnnzoo.trace import record
from cnnzoo.visualize import deconv, deconv_trace, feature_maps, layer_filters, occlusion
from cnnzoo.visualize.tools import filter_evolution, top_activations
from run_cases import cli, reseal

captum_attr = pytest.importorskip("captum.attr")  # a declared test dependency (pyproject [test])

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:captum")


# --- helpers --------------------------------------------------------------------------------
def seeded(name: str, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return cnnzoo.create_model(name, **kw).eval()


def image_for(name: str, seed: int = 0) -> torch.Tensor:
    c, h, w = cnnzoo.model_info(name).input_size
    return torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))


class _Unit(nn.Module):
    """The model truncated to one layer's output, flattened: captum's target is then a unit."""

    def __init__(self, model: nn.Module, layer: str) -> None:
        super().__init__()
        self.model = model
        self.layer = dict(model.named_modules())[layer]

    def forward(self, x):
        out = []
        h = self.layer.register_forward_hook(lambda m, a, o: out.append(o))
        try:
            self.model(x)
        finally:
            h.remove()
        return out[0].flatten(1)


def captum_deconv(model: nn.Module, x: torch.Tensor, layer: str, channel: int,
                  unit: tuple[int, int] | None) -> np.ndarray:
    """captum's Deconvolution of one unit of `layer` (gradient with relu(grad) at every ReLU)."""
    unit_model = _Unit(model, layer)
    with torch.no_grad():
        acts = {}
        h = unit_model.layer.register_forward_hook(lambda m, a, o: acts.setdefault("o", o))
        model(x)
        h.remove()
    o = acts["o"][0]
    index = channel if o.dim() == 1 else (channel * o.shape[1] + unit[0]) * o.shape[2] + unit[1]
    attr = captum_attr.Deconvolution(unit_model).attribute(x.clone(), target=index)
    return attr[0].detach().numpy()


def assert_matches_captum(model, x, layer, top=2, rtol=1e-4):
    for p in deconv(model, x, layer, top=top):
        assert p.value > 0, "pick units with positive activations (rectification is homogeneous)"
        ref = captum_deconv(model, x, layer, p.channel, p.unit) * p.value
        scale = float(np.abs(ref).max())
        assert scale > 0, f"{layer}: captum's projection is zero"
        np.testing.assert_allclose(p.image, ref, rtol=0, atol=rtol * scale,
                                   err_msg=f"{layer} channel {p.channel}")


def write_run(run: Path, model: nn.Module, epochs: int = 1, dataset: str = "sample",
              mean=(0.2861,), std=(0.3530,), size=(32, 32), mode="pad", image_shape=(1, 28, 28),
              perturb: bool = True) -> list[dict]:
    """A run folder as the trainer writes it (checkpoints/epoch-NNNN and last), with the
    model's weights changed a little at each epoch. Returns each epoch's state_dict."""
    from cnnzoo.inference.checkpoint import epoch_dir
    from cnnzoo.train.checkpoint import write_checkpoint

    meta = {"model": model.zoo_name, "model_options": dict(model.zoo_options), "num_classes": 10,
            "in_channels": image_shape[0], "dataset": dataset,
            "classes": cnnzoo.data.load_dataset("sample", "test").classes,
            "image_shape": list(image_shape),
            "normalization": {"mean": list(mean), "std": list(std), "size": list(size), "mode": mode}}
    states = []
    for epoch in range(1, epochs + 1):
        if perturb and epoch > 1:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.01 * torch.randn_like(p))
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        states.append(sd)
        write_checkpoint(epoch_dir(run, epoch), sd, {**meta, "epoch": epoch})
    write_checkpoint(run / "checkpoints" / "last", states[-1], {**meta, "epoch": epochs})
    return states





def assert_one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln and not ln.startswith("cnnzoo: warning")]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("cnnzoo: error: ") and "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def assert_png(path: Path, min_size: int = 200) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        assert min(img.size) >= min_size, img.size


@pytest.fixture(scope="module")
def sample_test():
    return cnnzoo.data.load_dataset("sample", "test")  # real Fashion-MNIST images


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """Picture files of the kinds people have: RGBA PNG, grey JPEG, 16-bit PNG, palette GIF with
    transparency, CMYK JPEG, plus files that are not images."""
    d = tmp_path_factory.mktemp("photos")
    y, x = np.mgrid[0:200, 0:300]
    rgb = np.stack([x * 255 // 299, y * 255 // 199, (x + y) % 256], -1).astype(np.uint8)
    alpha = np.where(x < 150, 255, 0).astype(np.uint8)  # right half fully transparent
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(d / "rgba.png")
    Image.fromarray(rgb, "RGB").save(d / "rgb.png")
    Image.fromarray(((x * 2 + y) % 256).astype(np.uint8)[:90, :120], "L").save(d / "grey.jpg",
                                                                              quality=95)
    grey16 = np.zeros((48, 64), np.uint16)
    grey16[:, 32:] = 65535
    grey16[:24, :32] = 32768
    Image.fromarray(grey16).save(d / "grey16.png")
    Image.fromarray(rgb).convert("P").save(d / "palette.gif", transparency=0)
    Image.fromarray(rgb).convert("CMYK").save(d / "cmyk.jpg")
    (d / "notes.txt").write_text("not an image\n")
    good = (d / "rgb.png").read_bytes()
    (d / "truncated.png").write_bytes(good[: len(good) // 3])
    return {p.stem if p.suffix != ".jpg" else p.stem + "_jpg": p for p in d.iterdir()}


# --- DeconvNet == captum's Deconvolution ----------------------------------------------------
@pytest.mark.parametrize("layer", ["c1", "c1_act", "s2", "c3", "c3_act", "s4", "c5_act", "f6",
                                   "f6_act", "output"])
def test_deconv_matches_captum_lenet5_modern(layer, sample_test):
    model = seeded("lenet5_modern")
    x = F.pad(sample_test.images[:1].float() / 255, (2, 2, 2, 2))  # a real 28x28 image, padded
    assert_matches_captum(model, (x - 0.286) / 0.353, layer, top=3)


def test_deconv_matches_captum_overlapping_pools_and_groups():
    """AlexNet's tricky parts without LRN: overlapping 3x3/2 max-pools (one input can win two
    windows: its signals must add up), ceil-mode pooling, grouped convs, padding, linear."""
    torch.manual_seed(1)
    model = nn.Sequential()
    for name, m in [("conv1", nn.Conv2d(3, 8, 11, 4, 2)), ("relu1", nn.ReLU()),
                    ("pool1", nn.MaxPool2d(3, 2)), ("conv2", nn.Conv2d(8, 16, 5, 1, 2, groups=2)),
                    ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(3, 2, ceil_mode=True)),
                    ("conv3", nn.Conv2d(16, 12, 3, 1, 1, groups=4)), ("relu3", nn.ReLU()),
                    ("flatten", Flatten()), ("fc", nn.Linear(12 * 6 * 6, 10))]:
        model.add_module(name, m)
    model.eval()
    x = torch.randn(1, 3, 115, 115)
    # overlapping windows do share winners here, so max_unpool2d (which overwrites) would differ
    _, idx = F.max_pool2d(model.relu1(model.conv1(x)), 3, 2, return_indices=True)
    assert idx.flatten(2).unique(dim=None).numel() < idx.numel()
    for layer in ("pool1", "conv2", "pool2", "relu3", "fc"):
        assert_matches_captum(model, x, layer, top=2)


def test_deconv_matches_captum_alexnet_tv():
    model = seeded("alexnet_tv")
    assert_matches_captum(model, image_for("alexnet_tv"), "features.12", top=1)


def test_deconv_matches_captum_through_residual_additions():
    """resnet20: BatchNorm (eval), layers.Add (signal down both paths, summed where they meet) and
    option-A shortcuts (a module's transpose by its vector-Jacobian product)."""
    model = seeded("resnet20")
    x = image_for("resnet20")
    for layer in ("layer1.0", "layer2.0", "layer3", "fc"):
        assert_matches_captum(model, x, layer, top=1)


@pytest.mark.slow
@pytest.mark.parametrize("name,layer", [("googlenet_tv", "inception4a"), ("vgg11", "relu5_2"),
                                        ("vgg16", "pool4")])
def test_deconv_matches_captum_large(name, layer):
    model = seeded(name)
    assert_matches_captum(model, image_for(name), layer, top=1)


def test_lrn_is_passed_through_on_the_way_down():
    """zfnet has LRN after pool1 and pool2: the projection is captum's Deconvolution with each
    LRN's backward replaced by the identity (the documented reading of the paper)."""
    model = seeded("zfnet")
    x = image_for("zfnet")
    lrns = [m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrns) == 2
    hooks = [m.register_full_backward_hook(lambda m, gi, go: go) for m in lrns]
    try:
        assert_matches_captum(model, x, "conv3", top=1)
    finally:
        for h in hooks:
            h.remove()
    # and it is not plain gradient through LRN: without the hooks captum differs
    p = deconv(model, x, "conv3")[0]
    plain = captum_deconv(model, x, "conv3", p.channel, p.unit) * p.value
    assert np.abs(plain - p.image).max() > 1e-3 * np.abs(p.image).max()


def test_concat_splits_the_signal_by_channel():
    """googlenet (paper): a unit of inception3a in its first 64 channels is the 1x1 branch's unit,
    so the projections through the Concat and from the branch itself are equal."""
    model = seeded("googlenet")
    trace = record(model, image_for("googlenet"))  # one forward, four walks down
    maps = trace.output("inception3a")[0]
    channel = int(maps[:64].flatten(1).max(1).values.argmax())
    a = deconv_trace(trace, "inception3a", channel=channel)[0]
    b = deconv_trace(trace, "inception3a.branch1x1.relu", channel=channel)[0]
    assert a.unit == b.unit and a.value == pytest.approx(b.value)
    np.testing.assert_allclose(a.image, b.image, atol=1e-6 * np.abs(a.image).max())
    assert np.abs(a.image).max() > 0
    # a channel of the 3x3 branch (64..191) goes down that branch only
    c = deconv_trace(trace, "inception3a", channel=100)[0]
    d = deconv_trace(trace, "inception3a.branch3x3.relu", channel=100 - 64)[0]
    np.testing.assert_allclose(c.image, d.image, atol=1e-6 * np.abs(c.image).max())


# --- receptive fields and supports -----------------------------------------------------------
def test_receptive_field_arithmetic():
    # alexnet conv1: 11x11 stride 4, no padding (227 = 4 * 54 + 11)
    model = seeded("alexnet")
    x = image_for("alexnet")
    for p in deconv(model, x, "conv1", top=3):
        h, w = p.unit
        assert p.field == (4 * h, 4 * h + 10, 4 * w, 4 * w + 10)
        nz = np.argwhere(np.abs(p.image).sum(0) > 0)
        assert nz.size and nz.min(0).tolist() >= [4 * h, 4 * w] and nz.max(0).tolist() <= [4 * h + 10, 4 * w + 10]
    # lenet5_modern c3: 5x5 conv, 2x2 pool, 5x5 conv -> 14x14 starting at 2h
    model = seeded("lenet5_modern")
    for p in deconv(model, image_for("lenet5_modern"), "c3_act", top=4):
        h, w = p.unit
        assert p.field == p.box == (2 * h, 2 * h + 13, 2 * w, 2 * w + 13)
        outside = np.abs(p.image).copy()
        outside[:, 2 * h:2 * h + 14, 2 * w:2 * w + 14] = 0
        assert outside.max() == 0


def test_deconv_options():
    model = seeded("lenet5_modern")
    x = image_for("lenet5_modern")
    maps = feature_maps(model, x, "c3_act")
    order = np.argsort(-maps.reshape(16, -1).max(1), kind="stable")
    top = deconv(model, x, "c3_act", top=5)
    assert [p.channel for p in top] == order[:5].tolist()
    assert [p.value for p in top] == pytest.approx(sorted(maps.reshape(16, -1).max(1))[::-1][:5])
    one = deconv(model, x, "c3_act", channel=int(order[0]))
    np.testing.assert_array_equal(one[0].image, top[0].image)
    whole = deconv(model, x, "c3_act", channel=int(order[0]), whole_map=True)[0]
    assert whole.unit is None and whole.box == (0, 31, 0, 31)
    # on the first layer the whole map goes down by one transposed convolution
    w1 = deconv(model, x, "c1", channel=0, whole_map=True)[0].image
    ref = F.conv_transpose2d(torch.from_numpy(feature_maps(model, x, "c1")[None]) *
                             (torch.arange(6) == 0).view(1, 6, 1, 1), model.c1.weight.detach())
    np.testing.assert_allclose(w1, ref[0].numpy(), atol=1e-6)


# --- errors: one clear line each --------------------------------------------------------------
def test_unknown_layer_lists_valid_ones():
    model = seeded("alexnet")
    with pytest.raises(UnknownNameError) as e:
        deconv(model, image_for("alexnet"), "conv6")
    msg = str(e.value)
    assert "\n" not in msg and "conv6" in msg
    for name in ("conv1", "relu1", "norm1", "pool1", "conv5", "pool5", "fc6", "fc8"):
        assert name in msg
    assert "Did you mean" in msg


def test_channel_out_of_range():
    model = seeded("lenet5_modern")
    with pytest.raises(InputShapeError,
                       match=r"channel 16 is out of range: layer 'c3_act' has 16 channels \(0 to 15\)"):
        deconv(model, image_for("lenet5_modern"), "c3_act", channel=16)
    with pytest.raises(InputShapeError, match="84 units"):
        deconv(model, image_for("lenet5_modern"), "f6", channel=-1)


def test_inplace_relu_is_followed_but_an_overwritten_output_is_refused():
    torch.manual_seed(0)
    bad = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Conv2d(2, 3, 3)).eval()
    x = torch.randn(1, 1, 8, 8)
    with pytest.raises(CnnzooError, match="overwritten in place by '1'") as e:
        deconv(bad, x, "0")  # the conv's output no longer exists: the ReLU wrote over it
    assert "\n" not in str(e.value)
    with pytest.raises(CnnzooError, match="in place"):
        feature_maps(bad, x, "0")
    # the layers after it are exact: the same as the model without in-place
    good = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 3, 3)).eval()
    good.load_state_dict(bad.state_dict())
    for layer in ("1", "2"):
        a, b = deconv(bad, x, layer)[0], deconv(good, x, layer)[0]
        assert (a.channel, a.unit) == (b.channel, b.unit)
        np.testing.assert_array_equal(a.image, b.image)


class _Functional(nn.Module):
    """Functional ops between modules: an addition, a transpose of the map, a flatten."""

    def __init__(self, transpose: bool = True) -> None:
        super().__init__()
        self.transpose = transpose
        self.a, self.b = nn.Conv2d(2, 4, (3, 5), padding=(1, 2)), nn.Conv2d(2, 4, 1)
        self.relu1 = nn.ReLU()
        self.c = nn.Conv2d(4, 6, (5, 3), stride=(1, 2))  # not symmetric: a transpose shows
        self.relu2 = nn.ReLU()
        self.fc = nn.Linear(6 * 7 * 6, 5)

    def forward(self, x):
        y = self.relu1(self.a(x) + self.b(x))
        if self.transpose:
            y = y.transpose(2, 3)  # N x 4 x W x H: a view of the same storage, not a reshape
        return self.fc(torch.flatten(self.relu2(self.c(y)), 1))


def test_deconv_through_a_functional_transpose_matches_captum():
    """Issue #10: a functional transpose between two modules was taken for a reshape (storage
    pointers), so the projection was wrong by 100% of its scale with no error. Here it is a node of
    the graph, projected by its adjoint, and every layer matches captum."""
    torch.manual_seed(0)
    model = _Functional().eval()
    x = torch.randn(1, 2, 13, 11)
    for layer in ("relu1", "c", "relu2", "fc"):
        assert_matches_captum(model, x, layer, top=2)


def test_deconv_through_a_transpose_between_modules_matches_captum():
    class TransposeOnly(nn.Module):  # the case: modules, and one transpose between them
        def __init__(self):
            super().__init__()
            self.a, self.relu1 = nn.Conv2d(1, 3, (3, 5)), nn.ReLU()
            self.c, self.relu2 = nn.Conv2d(3, 4, (5, 3)), nn.ReLU()

        def forward(self, x):
            return self.relu2(self.c(self.relu1(self.a(x)).transpose(2, 3)))

    torch.manual_seed(1)
    assert_matches_captum(TransposeOnly().eval(), torch.randn(1, 1, 12, 12), "relu2", top=3)


def test_functional_ops_without_a_deconvnet_rule_are_refused_clearly():
    class Gated(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.relu = nn.Conv2d(1, 2, 3), nn.ReLU()

        def forward(self, x):
            y = self.conv(x)
            return self.relu(y * torch.sigmoid(y))  # a product of two signals

    model = Gated().eval()
    x = torch.randn(1, 1, 8, 8)
    with pytest.raises(CnnzooError) as e:
        deconv(model, x, "relu")
    msg = str(e.value)
    assert "\n" not in msg and "DeconvNet cannot project through" in msg
    assert "mul()" in msg or "sigmoid()" in msg
    assert "in the model's forward" in msg
    assert deconv(model, x, "conv")[0].image.shape == (1, 8, 8)  # below the op: fine


def _positive_chain(*layers: nn.Module) -> nn.Sequential:
    """Convs with positive weights and ReLUs: a unit's projection is non-zero on exactly the
    pixels it can see, so the support is an oracle for the receptive box."""
    torch.manual_seed(0)
    model = nn.Sequential(*layers).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.abs_().add_(0.01)
    return model


def _support(image: np.ndarray) -> tuple[int, int, int, int]:
    nz = np.argwhere(np.abs(image).sum(0) > 0)
    (y0, x0), (y1, x1) = nz.min(0), nz.max(0)
    return int(y0), int(y1), int(x0), int(x1)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("conv,box_of", [
    # padding="valid": unit (h, w) of a 5x5 conv sees [h, h + 4] (issue #10: not [h - 2, h + 2])
    (lambda: nn.Conv2d(1, 2, 5, padding="valid"), lambda h, w: (h, h + 4, w, w + 4)),
    # padding="same" with an even kernel: PyTorch pads 1 before and 2 after
    (lambda: nn.Conv2d(1, 2, 4, padding="same"), lambda h, w: (h - 1, h + 2, w - 1, w + 2)),
    (lambda: nn.Conv2d(1, 2, 3, padding="same", dilation=2), lambda h, w: (h - 2, h + 2, w - 2, w + 2)),
    (lambda: nn.Conv2d(1, 2, (3, 5), stride=(2, 1), padding=(1, 0)),
     lambda h, w: (2 * h - 1, 2 * h + 1, w, w + 4)),
])
def test_receptive_boxes_of_string_tuple_and_dilated_padding(conv, box_of):
    model = _positive_chain(conv(), nn.ReLU())
    x = torch.rand(1, 1, 17, 17) + 0.1
    for p in deconv(model, x, "1", top=2):
        h, w = p.unit
        assert p.field == box_of(h, w)
        y0, y1, x0, x1 = p.field
        assert _support(p.image) == (max(y0, 0), min(y1, 16), max(x0, 0), min(x1, 16)) == p.box
        assert_matches_captum(model, x, "1", top=2)


def test_receptive_box_after_ceil_mode_pooling_and_a_valid_conv():
    model = _positive_chain(nn.Conv2d(1, 2, 3, padding="valid"), nn.ReLU(),
                            nn.MaxPool2d(2, 2, ceil_mode=True), nn.Conv2d(2, 2, 3, padding="same"),
                            nn.ReLU())
    x = torch.rand(1, 1, 16, 16) + 0.1
    for p in deconv(model, x, "4", top=2, whole_map=False):
        h, w = p.unit
        # same-conv 3x3 on the pooled map: pooled units h-1..h+1 -> pixels 2(h-1) .. 2(h+1)+1+2
        assert p.field == (2 * h - 2, 2 * h + 5, 2 * w - 2, 2 * w + 5)
        assert p.box == (max(2 * h - 2, 0), min(2 * h + 5, 15), max(2 * w - 2, 0), min(2 * w + 5, 15))
        # max-pool picks one pixel per window: the support lies inside the box
        y0, y1, x0, x1 = _support(p.image)
        assert p.box[0] <= y0 and y1 <= p.box[1] and p.box[2] <= x0 and x1 <= p.box[3]


def test_receptive_box_follows_a_transpose():
    """After x.transpose(2, 3) the map's rows run along the input's columns: the box says so."""
    torch.manual_seed(0)
    model = _Functional().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.abs_().add_(0.01)
    x = torch.rand(1, 2, 13, 11) + 0.1
    for p in deconv(model, x, "relu2", top=3):
        i, j = p.unit  # i runs along the input's W (11 -> 11 - 5 + 1 = 7 rows), j along H
        # c: 5x3 kernel, stride (1, 2) on the transposed map; a: 3x5 with padding (1, 2)
        assert p.field == (2 * j - 1, 2 * j + 2 + 1, i - 2, i + 4 + 2)
        y0, y1, x0, x1 = p.field
        assert _support(p.image) == (max(y0, 0), min(y1, 12), max(x0, 0), min(x1, 10)) == p.box


# --- photographs of any size and mode: tests/test_pipeline.py (the one decoder and fit of
# cnnzoo.data.images, through a run's InputPipeline) -------------------------------


# --- occlusion == captum's Occlusion ----------------------------------------------------------
@pytest.mark.parametrize("size,stride", [(8, 4), (7, 5)])
def test_occlusion_matches_captum(size, stride, sample_test):
    model = seeded("lenet5_modern")
    x = (F.pad(sample_test.images[3:4].float() / 255, (2, 2, 2, 2)) - 0.286) / 0.353
    grey = (0.5 - 0.286) / 0.353
    occ = occlusion(model, x, size=size, stride=stride, baseline=grey)
    with torch.no_grad():
        target = int(model(x).argmax())
    assert occ.target == target
    ref = captum_attr.Occlusion(lambda t: F.softmax(model(t), 1)).attribute(
        x, sliding_window_shapes=(1, size, size), strides=(1, stride, stride), baselines=grey,
        target=target)
    np.testing.assert_allclose(occ.pixels(), ref[0, 0].numpy(), atol=1e-6)
    assert np.abs(occ.pixels()).max() > 1e-4
    # one position by hand: the probability and the followed map's total activation
    i, j = 1, 2
    xo = x.clone()
    xo[:, :, occ.ys[i]:occ.ys[i] + size, occ.xs[j]:occ.xs[j] + size] = grey
    with torch.no_grad():
        assert occ.prob[i, j] == pytest.approx(float(F.softmax(model(xo), 1)[0, target]), abs=1e-6)
    assert occ.layer == "c3_act"  # the deepest spatial map (c5 is 1x1)
    assert occ.activation[i, j] == pytest.approx(feature_maps(model, xo, "c3_act")[occ.channel].sum(),
                                                 rel=1e-5)
    assert occ.top_class.shape == occ.prob.shape == (len(occ.ys), len(occ.xs))


# --- top 9 over real Fashion-MNIST images -------------------------------------------------------
def test_top9_on_fashion_mnist_sample(sample_test):
    model = seeded("lenet5_modern")
    adapter = cnnzoo.InputPipeline.for_training(sample_test, "lenet5_modern")
    images = adapter(sample_test.images[:400])
    batches = [(images[i:i + 64], sample_test.labels[i:i + 64]) for i in range(0, 400, 64)]
    tops = top_activations(model, batches, "c3_act", channels=[3, 7, 12])
    # oracle: one forward over all 400 images, the per-image maximum of each map, sorted
    acts = feature_maps_batch(model, images, "c3_act").flatten(2).max(2).values  # 400 x 16
    for t in tops:
        values, order = torch.sort(acts[:, t.channel], descending=True, stable=True)
        assert [e.value for e in t.entries] == pytest.approx(values[:9].tolist(), rel=1e-5)
        assert {e.index for e in t.entries} == set(order[:9].tolist()) or values[8] == values[9]
        for e in t.entries[:3]:
            p = deconv(model, images[e.index:e.index + 1], "c3_act", channel=t.channel)[0]
            np.testing.assert_allclose(e.projection, p.image, atol=1e-6)
            assert e.label == int(sample_test.labels[e.index])
            assert e.projection_patch.shape == e.image_patch.shape == (1, 14, 14)
            y0, _, x0, _ = e.field
            sub = e.image[:, max(y0, 0):y0 + 14, max(x0, 0):x0 + 14]
            assert np.array_equal(e.image_patch[:, max(-y0, 0):, max(-x0, 0):][:, :sub.shape[1], :sub.shape[2]], sub)
    default = top_activations(model, batches, "c3_act", num_channels=4)
    best = acts.max(0).values
    assert [t.channel for t in default] == torch.argsort(best, descending=True, stable=True)[:4].tolist()


def feature_maps_batch(model, x, layer):
    out = []
    h = dict(model.named_modules())[layer].register_forward_hook(lambda m, a, o: out.append(o))
    with torch.no_grad():
        model(x)
    h.remove()
    return out[0]


# --- filters, feature maps, evolution ------------------------------------------------------------
def test_filters_and_feature_maps():
    model = seeded("alexnet")
    layer, w = layer_filters(model)
    assert layer == "conv1" and w.shape == (96, 3, 11, 11)
    np.testing.assert_array_equal(w, model.conv1.weight.detach().numpy())
    assert layer_filters(model, "conv2")[1].shape == (256, 48, 5, 5)  # groups=2: 48 inputs each
    with pytest.raises(UnknownNameError, match="no convolution filters"):
        layer_filters(model, "relu1")
    paper = seeded("lenet5")
    _, c3 = layer_filters(paper, "c3")
    connected = np.abs(c3).sum((2, 3)) > 0  # 16 x 6: paper Table I
    assert connected.sum() == 60 and connected[0].tolist() == [True, True, True, False, False, False]
    x = image_for("alexnet")
    maps = feature_maps(model, x, "relu2")
    with torch.no_grad():
        ref = model.relu2(model.conv2(model.pool1(model.norm1(model.relu1(model.conv1(x))))))
    np.testing.assert_allclose(maps, ref[0].numpy(), rtol=1e-5, atol=1e-6)


def test_filter_evolution(tmp_path):
    model = seeded("lenet5_modern")
    states = write_run(tmp_path / "run", model, epochs=3)
    layer, epochs, stack = filter_evolution(tmp_path / "run", count=4)
    assert layer == "c1" and epochs == [1, 2, 3] and stack.shape == (3, 4, 1, 5, 5)
    for k in range(3):
        np.testing.assert_array_equal(stack[k], states[k]["c1.weight"][:4].numpy())
    assert not np.array_equal(stack[0], stack[2])
    with pytest.raises(CheckpointError, match="no checkpoints/ folder"):
        filter_evolution(tmp_path)


# --- the command line ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("viz") / "run"
    write_run(run, seeded("lenet5_modern"), epochs=2)
    return run


def test_cli_every_subcommand(run_dir, photos, tmp_path):
    r = cli("visualize", "deconv", str(run_dir), "--image", str(photos["rgba"]), "--layer", "c3_act",
            "--top", "3", "--out", str(tmp_path / "d.png"), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert [p["channel"] for p in info["projections"]] and len(info["projections"]) == 3
    assert_png(tmp_path / "d.png")
    r = cli("visualize", "top9", str(run_dir), "--dataset", "sample", "--layer", "c3_act",
            "--channels", "0,5", "--limit", "300", "--out", str(tmp_path / "t.png"), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert [c["channel"] for c in info["channels"]] == [0, 5]
    assert all(len(c["top"]) == 9 and all(e["index"] < 300 for e in c["top"]) for c in info["channels"])
    assert_png(tmp_path / "t.png")
    for args in (["filters", str(run_dir)],
                 ["featuremaps", str(run_dir), "--image", str(photos["grey_jpg"]), "--layer", "c1_act"],
                 ["occlusion", str(run_dir), "--image", str(photos["grey_jpg"]), "--size", "8",
                  "--target", "Bag"],
                 ["evolution", str(run_dir)]):
        out = tmp_path / f"{args[0]}.png"
        r = cli("visualize", *args, "--out", str(out))
        assert r.returncode == 0 and r.stdout.strip() == f"wrote {out}", (args, r.stderr)
        assert "warning" not in r.stderr
        assert_png(out)


def test_cli_random_weights_warns(photos, tmp_path):
    r = cli("visualize", "deconv", "--model", "zfnet", "--image", str(photos["cmyk_jpg"]),
            "--layer", "pool2", "--channel", "7", "--out", str(tmp_path / "z.png"))
    assert r.returncode == 0, r.stderr
    assert "random weights" in r.stderr
    assert_png(tmp_path / "z.png")


def test_cli_errors(run_dir, photos, tmp_path):
    img = str(photos["rgb"])
    assert_one_line_error(cli("visualize", "deconv", "--model", "alexnet", "--image", img,
                              "--layer", "conv9"), "conv9", "Valid layers", "conv5", "fc8")
    assert_one_line_error(cli("visualize", "deconv", "--model", "lenet5_modern", "--image", img,
                              "--layer", "c1", "--channel", "6"), "channel 6 is out of range")
    assert_one_line_error(cli("visualize", "deconv", "--model", "lenet5_modern", "--image",
                              str(photos["notes"]), "--layer", "c1"), "cannot read image")
    assert_one_line_error(cli("visualize", "deconv", str(run_dir), "--model", "alexnet", "--image",
                              img, "--layer", "conv1"), "lenet5_modern", "not 'alexnet'")
    assert_one_line_error(cli("visualize", "filters", str(tmp_path)), "no model.safetensors")
    # a checkpoint whose weights do not fit the model its metadata names
    bad = tmp_path / "bad"
    write_run(bad, seeded("lenet5_modern"))
    meta = bad / "checkpoints" / "last" / "meta.json"
    meta.write_text(meta.read_text().replace('"lenet5_modern"', '"lenet5"'))
    assert_one_line_error(cli("visualize", "filters", str(bad)), "was edited", "'model' changed")
    reseal(meta.parent)  # past the seal: the weights' own check refuses them
    assert_one_line_error(cli("visualize", "filters", str(bad)), "do not fit")
    assert_one_line_error(cli("visualize", "top9", str(run_dir), "--dataset", "sample", "--layer",
                              "c3_act", "--channels", "99", "--limit", "50"), "out of range")
    assert_one_line_error(cli("visualize", "filters"), "CHECKPOINT")


def test_cli_entry_point(tmp_path):
    """The installed console command: a PNG on success, one line and exit 1 on a user error."""
    out = tmp_path / "f.png"
    r = subprocess.run(["cnnzoo", "visualize", "filters", "--model", "lenet5", "--out", str(out)],
                       capture_output=True, text=True, timeout=120,
                       env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.strip() == f"wrote {out}", r.stderr
    assert_png(out)
    r = subprocess.run([sys.executable, "-m", "cnnzoo", "visualize", "deconv", "--model", "lenet5",
                        "--image", str(tmp_path / "nope.png"), "--layer", "c1"],
                       capture_output=True, text=True, timeout=120)
    assert_one_line_error(r, "cannot read image", "no such file")


def test_python_api_is_public_and_light():
    for name in ("deconv", "top_activations", "layer_filters", "feature_maps", "occlusion",
                 "filter_evolution", "load_image"):
        assert callable(getattr(cnnzoo, name)) and name in cnnzoo.__all__
    r = subprocess.run([sys.executable, "-c", "import sys, cnnzoo; cnnzoo.deconv; "
                        "print('matplotlib' in sys.modules)"], capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr


# --- counts and sizes given to the tools (issue #11) -------------------------------------------
@pytest.mark.parametrize("call,what", [
    (lambda m, x: occlusion(m, x, size=0), "occluder size"),
    (lambda m, x: occlusion(m, x, size=-3), "occluder size"),
    (lambda m, x: occlusion(m, x, size=4, stride=0), "occluder stride"),
    (lambda m, x: occlusion(m, x, size=4, stride=-1), "occluder stride"),
    (lambda m, x: occlusion(m, x, size=4, stride=5), "occluder stride"),
    (lambda m, x: occlusion(m, x, size=33), "occluder size"),
    (lambda m, x: occlusion(m, x, batch_size=0), "batch size"),
    (lambda m, x: feature_maps(m, x, "c1", limit=0), "limit"),
    (lambda m, x: feature_maps(m, x, "c1", limit=-2), "limit"),
    (lambda m, x: top_activations(m, [x], "c1", k=0), "k"),
    (lambda m, x: top_activations(m, [x], "c1", num_channels=-1), "number of channels"),
    (lambda m, x: filter_evolution("/nonexistent-run", count=0), "count"),
])
def test_zero_and_negative_counts_are_refused_with_one_line(call, what):
    """0 is never taken for 'the default' (it was: `size or default`), negatives never slice."""
    model, x = seeded("lenet5_modern"), image_for("lenet5_modern")
    with pytest.raises(OptionError) as e:
        call(model, x)
    assert "\n" not in str(e.value) and what in str(e.value)


def test_feature_maps_limit_keeps_the_first_channels():
    model, x = seeded("lenet5_modern"), image_for("lenet5_modern")
    full = feature_maps(model, x, "c3_act")
    np.testing.assert_array_equal(feature_maps(model, x, "c3_act", limit=4), full[:4])
    assert feature_maps(model, x, "c3_act", limit=99).shape == full.shape
