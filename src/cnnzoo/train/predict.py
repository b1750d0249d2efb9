"""Feeding a trained model what it was trained on: the saved input adapter, and predictions for
image files of any size and mode."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, DataError


def adapter_from_meta(meta: dict[str, Any], data: Any = None, device: Any = None):
    """The InputAdapter a checkpoint was trained with (its saved normalisation, size and mode).

    data: the ArrayDataset about to be fed; its channel count must be the checkpoint's."""
    from ..data import InputAdapter

    norm = meta.get("normalization") or meta.get("normalisation")
    if not norm or norm.get("size") is None:
        raise CheckpointError(f"{meta.get('path', 'the checkpoint')} has no saved normalisation "
                              "in meta.json: it was not written by `cnnzoo train`")
    mean, std = tuple(norm["mean"]), tuple(norm["std"])
    if data is not None and data.channels != len(mean):
        raise DataError(f"{data.name} images have {data.channels} channel(s) but the checkpoint's "
                        f"{meta['model']} was trained on {len(mean)}: use the data set it was "
                        f"trained on ({meta.get('dataset')})")
    return InputAdapter(f"as trained ({norm.get('mode')})", mean, std, tuple(norm["size"]),
                        str(norm.get("mode")))


@torch.no_grad()
def predict(checkpoint: str | Path, images: list[str | Path], top_k: int = 5) -> list[dict[str, Any]]:
    """Top-k classes with names and probabilities for each image file.

    Each image (PNG, JPEG, ... in any mode and size) is converted as the model was trained:
    to its channel count, its data's size (then padded, if training padded), its normalisation.
    """
    from ..visualize.images import load_image
    from ..visualize.source import load_source

    src = load_source(checkpoint)
    k = max(1, min(top_k, len(src.classes or []) or top_k))
    results = []
    for path in images:
        pad_from = src.data_size if src.mode == "pad" else None
        image = load_image(path, src.channels, src.size, src.mean, src.std, "resize", pad_from)
        probs = torch.softmax(src.model(image.tensor).float(), dim=1)[0]
        values, indices = probs.topk(min(k, probs.numel()))
        results.append({"image": str(path), "size": list(image.original_size),
                        "top": [{"class": src.class_name(i), "index": i, "probability": p}
                                for p, i in zip(values.tolist(), indices.tolist())]})
    return results


def format_predictions(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r['image']} ({r['size'][1]}x{r['size'][0]}):")
        lines += [f"  {t['probability'] * 100:6.2f}%  {t['class']}" for t in r["top"]]
    return "\n".join(lines)
