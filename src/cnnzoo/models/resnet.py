"""ResNet: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv 1512.03385, Dec 2015). https://arxiv.org/abs/1512.03385

The networks, as the paper builds them:
- ImageNet (Table 1): resnet18/34 of basic blocks [3x3; 3x3], resnet50/101/152 of bottleneck
  blocks [1x1; 3x3; 1x1 (4x)]; 7x7/2 conv1, 3x3/2 max-pool, four stages (conv2_x..conv5_x, here
  layer1..layer4) that halve the map at their first block, global average pool, fc-1000.
- CIFAR-10 (Sec. 4.2): resnet20/32/44/56/110/1202 = 6n+2 weighted layers: 3x3 conv of 16 filters,
  three stages of n basic blocks with 16/32/64 filters on 32/16/8 maps (stride-2 convs), global
  average pool, fc-10; option A shortcuts, so the parameter count is that of the plain net.
- Plain twins (Sec. 4.1, Fig. 3 middle, Fig. 6): plain18, plain34, plain20..plain110: the same
  stacks without the shortcut additions (`shortcut="none"`).
BN follows every conv and precedes its ReLU; the last ReLU of a block comes after the addition;
convs have no bias; He initialisation (kaiming normal, fan_out) as the paper's Sec. 3.4 cites.

Options (every name):
- shortcut: "A" identity, with the extra channels zero-padded and the map subsampled by the
  stride (parameter-free); "B" a projection (1x1 conv + BN) only where the dimensions change,
  identity elsewhere; "C" a projection on every block; "none" (or None) no shortcut: a plain net.
  Defaults: "B" for ImageNet (as for the paper's 50/101/152 and torchvision), "A" for CIFAR.
  Note: the paper's Table 2 (the plain-vs-residual 18/34 comparison) used option A for
  resnet18/34; `create_model("resnet34", shortcut="A")` is that network.
- variant (ImageNet): "v1" (default) puts a bottleneck block's stride on its first 1x1 conv, as
  the MSRA prototxt does (res3a_branch2a 1x1 stride 2); "v1.5" puts it on the 3x3 (conv2), as
  torchvision does. Same parameters, more MACs (resnet50 3.858G -> 4.089G). Basic blocks carry the
  stride on their first 3x3 either way, so the option does not change resnet18/34.
- init: "he" (default) kaiming_normal_(fan_out, relu) on every conv, BN gamma 1 and beta 0, fc
  left at PyTorch's default (as torchvision does); "default" keeps PyTorch's init everywhere.
- zero_init_residual: zero the gamma of the last BN of every residual block (Goyal et al. 2017),
  so each block starts as the identity. Off by default (not in the paper).

Deviations and choices:
- Option A pads the extra channels at the end (the identity occupies the first in_channels
  channels), as fb.resnet.torch's shortcutType A does; akamaster's CIFAR replica pads
  symmetrically instead. Either gives the same family of functions and the same counts.
- Attribute names and registration order are torchvision's (conv1, bn1, relu, maxpool,
  layer1..layer4 of blocks with conv1, bn1, conv2, bn2[, conv3, bn3], downsample = (0 conv, 1 bn);
  avgpool, fc), so with variant="v1.5" and shortcut "B" a torchvision state_dict loads by key.
  Each block's ReLUs are separate modules (relu1, relu2[, relu3]) and the addition is an `Add`
  module (`add`) so hooks see every step; a `flatten` module sits between avgpool and fc. When
  no hook watches a block and its steps are still a plain nn.ReLU and Add (layers.unobserved),
  it computes the same values as torchvision does, ReLU and addition in place, which saves a
  tensor per step; so does the stem's ReLU (issue 19: 0.87x torchvision's speed before, measured
  in benchmarks/eager_resnet.py).
- Any input size works (global average pool); the stem and every stride-2 layer keep a map of at
  least 1x1 down to a 1x1 input.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from .. import checks
from ..errors import OptionError
from ..layers import Add, Flatten, check_input, unobserved
from ..options import Choice, Flag, check_options, takes
from ..registry import ModelInfo, Torchvision, register

# Stage depths as data. ImageNet (paper Table 1): depth -> (block, blocks per stage conv2_x..conv5_x).
IMAGENET_STAGES: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_WIDTHS = (64, 128, 256, 512)  # 3x3 filters per stage (bottleneck output: 4x these)
# CIFAR (Sec. 4.2): depth = 6n + 2 -> n basic blocks in each of the three stages.
CIFAR_BLOCKS: dict[int, int] = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18, 1202: 200}
CIFAR_WIDTHS = (16, 32, 64)


# The values each option takes (checked by the builders and the class alike). shortcut None
# ("none") is the plain twin; choices match case-insensitively ("a" is "A").
OPTIONS_IMAGENET = dict(shortcut=Choice("A", "B", "C", None), variant=Choice("v1", "v1.5"),
                        init=Choice("he", "default"), zero_init_residual=Flag())
OPTIONS_CIFAR = dict(shortcut=Choice("A", "B", "C", None), init=Choice("he", "default"),
                     zero_init_residual=Flag())
_NETWORK = dict(OPTIONS_IMAGENET, block=Choice("basic", "bottleneck"), stem=Choice("imagenet", "cifar"))


# --- blocks ---------------------------------------------------------------------------------
class ZeroPadShortcut(nn.Module):
    """Option A: identity with the map subsampled by `stride` and zero channels appended up to
    `out_channels` (parameter-free, no MACs)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]  # N x C_in x ceil(H/s) x ceil(W/s)
        extra = self.out_channels - self.in_channels
        if extra > 0:
            zeros = x.new_zeros(x.shape[0], extra, x.shape[2], x.shape[3])
            x = torch.cat((x, zeros), 1)  # N x C_out x H' x W'
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Options B and C: 1x1 conv (stride) + BN; keys downsample.0 / downsample.1 as torchvision."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                         nn.BatchNorm2d(out_channels))


def _shortcut(kind: str | None, in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """The block's `downsample` module, or None for an identity shortcut (or none at all)."""
    changes = stride != 1 or in_channels != out_channels
    if kind is None or (kind in ("A", "B") and not changes):
        return None
    if kind == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return _projection(in_channels, out_channels, stride)


def _steps(block: BasicBlock | Bottleneck, *relus: nn.Module) -> tuple[nn.Module, ...]:
    """The modules a block's in-place path writes out instead of calling: its ReLUs and its add."""
    return (*relus, block.add) if block.residual else relus


class BasicBlock(nn.Module):
    """[3x3, C; 3x3, C] with BN after each conv; stride on the first conv.

    residual=False is the plain twin: no shortcut and no addition."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, *,
                 shortcut: str | None = "B", variant: str = "v1") -> None:
        super().__init__()
        self.residual = shortcut is not None
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = _shortcut(shortcut, in_channels, channels, stride)
        if self.residual:
            self.add = Add()
        self.relu2 = nn.ReLU()

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        if unobserved(self, _steps(self, self.relu1, self.relu2)):  # the same, without two new tensors
            out = self.bn1(self.conv1(x)).relu_()  # N x C x H/s x W/s
            out = self.bn2(self.conv2(out))
            if self.residual:
                out += x if self.downsample is None else self.downsample(x)
            return out.relu_()
        out = self.relu1(self.bn1(self.conv1(x)))  # N x C x H/s x W/s
        out = self.bn2(self.conv2(out))
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.add(out, identity)
        return self.relu2(out)


class Bottleneck(nn.Module):
    """[1x1, C; 3x3, C; 1x1, 4C] with BN after each conv.

    variant "v1": stride on the first 1x1 (paper / MSRA); "v1.5": stride on the 3x3 (torchvision).
    residual=False is the plain twin: no shortcut and no addition."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, *,
                 shortcut: str | None = "B", variant: str = "v1") -> None:
        super().__init__()
        self.residual = shortcut is not None
        out_channels = channels * self.expansion
        s1, s2 = (stride, 1) if variant == "v1" else (1, stride)
        self.conv1 = nn.Conv2d(in_channels, channels, 1, s1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, s2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample = _shortcut(shortcut, in_channels, out_channels, stride)
        if self.residual:
            self.add = Add()
        self.relu3 = nn.ReLU()

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        if unobserved(self, _steps(self, self.relu1, self.relu2, self.relu3)):  # without 3 new tensors
            out = self.bn1(self.conv1(x)).relu_()  # N x C x H' x W' (H' = H/s in v1)
            out = self.bn2(self.conv2(out)).relu_()  # N x C x H/s x W/s
            out = self.bn3(self.conv3(out))  # N x 4C x H/s x W/s
            if self.residual:
                out += x if self.downsample is None else self.downsample(x)
            return out.relu_()
        out = self.relu1(self.bn1(self.conv1(x)))  # N x C x H' x W' (H' = H/s in v1)
        out = self.relu2(self.bn2(self.conv2(out)))  # N x C x H/s x W/s
        out = self.bn3(self.conv3(out))  # N x 4C x H/s x W/s
        if self.residual:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.add(out, identity)
        return self.relu3(out)


_BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


# --- model ----------------------------------------------------------------------------------
class ResNet(nn.Sequential):
    """A ResNet (or its plain twin) as a sequence of named layers, torchvision's names.

    stem "imagenet": conv1 7x7/2 (64) -> bn1 -> relu -> maxpool 3x3/2; stem "cifar": conv1 3x3
    (widths[0]) -> bn1 -> relu. Then one Sequential `layer<i>` per stage (stride 2 from the
    second stage on), avgpool (global), flatten, fc.
    """

    def __init__(self, block: str, stages: tuple[int, ...], widths: tuple[int, ...], *,
                 stem: str = "imagenet", num_classes: int = 1000, in_channels: int = 3,
                 shortcut: str | None = "B", variant: str = "v1", init: str = "he",
                 zero_init_residual: bool = False) -> None:
        shortcut = check_options("ResNet", dict(block=block, stem=stem, variant=variant, init=init,
                                                shortcut=shortcut, zero_init_residual=zero_init_residual),
                                 _NETWORK)["shortcut"]
        if zero_init_residual and shortcut is None:
            raise OptionError("zero_init_residual=True would zero every block of a plain net (it has "
                              "no shortcut to carry the signal): drop it or choose a shortcut A, B or C")
        block_cls = _BLOCKS[block]
        layers: list[tuple[str, nn.Module]] = []
        if stem == "imagenet":
            layers += [("conv1", nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)),  # N x 64 x 112 x 112
                       ("bn1", nn.BatchNorm2d(64)), ("relu", nn.ReLU()),
                       ("maxpool", nn.MaxPool2d(3, 2, 1))]  # N x 64 x 56 x 56
            channels = 64
        else:
            channels = widths[0]
            layers += [("conv1", nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False)),  # N x 16 x 32 x 32
                       ("bn1", nn.BatchNorm2d(channels)), ("relu", nn.ReLU())]
        for i, (n, width) in enumerate(zip(stages, widths)):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(block_cls(channels, width, stride, shortcut=shortcut, variant=variant))
                channels = width * block_cls.expansion
            layers.append((f"layer{i + 1}", nn.Sequential(*blocks)))
        layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", Flatten()),  # N x C
                   ("fc", nn.Linear(channels, num_classes))]
        super().__init__(OrderedDict(layers))
        self.in_channels = in_channels
        self.shortcut = shortcut
        self.variant = variant
        if init == "he":
            self._he_init()
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_bn().weight)

    @torch.no_grad()
    def _he_init(self) -> None:
        """He et al. 2015 ("Delving deep into rectifiers") normal init of the convs, as Sec. 3.4."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        # Every stage keeps a map of at least 1x1, even from a 1x1 input: no minimum beyond 1.
        check_input(self, x, self.in_channels, None, min_size=1)
        # The stem's ReLU in place, as torchvision's, when nobody watches bn1's output or the ReLU:
        # one tensor of the largest map (N x 64 x 112 x 112) fewer to allocate, fill and free.
        bn1, relu = self.get_submodule("bn1"), self.get_submodule("relu")
        in_place = unobserved(bn1) and unobserved(relu, (relu,))
        for module in self:
            x = x.relu_() if in_place and module is relu else module(x)
        return x  # N x num_classes


def resnet(depth: int, *, num_classes: int = 1000, in_channels: int = 3, shortcut: str | None = "B",
           variant: str = "v1", init: str = "he", zero_init_residual: bool = False) -> ResNet:
    """ImageNet ResNet-`depth` (18, 34, 50, 101, 152) of the paper's Table 1; see the module doc."""
    block, stages = IMAGENET_STAGES[Choice(*IMAGENET_STAGES).check("depth", depth)]
    return ResNet(block, stages, IMAGENET_WIDTHS, stem="imagenet", num_classes=num_classes,
                  in_channels=in_channels, shortcut=shortcut, variant=variant, init=init,
                  zero_init_residual=zero_init_residual)


def cifar_resnet(depth: int, *, num_classes: int = 10, in_channels: int = 3, shortcut: str | None = "A",
                 init: str = "he", zero_init_residual: bool = False) -> ResNet:
    """CIFAR ResNet-`depth` (depth = 6n + 2) of the paper's Sec. 4.2; see the module doc."""
    depth = checks.integer("depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise OptionError(f"a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, 1202...), "
                               f"got depth {depth}.")
    n = (depth - 2) // 6
    return ResNet("basic", (n, n, n), CIFAR_WIDTHS, stem="cifar", num_classes=num_classes,
                  in_channels=in_channels, shortcut=shortcut, init=init,
                  zero_init_residual=zero_init_residual)


# --- registered builders ----------------------------------------------------------------------
def _imagenet_builder(depth: int):
    @takes(**OPTIONS_IMAGENET)
    def build(*, num_classes: int = 1000, in_channels: int = 3, shortcut: str | None = "B",
              variant: str = "v1", init: str = "he", zero_init_residual: bool = False) -> ResNet:
        return resnet(depth, num_classes=num_classes, in_channels=in_channels, shortcut=shortcut,
                      variant=variant, init=init, zero_init_residual=zero_init_residual)

    build.__name__ = build.__qualname__ = f"resnet{depth}"
    build.__doc__ = f"ResNet-{depth} for ImageNet (paper Table 1); options in the module doc."
    return build


def _cifar_builder(depth: int):
    @takes(**OPTIONS_CIFAR)
    def build(*, num_classes: int = 10, in_channels: int = 3, shortcut: str | None = "A",
              init: str = "he", zero_init_residual: bool = False) -> ResNet:
        return cifar_resnet(depth, num_classes=num_classes, in_channels=in_channels,
                            shortcut=shortcut, init=init, zero_init_residual=zero_init_residual)

    build.__name__ = build.__qualname__ = f"resnet{depth}"
    build.__doc__ = f"ResNet-{depth} for CIFAR-10 (paper Sec. 4.2); options in the module doc."
    return build


resnet18, resnet34, resnet50, resnet101, resnet152 = (_imagenet_builder(d) for d in IMAGENET_STAGES)
resnet20, resnet32, resnet44, resnet56, resnet110, resnet1202 = (_cifar_builder(d) for d in CIFAR_BLOCKS)


def _rounded(text: str) -> tuple[int, float]:
    """A docs/paper-facts.md MAC count such as '1.814G' or '40.6M' -> (MACs, the relative tolerance its
    rounding allows: half a unit of the last digit, with a hair of margin)."""
    scale = {"M": 10 ** 6, "G": 10 ** 9}[text[-1]]
    digits = text[:-1]
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    value = float(digits)
    return round(value * scale), 0.5 * 10 ** -decimals / value * 1.05


_PAPER = "Deep Residual Learning for Image Recognition (He, Zhang, Ren, Sun)"
_URL = "https://arxiv.org/abs/1512.03385"
_COMMON: dict[str, Any] = dict(family="resnet", paper=_PAPER, url=_URL, year=2015, fixed_size=False)

# name, depth, params (paper-facts [V]), MACs (paper-facts [V], default options), top-5 error, note, description
_IMAGENET = (
    ("resnet18", 18, 11_689_512, "1.814G", None,
     "the paper reports only top-1 for ResNet-18 (27.88% 10-crop, Table 2, option A)",
     "ResNet-18 (ImageNet), basic blocks [2,2,2,2], shortcut B"),
    ("resnet34", 34, 21_797_672, "3.664G", None,
     "top-1 25.03% 10-crop with option A (Table 2); Table 3's top-5 for B is unconfirmed",
     "ResNet-34 (ImageNet), basic blocks [3,4,6,3], shortcut B"),
    ("resnet50", 50, 25_557_032, "3.858G", 6.7,
     "MSRA README: 10-crop ILSVRC-2012 val (1-crop 7.8)",
     "ResNet-50 (ImageNet), bottleneck [3,4,6,3], stride on the first 1x1 (v1), shortcut B"),
    ("resnet101", 101, 44_549_160, "7.570G", 6.1,
     "MSRA README: 10-crop ILSVRC-2012 val (1-crop 7.1)",
     "ResNet-101 (ImageNet), bottleneck [3,4,23,3], v1, shortcut B"),
    ("resnet152", 152, 60_192_808, "11.282G", 5.7,
     "MSRA README: 10-crop ILSVRC-2012 val (1-crop 6.7; 4.49 with the paper's multi-scale test)",
     "ResNet-152 (ImageNet), bottleneck [3,8,36,3], v1, shortcut B"),
)
for _name, _depth, _params, _macs, _top5, _note, _desc in _IMAGENET:
    _m, _tol = _rounded(_macs)
    register(ModelInfo(name=_name, input_size=(3, 224, 224), num_classes=1000, description=_desc,
                       params=_params, macs=_m, macs_tolerance=_tol, top5_error=_top5,
                       top5_error_note=_note, paper_table=("resnet", _name, _depth, False),
                       lineage=_name == "resnet152",
                       torchvision=Torchvision(_name, options={"variant": "v1.5"}),  # its "v1.5"
                       **_COMMON), _imagenet_builder(_depth))

# Plain twins of ImageNet 18/34 (Table 2): same stacks, no shortcuts.
for _name, _depth, _params, _macs, _top1 in (("plain18", 18, 11_515_688, "1.795G", "27.94"),
                                              ("plain34", 34, 21_623_848, "3.644G", "28.54")):
    _m, _tol = _rounded(_macs)
    register(ModelInfo(
        name=_name, input_size=(3, 224, 224), num_classes=1000, params=_params, macs=_m,
        macs_tolerance=_tol, top5_error_note=f"the paper reports top-1 {_top1}% (10-crop, Table 2)",
        description=f"plain-{_depth} (ImageNet): resnet{_depth} without shortcuts, the degradation baseline",
        defaults=dict(shortcut="none"), paper_table=("resnet", _name, _depth, True),
        **_COMMON), _imagenet_builder(_depth))

# CIFAR-10 (Table 6): depth, params (paper-facts [V]), MACs at 32x32 (paper-facts [V]), paper test error %.
_CIFAR = (
    (20, 269_722, "40.6M", "8.75"), (32, 464_154, "68.9M", "7.51"), (44, 658_586, "97.2M", "7.17"),
    (56, 853_018, "125.5M", "6.97"), (110, 1_727_962, "252.9M", "6.43"),
    (1202, 19_421_274, "2.83G", "7.93"),
)
for _depth, _params, _macs, _err in _CIFAR:
    _m, _tol = _rounded(_macs)
    _n = CIFAR_BLOCKS[_depth]
    register(ModelInfo(
        name=f"resnet{_depth}", input_size=(3, 32, 32), num_classes=10, params=_params, macs=_m,
        macs_tolerance=_tol, recipe="cifar_resnet",
        description=f"ResNet-{_depth} (CIFAR-10, n={_n}, shortcut A): paper test error {_err}%",
        paper_table=("cifar", f"resnet{_depth}", _depth, False), **_COMMON), _cifar_builder(_depth))
for _depth, _params, _macs, _err in _CIFAR[:5]:  # plain nets: 20..110 (Fig. 6)
    _m, _tol = _rounded(_macs)
    register(ModelInfo(
        name=f"plain{_depth}", input_size=(3, 32, 32), num_classes=10, params=_params, macs=_m,
        macs_tolerance=_tol, recipe="cifar_resnet",
        description=f"plain-{_depth} (CIFAR-10): resnet{_depth} without shortcuts (Fig. 6)",
        defaults=dict(shortcut="none"), paper_table=("cifar", f"plain{_depth}", _depth, True),
        **_COMMON), _cifar_builder(_depth))
