"""The fast path's entry for a loaded run: `optimized(run, runtime, batch, precision)`.

The fast path itself (ONNX export, runtimes, precisions, their cache) is cnnzoo.export, a room
above this one: it loads runs and their pipelines from here (`cnnzoo export`, `cnnzoo bench`)
and needs onnxruntime or openvino. eval and predict reach it through these two functions only,
importing export when a runtime is asked for, so that plain inference never loads it.
"""
from __future__ import annotations

from typing import Any

from torch import nn


def optimized(run: Any, runtime: str = "auto", batch: int = 8, precision: str = "fp32") -> nn.Module:
    """A LoadedRun's model through cnnzoo.export.optimize, prepared for the run's input (channels
    and size, which can differ from the registry's) and for batches of `batch` images; in a lower
    precision calibrated and guarded on the run's own data (export.precision.optimize_run)."""
    from ..export.precision import optimize_run  # the room above; only when a runtime is asked for

    return optimize_run(run, runtime, precision, batch)


def precision_choice(model: nn.Module) -> dict[str, Any]:
    """What the fast path chose for `model` (precision, runtime, guard, notes), JSON-ready."""
    from ..export.precision import describe_choice  # the room above; only when a runtime is asked for

    return describe_choice(model)  # type: ignore[arg-type]
