"""torchvision's layouts of the networks it shares with cnnzoo, apart from the papers' networks.

Each paper file (alexnet.py, googlenet.py) holds its paper's network; the replicas of
torchvision's modules live here, registered under their own names with the same state_dict keys
as torchvision, so its weights load by name (interop/torchvision.py). The VGGs and
ResNets need no replica: torchvision's layout is the paper's (ResNet: `variant="v1.5"`).

`alexnet_tv` is torchvision's `alexnet` layout exactly (the "One weird trick" variant, arXiv
1404.5997): 64-192-384-256-256 channels, conv1 pad 2 for 224 input, no LRN, no groups,
AdaptiveAvgPool2d(6, 6), dropout on the *inputs* of fc6/fc7; the same state_dict keys
(features.0.weight ... classifier.6.bias), so torchvision weights load by name. Differences from
torchvision's module: ReLUs are not in-place, and the flatten is a module (`flatten`, no
parameters) so hooks see it. 61,100,840 parameters, 714.2M MACs at 224.

`googlenet_tv` is torchvision's `googlenet` layout, for its ported weights and for comparisons:
BasicConv2d (conv without bias + BatchNorm eps 1e-3 + ReLU) everywhere and no LRN; a 3x3 conv
where the paper has 5x5 (torchvision issue #906); pool4 2x2/2; adaptive average pooling (any input
of at least 15x15); dropout 0.2; aux heads (adaptive avg-pool 4x4 -> conv 128 with BN -> fc
2048->1024 -> dropout 0.7 -> fc) off by default; `transform_input` re-normalises ImageNet-normalised
input to the [-1, 1] scaling the ported weights expect. Attribute names and registration order are
torchvision's, so its state_dict keys are identical. 6,624,904 parameters (13,004,888 with aux);
1.498 G MACs.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import OptionError
from ..layers import Concat, Flatten, check_input, normal_init
from ..options import DROPOUT, Choice, Flag, check_options, takes
from ..registry import ModelInfo, Torchvision, register
from .alexnet import PAPER as _ALEXNET_PAPER
from .alexnet import URL as _ALEXNET_URL
from .googlenet import PAPER as _GOOGLENET_PAPER
from .googlenet import ROWS, TOP5_NOTE, GoogLeNetOutputs, InceptionRow
from .googlenet import URL as _GOOGLENET_URL

# The values each option takes (checked by the builders and the classes alike).
ALEXNET_OPTIONS = dict(dropout=DROPOUT, init=Choice("default", "paper"))
GOOGLENET_OPTIONS = dict(aux_logits=Flag(), transform_input=Flag(), init=Choice("torchvision", "default"))


# --- AlexNet ---------------------------------------------------------------------------------
class AlexNetTV(nn.Module):
    """torchvision's AlexNet layout (features / avgpool / classifier), same state_dict keys."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, dropout: float = 0.5,
                 init: str = "default") -> None:
        super().__init__()
        check_options("AlexNetTV", dict(dropout=dropout, init=init), ALEXNET_OPTIONS)
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 11, stride=4, padding=2),  # 0: N x 64 x 55 x 55
            nn.ReLU(),
            nn.MaxPool2d(3, 2),                                    # 2: N x 64 x 27 x 27
            nn.Conv2d(64, 192, 5, padding=2),                      # 3: N x 192 x 27 x 27
            nn.ReLU(),
            nn.MaxPool2d(3, 2),                                    # 5: N x 192 x 13 x 13
            nn.Conv2d(192, 384, 3, padding=1),                     # 6
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),                     # 8
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),                     # 10: N x 256 x 13 x 13
            nn.ReLU(),
            nn.MaxPool2d(3, 2),                                    # 12: N x 256 x 6 x 6
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))                # N x 256 x 6 x 6 at any size
        self.flatten = Flatten()                                   # N x 9216
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * 6 * 6, 4096),                          # 1
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),                                 # 4
            nn.ReLU(),
            nn.Linear(4096, num_classes),                          # 6
        )
        if init == "paper":
            normal_init(self, 0.01)

    def forward(self, x: Tensor) -> Tensor:
        # 63 is the smallest side that leaves pool5 (the last max-pool) a 1x1 input
        check_input(self, x, self.in_channels, min_size=63)
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


@takes(**ALEXNET_OPTIONS)
def alexnet_tv(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
               init: str = "default") -> AlexNetTV:
    """torchvision's AlexNet layout (state_dict-compatible with torchvision.models.alexnet)."""
    return AlexNetTV(num_classes, in_channels, dropout=dropout, init=init)


# --- GoogLeNet -------------------------------------------------------------------------------
class BasicConv2d(nn.Module):
    """torchvision's conv (no bias) + BatchNorm (eps 1e-3) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class InceptionTV(nn.Module):
    """torchvision's Inception: branch1 1x1; branch2 1x1 -> 3x3; branch3 1x1 -> 3x3 (the paper
    has 5x5 here: torchvision issue #906); branch4 max-pool 3x3/1 -> 1x1."""

    def __init__(self, in_channels: int, row: InceptionRow) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, row.ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, row.ch3x3_reduce, 1),
                                     BasicConv2d(row.ch3x3_reduce, row.ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, row.ch5x5_reduce, 1),
                                     BasicConv2d(row.ch5x5_reduce, row.ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, row.pool_proj, 1))
        self.out_channels = row.ch1x1 + row.ch3x3 + row.ch5x5 + row.pool_proj
        self.concat = Concat(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.concat(self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x))


class InceptionAuxTV(nn.Module):
    """torchvision's aux head: adaptive avg-pool 4x4 -> BasicConv2d 128 -> fc 2048->1024 + ReLU
    -> dropout 0.7 -> fc. (Parameters registered in torchvision's order: conv, fc1, fc2.)"""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, 1)
        self.flatten = Flatten()
        self.fc1 = nn.Linear(2048, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        # N x 512 x 14 x 14 (after 4a) or N x 528 x 14 x 14 (after 4d)
        x = self.flatten(self.conv(self.avgpool(x)))
        # N x 2048
        x = self.dropout(self.relu(self.fc1(x)))
        # N x 1024
        return self.fc2(x)


class GoogLeNetTV(nn.Module):
    """torchvision's GoogLeNet layout (see the module docstring); state_dict keys identical."""

    aux_loss_weight: float = 0.3

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, aux_logits: bool = False,
                 transform_input: bool = False, init: str = "torchvision") -> None:
        super().__init__()
        check_options("GoogLeNetTV", dict(aux_logits=aux_logits, transform_input=transform_input,
                                          init=init), GOOGLENET_OPTIONS)
        if transform_input and in_channels != 3:
            raise OptionError("transform_input re-normalises the three ImageNet RGB channels: "
                             f"it needs in_channels=3, got {in_channels}")
        self.in_channels = in_channels
        self.aux_logits = aux_logits
        self.transform_input = transform_input

        # Registration order = torchvision's, so state_dicts line up tensor by tensor.
        self.conv1 = BasicConv2d(in_channels, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = InceptionTV(192, ROWS["3a"])
        self.inception3b = InceptionTV(256, ROWS["3b"])
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = InceptionTV(480, ROWS["4a"])
        self.inception4b = InceptionTV(512, ROWS["4b"])
        self.inception4c = InceptionTV(512, ROWS["4c"])
        self.inception4d = InceptionTV(512, ROWS["4d"])
        self.inception4e = InceptionTV(528, ROWS["4e"])
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = InceptionTV(832, ROWS["5a"])
        self.inception5b = InceptionTV(832, ROWS["5b"])
        self.aux1 = InceptionAuxTV(512, num_classes) if aux_logits else None
        self.aux2 = InceptionAuxTV(528, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = Flatten()
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

        if init == "torchvision":
            self._torchvision_init()

    @torch.no_grad()
    def _torchvision_init(self) -> None:
        """torchvision's init_weights=True: truncated N(0, 0.01) in [-2, 2], BN weight 1, bias 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _transform_input(self, x: Tensor) -> Tensor:
        # ImageNet mean/std normalisation -> the (x - 0.5) / 0.5 scaling of the ported TF weights
        mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return x * (std / 0.5) + (mean - 0.5) / 0.5

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        check_input(self, x, self.in_channels, min_size=15)
        if self.transform_input:
            x = self._transform_input(x)
        # N x 3 x 224 x 224
        x = self.conv1(x)
        # N x 64 x 112 x 112
        x = self.maxpool1(x)
        # N x 64 x 56 x 56
        x = self.conv3(self.conv2(x))
        # N x 192 x 56 x 56
        x = self.maxpool2(x)
        # N x 192 x 28 x 28
        x = self.inception3b(self.inception3a(x))
        # N x 480 x 28 x 28
        x = self.maxpool3(x)
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        # N x 528 x 14 x 14
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.inception4e(x)
        # N x 832 x 14 x 14
        x = self.maxpool4(x)
        # N x 832 x 7 x 7
        x = self.inception5b(self.inception5a(x))
        # N x 1024 x 7 x 7
        x = self.flatten(self.avgpool(x))
        # N x 1024
        logits = self.fc(self.dropout(x))
        # N x num_classes
        if aux1 is not None and aux2 is not None:
            return GoogLeNetOutputs(logits, aux1, aux2)
        return logits


@takes(**GOOGLENET_OPTIONS)
def googlenet_tv(*, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
                 transform_input: bool = False, init: str = "torchvision") -> GoogLeNetTV:
    """torchvision's GoogLeNet layout (BatchNorm, 3x3 in place of 5x5, pool4 2x2/2, adaptive
    pooling); loads torchvision's state_dicts key for key."""
    return GoogLeNetTV(num_classes, in_channels, aux_logits=aux_logits,
                       transform_input=transform_input, init=init)


register(ModelInfo(
    name="alexnet_tv", family="alexnet", paper=_ALEXNET_PAPER, url=_ALEXNET_URL, year=2012, input_size=(3, 224, 224),
    num_classes=1000, params=61_100_840, macs=714_188_480, fixed_size=False,
    description="torchvision's AlexNet layout (One weird trick variant: 64-192-384-256-256, no LRN, "
                "no groups, adaptive pooling); loads torchvision weights by key",
    torchvision=Torchvision("alexnet"),
), alexnet_tv)
register(ModelInfo(
    name="googlenet_tv", family="googlenet", paper=_GOOGLENET_PAPER, url=_GOOGLENET_URL, year=2014,
    input_size=(3, 224, 224), num_classes=1000, params=6_624_904, macs=1_498_376_192,
    top5_error=None, fixed_size=False,
    top5_error_note="torchvision's layout; its ported weights score 89.530% top-5 accuracy "
                    "(10.47% error), not a paper number. " + TOP5_NOTE,
    description="torchvision's GoogLeNet: BatchNorm, 3x3 in place of 5x5, no LRN, "
                "aux heads off by default",
    pretrained_options={"transform_input": True},  # torchvision's ported weights expect [-1, 1] input
    torchvision=Torchvision("googlenet", flags_from_keys={"aux_logits": "aux1."},
                            shared_flags=("transform_input",),
                            builder_kwargs={"init_weights": False}),  # no init: weights are copied in
), googlenet_tv)
