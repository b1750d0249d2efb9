"""Every claim's pre-registered rule, in one place, fixed before the experiments run.

A rule says, per part of the claim's statement: the words judged (quoted from the paper or from
the lesson the lineage is taught with), the metric, the comparison with its thresholds, and what
each verdict means; per claim: the kind of check, the seeds and sizes of each mode (the
experiments read their settings from here, so the report's rule is the run's setting) and the
paper's own figure. The judges in early.py / later.py read their thresholds from here.

Changing a rule is a dated entry in docs/claims/RULES.md (old rule, new rule, a reason that does
not rest on the outcome); `previous` keeps the judge of a replaced rule where the report must
show what the old rule said.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .base import CORRECTED, FAILS, HOLDS, NOT_OBSERVED, NOT_RESOLVED, UNCHECKABLE, check_mode

IMPLEMENTATION = "implementation check"  # tests cnnzoo's own code against the paper
EXPERIMENT = "experiment"  # an outcome that could have gone either way
ESTIMATE = "estimate"  # rests on a bound or an estimate: says what the bound can and cannot show

CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over Fashion-MNIST's 10 classes


@dataclass(frozen=True)
class Part:
    """One part of a claim's statement and how it is judged."""

    name: str
    quote: str  # the words judged
    metric: str
    comparison: str  # the comparison, with its thresholds, in words
    thresholds: dict[str, float]
    verdicts: dict[str, str]  # verdict -> what it means here


@dataclass(frozen=True)
class Rule:
    claim: str
    kind: str
    parts: tuple[Part, ...]
    settings: dict[str, dict[str, Any]]  # mode -> the experiment's seeds and sizes
    paper: str  # the paper's own figure for what is measured
    fixed: str  # the date this version of the rule was fixed
    previous: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (date, judge name)

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def to_dict(self, mode: str | None = None) -> dict[str, Any]:
        return {"kind": self.kind, "fixed": self.fixed,
                "settings": self.settings[mode] if mode in self.settings else self.settings,
                "parts": [{"part": p.name, "quote": p.quote, "metric": p.metric,
                           "comparison": p.comparison, "thresholds": p.thresholds,
                           "verdicts": p.verdicts} for p in self.parts]}


def settings(claim: str, mode: str) -> dict[str, Any]:
    """The seeds and sizes of `claim`'s experiment in `mode`, as its rule declares them."""
    check_mode(mode)
    return RULES[claim].settings[mode]


def threshold(claim: str, part: str, name: str) -> float:
    return RULES[claim].part(part).thresholds[name]


def spread_verdict(value: float, sd: float, decide: Any) -> tuple[str, str]:
    """decide(value) -> verdict; when decide(value - sd) and decide(value + sd) differ, the verdict
    flips within the seed spread: NOT_RESOLVED. Returns (verdict, the band in words)."""
    low, mid, high = decide(value - sd), decide(value), decide(value + sd)
    band = f"{value:.3g} ± {sd:.2g}"
    if sd > 0 and len({low, mid, high}) > 1:
        return NOT_RESOLVED, band
    return mid, band


def _r(claim: str, kind: str, paper: str, settings: dict[str, dict[str, Any]], *parts: Part,
       fixed: str = "2026-12-05", previous: tuple[tuple[str, str], ...] = ()) -> Rule:
    return Rule(claim, kind, parts, settings, paper, fixed, previous)


# Claim 4's step counts are censored at the step cap (2026-12-05 14:50, see docs/claims/RULES.md).
_BOUND = ("a run that never reached the target makes the ratio a bound (at least, when the slower "
          "activation missed it; at most, when ReLU did), which decides only a verdict it is already "
          "past, else not resolved")

RULES: dict[str, Rule] = {r.claim: r for r in (
    _r("lenet-shapes", IMPLEMENTATION, "C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, C5 120@1x1 (Fig. 2)",
       {m: {} for m in ("tiny", "quick", "full")},
       Part("map sizes", "(W - K + 2P)/S + 1 ... 32 -> 28 -> 14 -> 10 -> 5 -> 1",
            "layers whose traced output differs from the formula or the paper",
            "holds when 5 windowed layers are checked and 0 disagree", {"mismatches": 0, "layers": 5},
            {HOLDS: "cnnzoo's LeNet-5 has the paper's map sizes", FAILS: "cnnzoo's code is wrong"})),
    _r("lenet-c3", EXPERIMENT, "C3: 1,516 parameters (Sec. II-B); LeNet-5 MNIST test error 0.95%",
       {"tiny": dict(n_train=512, n_test=200, steps=8, seeds=[0, 1]),
        "quick": dict(n_train=12000, n_test=5000, steps=600, seeds=[0, 1, 2]),
        "full": dict(n_train=60000, n_test=10000, steps=1000, seeds=[0, 1, 2, 3, 4])},
       Part("parameters", "The table saves parameters (1,516 instead of 2,416)",
            "C3's parameters with the table and fully connected", "holds when exactly 1,516 and 2,416",
            {"table": 1516, "full": 2416},
            {HOLDS: "the count is the paper's", FAILS: "cnnzoo's C3 is not the paper's"}),
       Part("accuracy", "without costing accuracy",
            "test accuracy, table minus fully connected (points, mean over seeds)",
            "holds when the difference >= -tolerance; does not hold below; tolerance = the larger of "
            "0.5 points and twice the standard error of the difference over the seeds",
            {"min_tolerance": 0.5, "se_multiple": 2.0},
            {HOLDS: "no accuracy lost beyond the seed noise", FAILS: "the table costs accuracy"})),
    _r("alexnet-towers", ESTIMATE, "a GTX 580 has 3 GB; batch 128 (Sec. 3.2, 5)",
       {"tiny": dict(probe=1, batch=128), "quick": dict(probe=2, batch=128), "full": dict(probe=4, batch=128)},
       Part("memory", "because the network did not fit in the 3 GB of one GTX 580",
            "a LOWER BOUND of one training step's memory (weights, gradients, momentum, activations "
            "kept for the backward pass; no CUDA context, cuDNN workspaces or temporary buffers)",
            "holds when the bound for the whole network exceeds 3 GB (then it surely did not fit); "
            "not resolved when it is below (a lower bound cannot show that it fit); does not hold "
            "when even one tower's bound exceeds 3 GB (the split alone could not have made it fit)",
            {"gpu_gb": 3.0},
            {HOLDS: "even the bound does not fit in 3 GB",
             NOT_RESOLVED: "the bound fits; the real need is higher by an unknown amount",
             FAILS: "a tower would not fit either"})),
    _r("nonlinearity", EXPERIMENT,
       "ReLU reaches 25% training error on CIFAR-10 six times faster than tanh (Fig. 1, ~6 epochs for ReLU)",
       {"tiny": dict(n_train=512, max_steps=12, seeds=[0], target=90.0, rates=[0.03], window=5),
        "quick": dict(n_train=20000, max_steps=1500, seeds=[0, 1], target=15.0,
                      rates=[0.01, 0.03, 0.1], window=50),
        "full": dict(n_train=60000, max_steps=2000, seeds=[0, 1, 2], target=12.0,
                     rates=[0.01, 0.03, 0.1, 0.3], window=50)},
       Part("sigmoid vs ReLU", "Saturating non-linearities (sigmoid ...) train a CNN much more slowly than ReLU",
            "steps to the target training error, sigmoid / ReLU, each at its fastest learning rate",
            "holds at >= 3x; holds with a correction between 1.2x and 3x; does not hold at <= 1.2x; "
            "not resolved when the verdict flips within ± one sd of the per-seed ratios; " + _BOUND,
            {"holds": 3.0, "slower": 1.2},
            {HOLDS: "several times slower", CORRECTED: "slower, by less", FAILS: "not slower"}),
       Part("tanh vs ReLU", "(... tanh) train a CNN much more slowly than ReLU: six times faster than tanh",
            "steps to the target training error, tanh / ReLU, each at its fastest learning rate",
            "holds at >= 3x; holds with a correction between 1.2x and 3x; does not hold at <= 1.2x "
            "(the rule of 2026-12-01, restored); not resolved when the verdict flips within ± one "
            "sd of the per-seed ratios; " + _BOUND, {"holds": 3.0, "slower": 1.2},
            {HOLDS: "several times slower", CORRECTED: "slower, by less", FAILS: "tanh is not slower"}),
       previous=(("2026-12-01 09:58", "judge_nonlinearity_loosened"),)),
    _r("initialisation", EXPERIMENT, "VGG net A trained from N(0, 0.01); deeper nets started from A (Sec. 3.1)",
       {"tiny": dict(model="vgg11", batch=1, steps=2), "quick": dict(model="vgg16", batch=2, steps=3),
        "full": dict(model="vgg19", batch=4, steps=5)},
       Part("N(0, 0.01) vanishes", "the output and the gradients reaching the first layers all but vanish",
            "last layer's output std / input std; first-layer gradient / He's",
            "holds when both are below 1e-3", {"scale": 1e-3, "grad": 1e-3},
            {HOLDS: "the signal vanishes", FAILS: "it does not"}),
       Part("He keeps the scale", "Xavier/He initialisation keeps the scale",
            "last layer's output std / input std with He init; SGD steps on new batches from it",
            "holds when within [1e-2, 1e2] and the loss does not diverge; with a correction when "
            "within but the loss diverges; does not hold outside", {"low": 1e-2, "high": 1e2},
            {HOLDS: "He keeps the scale and training starts", FAILS: "it does not keep the scale"}),
       Part("Xavier keeps the scale", "Xavier/He initialisation keeps the scale",
            "last layer's output std / input std with Xavier (Glorot uniform) init",
            "holds when within [1e-2, 1e2]; does not hold outside (He et al. 2015: Xavier assumes "
            "linear units and shrinks a deep ReLU net's signal)", {"low": 1e-2, "high": 1e2},
            {HOLDS: "Xavier keeps the scale", FAILS: "Xavier does not keep a deep ReLU net's scale"})),
    _r("dataset-size", EXPERIMENT, "ImageNet: 1.2 million images against tens of thousands before (Sec. 1-2)",
       {"tiny": dict(sizes=[64, 256], min_steps=10, epochs=1, seeds=[0], n_test=200),
        "quick": dict(sizes=[250, 1000, 4000, 16000], min_steps=500, epochs=4, seeds=[0, 1], n_test=5000),
        "full": dict(sizes=[100, 500, 2000, 10000, 60000], min_steps=500, epochs=3, seeds=[0, 1, 2],
                     n_test=10000)},
       Part("accuracy keeps rising", "test accuracy keeps rising with the size of its training set",
            "test accuracy at the largest size minus the smallest; the last step of the curve",
            "holds when the gain is >= 5 points and the last step > -0.5 points; else does not hold",
            {"gain": 5.0, "last_step": -0.5},
            {HOLDS: "more data, better accuracy, still rising", FAILS: "the curve is flat or falls"})),
    _r("compute", EXPERIMENT, "90 epochs took 5-6 days on two GTX 580s (Sec. 5)",
       {"tiny": dict(batch=1, steps=1, gpu_batch=16, gpu_steps=2),
        "quick": dict(batch=8, steps=3, gpu_batch=128, gpu_steps=10),
        "full": dict(batch=32, steps=5, gpu_batch=128, gpu_steps=50)},
       Part("GPU needed", "a CPU is many times slower at the same work",
            "training images/s on the GPU / on the CPU",
            "holds at >= 10x; with a correction between 1x and 10x; does not hold at <= 1x; not "
            "checkable without a GPU", {"holds": 10.0, "faster": 1.0},
            {HOLDS: "many times faster", UNCHECKABLE: "no GPU in this run"})),
    _r("zfnet-first-layer", EXPERIMENT,
       "AlexNet's stride 4 causes aliasing in its first layers; dead filters (Sec. 4.1, Fig. 6)",
       {"tiny": dict(steps=5, size=64, n_train=256, n_probe=64, n_alias=8, seeds=[0]),
        "quick": dict(steps=300, size=64, n_train=20000, n_probe=500, n_alias=128, seeds=[0, 1, 2]),
        "full": dict(steps=300, size=72, n_train=20000, n_probe=1000, n_alias=256, seeds=[0, 1, 2])},
       Part("aliasing", "the larger stride 4 used in the 1st layer ... causes aliasing artifacts",
            "aliased share of the trained conv1 maps, AlexNet's 11x11/4 / ZFNet's 7x7/2 (mean over seeds)",
            "holds at >= 1.5x; with a correction between 1.05x and 1.5x; does not hold at <= 1.05x; "
            "not resolved when the verdict flips within ± one sd", {"holds": 1.5, "more": 1.05},
            {HOLDS: "the trained stride-4 layer aliases clearly more", FAILS: "it does not"}),
       Part("dead filters", "AlexNet's first layer has dead filters; ZFNet's smaller stride and filters fix them",
            "filters of 96 active on under 1% of positions, AlexNet's and ZFNet's (mean over seeds)",
            "holds when AlexNet has more; does not hold when ZFNet has at least as many and some; "
            "not observed when both have none", {},
            {HOLDS: "more dead filters at 11x11/4", NOT_OBSERVED: "no dead filter on either side",
             FAILS: "ZFNet has as many or more"})),
    _r("googlenet-depth", IMPLEMENTATION, "22 layers with parameters; one linear layer (Sec. 5)",
       {m: {} for m in ("tiny", "quick", "full")},
       Part("depth and head", "22 layers deep ... global average pooling, a single linear classifier",
            "weighted depth, linear layers, their share of the parameters",
            "holds when 22, 1 and GoogLeNet's share < 50% < AlexNet's", {"depth": 22, "linear": 1},
            {HOLDS: "cnnzoo's GoogLeNet is the paper's", FAILS: "cnnzoo's code is wrong"})),
    _r("googlenet-params", EXPERIMENT,
       "\"12x fewer parameters\" (GoogLeNet Sec. 1); \"5 million parameters\" (Inception-v3 paper, Sec. 1); "
       "GoogLeNet's own Table 1 sums to about 6.8M",
       {m: {} for m in ("tiny", "quick", "full")},
       Part("about 5 million", "GoogLeNet uses about 5 million parameters",
            "parameters of cnnzoo's GoogLeNet at inference",
            "holds within 10% of 5M; with a correction up to 2x (10M); does not hold above",
            {"target": 5e6, "within": 0.1, "factor": 2.0},
            {HOLDS: "about 5M", CORRECTED: "the count is higher; say it", FAILS: "not the same order"}),
       Part("12x fewer", "12 times fewer than AlexNet",
            "AlexNet's parameters / GoogLeNet's at inference",
            "holds within 10% of 12x; with a correction at >= 6x; does not hold below 6x",
            {"target": 12.0, "within": 0.1, "corrected": 6.0},
            {HOLDS: "12x", CORRECTED: "fewer, by a different factor", FAILS: "not half the factor"})),
    _r("inception-bottleneck", EXPERIMENT,
       "1.5 billion multiply-adds at inference (Sec. 1); naive modules blow up (Sec. 4)",
       {"tiny": dict(modules=["inception3a"], repeat=1), "quick": dict(modules=None, repeat=2),
        "full": dict(modules=None, repeat=5)},
       Part("operations", "without them the cost blows up", "MACs naive / bottleneck, summed over modules",
            "holds at > 2x; with a correction between 1x and 2x; does not hold at <= 1x",
            {"holds": 2.0, "cheaper": 1.0}, {HOLDS: "the 1x1 reductions save most operations"}),
       Part("time", "keeps the Inception modules cheap", "CPU time naive / bottleneck, summed over modules",
            "holds at > 1.5x; with a correction between 1x and 1.5x; does not hold at <= 1x",
            {"holds": 1.5, "cheaper": 1.0}, {HOLDS: "the saved operations are saved time",
                                             FAILS: "no time saved on this machine"})),
    _r("auxiliary-classifiers", EXPERIMENT,
       "aux losses weighted 0.3, discarded at inference (Sec. 5); Inception-v3 Sec. 4: no faster early training",
       {"tiny": dict(steps=1, batch=2, seeds=[0], n_probe=2),
        "quick": dict(steps=12, batch=8, seeds=[0, 1], n_probe=64),
        "full": dict(steps=16, batch=8, seeds=[0, 1], n_probe=256)},
       Part("early gradient", "inject gradient into the middle of the network, so the early layers receive a "
            "stronger signal", "gradient norm at inception3a with / without the aux losses (weight 0.3)",
            "holds at >= 1.25x; with a correction between 1x and 1.25x; does not hold at <= 1x; not "
            "resolved when either copy's final loss is not below chance (ln 10 = 2.303): it did not train",
            {"holds": 1.25, "more": 1.0, "chance_loss": CHANCE_LOSS},
            {HOLDS: "clearly more gradient early", NOT_RESOLVED: "the networks did not train"}),
       Part("final accuracy", "auxiliary classifiers ... combat the vanishing gradient problem while providing "
            "regularization (better results)", "test accuracy with aux losses minus without (points)",
            "holds when higher by more than the tolerance; does not hold when lower by more; not "
            "resolved within it (tolerance: twice the SE of the paired difference, at least 1 point) "
            "or when either copy did not train", {"min_tolerance": 1.0, "chance_loss": CHANCE_LOSS},
            {HOLDS: "the aux heads improve the result", FAILS: "they make it worse"})),
    _r("residual", EXPERIMENT,
       "CIFAR-10 test error: plain nets worse with depth (Fig. 6); ResNet-20 8.75%, ResNet-56 6.97% (Table 6)",
       {"tiny": dict(n_train=64, epochs=1, seeds=[0, 1], size=16, deep=("resnet20", "plain20"), deep_side=16,
                     deep_batch=2),
        "quick": dict(n_train=3072, epochs=5, seeds=[0, 1], size=16, deep=("resnet152", "resnet1202"),
                      deep_side=64, deep_batch=2),
        "full": dict(n_train=3072, epochs=5, seeds=[0, 1, 2], size=16, deep=("resnet152", "resnet1202"),
                     deep_side=64, deep_batch=2)},
       Part("plain degrades", "a deeper plain network trains worse than a shallower one (plain-56 vs plain-20)",
            "final training error, plain-56 minus plain-20 (points)",
            "holds when the gap minus twice its SE exceeds 1 point; does not hold when the gap plus "
            "twice its SE is at most 1 point; else not resolved at this scale (the rule of "
            "2026-12-01 with its fixed 1-point tolerance, plus the seed band)",
            {"tolerance": 1.0, "se_multiple": 2.0},
            {HOLDS: "degradation seen", FAILS: "no degradation",
             NOT_RESOLVED: "the seed spread is wider than the gap"}),
       Part("residual deeper trains as well", "with shortcuts the deeper network trains at least as well",
            "final training error, ResNet-56 minus ResNet-20 (points)",
            "holds when the gap plus twice its SE is at most 1 point; does not hold when the gap "
            "minus twice its SE exceeds 1 point; else not resolved at this scale",
            {"tolerance": 1.0, "se_multiple": 2.0},
            {HOLDS: "ResNet-56 as good or better", FAILS: "ResNet-56 trains worse here"}),
       Part("more gradient early", "because more gradient reaches its first layers",
            "first-layer gradient norm at initialisation, ResNet-56 / plain-56",
            "holds at > 1x; does not hold at <= 1x", {"holds": 1.0},
            {HOLDS: "more gradient with shortcuts", FAILS: "the plain net's first layer gets more"}),
       Part("152 layers train", "152 (and 1202) layers train with shortcuts",
            "first-layer / last-layer gradient norm at initialisation of the deep ResNets (min over them)",
            "holds when at least 1e-2 for each (the gradient reaches the first layer); does not hold "
            "below; the plain twins' ratio is shown beside", {"reach": 1e-2},
            {HOLDS: "the gradient reaches layer 1 of ResNet-152/1202", FAILS: "it vanishes"}),
       previous=(("2026-12-04 21:06", "judge_residual_loosened"),)),
    _r("resnet152-vs-vgg19", IMPLEMENTATION, "ResNet-152 11.3G, VGG-19 19.6G multiply-adds (Sec. 4.1, Table 1)",
       {m: {} for m in ("tiny", "quick", "full")},
       Part("deeper and cheaper", "8 times deeper ... yet needs fewer multiply-adds",
            "weighted depth and MACs of cnnzoo's models", "holds when ResNet-152 is deeper and has fewer MACs",
            {}, {HOLDS: "cnnzoo's counts agree", FAILS: "they do not"})),
)}
