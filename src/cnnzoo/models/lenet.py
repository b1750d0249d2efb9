"""LeNet-5: LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 86(11), 1998, Sec. II-B. http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf

The default `lenet5` is the paper's network: 1x32x32 input; C1 6@5x5; S2 trainable subsampling
(the four inputs summed, times one trainable coefficient, plus one trainable bias, per map); C3
16@5x5 wired by Table I (1,516 parameters); S4; C5 120@5x5; F6 84; the scaled tanh
1.7159*tanh(2a/3) after every layer from C1 to F6; and the Euclidean RBF output whose weights are
fixed +-1 7x12 bitmaps, one per class. 60,000 trainable parameters.

Deviations, all documented choices:
- The RBF output returns the *negated* squared distances -||x - w_i||^2 as logits, so the largest
  logit is the paper's argmin and cross-entropy on them is the paper's criterion (Eq. 9: the
  correct class's RBF output plus a log-sum-exp over the others) up to its constant j.
- The class bitmaps are drawn here after the paper's Fig. 3 (stylised digits on 7x12); the exact
  pixels of the figure are not reproduced. Only their role matters: distinct +-1 codes.
- Initialisation follows Appendix A, U(-2.4/F, 2.4/F) with F the unit's fan-in (each C3 map has its
  own fan-in); `init="default"` keeps PyTorch's.

Variants by option: connections="full" (C3 sees all six S2 maps), pooling="avg"|"max" (plain
pooling, no trainable coefficient and no activation after it), activation="relu"|"tanh"|"sigmoid",
head="linear". `lenet5_modern` = full connections, max pooling, ReLU, linear head, PyTorch init.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import OptionError
from ..layers import Flatten, check_input
from ..options import Choice, check_options, takes
from ..registry import ModelInfo, register

# Paper Table I: for each C3 map, the S2 maps it reads.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# Stylised 7x12 class codes ('#' = +1, '.' = -1), after the paper's Fig. 3.
DIGIT_BITMAPS = (
    ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),
    ("...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...",
     "...#...", "...#...", "...#...", "...#...", "...#...", ".#####."),
    (".#####.", "#.....#", "......#", "......#", ".....#.", "....#..",
     "...#...", "..#....", ".#.....", "#......", "#......", "#######"),
    ("######.", "......#", "......#", "......#", ".....#.", "..###..",
     ".....#.", "......#", "......#", "......#", "......#", "######."),
    ("....##.", "...#.#.", "..#..#.", ".#...#.", "#....#.", "#....#.",
     "#######", ".....#.", ".....#.", ".....#.", ".....#.", ".....#."),
    ("#######", "#......", "#......", "#......", "######.", "......#",
     "......#", "......#", "......#", "......#", "#.....#", ".#####."),
    ("..####.", ".#.....", "#......", "#......", "#.###..", "##...#.",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),
    ("#######", "......#", ".....#.", ".....#.", "....#..", "....#..",
     "...#...", "...#...", "..#....", "..#....", "..#....", "..#...."),
    (".#####.", "#.....#", "#.....#", "#.....#", ".#...#.", "..###..",
     ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#", ".#####."),
    ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", ".#...##",
     "..###.#", "......#", "......#", "......#", ".....#.", ".####.."),
)


def class_codes(num_classes: int) -> Tensor:
    """num_classes x 84 matrix of +-1 codes (the RBF centres)."""
    if num_classes > len(DIGIT_BITMAPS):
        raise OptionError(
            f"lenet5's RBF output has fixed codes for {len(DIGIT_BITMAPS)} classes, got "
            f"num_classes={num_classes}: use head='linear' for more classes."
        )
    rows = ["".join(bitmap) for bitmap in DIGIT_BITMAPS[:num_classes]]
    return torch.tensor([[1.0 if c == "#" else -1.0 for c in row] for row in rows])


class ScaledTanh(nn.Module):
    """f(a) = A tanh(S a) with A = 1.7159, S = 2/3 (paper Appendix A): f(+-1) = +-1."""

    def forward(self, x: Tensor) -> Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S2/S4: sum of each non-overlapping 2x2 block, times a trainable coefficient, plus a
    trainable bias, per map (2 parameters a map). The activation follows as its own module."""

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size
        self.padding = 0
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        summed = F.avg_pool2d(x, k) * (k * k)  # N x C x H/2 x W/2
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, kernel_size={self.kernel_size}, stride={self.stride}"


class PartialConv2d(nn.Module):
    """A convolution in which output map j reads only the input maps `table[j]` (C3).

    Only the connected kernels are parameters: `weight` holds them packed in table order
    (connections x k x k), so the parameter count is the paper's. The forward scatters them into
    a dense kernel with zeros elsewhere and runs one ordinary convolution.
    """

    out_idx: Tensor
    in_idx: Tensor

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = len(table)
        self.kernel_size = (kernel_size, kernel_size)
        self.stride = (1, 1)
        self.padding = (0, 0)
        self.dilation = (1, 1)
        self.groups = 1
        self.table = table
        out_idx = [j for j, inputs in enumerate(table) for _ in inputs]
        in_idx = [i for inputs in table for i in inputs]
        # Index buffers are derived from the table, so they stay out of the state_dict.
        self.register_buffer("out_idx", torch.tensor(out_idx), persistent=False)
        self.register_buffer("in_idx", torch.tensor(in_idx), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(in_idx), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        nn.init.uniform_(self.weight, -0.1, 0.1)

    def connections(self) -> Tensor:
        """in_channels x out_channels boolean matrix: True where input i feeds output j."""
        mask = torch.zeros(self.in_channels, self.out_channels, dtype=torch.bool)
        for j, inputs in enumerate(self.table):
            mask[list(inputs), j] = True
        return mask

    def dense_weight(self) -> Tensor:
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, *self.kernel_size)
        return dense.index_put((self.out_idx, self.in_idx), self.weight)

    def zoo_macs(self, output: Tensor) -> int:
        """Multiply-accumulates of the connected kernels only (the paper's connection count
        less the biases), per sample."""
        return self.weight.numel() * output.shape[-1] * output.shape[-2]

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"connections={self.weight.shape[0]} (of {self.in_channels * self.out_channels})")


class RBFOutput(nn.Module):
    """Euclidean RBF units with fixed +-1 centres; returns -||x - w_i||^2 (see module doc)."""

    centres: Tensor

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("centres", class_codes(num_classes))
        self.in_features = self.centres.shape[1]
        self.out_features = num_classes

    def zoo_macs(self, output: Tensor) -> int:
        return self.centres.numel()

    def forward(self, x: Tensor) -> Tensor:
        # ||x||^2 - 2 x.w + ||w||^2, written out so it is one matmul
        sq = (x * x).sum(1, keepdim=True) - 2 * x @ self.centres.t() + (self.centres ** 2).sum(1)
        return -sq


_ACTIVATIONS = {"scaled_tanh": ScaledTanh, "tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


# The values each option takes (checked by the builder and the class alike).
OPTIONS = dict(
    connections=Choice("table", "full"), pooling=Choice("subsampling", "avg", "max"),
    activation=Choice(*_ACTIVATIONS), head=Choice("rbf", "linear"), init=Choice("paper", "default"),
)


class LeNet5(nn.Sequential):
    """LeNet-5 (1998) as a sequence of named layers c1, s2, c3, s4, c5, f6, output (+ activations)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, *, connections: str = "table",
                 pooling: str = "subsampling", activation: str = "scaled_tanh",
                 head: str = "rbf", init: str = "paper") -> None:
        check_options("LeNet5", dict(connections=connections, pooling=pooling, activation=activation,
                                     head=head, init=init), OPTIONS)
        act = _ACTIVATIONS[activation]

        def pool(channels: int) -> nn.Module:
            if pooling == "subsampling":
                return Subsampling(channels)
            return nn.AvgPool2d(2, 2) if pooling == "avg" else nn.MaxPool2d(2, 2)

        layers: list[tuple[str, nn.Module]] = [("c1", nn.Conv2d(in_channels, 6, 5)), ("c1_act", act())]
        layers.append(("s2", pool(6)))
        if pooling == "subsampling":  # the paper's subsampling units have a sigmoid of their own
            layers.append(("s2_act", act()))
        # in_channels only changes C1: Table I is about S2 -> C3
        layers.append(("c3", PartialConv2d(6, C3_TABLE, 5) if connections == "table" else nn.Conv2d(6, 16, 5)))
        layers += [("c3_act", act()), ("s4", pool(16))]
        if pooling == "subsampling":
            layers.append(("s4_act", act()))
        layers += [("c5", nn.Conv2d(16, 120, 5)), ("c5_act", act()), ("flatten", Flatten()),
                   ("f6", nn.Linear(120, 84)), ("f6_act", act())]
        layers.append(("output", RBFOutput(num_classes) if head == "rbf" else nn.Linear(84, num_classes)))
        super().__init__(OrderedDict(layers))
        self.in_channels = in_channels
        if init == "paper":
            self._paper_init()

    @torch.no_grad()
    def _paper_init(self) -> None:
        """U(-2.4/F, 2.4/F), F = fan-in of the unit (Appendix A)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d) or isinstance(m, nn.Linear):
                fan_in = m.weight[0].numel()
                nn.init.uniform_(m.weight, -2.4 / fan_in, 2.4 / fan_in)
                assert m.bias is not None  # every LeNet-5 conv and linear has a bias
                nn.init.uniform_(m.bias, -2.4 / fan_in, 2.4 / fan_in)
            elif isinstance(m, PartialConv2d):
                k = m.kernel_size[0] * m.kernel_size[1]
                fan_ins = torch.tensor([len(inputs) * k for inputs in m.table for _ in inputs],
                                       dtype=m.weight.dtype)
                bound = (2.4 / fan_ins).view(-1, 1, 1)
                m.weight.copy_((torch.rand_like(m.weight) * 2 - 1) * bound)
                bias_fan = torch.tensor([len(inputs) * k for inputs in m.table], dtype=m.bias.dtype)
                m.bias.copy_((torch.rand_like(m.bias) * 2 - 1) * 2.4 / bias_fan)
            elif isinstance(m, Subsampling):
                fan_in = m.kernel_size ** 2
                nn.init.uniform_(m.weight, -2.4 / fan_in, 2.4 / fan_in)
                nn.init.uniform_(m.bias, -2.4 / fan_in, 2.4 / fan_in)

    def forward(self, x: Tensor) -> Tensor:
        check_input(self, x, self.in_channels, (32, 32),
                    hint="pad 28x28 digits to 32x32 as the paper does, e.g. F.pad(x, (2, 2, 2, 2))"
                    if tuple(x.shape[-2:]) == (28, 28) else "")
        return super().forward(x)


@takes(**OPTIONS)
def lenet5(*, num_classes: int = 10, in_channels: int = 1, connections: str = "table",
           pooling: str = "subsampling", activation: str = "scaled_tanh", head: str = "rbf",
           init: str = "paper") -> LeNet5:
    """LeNet-5 as in the 1998 paper (see the module docstring for options)."""
    return LeNet5(num_classes, in_channels, connections=connections, pooling=pooling,
                  activation=activation, head=head, init=init)


_PAPER = "Gradient-based learning applied to document recognition (LeCun et al.)"
_URL = "http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf"

register(ModelInfo(
    name="lenet5", family="lenet", paper=_PAPER, url=_URL, year=1998, input_size=(1, 32, 32),
    num_classes=10, params=60_000, macs=326_520, computed=frozenset({"macs"}), input_fit="pad",
    input_scaling="lenet", recipe="lenet_rbf",
    recipe_by_option=(("head", "linear", "lenet"),),
    description="LeNet-5 as published: C3 connection table, trainable subsampling, scaled tanh, RBF output",
    paper_table=("lenet5",), lineage=True,
), lenet5)
register(ModelInfo(
    name="lenet5_modern", family="lenet", paper=_PAPER, url=_URL, year=1998, input_size=(1, 32, 32),
    num_classes=10, params=61_706, macs=416_520, computed=frozenset({"macs"}), input_fit="pad", recipe="lenet",
    recipe_by_option=(("head", "rbf", "lenet_rbf"),),
    description="LeNet-5 as usually taught today: full C3, max pooling, ReLU, linear output",
    defaults=dict(connections="full", pooling="max", activation="relu", head="linear", init="default"),
), lenet5)
