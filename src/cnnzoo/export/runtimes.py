"""optimize(): a model made fast for inference, with the runtime behind one interface.

Every runtime gets the same prepared network: BatchNorm folded into the convolutions (fold.py),
eval mode, no autograd. Then:

- eager: PyTorch itself, channels_last (oneDNN's blocked convolutions skip the NCHW reorders);
- compile: torch.compile with inductor's freezing (weights become constants, so convolutions get
  pre-packed weights), channels_last;
- onnxruntime: the network exported to ONNX (dynamic batch), run by ONNX Runtime with every
  graph optimization and its own thread pool sized as torch's;
- openvino: the network converted by OpenVINO, compiled for the CPU with fp32 inference precision
  (OpenVINO otherwise lowers fp32 models to bf16 on AMX CPUs, which changes the outputs).

`auto` measures every installed runtime for a few calls on the model's own input shape and keeps
the fastest (the ranking changes with the network, the batch size and the CPU: on one machine
ONNX Runtime led for resnet50 and googlenet at batch 8 while OpenVINO led at batch 1).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import CnnzooError, InputShapeError, OptionError
from ..limits import RUNTIMES
from ..registry import model_info
from . import cache
from .fold import fold_batchnorm
from .machine import native_bf16

DTYPES = ("float32", "bfloat16")
# runtime -> (modules it imports, the package extra that installs them)
_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "onnxruntime": (("onnx", "onnxscript", "onnxruntime"), "onnx"),
    "openvino": (("openvino",), "openvino"),
}


class MissingRuntimeError(CnnzooError):
    """A runtime whose packages are not installed."""


def missing_modules(runtime: str) -> list[str]:
    """The Python modules `runtime` needs that are not installed (empty when it can run)."""
    modules, _ = _NEEDS.get(runtime, ((), ""))
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(runtime: str) -> None:
    """Raise MissingRuntimeError (one line naming the extra) unless the runtime is installed."""
    missing = missing_modules(runtime)
    if missing:
        extra = _NEEDS[runtime][1]
        raise MissingRuntimeError(f"the {runtime} runtime needs {', '.join(missing)}, which "
                                  f"{'is' if len(missing) == 1 else 'are'} not installed: "
                                  f"pip install 'cnnzoo[{extra}]'")


def installed_runtimes() -> list[str]:
    return [r for r in RUNTIMES if not missing_modules(r)]


def check_runtime(runtime: str, *, allow_auto: bool = True) -> str:
    choices = (("auto",) if allow_auto else ()) + RUNTIMES
    if runtime not in choices:
        raise OptionError(f"unknown runtime {runtime!r}: choose one of {', '.join(choices)}")
    return runtime


def check_dtype(dtype: str | torch.dtype, runtime: str) -> torch.dtype:
    """float32, or bfloat16 where the CPU computes it natively and the runtime supports it."""
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
             "bf16": torch.bfloat16}
    value = dtype if isinstance(dtype, torch.dtype) else names.get(str(dtype).lower())
    if value not in (torch.float32, torch.bfloat16):
        raise OptionError(f"unknown dtype {dtype!r}: choose float32 or bfloat16")
    if value == torch.bfloat16:
        if not native_bf16():
            raise OptionError("bfloat16 needs a CPU with native bf16 (AVX512-BF16 or AMX): this one "
                              "would emulate it, slower than float32; use float32")
        if runtime == "onnxruntime":
            raise OptionError("ONNX Runtime has no bf16 CPU kernels: use bfloat16 with the eager, "
                              "compile or openvino runtime")
    return value


class OptimizedModel(nn.Module):
    """A network prepared for inference on one runtime: call it on N x C x H x W float tensors.

    Attributes: runtime, dtype, folded (BatchNorms folded), input_size (C, H, W), fixed_size
    (only that H x W is accepted), model (the prepared PyTorch network, folded, in eval mode).
    Outputs are float32 logits on the CPU, whatever the runtime.
    """

    def __init__(self, model: nn.Module, runtime: str, dtype: torch.dtype, folded: int,
                 input_size: tuple[int, int, int], fixed_size: bool,
                 run: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.model = model
        self.runtime = runtime
        self.dtype = dtype
        self.folded = folded
        self.input_size = input_size
        self.fixed_size = fixed_size
        self._run = run
        # set by precision.optimize: "fp32" / "bf16" / "int8", the accuracy guard's result (or
        # None where it did not apply), and the lines saying what was picked and why
        self.precision = "bf16" if dtype == torch.bfloat16 else "fp32"
        self.guard: Any = None
        self.guards: dict[str, Any] = {}
        self.notes: list[str] = []
        # Runtimes are prepared for one H x W; a network that takes other sizes (a run trained
        # at 32x32, say) gets the runtime built again for each new size, once.
        self._by_size: dict[tuple[int, int], Callable[[Tensor], Tensor]] = {input_size[1:]: run}
        super().train(False)  # inference only, from the start: `.training` says so to callers

    def forward(self, x: Tensor) -> Tensor:
        c, h, w = self.input_size
        if x.dim() != 4 or x.shape[1] != c or (self.fixed_size and tuple(x.shape[2:]) != (h, w)):
            want = f"N x {c} x {h} x {w}" if self.fixed_size else f"N x {c} x H x W"
            raise InputShapeError(f"the optimized model takes {want} tensors, got "
                                  f"{'x'.join(map(str, x.shape))}: resize or pad the images to fit")
        key = (int(x.shape[2]), int(x.shape[3]))
        if key not in self._by_size:
            example = torch.randn(2, c, *key)
            self._by_size[key] = _BUILDERS[self.runtime](self.model, self.dtype, example)
        with torch.inference_mode():
            y = self._by_size[key](x.float())
        return y.float()

    def train(self, mode: bool = True) -> OptimizedModel:
        if mode:
            raise CnnzooError("an optimized model is for inference only: train the original model")
        return super().train(False)

    def extra_repr(self) -> str:
        return f"runtime={self.runtime}, precision={self.precision}, folded={self.folded}"


def input_size_of(model: nn.Module, input_size: Sequence[int] | None = None) -> tuple[tuple[int, int, int], bool]:
    """(C, H, W) to prepare the model for, and whether only that H x W works (from the registry)."""
    name = getattr(model, "zoo_name", None)
    info = model_info(name) if name else None
    if input_size is None:
        if info is None:
            raise OptionError("pass input_size=(C, H, W): the model is not a registered cnnzoo model")
        # the registry's size, with the channels the model was built with (in_channels=1 for a
        # network trained on grey images): its first convolution says which
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        channels = first.in_channels if first is not None else info.input_size[0]
        input_size = (channels, *info.input_size[1:])
    size = tuple(int(v) for v in input_size)
    if len(size) != 3:
        raise OptionError(f"input_size is (C, H, W), got {input_size!r}")
    return (size[0], size[1], size[2]), bool(info.fixed_size) if info else False


def optimize(model: nn.Module, runtime: str = "auto", *, dtype: str | torch.dtype = "float32",
             input_size: Sequence[int] | None = None, batch: int = 8) -> OptimizedModel:
    """The model prepared for fast inference on a runtime (see the module docstring).

    runtime: "auto" (the fastest installed, measured on `batch` images of `input_size`), "eager",
    "compile", "onnxruntime" or "openvino". dtype: "float32" or "bfloat16" (native bf16 CPUs
    only). input_size: (C, H, W), default the registry's for a cnnzoo model. A runtime that is
    not installed raises MissingRuntimeError naming the package extra that installs it.
    """
    check_runtime(runtime)
    size, fixed = input_size_of(model, input_size)
    if runtime != "auto":
        require(runtime)
    value = check_dtype(dtype, runtime)
    prepared, folded = fold_batchnorm(model.float())
    for p in prepared.parameters():
        p.requires_grad_(False)
    example = torch.randn(batch, *size)
    if runtime == "auto":
        return _fastest(prepared, value, folded, size, fixed, example)
    try:
        run = _BUILDERS[runtime](prepared, value, example)
    except Exception as e:  # noqa: BLE001 - a converter's own error, reported in one line
        raise CnnzooError(f"{runtime} cannot run this model ({_first_line(e)}): choose another "
                          f"--runtime, e.g. eager") from None
    return OptimizedModel(prepared, runtime, value, folded, size, fixed, run)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160]}" if text else type(error).__name__


def _build_all(prepared: nn.Module, dtype: torch.dtype, example: Tensor,
               candidates: list[str]) -> dict[str, Callable[[Tensor], Tensor]]:
    """Every candidate runtime that can run this model: a converter that cannot take one of its
    ops (OpenVINO and LeNet-5's index_put, say) drops out of the choice; eager always runs."""
    runs = {}
    for r in candidates:
        try:
            runs[r] = _BUILDERS[r](prepared, dtype, example)
            with torch.inference_mode():
                runs[r](example)
        except Exception:  # noqa: BLE001 - any converter failure only removes that candidate
            runs.pop(r, None)
            if r == "eager":
                raise
    return runs


def _fastest(prepared: nn.Module, dtype: torch.dtype, folded: int, size: tuple[int, int, int],
             fixed: bool, example: Tensor, rounds: int = 5) -> OptimizedModel:
    """Build every installed runtime (compile only when asked by name: building it takes minutes)
    and keep the one with the lowest median time per call on `example`, timed in interleaved
    rounds so that a change in machine load does not decide the choice."""
    candidates = [r for r in installed_runtimes() if r != "compile"]
    if dtype == torch.bfloat16:
        candidates = [r for r in candidates if r != "onnxruntime"]
    # The choice made for this network, batch, machine and set of runtimes before: build only
    # that runtime (timing every candidate costs more than a small network's whole job).
    remembered = cache.choice_key(cache.model_key(prepared, size, dtype, "auto"), example.shape[0], candidates)
    choice = cache.read_choice(f"{remembered}-choice.json")
    if choice is not None and choice["runtime"] in candidates:
        runs = _build_all(prepared, dtype, example, [choice["runtime"]])
        if runs:
            return OptimizedModel(prepared, choice["runtime"], dtype, folded, size, fixed, runs[choice["runtime"]])
    runs = _build_all(prepared, dtype, example, candidates)
    medians = interleaved_medians(runs, example, rounds)
    best = min(runs, key=lambda r: medians[r])
    cache.write_choice(f"{remembered}-choice.json", best, medians)
    return OptimizedModel(prepared, best, dtype, folded, size, fixed, runs[best])


def interleaved_medians(runs: dict[str, Callable[[Tensor], Tensor]], example: Tensor,
                        rounds: int = 5) -> dict[str, float]:
    """Median seconds per call of each run on `example`, timed in interleaved rounds (one call of
    each per round) so that a change in machine load does not decide between them."""
    times: dict[str, list[float]] = {r: [] for r in runs}
    with torch.inference_mode():
        for run in runs.values():  # warm-up: first calls allocate and pick kernels
            run(example)
        for _ in range(rounds):
            for r, run in runs.items():
                start = time.perf_counter()
                run(example)
                times[r].append(time.perf_counter() - start)
    return {r: sorted(t)[rounds // 2] for r, t in times.items()}


def median_seconds(fn: Callable[[], Any], *, seconds: float = 1.0, warmup: int = 2, min_calls: int = 3) -> float:
    """Median wall time of fn() over at least min_calls calls and about `seconds` in total."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_calls or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


# --- the runtimes: each takes the prepared network and returns a function of a float32 batch -----
def _eager(model: nn.Module, dtype: torch.dtype, example: Tensor) -> Callable[[Tensor], Tensor]:
    model = model.to(memory_format=torch.channels_last)

    def run(x: Tensor) -> Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if dtype == torch.bfloat16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x)
        return model(x)
    return run


def _compile(model: nn.Module, dtype: torch.dtype, example: Tensor) -> Callable[[Tensor], Tensor]:
    # torch._inductor takes seconds to import: loaded only when the compile runtime is prepared
    import torch._inductor.config as inductor_config

    eager = _eager(model, dtype, example)
    compiled = torch.compile(eager, dynamic=False)

    def run(x: Tensor) -> Tensor:
        # freezing: parameters become graph constants, so inductor pre-packs convolution weights
        with inductor_config.patch(freezing=True):
            return compiled(x)
    return run


def onnx_bytes(model: nn.Module, example: Tensor, *, dynamic_batch: bool = True, opset: int | None = None) -> bytes:
    """The model as a serialized ONNX ModelProto (torch.onnx's dynamo exporter)."""
    with warnings.catch_warnings(), quiet_logging():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), dynamo=True, input_names=["input"], output_names=["logits"],
            dynamic_shapes=({0: "batch"},) if dynamic_batch else None, opset_version=opset,
            verbose=False)
    assert program is not None
    buffer = io.BytesIO()
    program.save(buffer)  # type: ignore[arg-type]
    return buffer.getvalue()


class quiet_logging:
    """torch.onnx logs each export step at WARNING level; a user needs none of it."""

    def __enter__(self) -> None:
        self._previous = logging.root.manager.disable
        logging.disable(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        logging.disable(self._previous)


def ort_session(data: bytes) -> Any:
    """An ONNX Runtime CPU session with every graph optimization and torch's thread count."""
    # onnxruntime is optional (cnnzoo[onnx]) and slow to import: loaded only when a session is made
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _onnxruntime(model: nn.Module, dtype: torch.dtype, example: Tensor) -> Callable[[Tensor], Tensor]:
    name = f"{cache.model_key(model, example.shape[1:], dtype, 'onnxruntime')}.onnx"
    data = cache.read_bytes(name)
    session = None
    if data is not None:
        try:
            session = ort_session(data)
        except Exception:  # noqa: BLE001 - an unreadable cached file is rebuilt below
            session = None
    if session is None:
        data = onnx_bytes(model, example)
        session = ort_session(data)
        cache.write_bytes(name, data)
    input_name = session.get_inputs()[0].name

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {input_name: x.contiguous().numpy()})[0])
    return run


def openvino_converted(model: nn.Module, example: Tensor) -> Any:
    """The model converted by OpenVINO, with a dynamic batch dimension."""
    # openvino is optional (cnnzoo[openvino]) and slow to import: loaded only when it is prepared
    import openvino as ov

    shape = ov.PartialShape([-1, *example.shape[1:]])
    with warnings.catch_warnings(), quiet_logging():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation notices
        return ov.convert_model(model, example_input=example, input=[shape])


def openvino_compiled(model: nn.Module | Any, example: Tensor, dtype: torch.dtype, hint: str = "LATENCY") -> Any:
    """The model (a torch module, or one OpenVINO converted already) compiled for the CPU."""
    # openvino is optional (cnnzoo[openvino]) and slow to import: loaded only when it is prepared
    import openvino as ov

    converted = openvino_converted(model, example) if isinstance(model, nn.Module) else model
    config = {"INFERENCE_PRECISION_HINT": "bf16" if dtype == torch.bfloat16 else "f32",
              "PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": str(torch.get_num_threads())}
    return ov.Core().compile_model(converted, "CPU", config)


def _openvino_cached(model: nn.Module, example: Tensor, dtype: torch.dtype) -> Any:
    """OpenVINO's conversion, read from the cache (IR files) when it was made before."""
    # openvino is optional (cnnzoo[openvino]) and slow to import: loaded only when it is prepared
    import openvino as ov

    key = cache.model_key(model, example.shape[1:], dtype, "openvino")
    xml, weights = cache.path(f"{key}.xml"), cache.path(f"{key}.bin")
    xml_data, bin_data = cache.read_bytes(f"{key}.xml"), cache.read_bytes(f"{key}.bin")
    if xml_data is not None and bin_data is not None:  # both checked against their records
        try:
            return ov.Core().read_model(xml_data.decode(), ov.Tensor(np.frombuffer(bin_data, np.uint8).copy()))
        except Exception:  # noqa: BLE001 - an unreadable cached file is rebuilt below
            pass
    converted = openvino_converted(model, example)
    if xml is not None and weights is not None:
        with contextlib.suppress(Exception):  # the cache only saves time
            xml_data, bin_data = _openvino_ir(converted)
            cache.write_bytes(weights.name, bin_data)  # weights first: the xml marks it complete
            cache.write_bytes(xml.name, xml_data)
    return converted


def _openvino_ir(converted: Any) -> tuple[bytes, bytes]:
    """OpenVINO's IR (.xml, .bin) as bytes: ov.save_model writes to paths itself, so it writes
    into a fresh private folder (nobody else can plant a link there) that is then removed."""
    # openvino is optional (cnnzoo[openvino]) and slow to import: loaded only when it is prepared
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="cnnzoo-ov-") as private:
        ov.save_model(converted, os.path.join(private, "model.xml"), compress_to_fp16=False)
        with open(os.path.join(private, "model.xml"), "rb") as x, \
                open(os.path.join(private, "model.bin"), "rb") as b:
            return x.read(), b.read()


def _openvino(model: nn.Module, dtype: torch.dtype, example: Tensor) -> Callable[[Tensor], Tensor]:
    compiled = openvino_compiled(_openvino_cached(model, example, dtype), example, dtype)
    request = compiled.create_infer_request()

    def run(x: Tensor) -> Tensor:
        request.infer({0: x.contiguous().numpy()}, share_inputs=True)
        return torch.from_numpy(request.get_output_tensor(0).data.copy())
    return run


_BUILDERS: dict[str, Callable[[nn.Module, torch.dtype, Tensor], Callable[[Tensor], Tensor]]] = {
    "eager": _eager, "compile": _compile, "onnxruntime": _onnxruntime, "openvino": _openvino,
}
