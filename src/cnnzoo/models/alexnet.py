"""AlexNet: Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012. https://papers.nips.cc/paper/4824

The default `alexnet` is the paper's network (Sec. 3, Fig. 2), with the two-GPU split written as
convolution groups: conv1 96@11x11/4 -> ReLU -> LRN -> max-pool 3x3/2; conv2 256@5x5 pad 2,
groups=2 -> ReLU -> LRN -> max-pool 3x3/2; conv3 384@3x3 (dense: it reads both GPUs' maps);
conv4 384@3x3 groups=2; conv5 256@3x3 groups=2 -> max-pool 3x3/2; fc6 9216->4096, fc7 4096->4096
(ReLU, dropout 0.5 on their outputs); fc8 4096->classes. 60,965,224 parameters, 724.4M MACs.

- LRN is the paper's b = a / (2 + 1e-4 * sum_{5 maps} a^2)^0.75 (`layers.paper_lrn()`; PyTorch
  divides alpha by the window size, so alpha=5e-4 there). Overlapping pooling z=3, s=2.
- Input 3x227x227. The paper says 224, but 11x11 with stride 4 and no padding gives 55x55 only from
  227 (the arithmetic the BVLC Caffe replica uses); 224 is refused with that explanation.
- Initialisation (Sec. 5): weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6 and fc7 (to
  give the ReLUs positive inputs early on), 0 elsewhere. `init="default"` keeps PyTorch's.
- The softmax is left to the loss: fc8 returns logits.

Deviations / options:
- `towers=1`: one dense tower (groups=1 everywhere): 62,378,344 parameters, 1.135G MACs.
- The paper's two GPUs also split fc6/fc7 across devices, but every unit reads all inputs, so they
  are ordinary dense layers here; the grouped convolutions reproduce the paper's connectivity and
  parameter count exactly, not its device placement.

torchvision's layout of this network, `alexnet_tv`, is in models/torchvision_layouts.py.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from ..layers import Flatten, check_input, fc_head, normal_init, paper_lrn
from ..options import DROPOUT, Choice, check_options, takes
from ..registry import ModelInfo, register

_HINT_224 = ("AlexNet's arithmetic needs 227x227: 224 with stride 4 and no padding does not give 55; "
             "resize or pad to 227x227, or use alexnet_tv (torchvision's layout) for 224x224")

# The values each option takes (checked by the builders and the classes alike); towers: 1 (one
# dense network) or 2 (the paper's two GPUs).
OPTIONS = dict(towers=Choice(2, 1), dropout=DROPOUT, init=Choice("paper", "default"))


# Layers whose biases the paper initialises to 1 (Sec. 5).
BIAS_ONE = ("conv2", "conv4", "conv5", "fc6", "fc7")


class AlexNet(nn.Sequential):
    """The paper's AlexNet as a flat sequence of named layers (conv1, relu1, norm1, pool1, ...)."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, towers: int = 2,
                 dropout: float = 0.5, init: str = "paper") -> None:
        check_options("AlexNet", dict(towers=towers, dropout=dropout, init=init), OPTIONS)
        g = towers  # conv2, conv4 and conv5 only see the maps on their own GPU
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 96, 11, stride=4)),     # N x 96 x 55 x 55
            ("relu1", nn.ReLU()),
            ("norm1", paper_lrn()),
            ("pool1", nn.MaxPool2d(3, 2)),                           # N x 96 x 27 x 27
            ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=g)),   # N x 256 x 27 x 27
            ("relu2", nn.ReLU()),
            ("norm2", paper_lrn()),
            ("pool2", nn.MaxPool2d(3, 2)),                           # N x 256 x 13 x 13
            ("conv3", nn.Conv2d(256, 384, 3, padding=1)),            # N x 384 x 13 x 13, crosses GPUs
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=g)),  # N x 384 x 13 x 13
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=g)),  # N x 256 x 13 x 13
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(3, 2)),                           # N x 256 x 6 x 6
            ("flatten", Flatten()),                                  # N x 9216
            *fc_head(256 * 6 * 6, num_classes, dropout),
        ]))
        self.in_channels = in_channels
        if init == "paper":
            self._paper_init()

    @torch.no_grad()
    def _paper_init(self) -> None:
        """N(0, 0.01) weights; biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere (Sec. 5)."""
        normal_init(self, 0.01)
        for name in BIAS_ONE:
            nn.init.ones_(getattr(self, name).bias)

    def forward(self, x: Tensor) -> Tensor:
        check_input(self, x, self.in_channels, (227, 227),
                    hint=_HINT_224 if tuple(x.shape[-2:]) == (224, 224) else "")
        return super().forward(x)


@takes(**OPTIONS)
def alexnet(*, num_classes: int = 1000, in_channels: int = 3, towers: int = 2, dropout: float = 0.5,
            init: str = "paper") -> AlexNet:
    """AlexNet as in the NIPS 2012 paper (see the module docstring); towers=1 for one dense tower."""
    return AlexNet(num_classes, in_channels, towers=towers, dropout=dropout, init=init)


PAPER = "ImageNet Classification with Deep Convolutional Neural Networks (Krizhevsky et al.)"
URL = "https://papers.nips.cc/paper/4824"

register(ModelInfo(
    name="alexnet", family="alexnet", paper=PAPER, url=URL, year=2012, input_size=(3, 227, 227),
    num_classes=1000, params=60_965_224, macs=724_406_816,
    top5_error=18.2,
    top5_error_note="1 CNN, ILSVRC-2012 validation (paper Table 2); 17.0 on ILSVRC-2010 test",
    description="AlexNet as published: two towers as groups=2 on conv2/4/5, LRN, overlapping "
                "pooling, 227x227 input",
    paper_table=("alexnet",), lineage=True,
), alexnet)
