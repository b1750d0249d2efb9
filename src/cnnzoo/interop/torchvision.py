"""Load torchvision models and state_dicts into the cnnzoo variants that share their layout.

`from_torchvision` tells which network a state_dict is from (the registered model whose tensors
have its shapes in its order) and builds it
through the registry (cnnzoo.registry.load_torchvision_state; the position-by-position mapping is
interop/layout.py). Nothing here imports torchvision: a state_dict is enough.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..errors import CnnzooError
from ..registry import create_model, list_models, load_torchvision_state, model_info
from .layout import checked_state, state_sizes, strip_prefix, torchvision_options


def _shapes(name: str, state: Mapping[str, Tensor], sizes: tuple[int, int]) -> list[tuple[int, ...]]:
    """The tensor shapes, in order, of registered model `name` built in torchvision's layout for
    this state_dict's classes and channels. Built on the meta device: nothing is allocated or
    initialised."""
    options = torchvision_options(model_info(name).torchvision, state)
    num_classes, in_channels = sizes
    with torch.device("meta"):
        ours = create_model(name, num_classes=num_classes, in_channels=in_channels, **options)
    return [tuple(t.shape) for t in ours.state_dict().values()]


def _infer_name(state: Mapping[str, Tensor]) -> str:
    """Which registered network a torchvision state_dict comes from. Every model that declares a
    torchvision counterpart (ModelInfo.torchvision) is tried, so no architecture is named here:
    the one whose tensors have the state_dict's shapes in its order; failing that, the only one
    with as many tensors (its loading then names the tensors whose shapes differ)."""
    candidates = [n for n in list_models() if model_info(n).torchvision is not None]
    try:
        sizes = state_sizes(state)
    except CnnzooError as e:
        raise CnnzooError(f"{e}; if it is, pass name= (one of {', '.join(candidates)})") from None
    theirs = [tuple(t.shape) for t in state.values()]
    shapes = {n: _shapes(n, state, sizes) for n in candidates}
    for matches in ([n for n in candidates if shapes[n] == theirs],
                    [n for n in candidates if len(shapes[n]) == len(theirs)]):
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise CnnzooError(f"this state_dict fits several cnnzoo models ({', '.join(matches)}): "
                              "pass name= to choose")
    raise CnnzooError("this state_dict fits no cnnzoo model with a torchvision counterpart: pass "
                      f"name= (one of {', '.join(candidates)}) to see which tensors differ")


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
