"""VGG: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (arXiv 1409.1556). https://arxiv.org/abs/1409.1556

The configurations are the columns of the paper's Table 1, written as data in its own notation
(CONFIGS: "conv3-64" = 3x3 conv with 64 maps, stride 1, pad 1; "conv1-256" = 1x1 conv, pad 0;
"LRN" = local response normalisation; "maxpool" = 2x2 max-pool, stride 2). Every conv is followed
by a ReLU. The head is the paper's: flatten (7x7x512 at 224 input) -> fc6 4096 -> ReLU -> dropout
0.5 -> fc7 4096 -> ReLU -> dropout 0.5 -> fc8 -> classes (softmax left to the loss).

Layer names: conv{block}_{i}, relu{block}_{i} (and bn{block}_{i} in the BN variants), norm1 for
A-LRN's LRN, pool{block}, then flatten, fc6, relu6, drop6, fc7, relu7, drop7, fc8.

Registered: vgg11 (A), vgg11_lrn (A-LRN), vgg13 (B), vgg16c (C, with its three 1x1 convs),
vgg16 (D), vgg19 (E), and vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn.

Deviations, all documented choices:
- Input is fixed at 3x224x224 (the FC head is trained on a 7x7x512 map). The paper's dense
  evaluation (fc layers turned into convolutions, any test scale) is not built in.
- A-LRN's LRN uses AlexNet's constants as the paper says (`layers.paper_lrn()`), after the ReLU
  of conv1_1.
- Initialisation: weights N(0, 0.01), biases 0 (the paper's random initialisation, used for net
  A). The paper initialised the deeper nets' first four conv layers and last three FC layers from
  a trained net A; that staged training is not reproduced. With N(0, 0.01) alone the signal
  shrinks layer by layer (measured on vgg19 at initialisation: logits ~1e-8 for unit-variance
  input, weight gradients down to ~1e-18), which is why the paper needed the staging. The BatchNorm
  variants, `init="glorot"` (Glorot uniform, which the paper notes works without pre-training)
  and `init="default"` (PyTorch's) avoid the problem.
- The `_bn` variants (BatchNorm2d after every conv, before its ReLU) are not in the paper; they
  follow torchvision's, whose tensors they match in order and shape, as do vgg11/13/16/19:
  torchvision's AdaptiveAvgPool2d((7, 7)) is the identity at 224 and has no parameters.
"""
from __future__ import annotations

import re
from collections import OrderedDict

import torch
from torch import Tensor, nn

from ..layers import Flatten, check_input, fc_head, normal_init, paper_lrn
from ..options import DROPOUT, Choice, Flag, check_options, takes
from ..registry import ModelInfo, Torchvision, register

_M = "maxpool"

# Paper Table 1, one list per column, in the paper's notation.
CONFIGS: dict[str, list[str]] = {
    "A": ["conv3-64", _M,
          "conv3-128", _M,
          "conv3-256", "conv3-256", _M,
          "conv3-512", "conv3-512", _M,
          "conv3-512", "conv3-512", _M],
    "A-LRN": ["conv3-64", "LRN", _M,
              "conv3-128", _M,
              "conv3-256", "conv3-256", _M,
              "conv3-512", "conv3-512", _M,
              "conv3-512", "conv3-512", _M],
    "B": ["conv3-64", "conv3-64", _M,
          "conv3-128", "conv3-128", _M,
          "conv3-256", "conv3-256", _M,
          "conv3-512", "conv3-512", _M,
          "conv3-512", "conv3-512", _M],
    "C": ["conv3-64", "conv3-64", _M,
          "conv3-128", "conv3-128", _M,
          "conv3-256", "conv3-256", "conv1-256", _M,
          "conv3-512", "conv3-512", "conv1-512", _M,
          "conv3-512", "conv3-512", "conv1-512", _M],
    "D": ["conv3-64", "conv3-64", _M,
          "conv3-128", "conv3-128", _M,
          "conv3-256", "conv3-256", "conv3-256", _M,
          "conv3-512", "conv3-512", "conv3-512", _M,
          "conv3-512", "conv3-512", "conv3-512", _M],
    "E": ["conv3-64", "conv3-64", _M,
          "conv3-128", "conv3-128", _M,
          "conv3-256", "conv3-256", "conv3-256", "conv3-256", _M,
          "conv3-512", "conv3-512", "conv3-512", "conv3-512", _M,
          "conv3-512", "conv3-512", "conv3-512", "conv3-512", _M],
}

_CONV = re.compile(r"conv(\d+)-(\d+)$")


def feature_layers(config: list[str], in_channels: int = 3,
                   batch_norm: bool = False) -> list[tuple[str, nn.Module]]:
    """The named conv/ReLU/(BN)/LRN/pool layers of one Table 1 column."""
    layers: list[tuple[str, nn.Module]] = []
    block, index, channels = 1, 0, in_channels
    for item in config:
        if item == _M:
            layers.append((f"pool{block}", nn.MaxPool2d(2, 2)))
            block, index = block + 1, 0
        elif item == "LRN":
            layers.append((f"norm{block}", paper_lrn()))
        else:
            match = _CONV.match(item)
            if match is None:
                raise ValueError(f"unknown VGG configuration entry {item!r}")
            k, out = int(match[1]), int(match[2])
            index += 1
            layers.append((f"conv{block}_{index}", nn.Conv2d(channels, out, k, padding=k // 2)))
            if batch_norm:
                layers.append((f"bn{block}_{index}", nn.BatchNorm2d(out)))
            layers.append((f"relu{block}_{index}", nn.ReLU()))
            channels = out
    return layers


# The values each option takes (checked by the builder and the class alike).
OPTIONS = dict(config=Choice(*CONFIGS), batch_norm=Flag(), dropout=DROPOUT,
               init=Choice("paper", "glorot", "default"))


class VGG(nn.Sequential):
    """A VGG configuration as a flat sequence of named layers (conv1_1, relu1_1, ..., fc8)."""

    def __init__(self, config: str = "D", num_classes: int = 1000, in_channels: int = 3, *,
                 batch_norm: bool = False, dropout: float = 0.5, init: str = "paper") -> None:
        check_options("VGG", dict(config=config, batch_norm=batch_norm, dropout=dropout, init=init),
                      OPTIONS)
        layers = feature_layers(CONFIGS[config], in_channels, batch_norm)  # N x 512 x 7 x 7
        layers += [
            ("flatten", Flatten()),                                         # N x 25088
            *fc_head(512 * 7 * 7, num_classes, dropout),
        ]
        super().__init__(OrderedDict(layers))
        self.config = config
        self.in_channels = in_channels
        if init == "paper":
            normal_init(self, 0.01)
        elif init == "glorot":
            self._glorot_init()

    @torch.no_grad()
    def _glorot_init(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                assert m.bias is not None  # every VGG conv and linear has a bias
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_input(self, x, self.in_channels, (224, 224))
        return super().forward(x)


@takes(**OPTIONS)
def vgg(*, num_classes: int = 1000, in_channels: int = 3, config: str = "D",
        batch_norm: bool = False, dropout: float = 0.5, init: str = "paper") -> VGG:
    """A VGG network of paper Table 1 (config "A", "A-LRN", "B", "C", "D" or "E")."""
    return VGG(config, num_classes, in_channels, batch_norm=batch_norm, dropout=dropout, init=init)


_PAPER = "Very Deep Convolutional Networks for Large-Scale Image Recognition (Simonyan & Zisserman)"
_URL = "https://arxiv.org/abs/1409.1556"

# name, config, batch_norm, params, MACs (docs/paper-facts.md; C's MACs computed here: docs/paper-facts.md gives 11.77G)
_VARIANTS = (
    ("vgg11", "A", False, 132_863_336, 7_609_090_048),
    ("vgg11_lrn", "A-LRN", False, 132_863_336, 7_609_090_048),
    ("vgg13", "B", False, 133_047_848, 11_308_466_176),
    ("vgg16c", "C", False, 133_638_952, 11_770_888_192),
    ("vgg16", "D", False, 138_357_544, 15_470_264_320),
    ("vgg19", "E", False, 143_667_240, 19_632_062_464),
    ("vgg11_bn", "A", True, 132_868_840, 7_609_090_048),
    ("vgg13_bn", "B", True, 133_053_736, 11_308_466_176),
    ("vgg16_bn", "D", True, 138_365_992, 15_470_264_320),
    ("vgg19_bn", "E", True, 143_678_248, 19_632_062_464),
)

for _name, _config, _bn, _params, _macs in _VARIANTS:
    _depth = sum(item.startswith("conv") for item in CONFIGS[_config]) + 3
    register(ModelInfo(
        name=_name, family="vgg", paper=_PAPER, url=_URL, year=2014, input_size=(3, 224, 224),
        num_classes=1000, params=_params, macs=_macs,
        computed=frozenset({"macs"}) if _config == "C" else frozenset(),
        description=f"VGG configuration {_config} ({_depth} weight layers)"
                    + (", BatchNorm after every conv (torchvision's, not in the paper)" if _bn
                       else ", as published"),
        defaults=dict(config=_config, batch_norm=_bn),
        paper_table=("vgg", _name), lineage=_name == "vgg16",
        # torchvision has configurations A, B, D, E (with and without BatchNorm), not A-LRN or C
        torchvision=Torchvision(_name) if _config in ("A", "B", "D", "E") else None,
    ), vgg)
