"""Which network to look at: a trained checkpoint, or a registered name with random weights."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import CheckpointError, CnnzooError

# Random weights have no data statistics; (x - 0.5) / 0.5 maps [0, 1] pixels to [-1, 1].
DEFAULT_MEAN = (0.5,)
DEFAULT_STD = (0.5,)


@dataclass
class Source:
    """A model and how to feed it: input channels and size, normalisation, class names."""

    model: nn.Module
    name: str
    channels: int
    size: tuple[int, int]
    mean: tuple[float, ...] = DEFAULT_MEAN
    std: tuple[float, ...] = DEFAULT_STD
    classes: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    random: bool = False
    mode: str = "resize"  # how the training data reached `size`: "resize", "pad" or "none"
    data_size: tuple[int, int] | None = None  # the training images' own (H, W)

    @property
    def label(self) -> str:
        """How figures name the network: 'alexnet (random weights)' or 'lenet5_modern, epoch 3'."""
        if self.random:
            return f"{self.name} (random weights)"
        epoch = self.meta.get("epoch")
        data = self.meta.get("dataset")
        extra = ", ".join(str(v) for v in (data and f"trained on {data}",
                                          epoch is not None and f"epoch {epoch}") if v)
        return f"{self.name}" + (f" ({extra})" if extra else "")

    def class_name(self, k: int) -> str:
        if self.classes and 0 <= k < len(self.classes):
            return str(self.classes[k])
        return f"class {k}"


def _floats(v: Any, fallback: tuple[float, ...]) -> tuple[float, ...]:
    if v is None:
        return fallback
    if isinstance(v, (int, float)):
        return (float(v),)
    return tuple(float(x) for x in v)


def _size(v: Any, fallback: tuple[int, int]) -> tuple[int, int]:
    if v is None:
        return fallback
    if isinstance(v, int):
        return (v, v)
    v = [int(x) for x in v]
    return (v[-2], v[-1]) if len(v) >= 2 else (v[0], v[0])


def load_source(checkpoint: str | None = None, model_name: str | None = None) -> Source:
    """CHECKPOINT (a run folder, a checkpoint folder or its model.safetensors) or a registered
    model NAME with random weights. Both: the checkpoint must hold that model."""
    from ..registry import create_model, model_info

    if checkpoint is None and model_name is None:
        raise CnnzooError("give a CHECKPOINT (a run folder) or --model NAME (random weights)")
    if checkpoint is None:
        model = create_model(model_name).eval()
        c, h, w = model_info(model_name).input_size
        return Source(model, model_name, c, (h, w), random=True)
    from ..train.checkpoint import load_model

    if model_name is not None:
        model_info(model_name)  # an unknown name fails with close matches first
    model, meta = load_model(checkpoint, map_location="cpu")
    if model_name is not None and meta.get("model") != model_name:
        raise CheckpointError(f"{checkpoint} is a checkpoint of {meta.get('model')!r}, not "
                              f"{model_name!r}: drop --model or give a {model_name} checkpoint")
    name = str(meta.get("model"))
    c, h, w = model_info(name).input_size
    norm = meta.get("normalization") or meta.get("normalisation") or {}
    shape = meta.get("image_shape")
    return Source(model.eval(), name, int(meta.get("in_channels", c)), _size(norm.get("size"), (h, w)),
                  _floats(norm.get("mean"), DEFAULT_MEAN), _floats(norm.get("std"), DEFAULT_STD),
                  list(meta["classes"]) if meta.get("classes") else None, meta,
                  mode=str(norm.get("mode") or "resize"),
                  data_size=_size(shape, (h, w)) if shape else None)
