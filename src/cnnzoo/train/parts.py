"""What a run trains: the data (in memory, on the device when that is a GPU), the model, its
optimizer and gradient scaler, the loss and the learning-rate schedule, built from the config
in one place (`build_parts`) so the loop only uses them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..data.base import ArrayDataset
from ..data.transforms import BatchAugment
from ..errors import CnnzooError, DataError, OptionError
from ..inference.pipeline import InputPipeline
from ..registry import create_model
from .config import ResolvedConfig
from .data import TrainingData, training_data
from .device import DeviceContext
from .optim import Schedule, build_optimizer


def mix(*parts: int) -> int:
    """A 63-bit seed from several integers (distinct tuples give distinct, unrelated seeds)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


ORDER, AUGMENT, RANK = 1, 2, 3  # what a seed is for: mix(seed, ORDER, epoch) orders an epoch


@dataclass
class Parts:
    """The data, the model and what steps it, of one run."""

    data: TrainingData
    test_set: ArrayDataset
    classes: list[str]
    pipeline: InputPipeline
    augment: BatchAugment | None
    images: Tensor  # the training images, uint8 N x C x H x W, on the device
    labels: Tensor
    model: nn.Module  # what is saved and evaluated
    net: nn.Module  # what the steps call: the model, under DDP / compiled
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    steps_per_epoch: int
    schedule: Schedule


def build_parts(c: ResolvedConfig, ctx: DeviceContext, datasets: tuple[Any, Any] | None) -> Parts:
    """Load the data, build the model (the same initial weights on every process), its
    optimizer and schedule; refuse what cannot train (an empty test split, a batch larger than
    the training set) in one line."""
    data = training_data(c.dataset, c.data_dir, c.model, image_size=c.image_size,
                         augment=c.augment, in_channels=c.in_channels, datasets=datasets)
    if len(data.test) == 0:
        raise DataError(f"the {data.test.name} test split is empty: nothing to evaluate on")
    classes = list(data.train.classes)
    torch.manual_seed(c.seed)  # the same initial weights on every process
    model = _create(c, len(classes), data.pipeline.channels)
    if ctx.dist.rank:  # dropout masks differ between processes; rank 0 keeps the plain stream
        torch.manual_seed(mix(c.seed, RANK, ctx.dist.rank))
    net = ctx.wrap(model)
    images = data.train.images.to(ctx.device)  # one copy, uint8
    n = images.shape[0]
    if n < c.batch_size:
        raise OptionError(f"batch size {c.batch_size} is larger than the {n} training images: "
                          "use a smaller --batch-size")
    steps_per_epoch = n // c.batch_size
    return Parts(data=data, test_set=data.test, classes=classes, pipeline=data.pipeline,
                 augment=data.augment, images=images, labels=data.train.labels.to(ctx.device),
                 model=model, net=net, optimizer=build_optimizer(model, c), scaler=ctx.scaler(),
                 criterion=nn.CrossEntropyLoss(label_smoothing=c.label_smoothing),
                 steps_per_epoch=steps_per_epoch,
                 schedule=Schedule(c.schedule, c.epochs * steps_per_epoch,
                                   round(c.warmup_epochs * steps_per_epoch)))


def _create(c: ResolvedConfig, num_classes: int, in_channels: int) -> nn.Module:
    try:
        return create_model(c.model, num_classes=num_classes, in_channels=in_channels, **c.model_options)
    except (TypeError, ValueError) as e:
        if isinstance(e, CnnzooError):
            raise
        raise OptionError(f"cannot build {c.model} with {num_classes} classes, {in_channels} channels "
                          f"and options {c.model_options}: {e}") from None
