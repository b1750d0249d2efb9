"""See what a network learned: ZFNet's DeconvNet and the visual tools of Zeiler & Fergus (2014),
"Visualizing and Understanding Convolutional Networks", https://arxiv.org/abs/1311.2901.

Every tool returns arrays (numpy), so notebooks can use them without the CLI; `plots` turns them
into PNGs. Names are imported lazily so `import cnnzoo` does not pull in matplotlib.

- deconv(model, x, layer, channel=None, top=None) -> list[Projection]      (Sec. 2.1)
- top_activations(model, batches, layer, channels=None) -> list[TopChannel] (Fig. 2)
- layer_filters(model, layer=None) -> (layer, out x in x kh x kw)           (Fig. 5/6)
- feature_maps(model, x, layer) -> C x H x W
- occlusion(model, x, target=None, size=None, stride=None) -> Occlusion      (Sec. 4.2, Fig. 7)
- filter_evolution(run_dir, layer=None) -> (layer, epochs, E x F x in x kh x kw)  (Fig. 4)
- load_image(path, run) -> ModelImage (photos of any size and mode, through the run's pipeline)
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "deconv": "deconvnet", "deconv_trace": "deconvnet", "Projection": "deconvnet",
    "top_activations": "tools", "TopChannel": "tools", "TopEntry": "tools",
    "layer_filters": "tools", "feature_maps": "tools", "occlusion": "tools", "Occlusion": "tools",
    "filter_evolution": "tools", "conv_layers": "tools",
    "load_image": ".pipeline", "ModelImage": ".pipeline",  # cnnzoo.pipeline: the run's own input
    "record": ".graph", "Graph": ".graph",  # cnnzoo.graph: the one recorder
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
