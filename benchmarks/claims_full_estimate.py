"""Estimate the full mode's time of every claim from a recorded quick run.

Each claim's quick seconds (from a claims.json written by `cnnzoo claims`) are scaled by the ratio
of its full to its quick work, computed from the settings its rule declares (claims/rules.py):
training steps x batch x seeds x pixels where the experiment trains, probes or repeats elsewhere.
For the non-linearity claim, whose runs stop at the target, the worst case is used (every run to
its step cap, the grid widened twice), so that estimate is an upper bound.

    python benchmarks/claims_full_estimate.py docs/claims/quick/claims.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cnnzoo.claims.rules import RULES

VGG_GMACS = {"vgg11": 7.6, "vgg16": 15.5, "vgg19": 19.6}


def work(claim: str, s: dict[str, Any]) -> float:
    """The experiment's work in arbitrary units, from its mode's settings."""
    if claim == "lenet-c3":
        return s["steps"] * len(s["seeds"])
    if claim == "nonlinearity":
        runs = 3 * (len(s["rates"]) + 2 + len(s["seeds"]) - 1)
        return s["max_steps"] * runs
    if claim == "initialisation":
        return VGG_GMACS[s["model"]] * s["batch"] * (s["steps"] + 1)
    if claim == "dataset-size":
        return sum(max(s["min_steps"], s["epochs"] * n // 64) for n in s["sizes"]) * len(s["seeds"])
    if claim == "zfnet-first-layer":
        return s["steps"] * s["size"] ** 2 * len(s["seeds"])
    if claim == "auxiliary-classifiers":
        return s["steps"] * s["batch"] * len(s["seeds"])
    if claim == "residual":
        return s["n_train"] * s["epochs"] * len(s["seeds"])
    if claim == "alexnet-towers":
        return s["probe"]
    if claim == "compute":
        return s["batch"] * s["steps"]
    if claim == "inception-bottleneck":
        return s["repeat"]
    return 1.0


def main(path: str) -> int:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    total = 0.0
    print(f"{'claim':24s} {'quick s':>8s} {'x work':>7s} {'full s (est.)':>13s}")
    for c in doc["claims"]:
        if c["verdict"] == "not run":
            continue
        rule = RULES[c["id"]]
        ratio = work(c["id"], rule.settings["full"]) / work(c["id"], rule.settings["quick"])
        est = c["seconds"] * ratio
        total += est
        print(f"{c['id']:24s} {c['seconds']:8.1f} {ratio:7.2f} {est:13.0f}")
    print(f"{'total':24s} {doc['seconds']:8.1f} {'':7s} {total:13.0f}  ({total / 60:.0f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/claims/quick/claims.json"))
