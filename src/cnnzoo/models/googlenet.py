"""GoogLeNet (Inception v1): Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke,
Rabinovich, "Going deeper with convolutions", CVPR 2015. https://arxiv.org/abs/1409.4842

The default `googlenet` is the paper's network, Table 1 row by row (INCEPTION_TABLE below), laid
out as the BVLC Caffe replica (models/bvlc_googlenet/train_val.prototxt) does it:

    conv1 7x7/2 pad 3, 64 -> relu1 -> pool1 3x3/2 (ceil) -> norm1 (LRN)
    -> conv2_reduce 1x1, 64 -> relu2_reduce -> conv2 3x3 pad 1, 192 -> relu2 -> norm2 (LRN)
    -> pool2 3x3/2 (ceil) -> inception3a, 3b -> pool3 3x3/2 (ceil) -> inception4a..4e
    -> pool4 3x3/2 (ceil) -> inception5a, 5b -> avgpool 7x7/1 -> dropout 0.4 -> fc

Each Inception module has four branches, concatenated on channels by a `Concat` module:
branch1x1 (1x1), branch3x3 (1x1 reduce -> 3x3 pad 1), branch5x5 (1x1 reduce -> 5x5 pad 2: the
paper's real 5x5) and branch_pool (max-pool 3x3/1 pad 1 -> 1x1 pool projection), a ReLU after
every convolution. 224x224 input only (the 7x7 average pool then a fully connected layer).

Two auxiliary classifiers, `aux1` on inception4a's output (N x 512 x 14 x 14) and `aux2` on
inception4d's (N x 528 x 14 x 14): avg-pool 5x5/3 -> 1x1 conv 128 + ReLU -> fc 1024 + ReLU ->
dropout 0.7 -> fc num_classes. They run only in training mode; their losses are added with weight
`model.aux_loss_weight` = 0.3 (paper Sec. 5). In training mode forward returns
`GoogLeNetOutputs(logits, aux1, aux2)` IN THAT ORDER (main head first, then the heads after 4a and
after 4d; torchvision's namedtuple is ordered logits, aux_logits2, aux_logits1 and its own
GoogLeNet uses this class too, so the two never mix); in eval mode, or built with
aux_logits=False, forward returns the logits Tensor.

Sizes (224x224, 1000 classes): 6,998,552 parameters without the aux heads, 13,378,280 with them
(3,188,840 + 3,190,888); 1,582,671,872 conv+linear multiply-accumulates at inference (eval mode,
ModelInfo.macs); in training mode the aux heads add 8,372,224.

Deviations and choices, all documented:
- LRN: the paper only cites AlexNet's local response normalisation, so norm1/norm2 are
  `layers.paper_lrn()` (AlexNet's k=2, n=5, alpha=1e-4, beta=0.75). The Caffe replica writes
  local_size 5, alpha 1e-4, beta 0.75 with Caffe's k=1 and alpha divided by n, i.e. a much weaker
  normalisation; it is not what the paper's reference says.
- Initialisation: the paper gives none; `init="xavier"` (default) is the Caffe replica's:
  Caffe's "xavier" filler U(-sqrt(3/fan_in), +sqrt(3/fan_in)) for every weight, biases 0.2 for
  convolutions and hidden FC layers, 0 for the classifiers. `init="default"` keeps PyTorch's.
- Option `inception="naive"` builds the paper's Fig. 2(a) module instead of Fig. 2(b): no 1x1
  reductions, the 3x3 and 5x5 convolutions read the module input directly and the pool branch has
  no projection, so a module's output has (#1x1 + #3x3 + #5x5 + its input) channels and the
  widths grow from module to module (192 -> 416 -> 832 -> ... -> 4,944 after 5b); the fc and aux
  heads are sized to match. It exists to measure the "computational blow-up" the paper gives as
  the reason for the reductions (Sec. 4).

torchvision's layout of this network, `googlenet_tv`, is in models/torchvision_layouts.py.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..layers import Concat, Flatten, check_input, paper_lrn
from ..options import Choice, Flag, check_options, takes
from ..registry import ModelInfo, register


class InceptionRow(NamedTuple):
    """One row of the paper's Table 1: filter counts of an Inception module's branches."""

    name: str
    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int


# Paper Table 1 (identical in the Caffe replica and torchvision). Module input channels follow
# from the previous row: 192 into 3a, then #1x1 + #3x3 + #5x5 + pool proj of the row before.
INCEPTION_TABLE: tuple[InceptionRow, ...] = (
    InceptionRow("3a", 64, 96, 128, 16, 32, 32),
    InceptionRow("3b", 128, 128, 192, 32, 96, 64),
    InceptionRow("4a", 192, 96, 208, 16, 48, 64),
    InceptionRow("4b", 160, 112, 224, 24, 64, 64),
    InceptionRow("4c", 128, 128, 256, 24, 64, 64),
    InceptionRow("4d", 112, 144, 288, 32, 64, 64),
    InceptionRow("4e", 256, 160, 320, 32, 128, 128),
    InceptionRow("5a", 256, 160, 320, 32, 128, 128),
    InceptionRow("5b", 384, 192, 384, 48, 128, 128),
)
ROWS = {row.name: row for row in INCEPTION_TABLE}


class GoogLeNetOutputs(NamedTuple):
    """What a GoogLeNet returns in training mode with its auxiliary heads.

    logits: the main classifier (after inception5b); aux1: the head on inception4a's output;
    aux2: the head on inception4d's output. The training loss is
    loss(logits) + aux_loss_weight * (loss(aux1) + loss(aux2)).
    """

    logits: Tensor
    aux1: Tensor
    aux2: Tensor


# The values each option takes (checked by the builders and the classes alike).
OPTIONS = dict(aux_logits=Flag(), inception=Choice("bottleneck", "naive"),
               init=Choice("xavier", "default"))



# --- the paper's network ------------------------------------------------------------------------

class Inception(nn.Module):
    """The paper's Inception module: Fig. 2(b) with dimension reductions, or Fig. 2(a) (naive)."""

    def __init__(self, in_channels: int, row: InceptionRow, naive: bool = False) -> None:
        super().__init__()
        self.naive = naive
        self.branch1x1 = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_channels, row.ch1x1, 1), relu=nn.ReLU()))
        if naive:
            self.branch3x3 = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(in_channels, row.ch3x3, 3, padding=1), relu=nn.ReLU()))
            self.branch5x5 = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(in_channels, row.ch5x5, 5, padding=2), relu=nn.ReLU()))
            self.branch_pool = nn.Sequential(OrderedDict(
                pool=nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)))
            self.out_channels = row.ch1x1 + row.ch3x3 + row.ch5x5 + in_channels
        else:
            self.branch3x3 = nn.Sequential(OrderedDict(
                reduce=nn.Conv2d(in_channels, row.ch3x3_reduce, 1), reduce_relu=nn.ReLU(),
                conv=nn.Conv2d(row.ch3x3_reduce, row.ch3x3, 3, padding=1), relu=nn.ReLU()))
            self.branch5x5 = nn.Sequential(OrderedDict(
                reduce=nn.Conv2d(in_channels, row.ch5x5_reduce, 1), reduce_relu=nn.ReLU(),
                conv=nn.Conv2d(row.ch5x5_reduce, row.ch5x5, 5, padding=2), relu=nn.ReLU()))
            self.branch_pool = nn.Sequential(OrderedDict(
                pool=nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                proj=nn.Conv2d(in_channels, row.pool_proj, 1), relu=nn.ReLU()))
            self.out_channels = row.ch1x1 + row.ch3x3 + row.ch5x5 + row.pool_proj
        self.concat = Concat(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.concat(self.branch1x1(x), self.branch3x3(x), self.branch5x5(x),
                           self.branch_pool(x))


class AuxClassifier(nn.Module):
    """The paper's auxiliary classifier (Sec. 5; Caffe's loss1/* and loss2/* layers)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.avgpool = nn.AvgPool2d(5, stride=3, ceil_mode=True)
        self.conv = nn.Conv2d(in_channels, 128, 1)
        self.relu_conv = nn.ReLU()
        self.flatten = Flatten()
        self.fc = nn.Linear(128 * 4 * 4, 1024)
        self.relu_fc = nn.ReLU()
        self.dropout = nn.Dropout(0.7)
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        # N x 512 x 14 x 14 (after 4a) or N x 528 x 14 x 14 (after 4d)
        x = self.avgpool(x)
        # N x C x 4 x 4
        x = self.relu_conv(self.conv(x))
        # N x 128 x 4 x 4
        x = self.flatten(x)
        # N x 2048
        x = self.dropout(self.relu_fc(self.fc(x)))
        # N x 1024
        return self.classifier(x)


class GoogLeNet(nn.Module):
    """GoogLeNet as in the paper's Table 1 (see the module docstring)."""

    aux_loss_weight: float = 0.3

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, aux_logits: bool = True,
                 inception: str = "bottleneck", init: str = "xavier") -> None:
        super().__init__()
        check_options("GoogLeNet", dict(aux_logits=aux_logits, inception=inception, init=init), OPTIONS)
        self.in_channels = in_channels
        self.aux_logits = aux_logits
        naive = inception == "naive"

        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.norm1 = paper_lrn()
        self.conv2_reduce = nn.Conv2d(64, 64, 1)
        self.relu2_reduce = nn.ReLU()
        self.conv2 = nn.Conv2d(64, 192, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.norm2 = paper_lrn()
        self.pool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        channels = 192

        def inception_module(name: str) -> Inception:
            nonlocal channels
            module = Inception(channels, ROWS[name], naive)
            channels = module.out_channels
            return module

        self.inception3a = inception_module("3a")
        self.inception3b = inception_module("3b")
        self.pool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception_module("4a")
        self.aux1 = AuxClassifier(channels, num_classes) if aux_logits else None
        self.inception4b = inception_module("4b")
        self.inception4c = inception_module("4c")
        self.inception4d = inception_module("4d")
        self.aux2 = AuxClassifier(channels, num_classes) if aux_logits else None
        self.inception4e = inception_module("4e")
        self.pool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception5a = inception_module("5a")
        self.inception5b = inception_module("5b")
        self.avgpool = nn.AvgPool2d(7, stride=1)
        self.flatten = Flatten()
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(channels, num_classes)

        if init == "xavier":
            caffe_xavier_init(self)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        check_input(self, x, self.in_channels, (224, 224))
        # N x 3 x 224 x 224
        x = self.relu1(self.conv1(x))
        # N x 64 x 112 x 112
        x = self.norm1(self.pool1(x))
        # N x 64 x 56 x 56
        x = self.relu2_reduce(self.conv2_reduce(x))
        # N x 64 x 56 x 56
        x = self.norm2(self.relu2(self.conv2(x)))
        # N x 192 x 56 x 56
        x = self.pool2(x)
        # N x 192 x 28 x 28
        x = self.inception3a(x)
        # N x 256 x 28 x 28
        x = self.inception3b(x)
        # N x 480 x 28 x 28
        x = self.pool3(x)
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4b(x)
        # N x 512 x 14 x 14
        x = self.inception4c(x)
        # N x 512 x 14 x 14
        x = self.inception4d(x)
        # N x 528 x 14 x 14
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.inception4e(x)
        # N x 832 x 14 x 14
        x = self.pool4(x)
        # N x 832 x 7 x 7
        x = self.inception5a(x)
        # N x 832 x 7 x 7
        x = self.inception5b(x)
        # N x 1024 x 7 x 7
        x = self.flatten(self.avgpool(x))
        # N x 1024
        logits = self.fc(self.dropout(x))
        # N x num_classes
        if aux1 is not None and aux2 is not None:
            return GoogLeNetOutputs(logits, aux1, aux2)
        return logits


@torch.no_grad()
def caffe_xavier_init(model: nn.Module) -> None:
    """The BVLC GoogLeNet replica's initialisation.

    Caffe's "xavier" filler is U(-a, a) with a = sqrt(3 / fan_in) (variance 1/fan_in; not
    PyTorch's xavier_uniform_, which uses fan_in + fan_out). Biases: 0.2 for convolutions and the
    aux heads' hidden fc, 0 for the classifiers (`fc`, `classifier`).
    """
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            bound = math.sqrt(3.0 / fan_in)
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                is_classifier = name == "fc" or name.endswith(".classifier")
                nn.init.constant_(m.bias, 0.0 if is_classifier else 0.2)


# --- torchvision's layout -------------------------------------------------------------------------

# --- registered builders ------------------------------------------------------------------------

@takes(**OPTIONS)
def googlenet(*, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True,
              inception: str = "bottleneck", init: str = "xavier") -> GoogLeNet:
    """GoogLeNet as in the paper (https://arxiv.org/abs/1409.4842), Table 1, with its two
    auxiliary classifiers. inception="naive" builds Fig. 2(a) modules; init="default" keeps
    PyTorch's initialisation instead of the Caffe replica's Xavier."""
    return GoogLeNet(num_classes, in_channels, aux_logits=aux_logits, inception=inception,
                     init=init)


PAPER = "Going deeper with convolutions (Szegedy et al.)"
URL = "https://arxiv.org/abs/1409.4842"
TOP5_NOTE = ("Paper Table 3 gives 10.07% top-5 (val) for 1 model, 1 crop, unconfirmed here "
              "(docs/paper-facts.md [R]); the famous 6.67% is the 7-model, 144-crop ensemble (test).")

register(ModelInfo(
    name="googlenet", family="googlenet", paper=PAPER, url=URL, year=2014,
    input_size=(3, 224, 224), num_classes=1000, params=13_378_280, macs=1_582_671_872,
    top5_error=None, top5_error_note=TOP5_NOTE,
    description="GoogLeNet (Inception v1) as published: Table 1, real 5x5 branch, LRN, "
                "two auxiliary classifiers (training only)",
    paper_table=("googlenet",), lineage=True,
), googlenet)
