"""One registry: model name -> builder and facts about the network (ModelInfo).

Every part of cnnzoo (the CLI, the summary, the training engine, the tests) finds models here, so
a model is listed, documented and tested the moment its family module registers it.
"""
from __future__ import annotations

import fnmatch
import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from .errors import OptionError, UnknownNameError, close_matches
from .interop.layout import checked_state, load_by_position, state_sizes, strip_prefix, torchvision_options
from .options import COMMON, Option, check_options, parse_options
from .weights import read_weights


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a registered network.

    `params` and `macs` are the reference numbers from docs/paper-facts.md for the default options at
    `input_size` (MACs = multiply-accumulates of Conv2d and Linear layers, batch 1); `None` where
    docs/paper-facts.md gives none. `top5_error` is the ImageNet top-5 error (%) the paper reports for a
    single network, where it reports one.
    """

    name: str
    family: str
    paper: str
    url: str
    year: int
    input_size: tuple[int, int, int]  # C, H, W the paper's network takes
    num_classes: int
    description: str
    params: int | None = None
    macs: int | None = None
    macs_tolerance: float = 1e-3  # relative; docs/paper-facts.md gives some MACs to 3-4 significant digits
    top5_error: float | None = None
    top5_error_note: str = ""
    fixed_size: bool = True  # True: only input_size works (fully connected head on a fixed map)
    defaults: dict[str, Any] = field(default_factory=dict)  # options the builder is called with
    # How data reaches the network (read by data/ and train/ instead of checking family names):
    # input_fit: "pad" centres smaller images in the input as the paper did (LeNet-5's 28 -> 32),
    #   "resize" resizes to the input size (shorter side, then centre crop).
    input_fit: str = "resize"
    # input_scaling: "standardize" (the training set's mean/std) or "lenet" (LeNet-5's own scaling
    #   of grey images: background -0.1, ink 1.175).
    input_scaling: str = "standardize"
    # recipe: the training recipe family (train/config.py RECIPES); recipe_by_option overrides it
    #   for builder options that change the network's training needs, as ((key, value, recipe), ...).
    recipe: str = "imagenet"
    recipe_by_option: tuple[tuple[str, Any, str], ...] = ()
    # Which of params/macs cnnzoo computed from its own network (checked against the summary)
    # rather than took from docs/paper-facts.md: e.g. frozenset({"macs"}).
    computed: frozenset[str] = frozenset()
    # Builder options torchvision's pretrained ImageNet weights are used with (create_model(...,
    # weights=...)): googlenet_tv's ported weights expect [-1, 1] input, {"transform_input": True}.
    pretrained_options: dict[str, Any] = field(default_factory=dict)
    # The table of its paper that describes this network, for `cnnzoo summary --paper`
    # (cnnzoo.analysis.paper): (kind, *arguments), e.g. ("vgg", "vgg16"), ("resnet", "resnet18",
    # 18, False); () for a variant no paper prints a table of.
    paper_table: tuple[Any, ...] = ()
    # True for the one network that stands for its family in the lineage (`cnnzoo compare`'s default).
    lineage: bool = False
    # torchvision's counterpart (same tensors in the same order), or None: read by interop and bench.
    torchvision: Torchvision | None = None


@dataclass(frozen=True)
class Torchvision:
    """How a registered network corresponds to torchvision's model of the same layout.

    builder: torchvision.models.<builder>. options: cnnzoo builder options that give torchvision's
    layout (ResNets: {"variant": "v1.5"}). flags_from_keys: boolean options read from a state_dict,
    option -> key prefix that turns it on (googlenet_tv: {"aux_logits": "aux1."}). shared_flags:
    boolean options that are attributes of torchvision's model too, copied across
    (googlenet_tv: ("transform_input",)). builder_kwargs: fixed keywords for torchvision's builder.
    """

    builder: str
    options: dict[str, Any] = field(default_factory=dict)
    flags_from_keys: dict[str, str] = field(default_factory=dict)
    shared_flags: tuple[str, ...] = ()
    builder_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., nn.Module]
    info: ModelInfo


_REGISTRY: dict[str, _Entry] = {}
_loaded = False


def register(info: ModelInfo, builder: Callable[..., nn.Module]) -> None:
    """Add a model. Names are unique: registering one twice is a programming error."""
    if info.name in _REGISTRY:
        raise ValueError(f"model {info.name!r} is already registered")
    _REGISTRY[info.name] = _Entry(builder, info)


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        # cnnzoo.models imports every family module, in lineage order, and each registers its
        # networks here: the registry is the table below them and names none of them. Imported
        # on first use, so that importing the registry (and the CLI's help) builds no model code.
        importlib.import_module("cnnzoo.models")


def _entry(name: str) -> _Entry:
    _load_families()
    if not isinstance(name, str):
        raise UnknownNameError(f"a model name is text such as 'resnet50', got {name!r}. "
                               "Run `cnnzoo list` to see every model.")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}.{close_matches(name, _REGISTRY)} "
            "Run `cnnzoo list` to see every model."
        ) from None


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching an fnmatch pattern, in registration (lineage) order."""
    _load_families()
    # families in the order they were first registered (cnnzoo.models imports them in lineage
    # order); a family's later additions (alexnet_tv, googlenet_tv) are listed with it
    families = list(dict.fromkeys(entry.info.family for entry in _REGISTRY.values()))
    names = sorted(_REGISTRY, key=lambda n: families.index(_REGISTRY[n].info.family))  # stable sort
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def model_info(name: str) -> ModelInfo:
    """Paper, year, default input size and reference numbers of a registered model."""
    return _entry(name).info


def builder_options(name: str) -> dict[str, Any]:
    """The keyword options a model's builder accepts, with their defaults."""
    entry = _entry(name)
    params = inspect.signature(entry.builder).parameters
    options = {
        k: p.default for k, p in params.items()
        if p.kind is p.KEYWORD_ONLY and k not in ("num_classes", "in_channels")
    }
    options.update(entry.info.defaults)
    return options


def create_model(name: str, *, num_classes: int | None = None, in_channels: int | None = None,
                 weights: str | os.PathLike[str] | None = None, **options: Any) -> nn.Module:
    """Build a registered network.

    Defaults come from the registry: the paper's network, 1000 classes and 3 channels for the
    ImageNet models, 10 and 1 for LeNet-5, 10 and 3 for the CIFAR ResNets. weights="torchvision"
    or a file path: torchvision's ImageNet weights, for the layouts it shares (cnnzoo.weights).
    """
    if weights is not None:
        if num_classes is not None or in_channels is not None or options:
            raise OptionError("pretrained weights fix the network (1000 classes, 3 channels, "
                              "torchvision's layout): drop num_classes, in_channels and options")
        loaded, record = read_weights(name, weights)
        state = strip_prefix(checked_state(loaded))
        model = load_torchvision_state(
            name, state, {**torchvision_options(model_info(name).torchvision, state),
                          **model_info(name).pretrained_options})
        record = {**record, "num_classes": str(state_sizes(state)[0])}  # a fine-tuned head may differ
        model.zoo_weights = record  # type: ignore[assignment]  # nn.Module.__setattr__'s stub admits only Tensor | Module
        return model
    entry = _entry(name)
    info = entry.info
    checked = validate(name, {"num_classes": info.num_classes if num_classes is None else num_classes,
                              "in_channels": info.input_size[0] if in_channels is None else in_channels,
                              **options})
    num_classes, in_channels = checked.pop("num_classes"), checked.pop("in_channels")
    options = checked
    kwargs = {**info.defaults, **options}
    model = entry.builder(num_classes=num_classes, in_channels=in_channels, **kwargs)
    # Record how the model was made, so checkpoints and summaries can name it and rebuild it.
    model.zoo_name = name  # type: ignore[assignment]  # nn.Module.__setattr__'s stub admits only Tensor | Module
    model.zoo_options = dict(options)  # type: ignore[assignment]  # nn.Module.__setattr__'s stub admits only Tensor | Module
    return model


def load_torchvision_state(name: str, state: Mapping[str, Any], options: Mapping[str, Any]) -> nn.Module:
    """Model `name` built with `options` for a torchvision-layout state_dict's classes and channels,
    holding its tensors (mapped by position, every shape checked), in eval mode."""
    num_classes, in_channels = state_sizes(state)
    model = create_model(name, num_classes=num_classes, in_channels=in_channels, **options)
    load_by_position(model, state, name)
    return model.eval()


def option_specs(name: str) -> dict[str, Option]:
    """The options a registered model takes (without num_classes/in_channels), with their specs."""
    specs = getattr(_entry(name).builder, "option_specs", {})
    return {k: v for k, v in specs.items() if k not in COMMON}


def validate(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A registered model's options checked (unknown names, bad values), as create_model will."""
    specs = getattr(_entry(name).builder, "option_specs", None)
    if specs is None:  # a builder without declared options: only its signature is known
        specs = {**COMMON, **{k: _Any() for k in builder_options(name)}}
    return check_options(name, options, specs)


def model_options(name: str, pairs: Iterable[str] | None, flag: str = "--option") -> dict[str, Any]:
    """`--option KEY=VALUE` pairs for model `name`, parsed and checked: what commands call."""
    return validate(name, parse_options(pairs, flag))


class _Any(Option):
    def check(self, name: str, value: Any) -> Any:
        return value

    def describe(self) -> str:
        return "any value"


def with_defaults(info: ModelInfo, **changes: Any) -> ModelInfo:
    """A copy of `info` with some fields changed (for variants registered from one table)."""
    return replace(info, **changes)
