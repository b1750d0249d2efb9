"""Export and fast inference: ONNX and torch.export files checked against eager outputs,
optimize() (BatchNorm folding, channels_last, a choice of runtimes behind one interface) and the
benchmark behind `cnnzoo bench`. Heavy packages (onnx, onnxruntime, openvino) load on first use."""
from __future__ import annotations

from .._lazy import lazy_names

# imported on first use: `cnnzoo export --help` and `bench --help` need no torch
# The runtimes optimize() can put behind a model (runtimes.py builds them). Defined here, apart
# from the code that imports torch, so that the command line can list them in its help.
RUNTIMES = ("eager", "compile", "onnxruntime", "openvino")
# The precisions optimize() and --precision take (precision.py), besides "auto".
PRECISIONS = ("fp32", "bf16", "int8")

_LAZY = {"calibrate_batchnorm": "fold", "fold_batchnorm": "fold",
         "MissingRuntimeError": "runtimes", "OptimizedModel": "runtimes", "installed_runtimes": "runtimes",
         "optimize": "precision", "check_precision": "precision", "capabilities": "precision"}
__all__ = sorted([*_LAZY, "RUNTIMES", "PRECISIONS"])

__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
