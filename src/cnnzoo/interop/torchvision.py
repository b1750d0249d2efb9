"""Load torchvision models and state_dicts into the cnnzoo variants that share their layout.

torchvision's alexnet, vgg*, googlenet and resnet* (its "v1.5") correspond to cnnzoo's
`alexnet_tv`, `vgg*`, `googlenet_tv` and `resnet*` with variant="v1.5". Their tensors come in the
same order with the same shapes, so a state_dict is mapped position by position, every shape
checked; where the key names agree too the mapping is by name. Nothing here imports torchvision:
a state_dict is enough.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ..errors import CnnzooError
from ..registry import create_model

# Bottleneck/basic stage depths of torchvision's ResNets -> cnnzoo name.
_RESNET_DEPTHS: dict[tuple[tuple[int, ...], bool], str] = {
    ((2, 2, 2, 2), False): "resnet18", ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50", ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}
_VGG_CONVS = {8: "vgg11", 10: "vgg13", 13: "vgg16", 16: "vgg19"}


def _checked_state(state: Any) -> Mapping[str, Tensor]:
    """A state_dict (text keys, tensor values), or one line saying what was given instead."""
    if not isinstance(state, Mapping):
        raise CnnzooError(f"from_torchvision takes a torchvision model or its state_dict, got "
                          f"{type(state).__name__}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise CnnzooError(f"not a state_dict: entry {key!r} is a {type(value).__name__}, "
                              "expected text keys and tensor values")
    return state


def _strip_prefix(state: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
    """Drop the 'module.' (DataParallel/DDP) and '_orig_mod.' (torch.compile) prefixes."""
    out = OrderedDict()
    for key, value in state.items():
        out[re.sub(r"^(module\.|_orig_mod\.)+", "", key)] = value
    return out


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


def _options(name: str, state: Mapping[str, Tensor], source: nn.Module | None) -> dict[str, Any]:
    if name.startswith("resnet"):
        return {"variant": "v1.5"}
    if name == "googlenet_tv":
        options: dict[str, Any] = {"aux_logits": any(k.startswith("aux1.") for k in state)}
        if source is not None and hasattr(source, "transform_input"):
            options["transform_input"] = bool(source.transform_input)
        return options
    return {}


def _load_by_position(model: nn.Module, state: Mapping[str, Tensor], name: str) -> None:
    ours = model.state_dict()
    if list(ours) == list(state):
        pairs = [(k, k) for k in ours]
    else:
        pairs = list(zip(ours, state))
    problems = [f"{theirs} {tuple(state[theirs].shape)} vs {mine} {tuple(ours[mine].shape)}"
                for mine, theirs in pairs if ours[mine].shape != state[theirs].shape]
    extra = list(state)[len(ours):]
    missing = list(ours)[len(state):]
    if problems or extra or missing:
        parts = []
        if problems:
            parts.append("shapes that do not fit: " + ", ".join(problems[:6])
                         + (f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""))
        if extra:
            parts.append("keys cnnzoo's model has no place for: " + ", ".join(extra[:6]))
        if missing:
            parts.append("cnnzoo keys the state_dict does not provide: " + ", ".join(missing[:6]))
        raise CnnzooError(f"the torchvision weights do not fit cnnzoo's {name}: " + "; ".join(parts))
    model.load_state_dict(OrderedDict((mine, state[theirs]) for mine, theirs in pairs))


def from_torchvision(model_or_state_dict: nn.Module | Mapping[str, Tensor],
                     name: str | None = None) -> nn.Module:
    """A cnnzoo model holding the weights of a torchvision model (or its state_dict).

    name: the cnnzoo name (alexnet_tv, vgg11..vgg19[_bn], googlenet_tv, resnet18..resnet152);
    inferred from the keys when omitted. ResNets come back as variant="v1.5", torchvision's form.
    The result is in eval mode; its outputs equal torchvision's for the same input.
    """
    source = model_or_state_dict if isinstance(model_or_state_dict, nn.Module) else None
    state = _strip_prefix(source.state_dict() if source is not None else _checked_state(model_or_state_dict))
    if name is None:
        name = _infer_name(state)
    matrices = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    kernels = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 4]
    if not matrices or not kernels:
        raise CnnzooError("this state_dict has no convolution or linear weights: is it a model's?")
    num_classes, in_channels = matrices[-1].shape[0], kernels[0].shape[1]
    model = create_model(name, num_classes=num_classes, in_channels=in_channels,
                         **_options(name, state, source))
    _load_by_position(model, state, name)
    return model.eval()
