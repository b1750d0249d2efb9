"""Data set images for top9, fed exactly as the model was trained (via cnnzoo.data)."""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ..errors import CnnzooError
from .source import Source


def adapter_for(src: Source, data):
    """The checkpoint's own input adapter (its saved normalisation, size and mode); for random
    weights, cnnzoo.data's default for this model and data set."""
    from ..data import InputAdapter, adapt_input

    if src.random or not (src.meta.get("normalization") or src.meta.get("normalisation")):
        return adapt_input(data, src.name, in_channels=src.channels)
    if data.channels != src.channels:
        raise CnnzooError(f"{data.name} images have {data.channels} channel(s) but the checkpoint's "
                          f"{src.name} takes {src.channels}: use the data set it was trained on "
                          f"({src.meta.get('dataset', 'see its meta.json')})")
    return InputAdapter(f"as trained ({src.mode})", src.mean * (src.channels // len(src.mean)),
                        src.std * (src.channels // len(src.std)), src.size, src.mode)


def dataset_batches(src: Source, name: str, split: str = "test", data_dir: str | None = None,
                    limit: int | None = None, batch_size: int = 100):
    """(batches of (normalised images, labels), class names, the adapter) for the first `limit`
    images of a data set split."""
    from ..data import load_dataset

    data = load_dataset(name, split, data_dir=data_dir)
    if src.random and data.channels != src.channels:  # random weights: build it for the data
        from ..registry import create_model

        src.model, src.channels = create_model(src.name, in_channels=data.channels).eval(), data.channels
    adapter = adapter_for(src, data)
    n = len(data) if limit is None else min(limit, len(data))

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, n, batch_size):
            with torch.no_grad():
                yield adapter(data.images[i:i + batch_size]), data.labels[i:i + batch_size]

    return batches(), list(data.classes), adapter
