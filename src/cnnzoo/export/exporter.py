"""Export to ONNX and to torch.export programs (.pt2), checked against the eager model.

Nothing is reported as exported until the written file has been read back and run: ONNX files
pass onnx.checker and ONNX Runtime reproduces the eager outputs; .pt2 files are loaded with
torch.export.load and their module reproduces them. "Reproduces" means the largest absolute
difference is at most 1e-4 of the largest eager output (relative), at the export batch size and,
for a dynamic batch, at a second one; for a network whose own float32 rounding exceeds that
(deep plain networks with BatchNorm statistics of random data), at most NOISE_FACTOR times
eager's distance from the float64 result, as close as another float32 implementation can be
expected to come; the report says when rounding dominates the output so much that the check can
catch only gross errors.

A run folder's input pipeline (mean, std, size, fit, class names) goes into the file's metadata,
so a consumer needs nothing else: ONNX metadata_props "cnnzoo" (JSON), or the .pt2 archive's
extra file "cnnzoo.json".
"""
from __future__ import annotations

import copy
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import checks
from .._version import __version__
from ..errors import CnnzooError, OptionError
from ..io import check_target, write_bytes
from ..limits import MAX_EXPORT_BATCH
from .bench import real_images
from .fold import calibrate_batchnorm, fold_batchnorm
from .machine import check_fits
from .precision import CALIBRATION_IMAGES, HeldOut, check_precision, measure_guard, run_data
from .quantize import int8_onnx, int8_runner, reduce_range
from .runtimes import onnx_bytes, ort_session, require
from .source import Source, load_source

FORMATS = ("onnx", "pt2")
RELATIVE_LIMIT = 1e-4
# Where eager's own float32 result is further than RELATIVE_LIMIT from its float64 result, the
# export is held to this many times that distance instead. Two float32 computations of such a
# network (a deep plain net with BatchNorm statistics measured on one batch) were measured 0.8x
# to 2.5x eager's error apart (plain110, 8 seeds here and one in CI): different kernels round
# differently, and the network amplifies each rounding layer by layer.
NOISE_FACTOR = 4
# Beyond this share of the output's scale, rounding dominates the float32 output itself.
ROUNDING_DOMINATES = 1e-2
METADATA_KEY = "cnnzoo"


class ExportCheckError(CnnzooError):
    """An exported file that does not reproduce the eager model."""


@dataclass
class ExportResult:
    path: str
    format: str
    model: str
    batch: int | str
    input_size: tuple[int, int, int]
    checks: list[dict[str, Any]] = field(default_factory=list)  # {"check", "batch", "max_abs_diff", "relative"}
    metadata: dict[str, Any] = field(default_factory=dict)
    bytes: int = 0

    @property
    def max_abs_diff(self) -> float:
        return max((c["max_abs_diff"] for c in self.checks), default=0.0)

    def report(self) -> str:
        lines = [f"{self.model} -> {self.path} ({self.format}, batch {self.batch}, input "
                 f"{'x'.join(map(str, self.input_size))}, {self.bytes / 1e6:.1f} MB)"]
        precision = self.metadata.get("precision")
        if precision:
            g = precision.get("agreement_with_fp32") if isinstance(precision["guard"], str) else precision["guard"]
            lines.append(f"  int8 ({precision['format']}); calibrated on {precision['calibration']}")
            lines.append(f"  against fp32 on {g['images']} images: {g['why']}"
                         + (f" ({'passes' if g['passed'] else 'FAILS'} the guard)" if g.get("top1") is not None
                            else "; accuracy guard: did not apply (random weights)"))
        if "batchnorm_statistics" in self.metadata:
            lines.append("  random weights, whose output overflowed: BatchNorm statistics "
                         + self.metadata["batchnorm_statistics"])
        for c in self.checks:
            limit = (f"limit {RELATIVE_LIMIT:g}" if c["by"] == "the output's scale" else
                     f"over {RELATIVE_LIMIT:g}, within {NOISE_FACTOR}x eager's own float32 error "
                     f"{c['eager_error']:.2g}")
            lines.append(f"  {c['check']:<28} batch {c['batch']:>3}: max |diff| {c['max_abs_diff']:.3g} "
                         f"({c['relative']:.2g} of max |output|, {limit})")
            if c.get("eager_error", 0.0) > ROUNDING_DOMINATES * c["scale"]:
                lines.append(f"  note: eager's own float32 output is {c['eager_error'] / c['scale']:.0%} of its "
                             "scale from the float64 result (rounding amplified layer by layer): this "
                             "check can catch only gross errors")
        lines.append("exported: the file reproduces the int8 network (its distance from fp32 is above)"
                     if self.metadata.get("precision") else "exported: outputs match the eager model")
        return "\n".join(lines)


def parse_batch(batch: int | str) -> int | str:
    """'dynamic' or a positive whole number (as given on the command line or in Python)."""
    if isinstance(batch, str):
        if batch.strip().lower() == "dynamic":
            return "dynamic"
        if not batch.strip().isdigit():
            raise OptionError(f"--batch takes 'dynamic' or a positive whole number, got {batch!r}")
        batch = int(batch)
    return checks.positive_int("--batch", batch, maximum=MAX_EXPORT_BATCH)


def export(model_or_run: str | Path | nn.Module, format: str = "onnx", out: str | Path | None = None, *,
           batch: int | str = "dynamic", opset: int | None = None,
           options: dict[str, Any] | None = None, precision: str = "fp32") -> ExportResult:
    """Export a model (a registered name, a run folder or an nn.Module) and check the file.

    format: "onnx" or "pt2". out: the file (default MODEL.onnx / MODEL.pt2 in the current folder;
    an existing file is replaced only after the new one passed its checks). batch: "dynamic" or a
    fixed batch size. opset: the ONNX opset (default: the exporter's). Raises ExportCheckError if
    the file does not reproduce the eager outputs, OptionError for bad arguments. precision
    "int8" (ONNX, dynamic batch): a QDQ file with its quantisation parameters (_export_int8).
    """
    if format not in FORMATS:
        raise OptionError(f"unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
    batch = parse_batch(batch)
    if precision not in ("fp32", "int8"):
        raise OptionError(f"export --precision takes fp32 or int8, not {precision!r}")
    if precision == "int8":
        check_precision("int8", "onnxruntime")
        if format != "onnx" or batch != "dynamic" or opset is not None:
            raise OptionError("--precision int8 writes an ONNX file with a dynamic batch at the "
                              "exporter's opset: drop --format pt2, --batch and --opset")
    if opset is not None:
        if format != "onnx":
            raise OptionError("--opset applies to ONNX files only")
        opset = checks.integer("--opset", opset, minimum=18, maximum=23)
    if format == "onnx":
        require("onnxruntime")
    source = load_source(model_or_run, options)
    path = Path(out) if out is not None else Path(f"{source.name}.{format}")
    if path.is_dir():
        raise OptionError(f"--out {path} is a folder: give a file name, e.g. {path / (source.name + '.' + format)}")
    if not path.parent.is_dir():
        raise OptionError(f"--out {path}: {path.parent} is not a folder that exists")
    if path.exists() and not path.is_file() or path.is_symlink():
        raise OptionError(f"--out {path} exists and is not a regular file: give a file name")
    check_target(path, "--out")  # refused before minutes of export: e.g. inside a run's checkpoints/
    model = source.model.float().eval()
    size = source.input_size
    n = 2 if batch == "dynamic" else int(batch)
    check_fits(model, size, max(n, 3), f"export {source.name}")  # 3: a dynamic batch is checked at 3 too
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(n, *size, generator=generator)
    metadata = _metadata(source, batch)
    with torch.no_grad():
        finite = bool(torch.isfinite(model(example)).all())
    if not finite and source.random and not isinstance(model_or_run, nn.Module):
        # Built from its name: a fresh resnet1202's unit running variances let 400 residual sums
        # overflow to inf. Statistics measured on real images give it the scale training would.
        if calibrate_batchnorm(model, real_images(source, 16)):
            metadata["batchnorm_statistics"] = "measured on 16 images of the embedded sample"
            with torch.no_grad():
                finite = bool(torch.isfinite(model(example)).all())
    if not finite:
        raise ExportCheckError(f"{source.name}'s own eager output is not finite (inf or nan) with these "
                               "weights, so no export could be checked against it: check the weights")
    if precision == "int8":
        data, results = _export_int8(source, model, example, metadata)
    elif format == "onnx":
        data, results = _export_onnx(model, example, batch, opset, metadata)
    else:
        data, results = _export_pt2(model, example, batch, metadata)
    write_bytes(path, data, fix="choose a writable --out")
    return ExportResult(str(path), format, source.name, batch, size, results, metadata, path.stat().st_size)


def _metadata(source: Source, batch: int | str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "cnnzoo": __version__, "model": source.name,
        "options": dict(getattr(source.model, "zoo_options", {}) or {}),
        "weights": "random" if source.random else "trained", "batch": batch,
        "input": {"name": "input", "shape": ["batch" if batch == "dynamic" else batch, *source.input_size],
                  "dtype": "float32"},
        "output": "logits (no softmax)",
    }
    if source.checkpoint:
        meta["checkpoint"] = str(source.checkpoint)
    if source.pipeline is not None:
        p = source.pipeline
        # What a consumer does to an image: fit it to `size` (pad or resize), scale to [0, 1],
        # subtract mean, divide by std, per channel.
        meta["pipeline"] = p.to_meta()
    return meta


def _inputs_to_check(example: Tensor, batch: int | str) -> list[Tensor]:
    inputs = [example]
    if batch == "dynamic":  # the batch dimension really is free: check another size too
        inputs.append(torch.randn(3, *example.shape[1:], generator=torch.Generator().manual_seed(1)))
    return inputs


def _compare(check: str, model: nn.Module, x: Tensor, expected: Tensor, got: Tensor) -> dict[str, Any]:
    """The exported output `got` against eager's `expected` on input x.

    Accepted within RELATIVE_LIMIT of the output's scale. A network whose own float32 rounding is
    larger than that (deep plain networks with random weights amplify it layer by layer: eager
    plain44 differs from its float64 result by 1.1e-4 of the output, plain110 by 0.2) is held to
    its own precision instead: the export may differ from eager by at most NOISE_FACTOR times
    eager's distance from the float64 result (two float32 computations, each about that far from
    the exact answer).
    """
    if tuple(got.shape) != tuple(expected.shape):
        raise ExportCheckError(f"{check}: output shape {tuple(got.shape)} differs from eager "
                               f"{tuple(expected.shape)}: the export is wrong, please report it")
    diff = (got.float() - expected.float()).abs().max().item()
    scale = max(expected.abs().max().item(), 1e-12)
    limit = RELATIVE_LIMIT * scale
    result: dict[str, Any] = {"check": check, "batch": expected.shape[0], "max_abs_diff": diff,
                              "relative": diff / scale, "limit": limit, "by": "the output's scale",
                              "scale": scale}
    if diff <= limit:
        return result
    if math.isfinite(diff):
        with torch.no_grad():
            exact = copy.deepcopy(model).double()(x.double())
        eager_error = (expected.double() - exact).abs().max().item()
        limit = max(limit, NOISE_FACTOR * eager_error)
        result.update(limit=limit, eager_error=eager_error, by="eager's own float32 error")
        if diff <= limit:
            return result
    raise ExportCheckError(f"{check}: max |diff| {diff:.3g} from eager exceeds {RELATIVE_LIMIT:g} of "
                           f"max |output| {scale:.3g} and {NOISE_FACTOR}x eager's own float32 error: nothing was "
                           "written, please report it")


def _export_onnx(model: nn.Module, example: Tensor, batch: int | str, opset: int | None,
                 metadata: dict[str, Any]) -> tuple[bytes, list[dict[str, Any]]]:
    """The ONNX file's bytes (checked in memory; nothing is written here) and its checks."""
    # onnx is optional (cnnzoo[onnx]) and slow to import: loaded only to write or read an ONNX file
    import onnx

    proto = onnx.load_from_string(onnx_bytes(model, example, dynamic_batch=batch == "dynamic", opset=opset))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    proto.producer_name = "cnnzoo"
    data = proto.SerializeToString()
    try:
        onnx.checker.check_model(data, full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportCheckError(f"onnx.checker rejects the exported file: {str(e).splitlines()[0]}") from None
    session = ort_session(data)
    results = []
    for x in _inputs_to_check(example, batch):
        with torch.no_grad():
            expected = model(x)
        got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
        results.append(_compare("onnx.checker + onnxruntime", model, x, expected, got))
    return data, results


def _export_int8(source: Source, model: nn.Module, example: Tensor,
                 metadata: dict[str, Any]) -> tuple[bytes, list[dict[str, Any]]]:
    """The int8 QDQ file: calibrated on the run's training images (a model name: the embedded
    sample), judged against fp32 on held-out images (the guard, for a trained run), and checked
    read back: ONNX Runtime on the written file reproduces the int8 network it was written from."""
    # onnx is optional (cnnzoo[onnx]) and slow to import: loaded only to write or read an ONNX file
    import onnx

    prepared, folded = fold_batchnorm(model)
    if source.run is not None and source.run.dataset:
        calibration, held = run_data(source.run)
        where = "training images through the run's input pipeline"
    else:
        calibration = real_images(source, CALIBRATION_IMAGES)
        held = HeldOut(real_images(source, 1000), None, "the embedded sample (not the model's own data)")
        where = "images of the embedded sample (no data set of the model's own)"
    data = int8_onnx(prepared, example, calibration)
    int8 = int8_runner("onnxruntime", data)
    guard = measure_guard("int8", "onnxruntime", prepared, int8, held).to_dict()
    metadata["precision"] = {
        "precision": "int8", "format": "QDQ (QuantizeLinear/DequantizeLinear), weights int8 per channel, "
        "activations uint8 per tensor, MinMax ranges", "reduce_range": reduce_range(),
        "batchnorms_folded": folded, "calibration": f"{calibration.shape[0]} {where}",
        "guard" if held.labels is not None else "agreement_with_fp32": guard,
        **({} if held.labels is not None else {"guard": "did not apply (random weights)"})}
    proto = onnx.load_from_string(data)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    proto.producer_name = "cnnzoo"
    data = proto.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    session = ort_session(data)
    results = []
    for x in _inputs_to_check(example, "dynamic"):
        got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
        results.append(_compare("int8 file vs int8 network", prepared, x, int8(x), got))
    return data, results


def _export_pt2(model: nn.Module, example: Tensor, batch: int | str,
                metadata: dict[str, Any]) -> tuple[bytes, list[dict[str, Any]]]:
    """The .pt2 file's bytes (saved and reloaded in memory) and its checks."""
    dynamic = ({0: torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)},) if batch == "dynamic" else None
    program = torch.export.export(model, (example,), dynamic_shapes=dynamic)
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files={f"{METADATA_KEY}.json": json.dumps(metadata)})
    reloaded = torch.export.load(io.BytesIO(buf.getvalue())).module()
    results = []
    for x in _inputs_to_check(example, batch):
        with torch.no_grad():
            expected, got = model(x), reloaded(x)
        results.append(_compare("torch.export.load", model, x, expected, got))
    return buf.getvalue(), results


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The cnnzoo metadata of an exported .onnx or .pt2 file."""
    path = Path(path)
    if path.suffix == ".onnx":
        # onnx is optional (cnnzoo[onnx]) and slow to import: loaded only to write or read an ONNX file
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        for entry in proto.metadata_props:
            if entry.key == METADATA_KEY:
                return dict(json.loads(entry.value))
    else:
        extra = {f"{METADATA_KEY}.json": ""}
        torch.export.load(str(path), extra_files=extra)
        if extra[f"{METADATA_KEY}.json"]:
            return dict(json.loads(extra[f"{METADATA_KEY}.json"]))
    raise CnnzooError(f"{path} has no cnnzoo metadata: it was not written by `cnnzoo export`")
