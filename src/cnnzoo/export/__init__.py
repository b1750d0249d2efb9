"""Export and fast inference: ONNX and torch.export files checked against eager outputs,
optimize() (BatchNorm folding, channels_last, a choice of runtimes behind one interface) and the
benchmark behind `cnnzoo bench`. Heavy packages (onnx, onnxruntime, openvino) load on first use."""
from __future__ import annotations

from .._lazy import lazy_names

# imported on first use: `cnnzoo export --help` and `bench --help` need no torch
from ..limits import PRECISIONS, RUNTIMES  # noqa: F401  (re-exported: cnnzoo.export.RUNTIMES)

_LAZY = {"calibrate_batchnorm": "fold", "fold_batchnorm": "fold",
         "MissingRuntimeError": "runtimes", "OptimizedModel": "runtimes", "installed_runtimes": "runtimes",
         "optimize": "precision", "check_precision": "precision", "capabilities": "precision"}
__all__ = sorted([*_LAZY, "RUNTIMES", "PRECISIONS"])

__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
