"""int8 post-training static quantisation with ONNX Runtime's quantiser, and the int8 runtimes.

The prepared network (BatchNorm already folded, fold.py) is exported to ONNX, then
`onnxruntime.quantization.quantize_static` rewrites it as a QDQ graph: per-channel int8 weights,
uint8 activations whose ranges (MinMax) come from calibration images fed through the model's own
input pipeline. The scales and zero points are initializers of the file, so the int8 ONNX file
carries its own quantisation parameters. On a CPU without VNNI (AVX2 only) ONNX Runtime's u8s8
kernels multiply with VPMADDUBSW, whose 16-bit intermediate sums can saturate: ONNX Runtime's
documentation prescribes 7-bit weights there (reduce_range), which is what `reduce_range()` says.

Two runtimes take the QDQ file: ONNX Runtime itself and OpenVINO (which turns the Q/DQ pairs into
its own int8 kernels: VNNI or AMX-INT8 where the CPU has them).
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import cache
from .machine import best_rate, cpu_flags
from .runtimes import onnx_bytes, ort_session, quiet_logging

INT8_RUNTIMES = ("onnxruntime", "openvino")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
CALIBRATION_BATCH = 16
# How the file is made, in the cache keys of the int8 file and of its guard: a change here must
# not be served an old file or an old guard result.
RECIPE = "qdq u8s8 per-channel minmax, float classifier, v2"


def reduce_range(flags: set[str] | None = None) -> bool:
    """7-bit weights where the u8s8 kernels can saturate: x86 without VNNI (ONNX Runtime's advice)."""
    flags = cpu_flags() if flags is None else flags
    return not (flags & set(VNNI_FLAGS))


def tensor_digest(t: Tensor) -> str:
    return hashlib.sha256(t.detach().float().contiguous().numpy().tobytes()).hexdigest()[:16]


def int8_onnx(prepared: nn.Module, example: Tensor, calibration: Tensor) -> bytes:
    """The QDQ int8 ONNX file of `prepared`, calibrated on `calibration` (model inputs, N x C x H x W).

    Cached under the prepared network's key, the calibration images' digest and the weight range."""
    narrow = reduce_range()
    key = cache.model_key(prepared, example.shape[1:], torch.float32, "onnxruntime")
    recipe = hashlib.sha256(f"{RECIPE} {'r7' if narrow else 'r8'}".encode()).hexdigest()[:8]
    name = f"{key}-int8-{tensor_digest(calibration)}-{recipe}.onnx"
    data = cache.read_bytes(name)
    if data is not None:
        return data
    data = _quantize(onnx_bytes(prepared, example), calibration, narrow)
    cache.write_bytes(name, data)
    return data


def _quantize(fp32: bytes, calibration: Tensor, narrow: bool) -> bytes:
    # optional (the onnx extra), and onnx/onnxruntime take a while to import: only to quantise
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    batches = [calibration[i:i + CALIBRATION_BATCH].contiguous().numpy()
               for i in range(0, calibration.shape[0], CALIBRATION_BATCH)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self._batches, None)
            return None if batch is None else {"input": batch}

    # quantize_static writes its result (and, calibrating, an augmented model) as files: into a
    # private temporary folder, removed afterwards; the result comes back as bytes
    model = onnx.load_from_string(fp32)
    with tempfile.TemporaryDirectory(prefix="cnnzoo-int8-") as folder, quiet_logging():
        target = Path(folder) / "int8.onnx"
        quantize_static(model, target, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=narrow, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=_classifier_nodes(model))
        return target.read_bytes()


def _classifier_nodes(model: Any) -> list[str]:
    """The nodes from the last weighted layer (the classifier) to the logits, kept in float: logits
    quantised to uint8 steps tie often, and a tie makes top-1 depend on how argmax breaks it (one
    trained resnet20 scored 0.3 point apart under argmax and topk on the same int8 outputs)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    names, frontier = [], [o.name for o in model.graph.output]
    while frontier:
        node = producers.get(frontier.pop())
        if node is None or node.name in names:
            continue
        names.append(node.name)
        if node.op_type not in ("Gemm", "MatMul", "Conv"):
            frontier += list(node.input)
    return names


def int8_runner(runtime: str, data: bytes) -> Callable[[Tensor], Tensor]:
    """A function of a float32 batch running the QDQ file on ONNX Runtime or OpenVINO."""
    if runtime == "onnxruntime":
        session = ort_session(data)
        name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {name: x.contiguous().numpy()})[0])
    import openvino as ov  # optional (the openvino extra), slow to import: only for its runner

    with quiet_logging():
        converted = ov.convert_model(io.BytesIO(data))
    compiled = ov.Core().compile_model(converted, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(torch.get_num_threads())})
    request = compiled.create_infer_request()

    def run(x: Tensor) -> Tensor:
        request.infer({0: x.contiguous().numpy()}, share_inputs=True)
        return torch.from_numpy(request.get_output_tensor(0).data.copy())
    return run


def int8_matmul_peak_gops(seconds: float = 1.0) -> float | None:
    """The machine's measured int8 dense-arithmetic ceiling (GOP/s) with torch's thread count,
    measured the way machine.matmul_peak_gflops measures fp32: the fastest call of each of a few
    dense kernels, the best rate. The kernels are the ones the int8 path runs: ONNX Runtime's
    QLinearConv (3x3, 256 channels, 56x56) and MatMulInteger (u8 x s8) on 512 and 1024 squares.
    None when ONNX Runtime is not installed."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    rng = np.random.default_rng(0)
    kernels = [_conv_kernel(rng)] + [_matmul_kernel(rng, n) for n in (512, 1024)]
    return best_rate(kernels, seconds)


def _session_of(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> Any:
    # optional (the onnx extra): only to build the peak-measuring kernels
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "peak", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return ort_session(onnx.ModelProto.SerializeToString(model))


def _matmul_kernel(rng: Any, n: int) -> tuple[Callable[[], Any], float]:
    from onnx import TensorProto, helper, numpy_helper  # optional (the onnx extra)

    b = numpy_helper.from_array(rng.integers(-64, 64, (n, n), dtype=np.int8), "b")
    session = _session_of([helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
                          [helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])], [b])
    a = rng.integers(0, 255, (n, n), dtype=np.uint8)
    return (lambda: session.run(None, {"a": a})), 2.0 * n ** 3


def _conv_kernel(rng: Any) -> tuple[Callable[[], Any], float]:
    from onnx import TensorProto, helper, numpy_helper  # optional (the onnx extra)

    c, s = 256, 56
    consts = {"xs": np.float32(0.02), "xz": np.uint8(128), "ws": np.float32(0.01), "wz": np.int8(0),
              "ys": np.float32(0.05), "yz": np.uint8(128),
              "w": rng.integers(-64, 64, (c, c, 3, 3), dtype=np.int8)}
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"],
                            pads=[1, 1, 1, 1])
    session = _session_of([node], [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, c, s, s])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, c, s, s])], inits)
    x = rng.integers(0, 255, (1, c, s, s), dtype=np.uint8)
    return (lambda: session.run(None, {"x": x})), 2.0 * c * c * 9 * s * s
