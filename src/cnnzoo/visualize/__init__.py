"""See what a network learned: ZFNet's DeconvNet and the visual tools of Zeiler & Fergus (2014),
"Visualizing and Understanding Convolutional Networks", https://arxiv.org/abs/1311.2901.

The tools return arrays (numpy), the plot functions turn them into matplotlib Figures (shown
inline in a notebook; written as PNG only when given `path=`). Names are imported lazily, so
`import cnnzoo.visualize` pulls in neither torch nor matplotlib.

    run = cnnzoo.load_run("runs/l5")                        # model + its own input pipeline
    image = run.load_image("shirt.png")                     # the file, as the model was trained
    fig = plot_occlusion(occlusion(run.model, image.tensor), image.pixels, run.class_name)

Tools:
- deconv(model, x, layer, channel=None, top=None) -> list[Projection]      (Sec. 2.1)
- top_activations(model, batches, layer, channels=None) -> list[TopChannel] (Fig. 2)
- layer_filters(model, layer=None) -> (layer, out x in x kh x kw)           (Fig. 5/6)
- feature_maps(model, x, layer) -> C x H x W
- occlusion(model, x, target=None, size=None, stride=None) -> Occlusion      (Sec. 4.2, Fig. 7)
- filter_evolution(run_dir, layer=None) -> (layer, epochs, E x F x in x kh x kw)  (Fig. 4)
- load_image(path, run) -> ModelImage (a picture file through a run's own input pipeline)

Figures: plot_deconv, plot_top9, plot_filters, plot_evolution, plot_feature_maps, plot_occlusion.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "deconv": "deconvnet", "deconv_trace": "deconvnet", "Projection": "deconvnet",
    "top_activations": "tools", "TopChannel": "tools", "TopEntry": "tools",
    "layer_filters": "tools", "feature_maps": "tools", "occlusion": "tools", "Occlusion": "tools",
    "filter_evolution": "tools", "conv_layers": "tools",
    "plot_deconv": "plots", "plot_top9": "plots", "plot_filters": "plots",
    "plot_evolution": "plots", "plot_feature_maps": "plots", "plot_occlusion": "plots",
    "load_image": "..inference.run", "ModelImage": "..inference.pipeline", "load_run": "..inference.run",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = _LAZY[name]
        value = getattr(importlib.import_module(module if module.startswith("..") else f".{module}",
                                                __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
