"""Export and fast inference: ONNX and torch.export files checked against eager outputs,
optimize() (BatchNorm folding, channels_last, a choice of runtimes behind one interface) and the
benchmark behind `cnnzoo bench`. Heavy packages (onnx, onnxruntime, openvino) load on first use."""
from __future__ import annotations

from .fold import calibrate_batchnorm, fold_batchnorm
from .runtimes import RUNTIMES, MissingRuntimeError, OptimizedModel, installed_runtimes, optimize

__all__ = ["RUNTIMES", "MissingRuntimeError", "OptimizedModel", "calibrate_batchnorm",
           "fold_batchnorm", "installed_runtimes",
           "optimize"]
