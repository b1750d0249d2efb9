"""cnnzoo: the classic CNNs (LeNet-5 to ResNet) as their papers describe them, and the tools
people use with them. This module is the public API and nothing else.

Names are imported on first use, so `import cnnzoo` (and the command line's `--help` and `list`)
does not import torch; `cnnzoo.create_model(...)` does.
"""
from __future__ import annotations

from ._lazy import lazy_names
from ._version import __version__ as __version__  # the one version (pyproject.toml reads it from there too)

# public name -> the module that defines it ("module:attribute" where the names differ)
_LAZY = {
    "CnnzooError": "errors",
    "ModelInfo": "registry", "create_model": "registry", "list_models": "registry",
    "model_info": "registry", "load_checkpoint": "inference.checkpoint:load_model",
    "summary": "analysis.summary", "compare": "analysis.compare",
    "from_torchvision": "interop",
    "optimize": "export", "run_claims": "claims",
    "TrainConfig": "train", "evaluate": "inference.evaluate", "predict": "inference.predict",
    "load_run": "inference.run", "load_image": "inference.run", "InputPipeline": "inference.pipeline",
    "deconv": "visualize", "feature_maps": "visualize", "filter_evolution": "visualize",
    "layer_filters": "visualize", "draw": "visualize.draw", "occlusion": "visualize", "top_activations": "visualize",
}
# subpackages reachable as attributes (cnnzoo.train is callable: cnnzoo.train("lenet5", ...))
_SUBMODULES = ("analysis", "claims", "data", "export", "inference", "interop", "models", "train",
               "visualize")

__all__ = sorted([*_LAZY, "train", "__version__"])


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY, _SUBMODULES)
