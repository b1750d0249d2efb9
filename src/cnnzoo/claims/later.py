# mypy: disable-error-code="union-attr,index,operator,arg-type"
# (Summary rows have Optional shape fields that are set for the layers read here, and model
# attributes such as `.conv1` are typed Tensor | Module by torch; the checks above are by value.)
"""Claims 8-11 and 14: ZFNet, GoogLeNet, ResNet's cost; claims 12 and 13 (training deep nets) are in
deep.py."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..analysis.paper import paper_table
from ..analysis.summary import summary
from ..registry import create_model
from .base import CORRECTED, FAILS, HOLDS, NOT_OBSERVED, Measured, Table, Verdict, claim, combine, part, setting
from .common import error_rate, figure, fit, load_data, mean_std, on_device, seconds_per_call, seeded, subset, to_input
from .rules import settings, spread_verdict, threshold


def _fmt(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:g}"


# ---------------------------------------------------------------------------------------------
# 8. ZFNet's first layer
def judge_zfnet(v: dict[str, Any]) -> Verdict:
    holds, more = (threshold("zfnet-first-layer", "aliasing", k) for k in ("holds", "more"))
    ratios = v["aliased_ratio_per_seed"]
    mean, sd = mean_std(ratios)

    def decide(r: float) -> str:
        return HOLDS if r >= holds else CORRECTED if r > more else FAILS

    verdict, band = spread_verdict(mean, sd, decide)
    reason = (f"trained conv1 maps: aliased share {v['aliased_alexnet']:.1%} for AlexNet's "
              f"{v['alexnet_conv1']} against {v['aliased_zfnet']:.1%} for ZFNet's {v['zfnet_conv1']}, "
              f"ratio {band} over {len(ratios)} seed(s) (at initialisation {v['aliased_alexnet_init']:.1%} "
              f"and {v['aliased_zfnet_init']:.1%}: most of the gap is the stride's, present before training)")
    aliasing = part("aliasing", verdict, reason,
                    f"The stride-4 layer aliases more, by {mean:.2f}x, not clearly (>= {holds:g}x)"
                    if verdict == CORRECTED else "", ratio=round(mean, 3), sd=round(sd, 3))
    da, dz = v["dead_alexnet"], v["dead_zfnet"]
    dead_reason = f"dead filters (of 96, mean over seeds): AlexNet {da:g}, ZFNet {dz:g}"
    dead = part("dead filters", NOT_OBSERVED if da == dz == 0 else HOLDS if da > dz else FAILS,
                dead_reason + (": none on either side after this short training on Fashion-MNIST, so "
                               "the paper's dead filters (after ImageNet training) were not observed"
                               if da == dz == 0 else ""), dead_alexnet=da, dead_zfnet=dz)
    return combine([aliasing, dead])


def aliased_energy(conv: nn.Conv2d, x: torch.Tensor) -> float:
    """Mean over the filters of the share of each strided output map that is aliasing.

    Each filter's stride-1 response to the images x (no bias) is computed; its strided output is
    that response subsampled by the stride. An anti-aliased output is the same response first
    low-pass filtered (ideal filter, cut-off at the stride's Nyquist frequency 1/(2 stride)) and
    then subsampled. The aliased energy is the squared difference of the two, as a share of the
    strided map's energy about its mean."""
    s = conv.stride[0]
    with torch.no_grad():
        full = nn.functional.conv2d(x.to(conv.weight.device), conv.weight, None, 1, conv.padding)
        h, w = full.shape[-2:]
        fy = torch.fft.fftfreq(h).abs()[:, None]
        fx = torch.fft.fftfreq(w).abs()[None, :]
        keep = ((fy <= 0.5 / s) & (fx <= 0.5 / s)).to(full.device, full.dtype)
        low = torch.fft.ifft2(torch.fft.fft2(full) * keep).real
        strided, clean = full[..., ::s, ::s], low[..., ::s, ::s]
        alias = (strided - clean).pow(2).sum(dim=(0, 2, 3))
        energy = (strided - strided.mean(dim=(0, 2, 3), keepdim=True)).pow(2).sum(dim=(0, 2, 3))
        share = alias[energy > 0] / energy[energy > 0]
    return float(share.mean()) if share.numel() else 0.0


def _tile(weight: torch.Tensor, cols: int = 12) -> torch.Tensor:
    """96 x 1 x k x k filters -> one image, each filter scaled to [0, 1]."""
    w = weight.detach()[:, 0]
    lo = w.amin(dim=(1, 2), keepdim=True)
    hi = w.amax(dim=(1, 2), keepdim=True)
    w = (w - lo) / (hi - lo + 1e-12)
    n, k = w.shape[0], w.shape[-1]
    rows = (n + cols - 1) // cols
    out = torch.ones(rows * (k + 1) + 1, cols * (k + 1) + 1)
    for i in range(n):
        r, c = divmod(i, cols)
        out[1 + r * (k + 1):1 + r * (k + 1) + k, 1 + c * (k + 1):1 + c * (k + 1) + k] = w[i]
    return out


def _zfnet_architecture() -> tuple[dict[str, Any], list[list[Any]]]:
    """conv1 and the whole network of alexnet, zfnet and zfnet_wide, from cnnzoo.summary."""
    rows: list[list[Any]] = []
    values: dict[str, Any] = {}
    for name in ("alexnet", "zfnet", "zfnet_wide"):
        s = summary(name)
        convs = [r for r in s.layers if r.type == "Conv2d"]
        c1 = convs[0]
        rows.append([name, f"{c1.kernel[0]}x{c1.kernel[1]}/{c1.stride[0]}",
                     "x".join(map(str, c1.output_shape)), f"{c1.params:,}", _fmt(c1.macs),
                     "/".join(str(r.output_shape[0]) for r in convs[2:5]),
                     f"{s.total_params:,}", _fmt(s.total_macs)])
        if name != "zfnet_wide":
            values[f"{name}_conv1"] = f"{c1.kernel[0]}x{c1.kernel[1]}/{c1.stride[0]}"
            values[f"{name}_conv1_params"] = c1.params
            values[f"{name}_conv1_macs"] = c1.macs
        values[f"{name}_params"] = s.total_params
        values[f"{name}_macs"] = s.total_macs
    return values, rows


@claim(8, "zfnet-first-layer", "ZFNet fixed AlexNet's first layer by looking at it",
       "Visualising AlexNet showed first-layer filters with aliasing and dead filters; ZFNet's "
       "7x7 stride-2 conv1 (instead of 11x11 stride 4), stride-2 conv2 and, in its wide variant, "
       "512/1024/512 maps in conv3-5 fix this at a modest cost.",
       "Zeiler & Fergus 2014, Sec. 4.1 and 5, Fig. 6", judge_zfnet)
def zfnet_first_layer(mode: str) -> Measured:
    s = settings("zfnet-first-layer", mode)
    steps, size, seeds = s["steps"], s["size"], s["seeds"]
    values, rows = _zfnet_architecture()
    data = load_data()
    x, y = subset(data.train_images, data.train_labels, s["n_train"])
    x = to_input(x, size, 1, fit="resize")
    xp, yp = subset(data.test_images, data.test_labels, s["n_probe"])
    xp = to_input(xp, size, 1, fit="resize")
    xa = xp[:s["n_alias"]]
    per: dict[str, dict[str, list[float]]] = {n: {"init": [], "trained": [], "dead": [], "acc": []}
                                              for n in ("alexnet", "zfnet")}
    trained: dict[str, nn.Conv2d] = {}
    for seed in seeds:
        for name in ("alexnet", "zfnet"):
            # the real conv1 of each network (its own initialisation), then ReLU and max-pool as in
            # the network, and a linear read-out, trained on the same data
            seeded(seed)
            conv1 = create_model(name, in_channels=1, num_classes=10).conv1
            per[name]["init"].append(aliased_energy(conv1, xa))
            stem = nn.Sequential(conv1, nn.ReLU(), nn.MaxPool2d(3, 2), nn.AdaptiveAvgPool2d(4),
                                 nn.Flatten(), nn.Linear(96 * 16, 10))
            fit(stem, x, y, steps=steps, batch=64, lr=0.01, seed=seed)
            with torch.no_grad():
                alive = (torch.relu(conv1(*on_device(xp))) > 0).float().mean(dim=(0, 2, 3))
            per[name]["trained"].append(aliased_energy(conv1, xa))
            per[name]["dead"].append(float((alive < 0.01).sum()))
            per[name]["acc"].append(100 - error_rate(stem, xp, yp))
            trained.setdefault(name, conv1)
    for name in ("alexnet", "zfnet"):
        values[f"aliased_{name}_init"] = round(mean_std(per[name]["init"])[0], 4)
        values[f"aliased_{name}"] = round(mean_std(per[name]["trained"])[0], 4)
        values[f"aliased_{name}_std"] = round(mean_std(per[name]["trained"])[1], 4)
        values[f"dead_{name}"] = round(mean_std(per[name]["dead"])[0], 2)
        values[f"stem_test_accuracy_{name}"] = round(mean_std(per[name]["acc"])[0], 2)
    values["aliased_ratio_per_seed"] = [round(a / max(z, 1e-12), 4) for a, z in
                                        zip(per["alexnet"]["trained"], per["zfnet"]["trained"])]
    values["seeds"] = len(seeds)
    fig, axes = figure(9.6, 4.4, ncols=2)
    for ax, name in zip(axes, ("alexnet", "zfnet")):
        c = trained[name]
        ax.imshow(_tile(c.weight).cpu().numpy(), cmap="gray", interpolation="nearest")
        ax.set_title(f"{name} conv1 {c.kernel_size[0]}x{c.kernel_size[1]}/{c.stride[0]}: aliased "
                     f"{values[f'aliased_{name}']:.1%} (init {values[f'aliased_{name}_init']:.1%}), "
                     f"dead {values[f'dead_{name}']:g} (mean of {len(seeds)} seeds; seed {seeds[0]} shown)",
                     fontsize=8)
        ax.axis("off")
    units = {k: ("parameters" if "params" in k else "MACs" if "macs" in k else
                 "x (AlexNet / ZFNet)" if k.startswith("aliased_ratio") else
                 "share of strided-map energy" if k.startswith("aliased") else
                 "seeds" if k == "seeds" else "filters of 96" if
                 k.startswith("dead") else "%" if "accuracy" in k else
                 "kernel/stride" if k.endswith("conv1") else "") for k in values}
    return Measured(
        values=values, units=units,
        method=f"Architecture: cnnzoo.summary of alexnet (227x227), zfnet and zfnet_wide "
               f"(224x224). Visualisation: the conv1 of alexnet and of zfnet, each with its "
               f"network's initialisation, followed by ReLU, 3x3/2 max-pooling and a linear "
               f"read-out, trained for {steps} SGD steps (lr 0.01, momentum 0.9, batch 64) on the "
               f"same {len(y):,} {data.name} images resized to {size}x{size}, seeds {seeds}. "
               f"Aliased energy, measured on the feature maps of {len(xa)} test images: per filter, the strided "
               f"output against the stride-1 output low-passed at the stride's Nyquist frequency "
               f"1/(2 stride) and then subsampled; the squared difference as a share of the "
               f"strided map's energy about its mean, averaged over the 96 filters, for each "
               f"layer at initialisation and after training. The verdict compares the trained "
               f"layers, AlexNet's against ZFNet's, as the paper does (its values at "
               f"initialisation, shown beside, are mostly set by the stride). Dead filter: "
               f"positive on under 1% of positions over {len(yp)} test images.",
        seeds=list(seeds),
        references={"ZFNet Sec. 4.1": "AlexNet's first-layer filters are a mix of very high and "
                                      "low frequencies with little mid-frequency coverage; the "
                                      "stride 4 causes aliasing in layer 2 (Fig. 6)",
                    "ImageNet 2012 top-1/top-5 val": "AlexNet replication 40.5/18.1, ZFNet "
                                                     "38.4/16.5, wide variant 37.5/16.0 (Zeiler & "
                                                     "Fergus 2014, Table 2); not checkable here "
                                                     "(needs ImageNet)"},
        tables=[Table("Architecture", ["Model", "conv1", "conv1 output", "conv1 params",
                                       "conv1 MACs", "conv3/4/5 maps", "Params", "MACs"], rows)],
        figures={"filters": fig},
    )


# ---------------------------------------------------------------------------------------------
# 9. GoogLeNet: 22 layers, no fully connected body
def judge_googlenet_depth(v: dict[str, Any]) -> Verdict:
    reason = (f"GoogLeNet has {v['googlenet_depth']} weighted layers on its longest path and "
              f"{v['googlenet_linear_layers']} linear layer at inference ({v['googlenet_fc_share']:.1%} "
              f"of its parameters, after global average pooling); AlexNet keeps "
              f"{v['alexnet_fc_share']:.1%} of its parameters in its {v['alexnet_linear_layers']} "
              f"fully connected layers")
    ok = (v["googlenet_depth"] == threshold("googlenet-depth", "depth and head", "depth")
          and v["googlenet_linear_layers"] == threshold("googlenet-depth", "depth and head", "linear")
          and v["googlenet_fc_share"] < 0.5 < v["alexnet_fc_share"])
    return combine([part("depth and head", HOLDS if ok else FAILS, reason, depth=v["googlenet_depth"],
                         linear_layers=v["googlenet_linear_layers"])])


@claim(9, "googlenet-depth", "GoogLeNet: 22 layers and no fully connected body",
       "GoogLeNet is 22 layers deep counting layers with parameters, and replaces the fully "
       "connected layers that hold most of AlexNet's parameters with global average pooling, "
       "keeping a single linear classifier.",
       "Szegedy et al. 2015, Sec. 5", judge_googlenet_depth)
def googlenet_depth(mode: str) -> Measured:
    values: dict[str, Any] = {}
    rows = []
    for name in ("googlenet", "alexnet"):
        s = summary(name)
        linear = [r for r in s.layers if r.type == "Linear"]
        share = sum(r.params for r in linear) / sum(r.params for r in s.layers)
        values[f"{name}_depth"] = s.weighted_depth
        values[f"{name}_linear_layers"] = len(linear)
        values[f"{name}_fc_share"] = round(share, 4)
        rows.append([name, s.weighted_depth, len(linear), f"{sum(r.params for r in linear):,}",
                     f"{sum(r.params for r in s.layers):,}", f"{share:.1%}"])
    return Measured(
        values=values,
        units={k: ("layers" if k.endswith(("depth", "layers")) else "share of parameters")
               for k in values},
        method="cnnzoo.summary of googlenet and alexnet in evaluation mode (GoogLeNet's auxiliary "
               "heads do not run): weighted depth is the largest number of conv and linear "
               "layers on a path from input to output; the linear rows and their parameters are "
               "counted.",
        references={"GoogLeNet": "\"22 layers deep when counting only layers with parameters\"; "
                                 "average pooling before the classifier, \"however we kept an "
                                 "extra linear layer\" (Szegedy et al. 2015, Sec. 5)"},
        tables=[Table("Fully connected layers at inference", ["Model", "Weighted depth",
                                                              "Linear layers", "Their params",
                                                              "Params", "Share"], rows)],
    )


# ---------------------------------------------------------------------------------------------
# 10. "5 million parameters, 12x fewer than AlexNet"
def judge_googlenet_params(v: dict[str, Any]) -> Verdict:
    g, ga, a = v["googlenet_params"], v["googlenet_params_with_aux"], v["alexnet_params"]
    t1 = v["googlenet_table1_params"]
    ratio = a / g
    counted = (f"cnnzoo's GoogLeNet has {g:,} parameters at inference ({ga:,} with the auxiliary "
               f"heads used in training); the GoogLeNet paper's own Table 1 sums to {t1 / 1e6:.1f}M")
    r5 = {k: threshold("googlenet-params", "about 5 million", k) for k in ("target", "within", "factor")}
    v5 = (HOLDS if abs(g / r5["target"] - 1) <= r5["within"] else
          CORRECTED if g <= r5["factor"] * r5["target"] else FAILS)
    five = part("about 5 million", v5, counted,
                f"GoogLeNet has {g / 1e6:.1f} million parameters (its own Table 1 sums to about "
                f"{t1 / 1e6:.1f}M); the '5 million' is the Inception-v3 paper's round figure"
                if v5 == CORRECTED else "", params=g)
    r12 = {k: threshold("googlenet-params", "12x fewer", k) for k in ("target", "within", "corrected")}
    v12 = (HOLDS if abs(ratio / r12["target"] - 1) <= r12["within"] else
           CORRECTED if ratio >= r12["corrected"] else FAILS)
    twelve = part("12x fewer", v12, f"AlexNet has {a:,}: {ratio:.1f}x GoogLeNet's ({a / ga:.1f}x "
                  "counting the auxiliary heads)",
                  f"{ratio:.1f}x fewer than AlexNet, not 12x" if v12 == CORRECTED else "", ratio=round(ratio, 2))
    return combine([five, twelve])


@claim(10, "googlenet-params", "GoogLeNet: 5 million parameters, 12x fewer than AlexNet",
       "GoogLeNet uses about 5 million parameters, 12 times fewer than AlexNet.",
       "Szegedy et al. 2015, Sec. 1 (12x); Szegedy et al. 2016 (Inception-v3), Sec. 1 (5 million)",
       judge_googlenet_params)
def googlenet_params(mode: str) -> Measured:
    def count(name: str, **o: Any) -> int:
        with torch.device("meta"):
            return sum(p.numel() for p in create_model(name, **o).parameters())

    values = {"googlenet_params": count("googlenet", aux_logits=False),
              "googlenet_params_with_aux": count("googlenet"),
              "alexnet_params": count("alexnet"),
              "googlenet_table1_params": sum(r.paper.get("params", 0) or 0
                                             for r in paper_table("googlenet").rows)}
    return Measured(
        values=values, units={k: "parameters" for k in values},
        method="Parameters of cnnzoo's googlenet (the paper's network, Table 1) without and with "
               "its two auxiliary classifiers, and of alexnet (two towers), counted from the "
               "built models; the paper's own Table 1 params column summed for comparison.",
        references={"GoogLeNet": "\"uses 12x fewer parameters than the winning architecture of "
                                 "Krizhevsky et al.\" (Szegedy et al. 2015, Sec. 1); its Table 1 "
                                 "params column sums to about 6.8M",
                    "Inception-v3": "\"GoogleNet employed only 5 million parameters, which "
                                    "represented a 12x reduction with respect to ... AlexNet\" "
                                    "(Szegedy et al. 2016, Sec. 1)",
                    "AlexNet": "60 million parameters (Krizhevsky et al. 2012)"},
    )


# ---------------------------------------------------------------------------------------------
# 11. The 1x1 bottleneck
def judge_bottleneck(v: dict[str, Any]) -> Verdict:
    parts = []
    for name, key, what in (("operations", "macs_ratio", "MACs"), ("time", "time_ratio", "CPU time")):
        r = v[key]
        verdict = (HOLDS if r > threshold("inception-bottleneck", name, "holds") else
                   CORRECTED if r > threshold("inception-bottleneck", name, "cheaper") else FAILS)
        reason = (f"naive / 1x1-reduced modules: {r:.2f}x the {what}" + (
            f" ({_fmt(v['naive_macs'])} against {_fmt(v['bottleneck_macs'])}; parameters "
            f"{v['params_ratio']:.1f}x)" if name == "operations" else ""))
        parts.append(part(name, verdict, reason, f"The 1x1 reductions save {what}, {r:.2f}x, less than "
                          "a 'blow-up'" if verdict == CORRECTED else "", ratio=r))
    return combine(parts)


@claim(11, "inception-bottleneck", "The 1x1 bottleneck makes Inception affordable",
       "Reducing dimensions with 1x1 convolutions before the 3x3 and 5x5 convolutions (Fig. 2b) "
       "keeps the Inception modules cheap; without them (Fig. 2a) the cost blows up from module "
       "to module.",
       "Szegedy et al. 2015, Sec. 4, Fig. 2", judge_bottleneck)
def inception_bottleneck(mode: str) -> Measured:
    which, repeat = settings("inception-bottleneck", mode)["modules"], settings("inception-bottleneck", mode)["repeat"]
    per: dict[str, dict[str, dict[str, float]]] = {}
    for kind in ("naive", "bottleneck"):
        s = summary("googlenet", options={"inception": kind})
        seeded(0)
        model = create_model("googlenet", inception=kind).eval()
        modules = dict(model.named_children())
        names = [n for n in modules if n.startswith("inception") and (which is None or n in which)]
        for name in names:
            rows = [r for r in s.layers if r.name.startswith(name + ".")]
            first = next(r for r in rows if r.input_shape is not None)
            x = torch.randn(1, *(first.input_shape or ()))
            module = modules[name]
            with torch.no_grad():
                t = seconds_per_call(lambda m=module, x=x: m(x), repeat)  # type: ignore[misc]
            per.setdefault(name, {})[kind] = {
                "params": sum(r.params for r in rows), "macs": sum(r.macs for r in rows),
                "seconds": t, "out": rows[-1].output_shape[0], "in": first.input_shape[0]}
        del model
    names = list(per)
    total = {k: {q: sum(per[n][k][q] for n in names) for q in ("params", "macs", "seconds")}
             for k in ("naive", "bottleneck")}
    table = [[n, f"{per[n]['naive']['in']}", f"{_fmt(per[n]['naive']['params'])}",
             f"{_fmt(per[n]['bottleneck']['params'])}", _fmt(per[n]["naive"]["macs"]),
             _fmt(per[n]["bottleneck"]["macs"]), f"{per[n]['naive']['seconds'] * 1e3:.1f}",
             f"{per[n]['bottleneck']['seconds'] * 1e3:.1f}"] for n in names]
    fig, ax = figure(7.2, 3.6)
    xs = range(len(names))
    ax.bar([i - 0.2 for i in xs], [per[n]["naive"]["macs"] / 1e6 for n in names], 0.4,
           color="#ff7f0e", label="naive (Fig. 2a)")
    ax.bar([i + 0.2 for i in xs], [per[n]["bottleneck"]["macs"] / 1e6 for n in names], 0.4,
           color="#1f77b4", label="1x1 reductions (Fig. 2b)")
    ax.set_xticks(list(xs), [n.replace("inception", "") for n in names])
    ax.set(yscale="log", ylabel="MMACs (224x224, batch 1)", xlabel="Inception module",
           title="GoogLeNet's Inception modules: naive vs bottleneck")
    ax.legend()
    values = {"naive_params": total["naive"]["params"], "bottleneck_params": total["bottleneck"]["params"],
              "naive_macs": total["naive"]["macs"], "bottleneck_macs": total["bottleneck"]["macs"],
              "naive_seconds": round(total["naive"]["seconds"], 4),
              "bottleneck_seconds": round(total["bottleneck"]["seconds"], 4),
              "macs_ratio": round(total["naive"]["macs"] / total["bottleneck"]["macs"], 2),
              "params_ratio": round(total["naive"]["params"] / total["bottleneck"]["params"], 2),
              "time_ratio": round(total["naive"]["seconds"] / total["bottleneck"]["seconds"], 2),
              "modules": names}
    return Measured(
        values=values,
        units={"naive_params": "parameters", "bottleneck_params": "parameters",
               "naive_macs": "MACs", "bottleneck_macs": "MACs", "naive_seconds": "s",
               "bottleneck_seconds": "s", "macs_ratio": "x", "params_ratio": "x", "time_ratio": "x"},
        method=f"cnnzoo's googlenet with inception='naive' (Fig. 2a: the module's input passes "
               f"through its pooling branch, so widths grow) and 'bottleneck' (Fig. 2b, the "
               f"paper's network). Per module: parameters and MACs from cnnzoo.summary; forward "
               f"time of the module alone at batch 1 on its real input shape, best of {repeat} "
               f"after a warm-up, on the CPU ({torch.get_num_threads()} thread(s)).",
        seeds=[0],
        references={"GoogLeNet Sec. 4": "the naive module's pooling branch makes the output "
                                        "grow from stage to stage, \"leading to a computational "
                                        "blow up within a few stages\"",
                    "GoogLeNet inference budget": "1.5 billion multiply-adds (Sec. 1)"},
        tables=[Table("Per module", ["Module", "Naive input channels", "Params naive",
                                     "Params bottleneck", "MACs naive", "MACs bottleneck",
                                     "ms naive", "ms bottleneck"], table)],
        figures={"modules": fig},
    )


# ---------------------------------------------------------------------------------------------
# 14. ResNet-152 deeper than VGG-19 and cheaper
def judge_depth_cost(v: dict[str, Any]) -> Verdict:
    reason = (f"ResNet-152 has {v['resnet152_depth']} weighted layers and "
              f"{v['resnet152_macs'] / 1e9:.2f}G MACs; VGG-19 has {v['vgg19_depth']} and "
              f"{v['vgg19_macs'] / 1e9:.2f}G ({v['resnet152_depth'] / v['vgg19_depth']:.0f}x deeper, "
              f"{v['resnet152_macs'] / v['vgg19_macs']:.0%} of the cost)")
    ok = v["resnet152_depth"] > v["vgg19_depth"] and v["resnet152_macs"] < v["vgg19_macs"]
    return combine([part("deeper and cheaper", HOLDS if ok else FAILS, reason,
                         depth_ratio=round(v["resnet152_depth"] / v["vgg19_depth"], 2),
                         macs_ratio=round(v["resnet152_macs"] / v["vgg19_macs"], 3))])


@claim(14, "resnet152-vs-vgg19", "ResNet-152 is deeper than VGG-19 and cheaper",
       "ResNet-152 is 8 times deeper than VGG-19 yet needs fewer multiply-adds (11.3 billion "
       "against 19.6 billion).",
       "He et al. 2016, Sec. 4.1 and Table 1", judge_depth_cost)
def depth_cost(mode: str) -> Measured:
    names = setting(mode, tiny=("resnet152", "vgg19"),  # which models to show, not a rule
                    quick=("vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
                    full=("vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"))
    values: dict[str, Any] = {}
    rows = []
    for name in names:
        s = summary(name)
        values[f"{name}_depth"] = s.weighted_depth
        values[f"{name}_macs"] = s.total_macs
        values[f"{name}_params"] = s.total_params
        rows.append([name, s.weighted_depth, f"{s.total_macs / 1e9:.2f}G", f"{s.total_params:,}"])
    fig, ax = figure(6.4, 3.6)
    for name in names:
        colour = "#1f77b4" if name.startswith("resnet") else "#ff7f0e"
        ax.scatter(values[f"{name}_depth"], values[f"{name}_macs"] / 1e9, color=colour, s=40)
        ax.annotate(name, (values[f"{name}_depth"], values[f"{name}_macs"] / 1e9),
                    textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(xlabel="weighted layers (longest path)", ylabel="GMACs (224x224, batch 1)",
           title="Depth against cost")
    return Measured(
        values=values,
        units={k: ("layers" if k.endswith("depth") else "MACs" if k.endswith("macs") else "parameters")
               for k in values},
        method="cnnzoo.summary of each network at 224x224 (batch 1): weighted depth (conv and "
               "linear layers on the longest path; ResNet's projection shortcuts are off it) and "
               "MACs of conv and linear layers.",
        references={"ResNet Table 1": "\"FLOPs\" 1.8/3.6/3.8/7.6/11.3 x10^9 for ResNet-18..152: "
                                      "multiply-adds, the same unit as cnnzoo's MACs",
                    "ResNet Sec. 4.1": "VGG-16/19: 15.3/19.6 billion FLOPs (multiply-adds); "
                                       "ResNet-152 \"8x deeper than VGG nets but still having lower "
                                       "complexity\""},
        tables=[Table("Depth and cost", ["Model", "Weighted depth", "MACs", "Params"], rows)],
        figures={"depth_cost": fig},
    )
