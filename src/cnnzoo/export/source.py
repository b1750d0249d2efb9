"""What `cnnzoo export` and `cnnzoo bench` act on: a registered model name (random weights, or
options given) or a run folder / checkpoint (trained weights with their input pipeline)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import CnnzooError
from ..inference.pipeline import InputPipeline
from ..inference.run import load_run
from ..registry import create_model, list_models
from .runtimes import input_size_of


@dataclass
class Source:
    """A model in eval mode, its registered name, and how to feed it (None for a bare module)."""

    model: nn.Module
    name: str
    pipeline: InputPipeline | None = None
    random: bool = True
    checkpoint: str | None = None
    run: Any = None  # the LoadedRun of a run folder: its data calibrate and guard lower precisions

    @property
    def input_size(self) -> tuple[int, int, int]:
        if self.pipeline is not None:
            return (self.pipeline.channels, *self.pipeline.size)
        return input_size_of(self.model)[0]


def load_source(model_or_run: str | Path | nn.Module, options: dict[str, Any] | None = None) -> Source:
    """A Source from an nn.Module, a registered model name or a run/checkpoint path."""
    if isinstance(model_or_run, nn.Module):
        if options:
            raise CnnzooError("model options apply to a model name, not to a built model")
        return Source(model_or_run.eval(), getattr(model_or_run, "zoo_name", type(model_or_run).__name__))
    text = str(model_or_run)
    if text in list_models() and not Path(text).exists():
        model = create_model(text, **(options or {})).eval()
        return Source(model, text, InputPipeline.for_random(text))
    if Path(text).exists():
        if options:
            raise CnnzooError(f"--option changes a model built from its name; {text} is a trained "
                              "run, whose options are fixed: drop --option")
        run = load_run(text)
        return Source(run.model, run.name, run.pipeline, random=False, checkpoint=run.checkpoint
                      or run.meta.get("path"), run=run)
    load_run(model=text)  # an unknown name: the registry's message with close matches
    raise CnnzooError(f"{text!r} is neither a registered model nor a run folder")  # pragma: no cover
