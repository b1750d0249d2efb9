"""Pretrained weights: torchvision's ImageNet weights for the networks whose layout it shares.

`create_model(name, weights="torchvision")` finds torchvision's file in torch's hub cache
($TORCH_HOME/hub/checkpoints, default ~/.cache/torch/hub/checkpoints); `weights=PATH` takes a
given file. The file is checked against the SHA-256 prefix torchvision puts in its file names
(resnet50-0676ba61.pth: the first 8 hex digits of the file's SHA-256), read with
`torch.load(weights_only=True)` (never runs pickled code) and handed to the registry, which builds
the model and loads the state_dict (cnnzoo.registry.create_model, through interop/layout.py).
Nothing is downloaded: with no file, one line names the exact file and where to put it.

The table below, the preprocessing (resize 256, centre crop 224, ImageNet mean/std) and the 1,000
class names (imagenet_classes.txt, in torchvision's index order) are copied from torchvision
0.29.1's weight metadata (`torchvision.models.*_Weights.IMAGENET1K_V1`).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from ..errors import CheckpointError, UnknownNameError, close_matches

_URL = "https://download.pytorch.org/models/"
# cnnzoo name -> torchvision's file name (IMAGENET1K_V1 weights)
FILES = {
    "alexnet_tv": "alexnet-owt-7be5be79.pth",
    "vgg11": "vgg11-8a719046.pth", "vgg13": "vgg13-19584684.pth",
    "vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth",
    "vgg11_bn": "vgg11_bn-6002323d.pth", "vgg13_bn": "vgg13_bn-abd245e5.pth",
    "vgg16_bn": "vgg16_bn-6c64b313.pth", "vgg19_bn": "vgg19_bn-c79401a0.pth",
    "googlenet_tv": "googlenet-1378be20.pth",
    "resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth", "resnet101": "resnet101-63fe2227.pth",
    "resnet152": "resnet152-394f9c45.pth",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_PREFIX = re.compile(r"-([0-9a-f]{8,})\.pth$")


@dataclass(frozen=True)
class WeightsInfo:
    """What a pipeline needs to use the weights: the file, its hash prefix and preprocessing."""

    name: str  # cnnzoo model name
    file: str  # torchvision's file name
    sha256_prefix: str
    url: str
    classes: tuple[str, ...]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int = 256  # shorter side, then
    crop: int = 224  # centre crop


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet class names in the index order of torchvision's weights."""
    text = (Path(__file__).with_name("imagenet_classes.txt")).read_text(encoding="utf-8")
    return tuple(text.splitlines())


def weights_info(name: str) -> WeightsInfo:
    """The torchvision weights of model `name`, or one line listing the models that have some."""
    if not isinstance(name, str) or name not in FILES:
        raise UnknownNameError(f"no torchvision weights for model {name!r}.{close_matches(str(name), FILES)} "
                               f"Models with weights: {', '.join(FILES)}.")
    file = FILES[name]
    match = _PREFIX.search(file)
    assert match is not None  # every name in FILES ends -<sha256 prefix>.pth
    return WeightsInfo(name, file, match[1], _URL + file, imagenet_classes())


def hub_dir() -> Path:
    """Where torch's hub keeps downloaded weights: $TORCH_HOME/hub/checkpoints."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(home) / "hub" / "checkpoints"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_weights(name: str, weights: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state_dict, record) of weights "torchvision" (from the hub cache) or a file's, for model
    `name`: the file found, its SHA-256 checked; record is what model.zoo_weights says."""
    info = weights_info(name)
    if isinstance(weights, str) and weights == "torchvision":
        path = hub_dir() / info.file
        if not path.is_file():
            raise CheckpointError(f"torchvision's weights for {name} are not on this machine: "
                                  f"put {info.file} (from {info.url}) in {hub_dir()}, or pass weights=PATH")
    elif isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if not path.is_file():
            raise CheckpointError(f"no weights file {str(path)!r}: give the path of {info.file}")
    else:
        raise CheckpointError(f"weights takes 'torchvision' or a file path, got {weights!r}")
    prefix = _PREFIX.search(path.name)
    expected = prefix[1] if prefix else info.sha256_prefix
    actual = sha256(path)
    if not actual.startswith(expected):
        raise CheckpointError(f"{path} is corrupt or not {info.file}: its SHA-256 starts {actual[:8]}, "
                              f"expected {expected}; download it again from {info.url}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable file: truncated zip, pickled code refused
        raise CheckpointError(f"cannot read {path} as a state_dict ({type(e).__name__}): "
                              f"download {info.file} again from {info.url}") from None
    return state, {"source": str(path), "sha256": actual, "file": info.file}
