"""`cnnzoo bench`: throughput, latency and agreement of every runtime, in one process.

Everything is measured side by side in interleaved rounds (round 1: every contender, round 2:
every contender, ...), so a change in machine load hits all of them alike; the table reports
medians over rounds, and ratios are only ever taken within one run. The contenders:

- torchvision eager: torchvision's own network holding the same weights (where torchvision has
  the network; cnnzoo's interop maps the weights position by position): the baseline;
- cnnzoo eager: the model as built, plain PyTorch;
- the runtimes as a user would set each one up by hand, cnnzoo not involved: eager
  channels_last, torch.compile (freezing + channels_last), ONNX Runtime (torch.onnx export,
  default session), OpenVINO (convert_model, fp32 precision);
- cnnzoo fast: cnnzoo.export.optimize(model, "auto") - BatchNorm folded, the fastest runtime
  configured for inference.

`speedup` = cnnzoo fast / torchvision eager; `vs_best_runtime` = cnnzoo fast / the fastest of the
hand-set runtimes (cnnzoo's own rows excluded). Also printed: the fraction of the machine's
measured fp32 matmul peak that the fast path reaches (model FLOPs = 2 x MACs).
"""
from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import checks, io
from ..errors import OptionError
from ..interop.layout import load_by_position
from ..limits import MAX_EXPORT_BATCH, PRECISIONS, RUNTIMES
from ..registry import model_info
from .fold import calibrate_batchnorm
from .machine import check_fits, describe, describe_line, matmul_peak_gflops
from .precision import (
    CALIBRATION_IMAGES,
    capabilities,
    check_precision,
    describe_choice,
    optimize,
    optimize_run,
    sample_images,
)
from .quantize import int8_matmul_peak_gops
from .runtimes import (
    check_dtype,
    check_runtime,
    installed_runtimes,
    onnx_bytes,
    openvino_compiled,
    require,
)
from .runtimes import optimize as optimize_fp32
from .source import Source, load_source


@dataclass
class Contender:
    name: str
    kind: str  # "baseline", "reference", "runtime", "cnnzoo"
    run: Callable[[Tensor], Tensor]
    build_s: float
    note: str = ""


def torchvision_twin(source: Source) -> tuple[nn.Module | None, str]:
    """torchvision's network with the source's weights, or (None, why not)."""
    spec = model_info(source.name).torchvision  # what the family declares (None: no counterpart)
    options = dict(getattr(source.model, "zoo_options", {}) or {})
    if spec is None:
        return None, f"torchvision has no {source.name}"
    for key, value in spec.options.items():
        if options.get(key) != value:
            return None, (f"torchvision's {spec.builder} has {key}={value}, this {source.name} "
                          f"{key}={options.get(key, 'default')}: bench with --option {key}={value} "
                          "for the torchvision ratio")
    try:
        import torchvision  # optional (the test extra): only for the torchvision ratio
    except ImportError:
        return None, "torchvision is not installed"

    kwargs: dict[str, Any] = {"weights": None, "num_classes": _num_classes(source.model),
                              **spec.builder_kwargs}
    for flag in (*spec.flags_from_keys, *spec.shared_flags):  # the same switches on both sides
        kwargs[flag] = bool(options.get(flag, False))
    twin = getattr(torchvision.models, spec.builder)(**kwargs).eval()
    # The position-by-position map from_torchvision uses, run the other way.
    state = {k: v for k, v in source.model.state_dict().items()}
    load_by_position(twin, state, source.name)
    return twin, ""


def _num_classes(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return int(last.out_features)


def real_images(source: Source, n: int) -> Tensor:
    """n real images (the embedded Fashion-MNIST sample) as the model's input, through its input
    pipeline (for random weights: its own size and fit, pixels scaled to [-1, 1])."""
    return sample_images(source.pipeline, source.input_size, n)


def _macs(source: Source) -> int | None:
    info = model_info(source.name) if hasattr(source.model, "zoo_name") else None
    if info is not None and info.macs and not getattr(source.model, "zoo_options", None) \
            and tuple(source.input_size) == tuple(info.input_size):
        return int(info.macs)
    try:
        # the tracer (analysis.summary, trace.*) only for a model with no registry MAC count:
        # `cnnzoo export` loads this module for real_images and traces nothing
        from ..analysis.summary import summary

        return int(summary(source.model, input_size=source.input_size).total_macs)
    except Exception:  # the summary cannot trace it: no peak fraction, the rest stands
        return None


def _hand_set(runtime: str, model: nn.Module, example: Tensor) -> Callable[[Tensor], Tensor]:
    """A runtime set up the way its documentation shows, with no help from cnnzoo. On a copy:
    `.to(memory_format=...)` changes a module in place, which would turn the "cnnzoo eager"
    reference row into channels_last too."""
    model = copy.deepcopy(model)
    if runtime == "eager":
        cl = model.to(memory_format=torch.channels_last)
        return lambda x: cl(x.contiguous(memory_format=torch.channels_last))
    if runtime == "compile":
        import torch._inductor.config as inductor_config  # seconds to import: only for compile

        cl = model.to(memory_format=torch.channels_last)
        compiled = torch.compile(cl)

        def run_compiled(x: Tensor) -> Tensor:
            with inductor_config.patch(freezing=True):
                return compiled(x.contiguous(memory_format=torch.channels_last))
        return run_compiled
    if runtime == "onnxruntime":
        import onnxruntime as ort  # optional (the onnx extra)

        options = ort.SessionOptions()  # the defaults, but the same thread count as everyone else
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(onnx_bytes(model, example), options, providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    compiled_ov = openvino_compiled(model, example, torch.float32, hint="LATENCY")
    return lambda x: torch.from_numpy(compiled_ov(x.numpy())[0].copy())


def bench(model_or_run: str | Path | nn.Module, *, batch: int = 8, runtimes: Sequence[str] | None = None,
          rounds: int = 5, round_seconds: float = 1.0, options: dict[str, Any] | None = None,
          bf16: bool = False, precision: str = "fp32",
          progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure the contenders (see the module docstring); returns the JSON-ready result.

    precision: "fp32" (the fp32 fast path only), "bf16" or "int8" (that precision's fast path
    too), "auto" (every precision this CPU runs natively; the result's `precision` says which one
    auto picks: the fastest that passed the accuracy guard or, for random weights, where the
    guard does not apply). bf16=True is the older spelling of precision="bf16"."""
    batch = checks.positive_int("--batch", batch, maximum=MAX_EXPORT_BATCH)
    rounds = checks.positive_int("--rounds", rounds, maximum=1000)
    round_seconds = checks.positive_float("round_seconds", round_seconds)
    chosen = list(runtimes) if runtimes is not None else installed_runtimes()
    for r in chosen:
        check_runtime(r, allow_auto=False)
        require(r)
    if not chosen:
        raise OptionError(f"--runtime needs at least one of {', '.join(RUNTIMES)}")
    # refused before minutes of float32 preparation, not after
    if bf16:
        check_dtype("bfloat16", "eager")
    wanted = check_precision("bf16" if bf16 and precision == "fp32" else precision)
    lowers = [wanted] if wanted not in ("auto", "fp32") else \
        [p for p in capabilities()["native"] if p != "fp32"] if wanted == "auto" else []
    say = progress or (lambda text: None)
    source = load_source(model_or_run, options)
    model = source.model.float().eval()
    for param in model.parameters():
        param.requires_grad_(False)
    check_fits(model, source.input_size, max(batch, 64), f"bench {source.name}")
    x = real_images(source, batch)
    images = real_images(source, max(batch, 64))
    # Untrained BatchNorm statistics let activations drift to denormal floats (googlenet_tv) or
    # overflow, which would time the wrong arithmetic: measure them on the real images first.
    calibrated = calibrate_batchnorm(model, images) if source.random else 0

    contenders: list[Contender] = []

    def add(name: str, kind: str, build: Callable[[], Callable[[Tensor], Tensor]], note: str = "") -> None:
        say(f"preparing {name}")
        start = time.perf_counter()
        run = build()
        with torch.inference_mode():
            run(x)  # the first call builds what is lazy (compile, OpenVINO's kernels)
        contenders.append(Contender(name, kind, run, time.perf_counter() - start, note))

    twin, why_not = torchvision_twin(source)
    if twin is not None:
        add("torchvision eager", "baseline", lambda: twin)
    add("cnnzoo eager", "reference", lambda: model)
    for runtime in chosen:
        add(f"{runtime} (hand-set)", "runtime", functools.partial(_hand_set, runtime, model, x))
    fast = optimize_fp32(model, "auto", input_size=source.input_size, batch=batch)
    add(f"cnnzoo fast ({fast.runtime})", "cnnzoo", lambda: fast._run,
        note=f"{fast.folded} BatchNorms folded")
    low_paths = {}
    for p in lowers:
        say(f"preparing the {p} fast path (quantising and guarding where it applies)")
        low_paths[p] = _lower(source, model, p, batch)
        add(f"cnnzoo fast {p} ({low_paths[p].runtime})", p, functools.partial(getattr, low_paths[p], "_run"))

    times = _interleaved(contenders, x, rounds, round_seconds, say)
    rows = _rows(contenders, times, model, images, batch)
    result = {
        "model": source.name, "options": dict(getattr(source.model, "zoo_options", {}) or {}),
        "weights": (f"random, BatchNorm statistics of {images.shape[0]} real images ({calibrated} layers)"
                    if source.random and calibrated else "random" if source.random
                    else f"trained ({source.checkpoint})"),
        "batch": batch, "input": list(source.input_size), "dtype": "float32",
        "rounds": rounds, "round_seconds": round_seconds, "machine": describe(),
        "agreement_images": f"{images.shape[0]} images of the embedded Fashion-MNIST sample",
        "rows": rows, "fast_path": {"runtime": fast.runtime, "batchnorms_folded": fast.folded},
        "torchvision": None if twin is not None else why_not,
    }
    result.update(_ratios(source, rows, wanted, low_paths))
    return result


def _lower(source: Source, model: nn.Module, precision: str, batch: int) -> Any:
    """The fast path in a lower precision: a trained run's own data calibrates and guards it;
    random weights are calibrated on the embedded sample through the model's pipeline."""
    if source.run is not None and source.run.dataset:
        return optimize_run(source.run, "auto", precision, batch)
    return optimize(model, "auto", precision=precision, input_size=source.input_size, batch=batch,
                    calibration=real_images(source, CALIBRATION_IMAGES),
                    calibration_from="images of the embedded sample through the model's input pipeline")


def _interleaved(contenders: list[Contender], x: Tensor, rounds: int, round_seconds: float,
                 say: Callable[[str], None]) -> dict[str, list[float]]:
    """Interleaved rounds: every contender once per round, for about round_seconds each."""
    times: dict[str, list[float]] = {c.name: [] for c in contenders}
    with torch.inference_mode():
        for k in range(rounds):
            say(f"round {k + 1}/{rounds}")
            for c in contenders:
                deadline = time.perf_counter() + round_seconds
                while True:
                    start = time.perf_counter()
                    c.run(x)
                    times[c.name].append(time.perf_counter() - start)
                    if time.perf_counter() >= deadline:
                        break
    return times


def _rows(contenders: list[Contender], times: dict[str, list[float]], model: nn.Module,
          images: Tensor, batch: int) -> list[dict[str, Any]]:
    """One row per contender: rate, latency, and its outputs against fp32 eager on real images."""
    rows = []
    with torch.inference_mode():
        reference = model(images)
        for c in contenders:
            t = sorted(times[c.name])
            out = _batched(c.run, images, batch).float()
            diff = (out - reference).abs().max().item()
            rows.append({
                "name": c.name, "kind": c.kind, "precision": c.kind if c.kind in PRECISIONS else "fp32",
                "images_per_s": batch / t[len(t) // 2],
                "latency_ms": 1e3 * t[len(t) // 2], "latency_p90_ms": 1e3 * t[min(len(t) - 1, int(0.9 * len(t)))],
                "calls": len(t), "build_s": c.build_s,
                "max_abs_diff": diff, "relative_diff": diff / max(reference.abs().max().item(), 1e-12),
                "top1_agreement": (out.argmax(1) == reference.argmax(1)).float().mean().item() * 100,
                "note": c.note})
    return rows


def _ratios(source: Source, rows: list[dict[str, Any]], wanted: str, low_paths: dict[str, Any]) -> dict[str, Any]:
    """Speed-ups, the share of each precision's measured peak, and which precision auto picks."""
    by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in ("baseline", "runtime", "cnnzoo")}
    fast_row = by_kind["cnnzoo"][0]
    baseline = by_kind["baseline"][0] if by_kind["baseline"] else None
    best = max(by_kind["runtime"], key=lambda r: r["images_per_s"]) if by_kind["runtime"] else None
    macs = _macs(source)
    peaks = {"fp32": matmul_peak_gflops(),
             "bf16": matmul_peak_gflops(dtype=torch.bfloat16) if "bf16" in low_paths else None,
             "int8": int8_matmul_peak_gops() if "int8" in low_paths else None}
    for r in rows:
        rate = r["images_per_s"]
        peak = peaks[r["precision"]]
        r["speedup"] = rate / baseline["images_per_s"] if baseline else None
        r["vs_best_fp32_runtime"] = rate / best["images_per_s"] if best else None
        r["peak_fraction"] = 2 * macs * rate / 1e9 / peak if macs and peak else None
    allowed = [fast_row] + [r for r in rows if r["kind"] in low_paths
                            and (low_paths[r["kind"]].guard is None or low_paths[r["kind"]].guard.passed)]
    pick = max(allowed, key=lambda r: r["images_per_s"]) if wanted == "auto" else \
        fast_row if wanted == "fp32" else next(r for r in rows if r["kind"] == wanted)
    guards = {p: describe_choice(low)["guard"].get(p, "did not apply") for p, low in low_paths.items()}
    why = (f"{pick['precision']}: the fastest in this run of the precisions this CPU runs natively "
           f"that passed the accuracy guard (or where it did not apply)" if wanted == "auto"
           else f"{pick['precision']}: asked for")
    achieved = 2 * macs * fast_row["images_per_s"] / 1e9 if macs else None
    return {
        "precision": {"requested": wanted, "chosen": pick["precision"], "row": pick["name"], "why": why,
                      "cpu": capabilities(), "guard": guards,
                      "notes": [n for low in low_paths.values() for n in low.notes]},
        "speedup": pick["speedup"], "vs_best_fp32_runtime": pick["vs_best_fp32_runtime"],
        "best_runtime": best["name"] if best else None,
        "vs_best_runtime": fast_row["images_per_s"] / best["images_per_s"] if best else None,
        "matmul_peak_gflops": peaks["fp32"], "bf16_matmul_peak_gflops": peaks["bf16"],
        "int8_matmul_peak_gops": peaks["int8"], "model_gflops_per_image": 2 * macs / 1e9 if macs else None,
        "fast_path_gflops": achieved, "fast_path_peak_fraction": achieved / peaks["fp32"] if achieved else None,
    }


def _batched(run: Callable[[Tensor], Tensor], images: Tensor, batch: int) -> Tensor:
    return torch.cat([run(images[i:i + batch]).float() for i in range(0, images.shape[0], batch)])


def format_bench(result: dict[str, Any]) -> str:
    """The human-readable table."""
    lines = [describe_line(result["machine"]),
             f"{result['model']} (weights: {result['weights']}), batch {result['batch']}, input "
             f"{'x'.join(map(str, result['input']))}, fp32; {result['rounds']} interleaved rounds of "
             f"{result['round_seconds']:g} s per contender; agreement on {result['agreement_images']}",
             "",
             f"{'contender':<32} {'img/s':>9} {'latency ms':>11} {'p90 ms':>8} {'vs eager':>9} "
             f"{'max|diff|':>10} {'top-1 agree':>11} {'of peak':>8}  notes"]
    baseline = next((r for r in result["rows"] if r["kind"] == "baseline"), None) or \
        next(r for r in result["rows"] if r["kind"] == "reference")
    for r in result["rows"]:
        agree = f"{r['top1_agreement']:.1f}%"
        peak = f"{100 * r['peak_fraction']:.0f}%" if r.get("peak_fraction") else "-"
        lines.append(f"{r['name']:<32} {r['images_per_s']:>9.1f} {r['latency_ms']:>11.2f} "
                     f"{r['latency_p90_ms']:>8.2f} {r['images_per_s'] / baseline['images_per_s']:>8.2f}x "
                     f"{r['max_abs_diff']:>10.2g} {agree:>11} {peak:>8}  {r['note']}")
    lines.append("(top-1 agreement and max |diff| against fp32 eager; of peak: the share of the measured "
                 "matmul peak of the row's precision)")
    choice = result.get("precision") or {}
    lines += ["", *choice.get("notes", [])]
    if choice.get("requested", "fp32") != "fp32":
        lines.append(f"precision {choice['requested']} -> {choice['why']}: {choice['row']}")
        for p, g in choice["guard"].items():
            verdict = g if not isinstance(g, dict) else g["why"] + (" (passes)" if g["passed"] else " (FAILS)")
            lines.append(f"  {p} accuracy guard: {verdict}")
    if result.get("vs_best_fp32_runtime") is not None:
        lines.append(f"vs_best_fp32_runtime ({choice.get('row', 'cnnzoo fast')} / {result['best_runtime']}): "
                     f"{result['vs_best_fp32_runtime']:.2f}x")
    lines.append("")
    if result["speedup"] is not None:
        lines.append(f"speedup ({choice.get('row', 'cnnzoo fast')} / torchvision eager): {result['speedup']:.2f}x")
    else:
        lines.append(f"speedup: none ({result['torchvision']}); ratios above are to cnnzoo eager")
    if result["vs_best_runtime"] is not None:
        lines.append(f"vs_best_runtime (cnnzoo fast fp32 / {result['best_runtime']}): {result['vs_best_runtime']:.2f}x")
    if result["fast_path_peak_fraction"] is not None:
        lines.append(f"fast path: {result['fast_path_gflops']:.1f} GFLOP/s = "
                     f"{100 * result['fast_path_peak_fraction']:.0f}% of the measured fp32 matmul peak "
                     f"({result['matmul_peak_gflops']:.1f} GFLOP/s, {result['model_gflops_per_image']:.2f} "
                     "GFLOP per image)")
    if result.get("int8_matmul_peak_gops"):
        lines.append("int8 peak (ONNX Runtime QLinearConv / MatMulInteger): "
                     f"{result['int8_matmul_peak_gops']:.1f} GOP/s")
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    return io.json_text(result)  # strict JSON: a timing that is not finite is null, said in not_finite
