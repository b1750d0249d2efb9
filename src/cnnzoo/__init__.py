"""cnnzoo: the classic CNNs (LeNet-5 to ResNet) as their papers describe them, and the tools
people use with them. This module is the public API and nothing else.

Names are imported on first use, so `import cnnzoo` (and the command line's `--help` and `list`)
does not import torch; `cnnzoo.create_model(...)` does.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__  # the one version (pyproject.toml reads it from there too)

# public name -> the module that defines it
_LAZY = {
    "CnnzooError": "errors",
    "ModelInfo": "registry", "create_model": "registry", "list_models": "registry",
    "model_info": "registry",
    "summary": "analysis.summary", "compare": "analysis.compare",
    "from_torchvision": "interop",
    "optimize": "export", "run_claims": "claims",
    "TrainConfig": "train", "evaluate": "train", "predict": "train",
    "load_run": "pipeline", "load_image": "pipeline", "InputPipeline": "pipeline",
    "deconv": "visualize", "feature_maps": "visualize", "filter_evolution": "visualize",
    "layer_filters": "visualize", "occlusion": "visualize", "top_activations": "visualize",
}
# public name -> (module, attribute) where the names differ
_RENAMED = {"load_checkpoint": ("train", "load_model")}
# subpackages reachable as attributes (cnnzoo.train is callable: cnnzoo.train("lenet5", ...))
_SUBMODULES = ("analysis", "claims", "data", "export", "interop", "models", "train", "visualize")

__all__ = sorted([*_LAZY, *_RENAMED, "train", "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _RENAMED:
        module, attribute = _RENAMED[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
