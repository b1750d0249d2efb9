"""`cnnzoo predict`: top-k classes for image files, each fed exactly as the model was trained.

Files go through the run's own InputPipeline (inference.pipeline: the one decoder and fit of
cnnzoo.data.images, then the run's padding or resizing and normalisation). Sizes are written
height x width everywhere (text and JSON).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import checks
from .evaluate import finite_logits
from .run import LoadedRun, load_run


@torch.no_grad()
def predict(checkpoint: str | Path | Any, images: list[str | Path], top_k: int = 5, *,
            runtime: str | None = None, precision: str = "fp32",
            say: Any = None) -> list[dict[str, Any]]:
    """Top-k classes with names and probabilities for each image file.

    checkpoint: a run folder, checkpoint folder or model.safetensors, or a LoadedRun.
    top_k: at least 1; more than the model's classes gives all of them (with a note).
    runtime: run the model through cnnzoo.export.optimize(model, runtime=...) (None: plain), in
    `precision` (export.precision); say(line), when given, receives what the precision choice
    was and why.
    Each result: image, size [height, width], input (what was done to the file, in words),
    warnings (reasons to doubt the prediction), top [{class, index, probability}].
    """
    k = checks.positive_int("--top", top_k)
    run = checkpoint if isinstance(checkpoint, LoadedRun) else load_run(checkpoint)
    model = run.model
    device = next(iter(run.model.parameters()), torch.empty(0)).device
    if runtime is not None:
        model = run.optimized(runtime, batch=1, precision=precision)  # one image at a time
        for line in getattr(model, "notes", []) if say is not None else []:
            say(line)
    results = []
    for path in images:
        image = run.load_image(path)
        logits = finite_logits(model(image.tensor.to(device)), str(path))
        probs = torch.softmax(logits, dim=1)[0]
        notes = list(image.warnings)
        if k > probs.numel():
            notes.append(f"--top {k}: the model has only {probs.numel()} classes, all shown")
        values, indices = probs.topk(min(k, probs.numel()))
        results.append({"image": str(path), "size": list(image.original_size),
                        "input": image.description, "warnings": notes,
                        "top": [{"class": run.class_name(i), "index": i, "probability": p}
                                for p, i in zip(values.tolist(), indices.tolist())]})
    return results


def format_predictions(results: list[dict[str, Any]]) -> str:
    """The text form: one block per image, its size as height x width like the JSON's."""
    lines = []
    for r in results:
        h, w = r["size"]
        lines.append(f"{r['image']} ({h}x{w}, height x width):")
        if r.get("input"):
            lines.append(f"  input: {r['input']}")
        lines += [f"  warning: {note}" for note in r.get("warnings", [])]
        lines += [f"  {t['probability'] * 100:6.2f}%  {t['class']}" for t in r["top"]]
    return "\n".join(lines)
