"""Load torchvision models and state_dicts into the cnnzoo variants that share their layout.

`from_torchvision` tells which network a state_dict is from (by its keys and shapes) and builds it
through the registry (cnnzoo.registry.load_torchvision_state; the position-by-position mapping is
interop/layout.py). Nothing here imports torchvision: a state_dict is enough.
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from ..errors import CnnzooError
from ..registry import load_torchvision_state, model_info
from .layout import checked_state, strip_prefix, torchvision_options

# Bottleneck/basic stage depths of torchvision's ResNets -> cnnzoo name.
_RESNET_DEPTHS: dict[tuple[tuple[int, ...], bool], str] = {
    ((2, 2, 2, 2), False): "resnet18", ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50", ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}
_VGG_CONVS = {8: "vgg11", 10: "vgg13", 13: "vgg16", 16: "vgg19"}


def _infer_name(state: Mapping[str, Tensor]) -> str:
    """Which torchvision architecture a state_dict comes from, judged by its keys and shapes."""
    keys = list(state)
    if any(k.startswith("inception3a.") for k in keys):
        return "googlenet_tv"
    if "layer1.0.conv1.weight" in state:
        bottleneck = "layer1.0.conv3.weight" in state
        depths = tuple(
            len({k.split(".")[1] for k in keys if k.startswith(f"layer{i}.")}) for i in range(1, 5)
        )
        name = _RESNET_DEPTHS.get((depths, bottleneck))
        if name:
            return name
        raise CnnzooError(f"a ResNet state_dict with stage depths {depths} matches no cnnzoo ResNet "
                          "(resnet18/34/50/101/152): pass name= if it is one of them")
    if any(k.startswith("features.") for k in keys) and any(k.startswith("classifier.") for k in keys):
        convs = [k for k in keys if k.startswith("features.") and k.endswith(".weight")
                 and state[k].dim() == 4]
        if convs and state[convs[0]].shape[-1] == 11:
            return "alexnet_tv"
        bn = any(k.endswith("running_mean") for k in keys)
        name = _VGG_CONVS.get(len(convs))
        if name:
            return name + ("_bn" if bn else "")
    raise CnnzooError(
        "cannot tell which torchvision model this state_dict is from: pass name= (one of "
        "alexnet_tv, vgg11, vgg13, vgg16, vgg19 (+_bn), googlenet_tv, resnet18/34/50/101/152)"
    )


def from_torchvision(model_or_state_dict: nn.Module | Mapping[str, Tensor],
                     name: str | None = None) -> nn.Module:
    """A cnnzoo model holding the weights of a torchvision model (or its state_dict).

    name: the cnnzoo name (alexnet_tv, vgg11..vgg19[_bn], googlenet_tv, resnet18..resnet152);
    inferred from the keys when omitted. ResNets come back as variant="v1.5", torchvision's form.
    The result is in eval mode; its outputs equal torchvision's for the same input.
    """
    source = model_or_state_dict if isinstance(model_or_state_dict, nn.Module) else None
    state = strip_prefix(source.state_dict() if source is not None else checked_state(model_or_state_dict))
    if name is None:
        name = _infer_name(state)
    spec = model_info(name).torchvision  # UnknownNameError for a name that is not registered
    return load_torchvision_state(name, state, torchvision_options(spec, state, source))
