"""cnnzoo: the classic CNNs (LeNet-5 to ResNet) as their papers describe them, and the tools
people use with them. This module is the public API and nothing else."""
from __future__ import annotations

from .analysis import compare, summary
from .errors import CnnzooError
from .interop import from_torchvision
from .registry import ModelInfo, create_model, list_models, model_info
from . import train  # callable: cnnzoo.train("lenet5", ...); also the package cnnzoo.train.*
from .train import TrainConfig, evaluate, predict
from .train import load_model as load_checkpoint
from .visualize import (deconv, feature_maps, filter_evolution, layer_filters, load_image,
                        occlusion, top_activations)

__version__ = "0.1.0"

__all__ = [
    "CnnzooError", "ModelInfo", "compare", "create_model", "from_torchvision", "list_models", "model_info",
    "deconv", "feature_maps", "filter_evolution", "layer_filters", "load_image", "occlusion",
    "summary", "top_activations", "train", "TrainConfig", "evaluate", "load_checkpoint", "predict",
]
