# mypy: disable-error-code="union-attr,index,operator,arg-type"
# (Summary rows have Optional shape fields that are set for the layers read here, and model
# attributes such as `.conv1` are typed Tensor | Module by torch; the checks above are by value.)
"""Claims 1-7: LeNet-5, AlexNet, and why the early networks failed (data, compute, init, activation)."""
from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import nn

from ..analysis.summary import summary
from ..registry import create_model
from .base import CORRECTED, FAILS, HOLDS, UNCHECKABLE, Measured, Table, Verdict, claim, setting
from .common import (
    COLOURS,
    error_rate,
    figure,
    fit,
    load_data,
    mean_std,
    recipe,
    seeded,
    subset,
    to_input,
    weighted_layers,
)

# ---------------------------------------------------------------------------------------------
# 1. LeNet-5's shapes follow (W - K + 2P)/S + 1
LENET_PAPER_SHAPES = {"c1": (6, 28, 28), "s2": (6, 14, 14), "c3": (16, 10, 10), "s4": (16, 5, 5),
                      "c5": (120, 1, 1)}


def judge_shapes(v: dict[str, Any]) -> Verdict:
    if v["layers_checked"] < len(LENET_PAPER_SHAPES):
        return Verdict(FAILS, f"only {v['layers_checked']} windowed layers were found to check")
    if v["formula_mismatches"] or v["paper_mismatches"]:
        return Verdict(FAILS, f"{v['formula_mismatches']} layer(s) disagree with the formula and "
                              f"{v['paper_mismatches']} with the paper's shapes")
    exact = v["exact_divisions"] == v["layers_checked"]
    return Verdict(HOLDS, f"all {v['layers_checked']} convolution and subsampling layers give the "
                          "formula's output size and the paper's map sizes (6@28, 6@14, 16@10, "
                          "16@5, 120@1)" + ("; every division is exact, no rounding is needed"
                                             if exact else ""))


@claim(1, "lenet-shapes", "LeNet-5's map sizes follow the output-size formula",
       "Every convolution and subsampling layer of LeNet-5 turns a W-wide map into "
       "(W - K + 2P)/S + 1 with its kernel K, padding P and stride S, which gives the paper's "
       "32 -> 28 -> 14 -> 10 -> 5 -> 1.",
       "LeCun et al. 1998, Sec. II-B", judge_shapes)
def lenet_shapes(mode: str) -> Measured:
    s = summary("lenet5")
    rows, checked, bad, bad_paper, exact = [], 0, 0, 0, 0
    for r in s.layers:
        if r.kernel is None or r.input_shape is None or r.output_shape is None:
            continue
        checked += 1
        w, k, p, st = r.input_shape[-1], r.kernel[1], r.padding[1], r.stride[1]
        num = w - k + 2 * p
        formula = num // st + 1
        exact += num % st == 0
        ok = formula == r.output_shape[-1] == r.output_shape[-2]
        bad += not ok
        paper = LENET_PAPER_SHAPES.get(r.name)
        bad_paper += paper is not None and tuple(r.output_shape) != paper
        rows.append([r.name, r.type, w, k, p, st, f"({w} - {k} + 2*{p})/{st} + 1 = {formula}",
                     "x".join(map(str, r.output_shape)),
                     "x".join(map(str, paper)) if paper else "", "yes" if ok else "NO"])
    return Measured(
        values={"layers_checked": checked, "formula_mismatches": bad, "paper_mismatches": bad_paper,
                "exact_divisions": exact},
        units={"layers_checked": "layers", "formula_mismatches": "layers",
               "paper_mismatches": "layers", "exact_divisions": "layers"},
        method="cnnzoo.summary('lenet5') traces a 1x32x32 input through the network; for every "
               "layer with a window the formula is evaluated from the row's input width, kernel, "
               "padding and stride and compared with the traced output shape and with the "
               "paper's map sizes.",
        references={"LeNet-5 maps": "C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, C5 120@1x1 "
                                    "(LeCun et al. 1998, Fig. 2)"},
        tables=[Table("Layer by layer", ["Layer", "Type", "W", "K", "P", "S", "Formula",
                                         "Traced output", "Paper", "Agrees"], rows)],
    )


# ---------------------------------------------------------------------------------------------
# 2. C3's connection table
def judge_c3(v: dict[str, Any]) -> Verdict:
    if v["c3_params_table"] != 1516 or v["c3_params_full"] != 2416:
        return Verdict(FAILS, f"C3 has {v['c3_params_table']:,} parameters with the table and "
                              f"{v['c3_params_full']:,} fully connected, not 1,516 and 2,416")
    diff = v["acc_table_mean"] - v["acc_full_mean"]
    n = max(v["seeds"], 1)
    noise = math.sqrt((v["acc_table_std"] ** 2 + v["acc_full_std"] ** 2) / n)
    tol = max(2 * noise, 0.5)
    saved = 1 - v["c3_params_table"] / v["c3_params_full"]
    acc = (f"test accuracy {v['acc_table_mean']:.2f}% with the table against "
           f"{v['acc_full_mean']:.2f}% fully connected (difference {diff:+.2f} points, "
           f"{v['seeds']} seeds, tolerance {tol:.2f})")
    if diff >= -tol:
        return Verdict(HOLDS, f"the table saves {saved:.0%} of C3's parameters (1,516 vs 2,416); {acc}")
    return Verdict(CORRECTED, f"the table saves {saved:.0%} of C3's parameters, but {acc}",
                   "The table saves parameters and connections but costs accuracy here; its "
                   "reasons in 1998 were the cost of computing C3 and breaking the symmetry between "
                   "maps, not a better score.")


@claim(2, "lenet-c3", "LeNet-5's C3 connection table",
       "LeNet-5's C3 layer connects each of its 16 maps to only some of S2's 6 maps (Table I). "
       "The table saves parameters (1,516 instead of 2,416) and breaks the symmetry between maps "
       "without costing accuracy.",
       "LeCun et al. 1998, Sec. II-B, Table I", judge_c3)
def lenet_c3(mode: str) -> Measured:
    n_train, n_test, steps, seeds = setting(
        mode, tiny=(512, 200, 8, [0, 1]), quick=(12000, 5000, 600, [0, 1, 2]),
        full=(60000, 10000, 9400, [0, 1, 2, 3, 4]))
    data = load_data()
    x, y = subset(data.train_images, data.train_labels, n_train)
    xt, yt = subset(data.test_images, data.test_labels, n_test)
    x, xt = to_input(x), to_input(xt)
    params: dict[str, int] = {}
    acc: dict[str, list[float]] = {"table": [], "full": []}
    curves: dict[str, list[float]] = {}
    for conn in ("table", "full"):
        c3: nn.Module = create_model("lenet5", connections=conn).c3  # type: ignore[assignment]
        params[conn] = sum(p.numel() for p in c3.parameters())
        for seed in seeds:
            seeded(seed)
            model = create_model("lenet5", connections=conn)
            record = fit(model, x, y, steps=steps, batch=64, seed=seed, **recipe("lenet_rbf"))
            acc[conn].append(100 - error_rate(model, xt, yt))
            if seed == seeds[0]:
                curves[conn] = record.smoothed_error(50)
    (mt, st), (mf, sf) = mean_std(acc["table"]), mean_std(acc["full"])
    fig, ax = figure(6.4, 3.4)
    for conn, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, color=COLOURS[conn],
                label=f"C3 {conn} ({params[conn]:,} params)")
    ax.set(xlabel="training step (batch 64)", ylabel="training error, % (running mean)",
           title="LeNet-5: C3 connection table vs full connection")
    ax.legend()
    return Measured(
        values={"c3_params_table": params["table"], "c3_params_full": params["full"],
                "acc_table_mean": round(mt, 3), "acc_table_std": round(st, 3),
                "acc_full_mean": round(mf, 3), "acc_full_std": round(sf, 3),
                "acc_table": [round(a, 2) for a in acc["table"]],
                "acc_full": [round(a, 2) for a in acc["full"]], "seeds": len(seeds)},
        units={"c3_params_table": "parameters", "c3_params_full": "parameters",
               "acc_table_mean": "%", "acc_table_std": "points", "acc_full_mean": "%",
               "acc_full_std": "points", "acc_table": "%", "acc_full": "%", "seeds": "seeds"},
        method=f"The paper's LeNet-5 (scaled tanh, trainable subsampling, RBF output; "
               f"connections='table') against the same network with connections='full', trained "
               f"with the engine's lenet5 recipe (SGD, lr 0.01, momentum 0.9, weight decay 5e-4, "
               f"one-cycle schedule, batch 64) for {steps} steps on {n_train:,} "
               f"{data.name} training images (28x28 centred in 32x32), test accuracy on "
               f"{n_test:,} test images, seeds {seeds}.",
        seeds=list(seeds),
        references={"C3 parameters": "1,516 (LeCun et al. 1998, Sec. II-B)",
                    "C3 connections": "151,600 (LeCun et al. 1998, Sec. II-B)",
                    "LeNet-5 MNIST test error": "0.95% (LeCun et al. 1998, Fig. 14)"},
        figures={"training": fig},
    )


# ---------------------------------------------------------------------------------------------
# 3. AlexNet's two towers
GTX580_GB = 3.0


def judge_towers(v: dict[str, Any]) -> Verdict:
    whole, tower, gpu = v["one_gpu_train_gb"], v["per_tower_train_gb"], v["gpu_memory_gb"]
    facts = (f"training at batch {v['batch']} needs about {whole:.2f} GB on one GPU "
             f"(weights, gradients, momentum and the activations kept for the backward pass) and "
             f"{tower:.2f} GB per tower when split; a GTX 580 had {gpu:g} GB")
    if tower > gpu:
        return Verdict(FAILS, facts + ": even one tower would not fit")
    if whole > gpu:
        return Verdict(HOLDS, facts)
    return Verdict(CORRECTED, facts,
                   f"By this count the whole network at batch {v['batch']} fits in {gpu:g} GB "
                   f"({whole:.2f} GB), so memory alone did not force the split; it was tight "
                   "(no room for a larger batch or wider layers) and the split also halved each "
                   "GPU's work. The paper credits the two-tower net with 1.7/1.2 points lower "
                   "top-1/top-5 error than a one-GPU net of half the width.")


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of model(x) (parameters
    excluded, each storage counted once): what a training step must hold in memory."""
    param_ptrs = {p.data_ptr() for p in model.parameters()}
    seen: set[tuple[int, int]] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if t.data_ptr() not in param_ptrs and key not in seen:
            seen.add(key)
            total += key[1]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum()
    return total


@claim(3, "alexnet-towers", "AlexNet was split across two GPUs for memory",
       "AlexNet was split into two towers, one per GPU (conv2, conv4 and conv5 see only their own "
       "tower's maps), because the network did not fit in the 3 GB of one GTX 580.",
       "Krizhevsky et al. 2012, Sec. 3.2", judge_towers)
def alexnet_towers(mode: str) -> Measured:
    probe, batch = setting(mode, tiny=(1, 128), quick=(2, 128), full=(4, 128))
    x = torch.randn(probe, 3, 227, 227)
    rows: list[list[Any]] = []
    values: dict[str, Any] = {}
    for towers in (2, 1):
        torch.manual_seed(0)
        model = create_model("alexnet", towers=towers).train()
        params = sum(p.numel() for p in model.parameters())
        act = saved_activation_bytes(model, x) / probe  # per image
        weights_gb = params * 4 / 1e9
        state_gb = 3 * weights_gb  # weights, gradients and SGD momentum, float32
        act_gb = act * batch / 1e9
        total = state_gb + act_gb
        per = total / towers
        rows.append([f"{towers} tower{'s' if towers > 1 else ''}", f"{params:,}",
                     f"{weights_gb:.3f}", f"{act / 1e6:.2f}", f"{act_gb:.2f}", f"{total:.2f}",
                     f"{per:.2f}"])
        key = "two" if towers == 2 else "one"
        values[f"params_{key}_towers"] = params
        values[f"activation_mb_per_image_{key}_towers"] = round(act / 1e6, 3)
        values[f"train_gb_{key}_towers"] = round(total, 3)
        if towers == 2:
            values["one_gpu_train_gb"] = round(total, 3)
            values["per_tower_train_gb"] = round(per, 3)
            parts = (weights_gb, 2 * weights_gb, act_gb)
    values.update(batch=batch, gpu_memory_gb=GTX580_GB, per_tower_params=values["params_two_towers"] // 2)
    fig, ax = figure(6.4, 3.4)
    labels = ["whole network\non one GPU", "one tower\n(half of every layer)"]
    bottoms = [0.0, 0.0]
    for part, name, colour in zip(parts, ("weights", "gradients + momentum",
                                          f"activations kept for backward (batch {batch})"),
                                  ("#1f77b4", "#aec7e8", "#ff7f0e")):
        heights = [part, part / 2]
        ax.bar(labels, heights, bottom=bottoms, color=colour, label=name, width=0.5)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax.axhline(GTX580_GB, color="#d62728", ls="--", label="GTX 580: 3 GB")
    ax.set(ylabel="GB (float32)", title="AlexNet training memory, one GPU vs one tower")
    ax.legend(fontsize=8, loc="center right")
    return Measured(
        values=values,
        units={k: ("parameters" if k.startswith(("params", "per_tower_params")) else
                   "MB" if k.startswith("activation") else "GB" if k.endswith("gb") or k.startswith("train_gb") else
                   "images" if k == "batch" else "") for k in values},
        method=f"cnnzoo's alexnet (towers=2: groups=2 on conv2/4/5) and its one-tower twin "
               f"(towers=1). Parameters are counted; the activations autograd keeps for the "
               f"backward pass are measured on a real training-mode forward at 227x227 "
               f"({probe} image(s), scaled to batch {batch}). Training memory = weights + "
               f"gradients + SGD momentum (float32) + kept activations; each tower holds half of "
               f"every layer. Framework workspaces are not counted.",
        references={"paper": "\"a single GTX 580 GPU has only 3GB of memory, which limits the "
                             "maximum size of the networks that can be trained on it\" "
                             "(Krizhevsky et al. 2012, Sec. 3.2)",
                    "batch": "128 (Sec. 5)",
                    "two towers vs one of half the width": "-1.7 / -1.2 points top-1/top-5 error (Sec. 3.2)"},
        tables=[Table("Memory of a training step", ["Network", "Params", "Weights GB",
                                                    "Activations MB/image",
                                                    f"Activations GB (batch {batch})",
                                                    "Total GB", "GB per tower"], rows)],
        figures={"memory": fig},
    )


# ---------------------------------------------------------------------------------------------
# 4. The wrong non-linearity
def judge_nonlinearity(v: dict[str, Any]) -> Verdict:
    cap = v["max_steps"]
    steps = {a: v[f"steps_{a}"] for a in ("sigmoid", "tanh", "relu")}
    shown = {a: (f"{s}" if s is not None else f">{cap}") for a, s in steps.items()}
    if steps["relu"] is None:
        return Verdict(FAILS, f"ReLU did not reach {v['target_error']:g}% training error in {cap} steps")
    ratio = (steps["tanh"] or cap) / steps["relu"]
    vs_sigmoid = (steps["sigmoid"] or cap) / steps["relu"]
    more = ">" if steps["tanh"] is None else ""
    reason = (f"steps to {v['target_error']:g}% training error, each with its fastest learning "
              f"rate: sigmoid {shown['sigmoid']}, tanh {shown['tanh']}, ReLU {shown['relu']} "
              f"(tanh/ReLU = {more}{ratio:.2f}x, mean of {v['seeds']} seeds); first-layer gradient "
              f"at initialisation: sigmoid {v['first_layer_grad_sigmoid']:.1e}, tanh "
              f"{v['first_layer_grad_tanh']:.1e}, ReLU {v['first_layer_grad_relu']:.1e}")
    if ratio >= 3 and vs_sigmoid >= 3:
        return Verdict(HOLDS, reason)
    if vs_sigmoid >= 3:
        return Verdict(CORRECTED, reason,
                       f"The sigmoid is the wrong non-linearity ({'>' if steps['sigmoid'] is None else ''}"
                       f"{vs_sigmoid:.1f}x slower than ReLU, with vanishing first-layer gradients), "
                       f"but ReLU is {more}{ratio:.2f}x as fast as tanh here, not 6x as in AlexNet's "
                       f"Fig. 1: that factor belongs to its network and CIFAR-10; on this small "
                       f"network a zero-centred tanh trains about as fast.")
    return Verdict(FAILS, reason)


@claim(4, "nonlinearity", "The wrong non-linearity slowed training",
       "Saturating non-linearities (sigmoid, tanh) train a CNN much more slowly than ReLU: "
       "AlexNet's Fig. 1 has ReLU reaching 25% training error on CIFAR-10 six times faster than "
       "tanh. Saturation also shrinks the gradients that reach the first layers.",
       "Krizhevsky et al. 2012, Sec. 3.1, Fig. 1", judge_nonlinearity)
def nonlinearity(mode: str) -> Measured:
    n_train, max_steps, seeds, target, rates = setting(
        mode, tiny=(512, 12, [0], 90.0, (0.03,)),
        quick=(20000, 800, [0, 1, 2], 25.0, (0.01, 0.03, 0.1)),
        full=(60000, 4000, [0, 1, 2, 3, 4], 25.0, (0.003, 0.01, 0.03, 0.1, 0.3)))
    data = load_data()
    x, y = subset(data.train_images, data.train_labels, n_train)
    x = to_input(x)
    acts = ("sigmoid", "tanh", "relu")
    steps: dict[str, list[int | None]] = {a: [] for a in acts}
    grads: dict[str, list[float]] = {}
    curves, best_lr, grid = {}, {}, {}

    def run(act: str, lr: float, seed: int):
        seeded(seed)
        model = create_model("lenet5_modern", activation=act)
        return fit(model, x, y, steps=max_steps, batch=64, lr=lr, seed=seed,
                   stop=lambda r: r.steps_to_error(target) is not None)

    for act in acts:
        seeded(seeds[0])  # gradient norms at initialisation, one batch of 256
        model = create_model("lenet5_modern", activation=act)
        layers = weighted_layers(model)
        nn.functional.cross_entropy(model(x[:256]), y[:256]).backward()
        grads[act] = [float(dict(model.named_modules())[n].weight.grad.norm()) for n in layers]
        # The paper chose each network's learning rate "to make training as fast as possible":
        # the grid on the first seed, then the other seeds at the best rate.
        records = {lr: run(act, lr, seeds[0]) for lr in rates}
        grid[act] = {lr: r.steps_to_error(target) for lr, r in records.items()}
        best_lr[act] = min(rates, key=lambda lr: (grid[act][lr] or max_steps + 1,
                                                  records[lr].smoothed_error(20)[-1]))
        curves[act] = records[best_lr[act]].smoothed_error(20)
        steps[act].append(grid[act][best_lr[act]])
        for seed in seeds[1:]:
            steps[act].append(run(act, best_lr[act], seed).steps_to_error(target))
    mean_steps = {a: (None if any(s is None for s in v) else round(sum(v) / len(v)))
                  for a, v in steps.items()}
    fig, (ax1, ax2) = figure(9.6, 3.6, ncols=2)
    for act in acts:
        ax1.plot(range(1, len(curves[act]) + 1), curves[act], color=COLOURS[act],
                 label=f"{act} (lr {best_lr[act]:g})")
        ax2.plot(range(1, len(grads[act]) + 1), grads[act], "o-", color=COLOURS[act], label=act)
    ax1.axhline(target, color="k", ls=":", lw=1, label=f"{target:g}% target")
    ax1.set(xlabel="training step (batch 64)", ylabel="training error, % (20-step mean)",
            title="Time to a fixed training error", xscale="log")
    ax1.legend(fontsize=8)
    ax2.set(xlabel="weighted layer (input -> output)", ylabel="weight gradient norm",
            yscale="log", title="Gradient norms at initialisation")
    ax2.set_xticks(range(1, len(layers) + 1), layers)
    ax2.legend(fontsize=8)
    values: dict[str, Any] = {f"steps_{a}": mean_steps[a] for a in acts}
    values.update({f"first_layer_grad_{a}": float(f"{grads[a][0]:.4g}") for a in acts})
    values.update({f"best_lr_{a}": best_lr[a] for a in acts})
    values.update(target_error=target, max_steps=max_steps, seeds=len(seeds),
                  steps_per_seed={a: steps[a] for a in acts},
                  steps_by_lr={a: {str(lr): s for lr, s in grid[a].items()} for a in acts})
    return Measured(
        values=values,
        units={**{f"steps_{a}": "steps" for a in acts}, "target_error": "%", "max_steps": "steps",
               **{f"first_layer_grad_{a}": "L2 norm" for a in acts},
               **{f"best_lr_{a}": "learning rate" for a in acts}, "seeds": "seeds",
               "steps_per_seed": "steps", "steps_by_lr": "steps (by learning rate)"},
        method=f"lenet5_modern (full C3, max pooling, linear head, PyTorch init) with "
               f"activation=sigmoid, tanh and relu, trained with SGD (momentum 0.9, batch 64, "
               f"constant learning rate) on {n_train:,} {data.name} images until the training "
               f"error averaged over 20 steps reaches {target:g}% (at most {max_steps} steps). As "
               f"in the paper, each non-linearity gets its fastest learning rate, chosen from "
               f"{list(rates)} on seed {seeds[0]}; seeds {seeds}. Weight gradient norms per layer "
               f"on one batch of 256 at initialisation.",
        seeds=list(seeds),
        references={"AlexNet Fig. 1": "4-layer CNN on CIFAR-10: ReLU reaches 25% training error "
                                      "six times faster than tanh; learning rates chosen "
                                      "separately for speed (Krizhevsky et al. 2012)"},
        figures={"nonlinearity": fig},
    )


# ---------------------------------------------------------------------------------------------
# 5. Bad initialisation
def judge_init(v: dict[str, Any]) -> Verdict:
    small, he = v["output_scale_paper"], v["output_scale_he"]
    reason = (f"{v['model']} at initialisation: the last layer's output std is {small:.1e} of "
              f"the input's with N(0, 0.01) and {he:.2g} with He initialisation; the first layer's "
              f"weight gradient is {v['first_grad_paper']:.1e} against {v['first_grad_he']:.1e}; "
              f"after {v['train_steps']} SGD steps the first layer moved by "
              f"{v['first_change_paper']:.1e} (relative) against {v['first_change_he']:.1e}")
    vanishes = small < 1e-3 and v["first_grad_paper"] < 1e-3 * v["first_grad_he"]
    he_ok = 1e-2 < he < 1e2 and v["first_change_he"] > 100 * max(v["first_change_paper"], 1e-30)
    # He keeping the scale at initialisation is not yet training: the SGD steps from it must not
    # diverge (VGG-19 without BatchNorm at lr 0.01 did: its loss reached inf in 4 steps).
    losses = [float(x) for x in v.get("loss_he") or []]
    diverged = bool(losses) and (not all(math.isfinite(x) for x in losses) or losses[-1] > losses[0])
    if vanishes and he_ok and not diverged:
        return Verdict(HOLDS, reason)
    if vanishes and 1e-2 < he < 1e2 and diverged:
        return Verdict(CORRECTED, reason + f"; but from He initialisation the loss went from {losses[0]:.3g} "
                       f"to {losses[-1]:.3g} in {len(losses)} steps",
                       f"N(0, 0.01) does stop {v['model']} from training, and He initialisation "
                       "keeps the signal's scale, but at this learning rate SGD from it diverged: "
                       "the right initialisation is necessary, not sufficient; a deep plain net "
                       "without BatchNorm also needs a smaller learning rate or a warm-up (VGG "
                       "itself started its deeper nets from the trained net A)")
    return Verdict(FAILS, reason)


@claim(5, "initialisation", "A bad initialisation stops deep plain nets from training",
       "With weights drawn from N(0, 0.01), as AlexNet and VGG's net A were initialised, the "
       "signal of a deep plain network shrinks layer after layer: the output and the gradients "
       "reaching the first layers all but vanish and training does not start. Xavier/He "
       "initialisation keeps the scale.",
       "Simonyan & Zisserman 2014, Sec. 3.1; Glorot & Bengio 2010; He et al. 2015", judge_init)
def initialisation(mode: str) -> Measured:
    name, batch, steps = setting(mode, tiny=("vgg11", 1, 1), quick=("vgg16", 2, 3),
                                 full=("vgg19", 8, 10))
    data = load_data()
    xs, ys = subset(data.train_images, data.train_labels, batch, seed=0)
    x = to_input(xs, 224, 3, fit="resize")
    inits = {"paper": "N(0, 0.01)", "glorot": "Xavier (Glorot uniform)", "he": "He (Kaiming normal)"}
    stds: dict[str, list[float]] = {}
    grads: dict[str, list[float]] = {}
    values: dict[str, Any] = {"model": name, "train_steps": steps, "batch": batch}
    for init in inits:
        seeded(0)
        model = create_model(name, num_classes=10, init="default" if init == "he" else init)
        if init == "he":
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)
        model.eval()  # no dropout: measure the signal itself
        layers = weighted_layers(model)
        mods = dict(model.named_modules())
        outs: dict[str, float] = {}
        hooks = [mods[n].register_forward_hook(
            lambda m, i, o, n=n, outs=outs: outs.__setitem__(n, float(o.detach().std()))) for n in layers]
        nn.functional.cross_entropy(model(x), ys).backward()
        for h in hooks:
            h.remove()
        stds[init] = [outs[n] / float(x.std()) for n in layers]
        grads[init] = [float(mods[n].weight.grad.norm()) for n in layers]
        values[f"output_scale_{init}"] = float(f"{stds[init][-1]:.3g}")
        values[f"first_grad_{init}"] = float(f"{grads[init][0]:.3g}")
        if init in ("paper", "he"):  # does training start? a few SGD steps on this batch
            first = mods[layers[0]].weight
            before = first.detach().clone()
            record = fit(model, x, ys, steps=steps, batch=batch, lr=0.01, seed=0)
            values[f"first_change_{init}"] = float(
                f"{float((first.detach() - before).norm() / before.norm()):.3g}")
            values[f"loss_{init}"] = [round(loss, 4) for loss in record.losses]
    fig, (ax1, ax2) = figure(9.6, 3.6, ncols=2)
    for init, label in inits.items():
        ax1.semilogy(range(1, len(stds[init]) + 1), stds[init], "o-", ms=3, label=label)
        ax2.semilogy(range(1, len(grads[init]) + 1), [max(g, 1e-45) for g in grads[init]], "o-",
                     ms=3, label=label)
    ax1.set(xlabel="weighted layer", ylabel="output std / input std",
            title=f"{name}: signal scale at initialisation")
    ax2.set(xlabel="weighted layer", ylabel="weight gradient norm", title="Gradient at initialisation")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    return Measured(
        values=values,
        units={**{k: "x input std" for k in values if k.startswith("output_scale")},
               **{k: "L2 norm" for k in values if k.startswith("first_grad")},
               **{k: "relative" for k in values if k.startswith("first_change")},
               **{k: "cross-entropy (nats)" for k in values if k.startswith("loss_")},
               "train_steps": "steps", "batch": "images"},
        method=f"cnnzoo's {name} (no batch norm) built three times: init='paper' (N(0, 0.01), "
               f"biases 0), init='glorot', and He (kaiming_normal_ on every conv and linear "
               f"layer). On {batch} {data.name} image(s) resized to 3x224x224: the output std of "
               f"every weighted layer relative to the input's and the weight gradient norms of a "
               f"cross-entropy loss (evaluation mode, no dropout); then {steps} SGD steps (lr "
               f"0.01, momentum 0.9) on the same batch and the relative change of the first "
               f"layer's weights.",
        seeds=[0],
        references={"VGG": "net A was trained from N(0, 0.01); the deeper nets were initialised "
                           "from net A's layers (Simonyan & Zisserman 2014, Sec. 3.1)",
                    "ResNet": "He initialisation lets deep plain nets start converging "
                              "(He et al. 2016, Sec. 4.1)"},
        figures={"scales": fig},
    )


# ---------------------------------------------------------------------------------------------
# 6. Data sets too small
def judge_data(v: dict[str, Any]) -> Verdict:
    sizes, acc = v["sizes"], v["test_accuracy"]
    gain = acc[-1] - acc[0]
    last = acc[-1] - acc[-2]
    reason = (f"test accuracy rises from {acc[0]:.1f}% with {sizes[0]:,} training images to "
              f"{acc[-1]:.1f}% with {sizes[-1]:,} (+{gain:.1f} points; the last step of the curve "
              f"adds {last:+.1f}); the train-test gap shrinks from {v['gap'][0]:.1f} to "
              f"{v['gap'][-1]:.1f} points")
    if gain >= 5 and last > -0.5:
        return Verdict(HOLDS, reason)
    return Verdict(FAILS, reason.replace("rises", "goes"))


@claim(6, "dataset-size", "The data sets were too small",
       "A CNN's test accuracy keeps rising with the size of its training set, and small training "
       "sets are overfitted: one reason the early networks lost to hand-made features before "
       "ImageNet.",
       "Krizhevsky et al. 2012, Sec. 1", judge_data)
def dataset_size(mode: str) -> Measured:
    sizes, min_steps, epochs, seeds, n_test = setting(
        mode, tiny=([64, 256], 10, 1, [0], 200),
        quick=([250, 1000, 4000, 16000], 500, 4, [0, 1], 5000),
        full=([100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 60000], 2000, 10, [0, 1, 2], 10000))
    data = load_data()
    sizes = [s for s in sizes if s <= len(data.train_labels)]
    xt, yt = subset(data.test_images, data.test_labels, n_test)
    xt = to_input(xt)
    acc, gap, acc_sd = [], [], []
    for n in sizes:
        per_seed, per_gap = [], []
        for seed in seeds:
            xs, ys = subset(data.train_images, data.train_labels, n, seed=seed)
            xs = to_input(xs)
            seeded(seed)
            model = create_model("lenet5_modern")
            steps = max(min_steps, epochs * n // 64)
            fit(model, xs, ys, steps=steps, batch=min(64, n), seed=seed, **recipe("lenet"))
            test_acc = 100 - error_rate(model, xt, yt)
            train_acc = 100 - error_rate(model, xs[:5000], ys[:5000])
            per_seed.append(test_acc)
            per_gap.append(train_acc - test_acc)
        m, s = mean_std(per_seed)
        acc.append(round(m, 2))
        acc_sd.append(round(s, 2))
        gap.append(round(sum(per_gap) / len(per_gap), 2))
    fig, ax = figure(6.4, 3.6)
    ax.errorbar(sizes, acc, yerr=acc_sd, fmt="o-", color="#1f77b4", capsize=3, label="test accuracy")
    ax.plot(sizes, [a + g for a, g in zip(acc, gap)], "s--", color="#ff7f0e", label="training accuracy")
    ax.set(xscale="log", xlabel="training images", ylabel="accuracy, %",
           title="lenet5_modern: accuracy against training-set size")
    ax.legend()
    return Measured(
        values={"sizes": sizes, "test_accuracy": acc, "test_accuracy_std": acc_sd, "gap": gap,
                "seeds": len(seeds)},
        units={"sizes": "images", "test_accuracy": "%", "test_accuracy_std": "points",
               "gap": "points (train - test accuracy)", "seeds": "seeds"},
        method=f"lenet5_modern trained with the engine's recipe for it (SGD, lr 0.05, momentum "
               f"0.9, weight decay 5e-4, one-cycle schedule, batch 64) for {epochs} epochs or "
               f"{min_steps} steps, whichever is longer, on random subsets of {data.name}'s training set of each "
               f"size, seeds {seeds}; test accuracy on {n_test:,} test images; training accuracy on "
               f"(up to 5,000 of) the subset itself.",
        seeds=list(seeds),
        references={"ImageNet": "1.2 million labelled training images (Krizhevsky et al. 2012, Sec. 2)",
                    "MNIST / NORB / Caltech / CIFAR": "tens of thousands of images (Sec. 1)"},
        figures={"learning_curve": fig},
    )


# ---------------------------------------------------------------------------------------------
# 7. Computers too slow
def judge_compute(v: dict[str, Any]) -> Verdict:
    cpu = (f"training AlexNet on this CPU ({v['cpu_threads']} thread(s)) runs at "
           f"{v['cpu_images_per_s']:.1f} images/s: {v['epochs']} epochs of ImageNet's 1.2M images "
           f"would take {v['cpu_days']:.0f} days, against the paper's 5-6 days on two GTX 580s")
    if not v["gpu"]:
        return Verdict(UNCHECKABLE, cpu,
                       "Needs a CUDA GPU to compare: run `cnnzoo claims --only compute` on a "
                       "machine with one.")
    speed = v["gpu_images_per_s"] / v["cpu_images_per_s"]
    reason = (cpu + f"; the GPU ({v['gpu']}) runs at {v['gpu_images_per_s']:.0f} images/s, "
              f"{speed:.0f}x this CPU: {v['gpu_days']:.2f} days")
    if speed >= 10:
        return Verdict(HOLDS, reason)
    if speed > 1:
        return Verdict(CORRECTED, reason, f"The GPU is faster, but by {speed:.1f}x only.")
    return Verdict(FAILS, reason)


def _throughput(model: nn.Module, batch: int, device: str, steps: int) -> float:
    model = model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 227, 227, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


@claim(7, "compute", "Computers were too slow",
       "Training a network of AlexNet's size on ImageNet needed GPUs: the paper's 90 epochs took "
       "5-6 days on two GTX 580s, and a CPU is many times slower at the same work.",
       "Krizhevsky et al. 2012, Sec. 1 and 5", judge_compute)
def compute(mode: str) -> Measured:
    batch, steps, gpu_batch, gpu_steps = setting(mode, tiny=(1, 1, 16, 2), quick=(8, 3, 128, 10),
                                                 full=(32, 5, 128, 50))
    epochs, images = 90, 1_281_167
    seeded(0)
    cpu = _throughput(create_model("alexnet"), batch, "cpu", steps)
    values: dict[str, Any] = {
        "cpu_images_per_s": round(cpu, 2), "cpu_threads": torch.get_num_threads(),
        "cpu_days": round(epochs * images / cpu / 86400, 1), "epochs": epochs, "gpu": "",
        "batch_cpu": batch}
    if torch.cuda.is_available():
        gpu = _throughput(create_model("alexnet"), gpu_batch, "cuda", gpu_steps)
        values.update(gpu=torch.cuda.get_device_name(), gpu_images_per_s=round(gpu, 1),
                      gpu_days=round(epochs * images / gpu / 86400, 3), batch_gpu=gpu_batch)
    return Measured(
        values=values,
        units={k: u for k, u in (("cpu_images_per_s", "images/s"), ("cpu_threads", "threads"),
                                 ("cpu_days", "days"), ("epochs", "epochs"),
                                 ("gpu_images_per_s", "images/s"), ("gpu_days", "days"),
                                 ("batch_cpu", "images"), ("batch_gpu", "images")) if k in values},
        method=f"Training steps (forward, backward, SGD update) of cnnzoo's alexnet (two towers, "
               f"1000 classes, 3x227x227, random data) timed on the CPU at batch {batch} "
               f"({steps} steps after a warm-up, {torch.get_num_threads()} thread(s)) and, when "
               f"CUDA is present, on the GPU at batch {gpu_batch} ({gpu_steps} steps); projected "
               f"to {epochs} epochs of ImageNet-1k's {images:,} training images.",
        seeds=[0],
        references={"AlexNet": "90 epochs, 5-6 days on two GTX 580 3GB GPUs (Krizhevsky et al. "
                               "2012, Sec. 5)"},
    )
