"""Precision as a choice of the fast path: fp32, bf16 or int8, what this CPU runs natively, and
the accuracy guard that a lower precision must pass before `auto` uses it.

- What runs natively comes from the CPU's flags: bf16 needs AVX512-BF16 or AMX-BF16 (anything
  else emulates it, slower than fp32); int8 needs integer SIMD (AVX2's u8s8 multiply-adds, VNNI
  or AMX-INT8). A precision the CPU cannot run natively is refused in one line.
- int8: post-training static quantisation by ONNX Runtime (quantize.py), calibrated on a few
  hundred of the run's own training images through its input pipeline.
- The guard: the lower precision against fp32 on held-out images of the run's own data set (its
  test split): top-1 agreement and, with labels, the accuracy lost. The rule, fixed before any
  measurement: at least AGREEMENT_MIN percent agreement and at most MAX_LOSS_POINTS points of
  top-1 lost (the issue's thresholds). `auto` falls back past a precision that fails it; an
  explicit precision runs anyway and says what it lost. Random weights have no data of their own:
  the guard does not apply, and the output says so.
- `auto` then times the precisions that passed against fp32 (interleaved rounds on the model's
  own input shape) and keeps the fastest: on an AVX2-only CPU int8 is not always faster.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .. import io
from ..data import load_dataset
from ..errors import OptionError
from ..inference.pipeline import DEFAULT_MEAN, DEFAULT_STD, InputPipeline
from . import PRECISIONS, cache
from .machine import BF16_FLAGS, cpu_flags
from .quantize import INT8_RUNTIMES, RECIPE, VNNI_FLAGS, int8_onnx, int8_runner, reduce_range, tensor_digest
from .runtimes import (
    OptimizedModel,
    check_dtype,
    check_runtime,
    input_size_of,
    installed_runtimes,
    interleaved_medians,
    require,
)
from .runtimes import optimize as optimize_fp32

AGREEMENT_MIN = 99.0      # percent of held-out images with the same top-1 class as fp32
MAX_LOSS_POINTS = 0.5     # top-1 accuracy points lost against fp32, where labels exist
CALIBRATION_IMAGES = 300  # training images the int8 ranges are measured on
GUARD_IMAGES = 1000       # held-out images the guard compares on
INT8_FLAGS = ("avx2", *VNNI_FLAGS)
_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "torch.float32": "fp32", "torch.bfloat16": "bf16"}
_BF16_RUNTIMES = ("eager", "compile", "openvino")


def capabilities(flags: set[str] | None = None) -> dict[str, Any]:
    """Which precisions this CPU computes natively, and with which instructions."""
    flags = cpu_flags() if flags is None else flags
    bf16 = next((name for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"))
                 if flag in flags), None)
    int8 = next((name for flag, name in (("amx_int8", "AMX-INT8"), ("avx512_vnni", "AVX512-VNNI"),
                                         ("avx_vnni", "AVX-VNNI"), ("avx2", "AVX2 u8s8, 7-bit weights"))
                 if flag in flags), None)
    native = ["fp32"] + (["bf16"] if bf16 else []) + (["int8"] if int8 else [])
    return {"native": native, "bf16": bf16, "int8": int8,
            "flags": sorted(flags & {"avx2", "fma", "avx512f", *BF16_FLAGS, *VNNI_FLAGS, "amx_tile"})}


def capability_line(caps: dict[str, Any] | None = None) -> str:
    caps = caps or capabilities()
    parts = ["fp32"] + [f"{p} ({caps[p]})" for p in ("bf16", "int8") if caps[p]]
    missing = [f"{p} ({why})" for p, why in (("bf16", "no AVX512-BF16 or AMX-BF16"),
                                              ("int8", "no AVX2, VNNI or AMX-INT8")) if not caps[p]]
    return (f"precision: this CPU ({' '.join(caps['flags']) or 'no AVX2'}) runs {', '.join(parts)} "
            f"natively" + (f"; not {', '.join(missing)}" if missing else ""))


def check_precision(precision: str, runtime: str = "auto", flags: set[str] | None = None) -> str:
    """The precision's canonical name ("auto", "fp32", "bf16", "int8"), or OptionError in one line:
    unknown, not native on this CPU, or not run by `runtime`."""
    name = _ALIASES.get(str(precision).strip().lower(), str(precision).strip().lower())
    if name not in ("auto", *PRECISIONS):
        raise OptionError(f"unknown precision {precision!r}: choose one of auto, {', '.join(PRECISIONS)}")
    caps = capabilities(flags)
    if name == "bf16" and not caps["bf16"]:
        raise OptionError("bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX-BF16): this one "
                          "would emulate it, slower than fp32; use --precision fp32 (or int8)")
    if name == "int8" and not caps["int8"]:
        raise OptionError("int8 needs integer SIMD (AVX2, VNNI or AMX-INT8), which this CPU "
                          "lacks: use --precision fp32")
    allowed = {"int8": INT8_RUNTIMES, "bf16": _BF16_RUNTIMES}.get(name)
    if allowed and runtime != "auto" and runtime not in allowed:
        raise OptionError(f"{name} runs on {' or '.join(allowed)}, not on {runtime}: choose one of "
                          "them with --runtime, or leave --runtime out")
    return name


def decide(agreement: float, loss_points: float | None) -> tuple[bool, str]:
    """The guard's rule: (passes, why), from the top-1 agreement (%) and the points lost."""
    if agreement < AGREEMENT_MIN:
        return False, f"top-1 agreement {agreement:.2f}% is below {AGREEMENT_MIN:g}%"
    if loss_points is not None and loss_points > MAX_LOSS_POINTS:
        return False, f"it loses {loss_points:.2f} points of top-1, more than {MAX_LOSS_POINTS:g}"
    lost = "" if loss_points is None else (f", {loss_points:.2f} points of top-1 lost" if loss_points >= 0
                                           else f", {-loss_points:.2f} points of top-1 gained")
    return True, f"top-1 agreement {agreement:.2f}%{lost}"


@dataclass
class Guard:
    """The lower precision against fp32 on held-out images (top1 values in %, None without labels)."""

    precision: str
    runtime: str
    images: int
    agreement: float
    max_abs_diff: float
    top1_fp32: float | None = None
    top1: float | None = None

    @property
    def loss_points(self) -> float | None:
        return None if self.top1 is None or self.top1_fp32 is None else self.top1_fp32 - self.top1

    @property
    def passed(self) -> bool:
        return decide(self.agreement, self.loss_points)[0]

    def to_dict(self) -> dict[str, Any]:
        passed, why = decide(self.agreement, self.loss_points)
        return {**asdict(self), "loss_points": self.loss_points, "passed": passed, "why": why,
                "rule": f">= {AGREEMENT_MIN:g}% agreement and <= {MAX_LOSS_POINTS:g} points lost"}


@dataclass
class HeldOut:
    """Model inputs (through the run's pipeline) with their labels (or None), and where from."""

    images: Tensor
    labels: Tensor | None
    source: str


def measure_guard(precision: str, runtime: str, reference: Callable[[Tensor], Tensor],
                  low: Callable[[Tensor], Tensor], held: HeldOut, batch: int = 50) -> Guard:
    with torch.inference_mode():
        outs = [(reference(held.images[i:i + batch]).float(), low(held.images[i:i + batch]).float())
                for i in range(0, held.images.shape[0], batch)]
    ref, got = torch.cat([a for a, _ in outs]), torch.cat([b for _, b in outs])
    agree = (ref.argmax(1) == got.argmax(1)).float().mean().item() * 100
    guard = Guard(precision, runtime, int(ref.shape[0]), agree, (ref - got).abs().max().item())
    if held.labels is not None:
        guard.top1_fp32 = (ref.argmax(1) == held.labels).float().mean().item() * 100
        guard.top1 = (got.argmax(1) == held.labels).float().mean().item() * 100
    return guard


def _cached_guard(key: str, measure: Callable[[], Guard]) -> Guard:
    """The guard's measurement kept beside the prepared network (the decision is re-derived)."""
    data = cache.read_bytes(f"{key}-guard.json")
    try:
        return Guard(**json.loads(data)) if data is not None else _store(key, measure())
    except (ValueError, TypeError):
        return _store(key, measure())


def _store(key: str, guard: Guard) -> Guard:
    try:  # strict JSON: a guard with a non-finite number is not cached (measured again next time)
        cache.write_bytes(f"{key}-guard.json", io.json_bytes(asdict(guard)))
    except ValueError:
        pass
    return guard


def sample_images(pipeline: Any, size: tuple[int, int, int], n: int) -> Tensor:
    """n images of the embedded Fashion-MNIST sample as the model's input, through `pipeline`
    (None: the model's own size, pixels scaled to [-1, 1])."""
    c, h, w = size
    images = load_dataset("sample", "test").images[:n]
    pipeline = pipeline or InputPipeline(c, (h, w), (h, w), "resize", (DEFAULT_MEAN,) * c,
                                         (DEFAULT_STD,) * c, "default")
    return pipeline(images.expand(-1, c, -1, -1)).contiguous()


def optimize(model: nn.Module, runtime: str = "auto", *, precision: str = "fp32",
             dtype: str | torch.dtype | None = None, input_size: Sequence[int] | None = None,
             batch: int = 8, calibration: Tensor | None = None,
             held_out: HeldOut | None = None,
             calibration_from: str = "training images through the run's input pipeline") -> OptimizedModel:
    """The model prepared for fast inference on a runtime, in a precision.

    runtime: "auto" (the fastest installed, measured) or one of RUNTIMES. precision: "fp32"
    (default), "bf16", "int8" or "auto" (the fastest the CPU runs natively that passes the
    guard). dtype: the older spelling ("float32" / "bfloat16"). calibration: model inputs the
    int8 ranges are measured on (default: CALIBRATION_IMAGES of the embedded sample). held_out:
    the guard's images (None: the guard does not apply); calibration_from: where the calibration
    images came from, in words. The result's `.precision`, `.guard`
    and `.notes` (lines saying what was picked and why) tell what happened.
    """
    check_runtime(runtime)
    if dtype is not None and precision == "fp32":  # the older spelling: float32 or bfloat16 only
        precision = "bf16" if check_dtype(dtype, runtime) == torch.bfloat16 else "fp32"
    wanted = check_precision(precision, runtime)
    size, _ = input_size_of(model, input_size)
    if wanted == "fp32":
        fast = optimize_fp32(model, runtime, input_size=size, batch=batch)
        return _annotated(fast, "fp32", None, [capability_line()])
    caps = capabilities()
    notes = [capability_line(caps)]
    candidates = [wanted] if wanted != "auto" else [
        p for p in ("int8", "bf16") if p in caps["native"] and _runs_on(p, runtime)]
    # auto compares speeds, so its fp32 is the fastest runtime; an explicit precision needs fp32
    # only as the folded network and the guard's reference: eager, which costs nothing to build
    fp32 = optimize_fp32(model, runtime if wanted == "auto" else "eager", input_size=size, batch=batch)
    if not candidates:
        notes.append(f"auto: fp32, the only precision this CPU runs natively with runtime {runtime}")
        return _annotated(fp32, "fp32", None, notes)
    example = torch.randn(batch, *size)
    if "int8" in candidates and calibration is None:
        calibration = sample_images(None, size, CALIBRATION_IMAGES)
        notes.append(f"int8: calibrated on {calibration.shape[0]} images of the embedded sample")
    elif "int8" in candidates:
        assert calibration is not None
        notes.append(f"int8: calibrated on {calibration.shape[0]} {calibration_from}; weights per channel"
                     f"{', 7-bit (no VNNI: avoids u8s8 saturation)' if reduce_range() else ''}")
    passed: dict[str, OptimizedModel] = {}
    guards: dict[str, Guard | None] = {}
    for p in candidates:
        low = _build(p, model, fp32, runtime, example, calibration)
        guard = None
        if held_out is not None:
            key = hashlib.sha256(json.dumps([cache.model_key(fp32.model, size, torch.float32, p),
                                             low.runtime, RECIPE, tensor_digest(held_out.images),
                                             "" if calibration is None else tensor_digest(calibration)]).encode())
            guard = _cached_guard(key.hexdigest()[:32], functools.partial(
                measure_guard, p, low.runtime, fp32.model, low._run, held_out))
            notes.append(_guard_line(guard, held_out))
        else:
            notes.append(f"{p}: the accuracy guard did not apply (no held-out images of the model's "
                         "own data set: random weights or none given)")
        guards[p] = guard
        _annotated(low, p, guard, [])
        if wanted == "auto" and guard is not None and not guard.passed:
            notes.append(f"auto: {p} fails the guard ({decide(guard.agreement, guard.loss_points)[1]}): "
                         "falling back to the next precision")
            continue
        passed[p] = low
    chosen = passed[wanted] if wanted != "auto" else _fastest(fp32, passed, example, notes)
    _annotated(chosen, chosen.precision, chosen.guard, notes)
    chosen.guards = guards
    return chosen


def _runs_on(precision: str, runtime: str) -> bool:
    allowed = INT8_RUNTIMES if precision == "int8" else _BF16_RUNTIMES
    return any(r in allowed for r in installed_runtimes()) if runtime == "auto" else runtime in allowed


def _build(precision: str, model: nn.Module, fp32: OptimizedModel, runtime: str, example: Tensor,
           calibration: Tensor | None) -> OptimizedModel:
    size = fp32.input_size
    if precision == "bf16":
        return optimize_fp32(model, runtime, dtype="bfloat16", input_size=size, batch=example.shape[0])
    assert calibration is not None
    data = int8_onnx(fp32.model, example, calibration)
    choices = [runtime] if runtime != "auto" else [r for r in INT8_RUNTIMES if r in installed_runtimes()]
    for r in choices:
        require(r)
    runs = {r: int8_runner(r, data) for r in choices}
    best = min(runs, key=interleaved_medians(runs, example).__getitem__) if len(runs) > 1 else choices[0]
    return OptimizedModel(fp32.model, best, torch.float32, fp32.folded, size, True, runs[best])


def _fastest(fp32: OptimizedModel, passed: dict[str, OptimizedModel], example: Tensor,
             notes: list[str]) -> OptimizedModel:
    runs = {"fp32": fp32._run, **{p: m._run for p, m in passed.items()}}
    medians = interleaved_medians(runs, example)
    best = min(medians, key=medians.__getitem__)
    timing = ", ".join(f"{p} {1e3 * t:.1f} ms" for p, t in medians.items())
    chosen = fp32 if best == "fp32" else passed[best]
    notes.append(f"auto: picked {best} ({chosen.runtime}), the fastest that passed on batch "
                 f"{example.shape[0]} ({timing}; median of interleaved rounds)")
    return chosen


def _guard_line(guard: Guard, held: HeldOut) -> str:
    passed, why = decide(guard.agreement, guard.loss_points)
    top1 = "" if guard.top1 is None else f" (top-1 {guard.top1:.2f}% vs fp32 {guard.top1_fp32:.2f}%)"
    return (f"{guard.precision} guard on {guard.images} held-out images ({held.source}): "
            f"{'passes' if passed else 'FAILS'}: {why}{top1}; max |diff| {guard.max_abs_diff:.3g}")


def _annotated(fast: OptimizedModel, precision: str, guard: Guard | None, notes: list[str]) -> OptimizedModel:
    fast.precision = precision
    fast.guard = guard
    fast.notes = notes
    fast.guards = {} if guard is None else {precision: guard}
    return fast


def describe_choice(fast: OptimizedModel) -> dict[str, Any]:
    """What the precision choice was and why, JSON-ready (eval, bench and export report it)."""
    guards = getattr(fast, "guards", {})
    return {"precision": fast.precision, "runtime": fast.runtime, "cpu": capabilities(),
            "guard": {p: (g.to_dict() if g is not None else "did not apply (random weights: no "
                          "held-out images of the model's own data set)") for p, g in guards.items()},
            "notes": list(getattr(fast, "notes", []))}


def run_data(run: Any) -> tuple[Tensor, HeldOut]:
    """A trained run's calibration images (CALIBRATION_IMAGES spread evenly over its training
    split) and the guard's held-out images (the first GUARD_IMAGES of its test split), both
    through the run's own input pipeline."""
    train, run = run.load_data(None, "train")
    pipeline = run.pipeline
    picks = torch.linspace(0, len(train) - 1, min(CALIBRATION_IMAGES, len(train))).long()
    calibration = pipeline(train.images[picks]).contiguous()
    test, _ = run.load_data(None, "test")
    n = min(GUARD_IMAGES, len(test))
    held = HeldOut(pipeline(test.images[:n]).contiguous(), test.labels[:n].long(),
                   f"the first {n} of {test.name} test")
    return calibration, held


def optimize_run(run: Any, runtime: str = "auto", precision: str = "fp32", batch: int = 8) -> OptimizedModel:
    """A LoadedRun's model in a precision: int8 calibrated on its training images, the guard on
    its test split (trained runs); random weights: the embedded sample, no guard."""
    wanted = check_precision(precision, runtime)
    size = (run.channels, *run.size)
    if wanted == "fp32" or run.random or not run.dataset:
        return optimize(run.model, runtime, precision=wanted, input_size=size, batch=batch)
    calibration, held = run_data(run)
    return optimize(run.model, runtime, precision=wanted, input_size=size, batch=batch,
                    calibration=calibration, held_out=held)
