"""ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901). https://arxiv.org/abs/1311.2901

The default `zfnet` is the network of the paper's architecture figure (Fig. 3 in the ECCV version,
Fig. 2 in arXiv v1/v2), AlexNet revised after the DeconvNet visualisations:
conv1 96@7x7/2 -> ReLU -> max-pool 3x3/2 -> contrast normalisation (110 -> 55);
conv2 256@5x5/2 -> ReLU -> max-pool 3x3/2 -> contrast normalisation (26 -> 13);
conv3/4/5 384/384/256 @3x3 (dense: no two-GPU split) -> ReLU; max-pool 3x3/2 after conv5 (6x6x256);
fc6, fc7 4096 with ReLU and dropout 0.5; fc8 -> classes. Input 3x224x224.
62,357,608 parameters, 1.168G MACs.

Choices the paper leaves open, documented:
- Paddings are not given in the paper. conv1 pad 1, pool1 pad 1, conv2 pad 0, pool2 pad 1,
  conv3-5 pad 1 and pool5 pad 0 reproduce the figure's map sizes 110/55/26/13/6 exactly.
- "Contrast normalisation across feature maps" is taken to be AlexNet's local response
  normalisation with AlexNet's constants (`layers.paper_lrn()`: k=2, n=5, alpha=1e-4, beta=0.75).
  The paper gives no constants for it; reusing AlexNet's (whose design ZFNet revises) is our
  assumption.
  As in the figure, it comes after the pooling (AlexNet normalises before pooling).
- Initialisation: weights N(0, 0.01) and biases 0 (the paper's training section is reported to
  set weights to 1e-2 and biases to 0; docs/paper-facts.md marks this unconfirmed, and we read "1e-2" as the
  standard deviation of a zero-mean normal, as in AlexNet); `init="default"` keeps PyTorch's.
- The paper is reported (docs/paper-facts.md, unconfirmed) to renormalise, during training, every
  convolutional filter whose RMS value exceeds a fixed radius of 1e-1 back to that radius (to stop
  a few first-layer filters dominating).
  That is a training step, not part of the forward: `ZFNet.renormalize_filters(radius=0.1)`,
  for the trainer to call after each optimiser step.
- The softmax is left to the loss: fc8 returns logits.

`zfnet_wide` is the paper's variant (b) (Table 2): conv3/4/5 widened to 512/1024/512
(107,627,624 parameters and 2,476,704,896 MACs computed here; docs/paper-facts.md gives 107.6M and
2.48G). Both are registered as computed (ModelInfo.computed), since docs/paper-facts.md gives no exact figure.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from .. import checks
from ..layers import Flatten, check_input, fc_head, normal_init, paper_lrn
from ..options import DROPOUT, Choice, Flag, check_options, takes
from ..registry import ModelInfo, register

# conv3, conv4, conv5 widths: the paper's network and its variant (b).
WIDTHS = {False: (384, 384, 256), True: (512, 1024, 512)}
# The values each option takes (checked by the builder and the class alike).
OPTIONS = dict(wide=Flag(), dropout=DROPOUT, init=Choice("paper", "default"))


class ZFNet(nn.Sequential):
    """ZFNet as a flat sequence of named layers (conv1, relu1, pool1, norm1, ...)."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, *, wide: bool = False,
                 dropout: float = 0.5, init: str = "paper") -> None:
        check_options("ZFNet", dict(wide=wide, dropout=dropout, init=init), OPTIONS)
        c3, c4, c5 = WIDTHS[bool(wide)]
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 96, 7, stride=2, padding=1)),  # N x 96 x 110 x 110
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(3, 2, padding=1)),                        # N x 96 x 55 x 55
            ("norm1", paper_lrn()),
            ("conv2", nn.Conv2d(96, 256, 5, stride=2)),                      # N x 256 x 26 x 26
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(3, 2, padding=1)),                        # N x 256 x 13 x 13
            ("norm2", paper_lrn()),
            ("conv3", nn.Conv2d(256, c3, 3, padding=1)),                     # N x 384 x 13 x 13
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(c3, c4, 3, padding=1)),                      # N x 384 x 13 x 13
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(c4, c5, 3, padding=1)),                      # N x 256 x 13 x 13
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(3, 2)),                                   # N x 256 x 6 x 6
            ("flatten", Flatten()),                                          # N x 9216
            *fc_head(c5 * 6 * 6, num_classes, dropout),
        ]))
        self.in_channels = in_channels
        if init == "paper":
            normal_init(self, 0.01)

    @torch.no_grad()
    def renormalize_filters(self, radius: float = 0.1) -> int:
        """Scale every conv filter whose RMS exceeds `radius` back to RMS == radius (paper Sec. 3).

        A filter is one output map's kernel (in_channels x k x k); its RMS is sqrt(mean(w^2)).
        Biases are left alone. Returns how many filters were rescaled.
        """
        radius = checks.positive_float("radius", radius)
        rescaled = 0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                rms = m.weight.pow(2).mean(dim=(1, 2, 3)).sqrt()       # one per output map
                # a filter rescaled last time sits at radius up to rounding: leave it alone
                over = rms > radius * (1 + 1e-5)
                scale = torch.where(over, radius / rms, torch.ones_like(rms))
                m.weight.mul_(scale.view(-1, 1, 1, 1))
                rescaled += int(over.sum())
        return rescaled

    def forward(self, x: Tensor) -> Tensor:
        check_input(self, x, self.in_channels, (224, 224))
        return super().forward(x)


@takes(**OPTIONS)
def zfnet(*, num_classes: int = 1000, in_channels: int = 3, wide: bool = False,
          dropout: float = 0.5, init: str = "paper") -> ZFNet:
    """ZFNet as in Zeiler & Fergus (see the module docstring); wide=True for variant (b)."""
    return ZFNet(num_classes, in_channels, wide=wide, dropout=dropout, init=init)


_PAPER = "Visualizing and Understanding Convolutional Networks (Zeiler & Fergus)"
_URL = "https://arxiv.org/abs/1311.2901"

register(ModelInfo(
    name="zfnet", family="zfnet", paper=_PAPER, url=_URL, year=2013, input_size=(3, 224, 224),
    num_classes=1000, params=62_357_608, macs=1_168_032_896,
    top5_error=16.4,
    top5_error_note="1 convnet (their architecture), ILSVRC-2012 validation, arXiv v1/v2 Table 2 "
                    "(16.5 on the test set)",
    description="ZFNet as published: 7x7/2 conv1, 5x5/2 conv2, dense conv3-5, LRN after pooling",
    paper_table=("zfnet", False), lineage=True,
), zfnet)
register(ModelInfo(
    name="zfnet_wide", family="zfnet", paper=_PAPER, url=_URL, year=2013, input_size=(3, 224, 224),
    num_classes=1000, params=107_627_624, macs=2_476_704_896, computed=frozenset({"params", "macs"}),
    description="ZFNet variant (b): conv3/4/5 widened to 512/1024/512 (107,627,624 parameters "
                "computed; docs/paper-facts.md gives 107.6M)",
    defaults=dict(wide=True), paper_table=("zfnet", True),
), zfnet)
