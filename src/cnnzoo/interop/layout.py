"""A torchvision-layout state_dict put into a cnnzoo model, position by position.

torchvision's alexnet, vgg*, googlenet and resnet* (its "v1.5") correspond to cnnzoo's
`alexnet_tv`, `vgg*`, `googlenet_tv` and `resnet*` with variant="v1.5". Their tensors come in the
same order with the same shapes, so a state_dict is mapped position by position, every shape
checked; where the key names agree too the mapping is by name. This module builds no model (the
registry does, cnnzoo.registry.load_torchvision_state), so both the registry's pretrained weights
and `from_torchvision` (interop/torchvision.py) use it from below.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ..errors import CnnzooError


def checked_state(state: Any) -> Mapping[str, Tensor]:
    """A state_dict (text keys, tensor values), or one line saying what was given instead."""
    if not isinstance(state, Mapping):
        raise CnnzooError(f"from_torchvision takes a torchvision model or its state_dict, got "
                          f"{type(state).__name__}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, Tensor):
            raise CnnzooError(f"not a state_dict: entry {key!r} is a {type(value).__name__}, "
                              "expected text keys and tensor values")
    return state


def strip_prefix(state: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
    """Drop the 'module.' (DataParallel/DDP) and '_orig_mod.' (torch.compile) prefixes."""
    out = OrderedDict()
    for key, value in state.items():
        out[re.sub(r"^(module\.|_orig_mod\.)+", "", key)] = value
    return out


def state_sizes(state: Mapping[str, Tensor]) -> tuple[int, int]:
    """(classes, input channels) of a state_dict: the last matrix's rows, the first kernel's
    input channels."""
    matrices = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    kernels = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 4]
    if not matrices or not kernels:
        raise CnnzooError("this state_dict has no convolution or linear weights: is it a model's?")
    return int(matrices[-1].shape[0]), int(kernels[0].shape[1])


def torchvision_options(spec: Any, state: Mapping[str, Tensor], source: nn.Module | None = None
                        ) -> dict[str, Any]:
    """The builder options that give a network torchvision's layout for this state_dict, from
    what its family declares (spec: its ModelInfo.torchvision, a cnnzoo.registry.Torchvision, or
    None): fixed options, flags read from the keys, flags copied from torchvision's model."""
    if spec is None:
        return {}
    options: dict[str, Any] = dict(spec.options)
    for option, prefix in spec.flags_from_keys.items():
        options[option] = any(k.startswith(prefix) for k in state)
    for flag in spec.shared_flags:
        if source is not None and hasattr(source, flag):
            options[flag] = bool(getattr(source, flag))
    return options


def load_by_position(model: nn.Module, state: Mapping[str, Tensor], name: str) -> None:
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
