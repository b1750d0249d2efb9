"""A trained run loaded with its input pipeline: load_run and LoadedRun, the one way from a run
folder, a checkpoint or a registered name to a model in eval mode and how to feed it (eval,
predict, visualize, export and bench all start here). Nothing of the training engine is needed:
the checkpoint is read by cnnzoo.inference.checkpoint.

    run = load_run("runs/lenet5")                  # or load_run(model="alexnet"): random weights
    x = run.load_image("shirt.png").tensor         # 1 x 1 x 32 x 32, as the model was trained
    probs = run.model(x).softmax(1)
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data import load_dataset
from ..data.datasets import canonical_name
from ..errors import CheckpointError, CnnzooError, OptionError
from ..registry import create_model, model_info
from ..weights import weights_info
from .checkpoint import load_model
from .pipeline import InputPipeline, ModelImage
from .progress import ImageProgress


# --- a run, loaded ------------------------------------------------------------------------------
@dataclass
class LoadedRun:
    """A model ready to use, with how to feed it: what load_run returns.

    model: in eval mode. pipeline: its InputPipeline. meta: the checkpoint's metadata ({} for
    random weights). name: the registered model name. random: True for random weights.
    dataset, data_dir: the data set it was trained on and where it was read from (None if unknown).
    checkpoint: the checkpoint folder (None for random weights).
    """

    model: nn.Module
    pipeline: InputPipeline
    meta: dict[str, Any]
    name: str
    random: bool = False
    dataset: str | None = None
    data_dir: str | None = None
    checkpoint: str | None = None

    def __repr__(self) -> str:
        where = f", {self.checkpoint}" if self.checkpoint else ""
        return f"LoadedRun({self.label}{where}; {self.pipeline!r})"

    @property
    def label(self) -> str:
        """How figures name the network: 'alexnet (random weights)' or
        'lenet5 (trained on sample, epoch 3)'."""
        if self.random:
            return f"{self.name} (random weights)"
        epoch = self.meta.get("epoch")
        extra = ", ".join(v for v in (self.dataset and f"trained on {self.dataset}",
                                      epoch is not None and f"epoch {epoch}") if v)
        return self.name + (f" ({extra})" if extra else "")

    # The pipeline's fields, for callers that only need one of them.
    @property
    def channels(self) -> int:
        return self.pipeline.channels

    @property
    def size(self) -> tuple[int, int]:
        return self.pipeline.size

    @property
    def mean(self) -> tuple[float, ...]:
        return self.pipeline.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.pipeline.std

    @property
    def classes(self) -> list[str] | None:
        return list(self.pipeline.classes) if self.pipeline.classes is not None else None

    def class_name(self, k: int) -> str:
        return self.pipeline.class_name(k)

    def load_image(self, source: str | Path | bytes) -> ModelImage:
        """An image file as this run's model input (its own pipeline): `run.load_image(path)`."""
        return self.pipeline.load_image(source)

    def optimized(self, runtime: str = "auto", batch: int = 8, precision: str = "fp32") -> nn.Module:
        """The model through the fast path (cnnzoo.inference.fast.optimized): prepared for this
        run's input and for batches of `batch` images, in `precision`."""
        from .fast import optimized  # the fast path sits above inference (see fast.py)

        return optimized(self, runtime, batch, precision)

    def load_data(self, dataset: str | None = None, split: str = "test",
                  data_dir: str | Path | None = None) -> tuple[Any, LoadedRun]:
        """(ArrayDataset, the run that reads it) for a split of a data set (default: the run's own,
        from where it was read), loaded at the size the run was trained at.

        The run returned is this one for trained weights (refused when the data set does not fit
        it); for random weights it is a new LoadedRun whose pipeline is built from the data set
        (and whose model is rebuilt for its channels): this run is never changed."""
        name = dataset or self.dataset
        if not name:
            why = ("random weights have no data set of their own" if self.random
                   else "the checkpoint does not say which data set it was trained on")
            raise CnnzooError(f"which data set? pass --dataset ({why})")
        same = self.dataset is not None and _same_dataset(name, self.dataset)
        folder = data_dir if data_dir is not None else (self.data_dir if same else None)
        data = load_dataset(name, split, data_dir=folder, image_size=self.pipeline.data_size[0])
        if self.random:
            model = self.model
            if data.channels != self.channels:
                model = create_model(self.name, in_channels=data.channels).eval()
            train = data if split == "train" else load_dataset(
                name, "train", data_dir=folder, image_size=self.pipeline.data_size[0])
            return data, replace(self, model=model,
                                 pipeline=InputPipeline.for_training(train, self.name))
        if data.channels != self.channels:
            raise CnnzooError(f"{data.name} images have {data.channels} channel(s) but the "
                              f"checkpoint's {self.name} takes {self.channels}: use the data set it "
                              f"was trained on ({self.dataset or 'see its meta.json'})")
        if self.pipeline.classes is not None and len(data.classes) != len(self.pipeline.classes):
            raise CnnzooError(f"data set {name!r} has {len(data.classes)} classes but the "
                              f"checkpoint's {self.name} was trained for {len(self.pipeline.classes)}:"
                              " pick a matching --dataset")
        return data, self

    def batches(self, data: Any, limit: int | None = None, batch_size: int = 100,
                progress: str | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """(model inputs, labels) for the first `limit` images of an ArrayDataset, in order.

        progress: a name ("top9") to show a progress line on stderr when it is a terminal."""
        n = len(data) if limit is None else min(limit, len(data))
        bar = ImageProgress(progress is not None, progress or "")
        try:
            for i in range(0, n, batch_size):
                j = min(i + batch_size, n)
                with torch.no_grad():
                    yield self.pipeline(data.images[i:j]), data.labels[i:j]
                bar(j, n)
        finally:
            bar.clear()


def _same_dataset(a: str, b: str) -> bool:
    try:
        return canonical_name(a) == canonical_name(b)
    except CnnzooError:
        return False


def load_run(checkpoint: str | Path | None = None, model: str | None = None, *,
             device: str | torch.device = "cpu", weights: str | Path | None = None) -> LoadedRun:
    """The ONE way from a run folder, a checkpoint folder or its model.safetensors (or a
    registered model name, with random or pretrained weights) to a model in eval mode with its
    input pipeline.

    Both given: the checkpoint must hold that model. Nothing in the run folder is modified.
    weights ("torchvision" or a torchvision weights file, with `model` only): the pretrained
    network with the preprocessing and ImageNet class names that came with its weights.
    CheckpointError (one line) for a missing, corrupt or inconsistent checkpoint.
    """
    if checkpoint is None and model is None:
        raise CnnzooError("give a CHECKPOINT (a run folder) or --model NAME (random weights)")
    if weights is not None and checkpoint is not None:
        raise OptionError("--weights goes with --model NAME, not with a run folder (a run's "
                          "checkpoint holds its own weights): drop one of them")
    if checkpoint is None:
        assert model is not None
        model_info(model)  # an unknown name fails with close matches
        if weights is not None:
            info = weights_info(model)
            net = create_model(model, weights=weights).eval().to(device)
            pipeline = InputPipeline.for_pretrained(info.mean, info.std, info.resize, info.crop,
                                                    _classes_for(net, info.classes, weights))
            return LoadedRun(net, pipeline, {"weights": str(weights)}, model, random=False)
        net = create_model(model).eval().to(device)
        return LoadedRun(net, InputPipeline.for_random(model), {}, model, random=True)
    if model is not None:
        model_info(model)
    net, meta = load_model(checkpoint, map_location=device)
    if model is not None and meta.get("model") != model:
        raise CheckpointError(f"{checkpoint} is a checkpoint of {meta.get('model')!r}, not "
                              f"{model!r}: drop --model or give a {model} checkpoint")
    folder = meta.get("path") or str(checkpoint)
    pipeline = InputPipeline.from_meta(meta, where=str(Path(folder) / "meta.json"))
    config: dict[str, Any] = meta["config"] if isinstance(meta.get("config"), dict) else {}
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), str) else None
    data_dir = config.get("data_dir") if isinstance(config.get("data_dir"), str) else None
    return LoadedRun(net.eval(), pipeline, meta, str(meta.get("model")), dataset=dataset,
                     data_dir=data_dir, checkpoint=str(folder))


def _classes_for(net: nn.Module, classes: tuple[str, ...], weights: Any) -> tuple[str, ...] | None:
    """ImageNet's names for weights whose head has ImageNet's 1,000 outputs; for a head of
    another size (fine-tuned on another data set) neutral names ("class K") and a warning,
    never another data set's names."""
    outputs = int(getattr(net, "zoo_weights", {}).get("num_classes", len(classes)))
    if outputs == len(classes):
        return classes
    print(f"cnnzoo: warning: {weights} has {outputs} outputs, not the {len(classes)} ImageNet "
          "classes torchvision's weights name: its outputs are shown as 'class K'", file=sys.stderr)
    return None


def load_image(path: str | Path | bytes, run: LoadedRun | InputPipeline) -> ModelImage:
    """An image file as a run's model input: `cnnzoo.load_image("shirt.png", run=run)`."""
    pipeline = run.pipeline if isinstance(run, LoadedRun) else run
    return pipeline.load_image(path)
