"""Inference: from a run folder (or a registered name) to predictions and accuracy, with nothing
of the training engine.

- run: `load_run` / `LoadedRun`, the one way from a run folder, a checkpoint or a registered name
  to a model in eval mode with its input pipeline; `load_image`.
- pipeline: `InputPipeline`, pixels -> the model's input, as written into every checkpoint.
- checkpoint: the checkpoint format and its reader (`load_model`, `read_meta`...); the training
  engine writes what this reads. schema: validation of a run folder's JSON documents.
- evaluate: `evaluate` (`cnnzoo eval`) and `evaluate_arrays` (also the training loop's test pass);
  report: `EvalReport` and its text form. predict: `predict` (`cnnzoo predict`).
- fast: the fast path's entry (`optimized`), calling cnnzoo.export.
- progress: the images-per-second line. (Which device: `cnnzoo.devices.pick_device`, below.)

Names are imported on first use. `evaluate` and `predict` are modules here; the functions are
`cnnzoo.evaluate` and `cnnzoo.predict` (or `from cnnzoo.inference.evaluate import evaluate`).
"""
from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "load_run": "run", "LoadedRun": "run", "load_image": "run",
    "InputPipeline": "pipeline", "ModelImage": "pipeline",
    "load_model": "checkpoint", "EvalReport": "report",
    "evaluate_arrays": "evaluate", "format_report": "report",
    "format_predictions": "predict", "optimized": "fast",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY, ())
