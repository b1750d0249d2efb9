"""Validation of the JSON documents of a run folder: one reader per field, one line per refusal.

A run folder's config.json, meta.json and state.json decide what a later process allocates,
builds, overwrites and trains with, so they are read as untrusted input: every field is checked
(type, range, length) before anything is acted on, and a bad one is refused with one
CheckpointError line that names the file and the field. The numbers go through `cnnzoo.checks`,
the one place user values are validated.

- `Doc`: typed access to one JSON object (`doc.integer("epoch", minimum=0)`).
- `validate_meta`: a checkpoint's meta.json (config.json is TrainConfig.from_json, state.json is
  TrainState.from_json; both use Doc).
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from .. import checks
from ..errors import CheckpointError, CnnzooError
from ..limits import MAX_CHANNELS, MAX_CLASSES, MAX_NAME, MAX_SIDE

FORMAT = "cnnzoo-checkpoint"  # meta.json's "format": what marks a cnnzoo checkpoint
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MISSING = object()


class Doc:
    """One JSON object read from `where`; each accessor checks one field or raises one line."""

    def __init__(self, data: Any, where: str | Path, what: str = "a JSON object") -> None:
        self.where = str(where)
        if not isinstance(data, dict):
            raise CheckpointError(f"{self.where} must hold {what}, got {_kind(data)}: the file is "
                                  "corrupt or not written by cnnzoo")
        self.data = data

    def error(self, key: str, message: str) -> CheckpointError:
        return CheckpointError(f"{self.where}: field {key!r} {message}")

    def get(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, "is missing: the file is incomplete or not written by cnnzoo")
        return default

    def _checked(self, key: str, check: Any, value: Any, **bounds: Any) -> Any:
        try:
            return check(key, value, **bounds)
        except CnnzooError as e:
            text = str(e)
            raise self.error(key, text[len(key):].lstrip() if text.startswith(key) else text) from None

    def integer(self, key: str, default: Any = _MISSING, **bounds: Any) -> Any:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        return self._checked(key, checks.integer, value, **bounds)

    def real(self, key: str, default: Any = _MISSING, **bounds: Any) -> Any:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        return self._checked(key, checks.real, value, **bounds)

    def text(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None) -> Any:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or len(value) > MAX_NAME:
            raise self.error(key, f"must be a string, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_kind(value)}")
        return value

    def obj(self, key: str, default: Any = _MISSING) -> Any:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.error(key, f"must be a JSON object, got {_kind(value)}")
        return value

    def items(self, key: str, default: Any = _MISSING, *, length: int | None = None,
              max_length: int | None = None) -> Any:
        value = self.get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, list):
            raise self.error(key, f"must be a list, got {_kind(value)}")
        if length is not None and len(value) != length:
            raise self.error(key, f"must have {length} entries, got {len(value)}")
        if max_length is not None and len(value) > max_length:
            raise self.error(key, f"must have at most {max_length} entries, got {len(value)}")
        return value

    def numbers(self, key: str, default: Any = _MISSING, *, length: int | None = None,
                **bounds: Any) -> Any:
        values = self.items(key, default, length=length, max_length=MAX_CHANNELS)
        if values is None:
            return None
        return [self._checked(f"{key}[{i}]", checks.real, v, **bounds) for i, v in enumerate(values)]


def _kind(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a JSON object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def finite_json(value: Any, depth: int = 0) -> bool:
    """Whether a JSON value holds only finite numbers (NaN/Infinity are not JSON anyway)."""
    if depth > 50:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_json(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(finite_json(v, depth + 1) for v in value)
    return True


def validate_meta(data: Any, where: str | Path) -> dict[str, Any]:
    """A checkpoint's meta.json, every field checked; returns the same dict.

    Required: format, model, model_options, num_classes, in_channels. Checked when present:
    version, classes (one name per class), dataset, epoch, image_shape, pipeline or the older
    normalization (by InputPipeline.from_meta), files (SHA-256 per tensor file).
    Sizes are bounded, so a hostile file cannot make a reader allocate terabytes."""
    doc = Doc(data, where, "cnnzoo checkpoint metadata")
    if doc.get("format", None) != FORMAT:
        raise CheckpointError(f"{where} is not cnnzoo checkpoint metadata (no \"format\": \"{FORMAT}\")")
    if doc.integer("version", 1, minimum=1, maximum=3) < 2:
        raise doc.error("version", "is 1: such a checkpoint records no SHA-256 of its weights, and "
                        "cnnzoo reads nothing without its checksum; use a checkpoint written since")
    doc.text("model")
    options = doc.obj("model_options")
    if not finite_json(options):
        raise doc.error("model_options", "holds a value that is not a finite number")
    num_classes = doc.integer("num_classes", minimum=1, maximum=MAX_CLASSES)
    doc.integer("in_channels", minimum=1, maximum=MAX_CHANNELS)
    classes = doc.items("classes", None, length=num_classes)
    if classes is not None and not all(isinstance(c, str) and len(c) <= MAX_NAME for c in classes):
        raise doc.error("classes", "must be a list of class names (strings)")
    doc.text("dataset", None)
    doc.integer("epoch", None, minimum=0)
    doc.integer("step_in_epoch", None, minimum=0)
    shape = doc.items("image_shape", None, length=3)
    if shape is not None:
        doc._checked("image_shape", checks.int_list, shape, length=3)
        if shape[0] > MAX_CHANNELS or max(shape[1:]) > MAX_SIDE:
            raise doc.error("image_shape", f"{shape} is larger than {MAX_CHANNELS} x {MAX_SIDE} x {MAX_SIDE}")
    files = doc.obj("files", None)
    if files is not None and not all(isinstance(v, str) and _SHA256.match(v) for v in files.values()):
        raise doc.error("files", "must map file names to SHA-256 hex digests")
    if doc.integer("version", 1) >= 2 and files is None:
        raise doc.error("files", "is missing: the checkpoint records no SHA-256 of its weights")
    if files is None and "pipeline" in data:
        # "pipeline" and "files" came in together (format version 2): a meta.json that has the
        # one without the other was edited to skip the weights' integrity check
        raise doc.error("files", "is missing, but the checkpoint was written by a version that "
                        "records the SHA-256 of its weights (it has \"pipeline\"): the file was "
                        "altered")
    if "pipeline" in data or "normalization" in data:
        _check_pipeline(data, where)
    pipeline = data.get("pipeline")
    names = pipeline.get("classes") if isinstance(pipeline, dict) else None
    if isinstance(names, list) and len(names) != num_classes:
        raise doc.error("pipeline", f"lists {len(names)} class names (pipeline.classes) for "
                        f"num_classes {num_classes}: the file was altered")
    if classes is not None and isinstance(names, list) and list(names) != list(classes):
        raise doc.error("pipeline", "pipeline.classes differs from classes: the file was altered")
    doc.obj("metrics", None)
    return data


def _check_pipeline(meta: dict[str, Any], where: str | Path) -> None:
    """The input pipeline validates its own fields (inference.pipeline, the one reader of them)."""
    from .pipeline import InputPipeline  # imports torch; Doc (train.config) is read without it

    try:
        InputPipeline.from_meta(meta, where=str(where))
    except CnnzooError as e:
        raise CheckpointError(str(e)) from None
