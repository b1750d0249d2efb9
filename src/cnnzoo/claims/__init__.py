"""The lineage's claims, measured: `cnnzoo claims` and `cnnzoo.claims.run_claims()`.

Each claim (LeNet-5's C3 table, AlexNet's two GPUs, ReLU against tanh, ... ResNet-152 against
VGG-19) is a statement in this project's words, an experiment on cnnzoo's own models with a
"tiny", "quick" and "full" setting, and a verdict computed by a pure function of the measured
values: holds / holds with a correction / does not hold / not checkable here.

    from cnnzoo.claims import run_claims
    run_claims(["lenet-c3"], mode="quick", out="claims-report")
"""
from __future__ import annotations

from .._lazy import lazy_names

# imported on first use: `cnnzoo claims --help` declares its arguments without importing torch
_LAZY = {**{name: "base" for name in ("CLAIMS", "CORRECTED", "FAILS", "HOLDS", "MODES", "UNCHECKABLE",
                                      "VERDICTS", "Claim", "Measured", "Table", "Verdict")},
         **{name: "report" for name in ("ClaimResult", "get_claim", "list_claims", "read_results",
                                        "run_claim", "run_claims", "write_report")}}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
