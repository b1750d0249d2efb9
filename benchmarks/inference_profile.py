"""Where inference time goes: a per-operator profile of the fast path and the runtimes it competes
with, and how close their convolutions come to the machine's fp32 matmul peak.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/inference_profile.py --threads 1 [--model resnet50] [--batch 1]

For one model and batch (random weights, BatchNorm statistics of real images, BatchNorm folded:
the network every runtime is given by cnnzoo.optimize), it profiles
- OpenVINO with its per-node performance counters (PERF_COUNT),
- ONNX Runtime with its session profiler (per-node durations),
- PyTorch eager (channels_last) with torch.profiler,
and prints, per runtime, the share of time by operator type, the convolutions' achieved GFLOP/s
(2 x the convolutions' MACs from cnnzoo's summary / the time inside convolution kernels) as a
fraction of the fp32 matmul peak measured in the same process, and the whole model's rate.

If every runtime spends most of its time in convolutions that already run near the matmul peak,
no fp32 runtime can be much faster than another: what is left between them is the small rest.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import warnings

import torch

import cnnzoo
from cnnzoo.analysis.summary import summary
from cnnzoo.export import calibrate_batchnorm, fold_batchnorm
from cnnzoo.export.machine import matmul_peak_gflops
from cnnzoo.export.runtimes import onnx_bytes
from machine import describe_line

OPTIONS = {"resnet50": {"variant": "v1.5"}}


def macs(model: torch.nn.Module, input_size: tuple[int, int, int]) -> tuple[int, int]:
    """(MACs of the whole network, MACs of its convolutions) per image, from cnnzoo's summary of
    the network as built (resnet50 here is v1.5, whose MACs differ from the registry's v1)."""
    s = summary(model, input_size=input_size)
    return int(s.total_macs), sum(r.macs for r in s.layers if r.type == "Conv2d")


def profile_openvino(model: torch.nn.Module, x: torch.Tensor, calls: int) -> dict[str, float]:
    import openvino as ov

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model, example_input=x)
    # the settings of cnnzoo's OpenVINO runtime, with the per-node performance counters on
    compiled = ov.Core().compile_model(converted, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": "YES",
        "INFERENCE_NUM_THREADS": str(torch.get_num_threads())})
    request = compiled.create_infer_request()
    request.infer({0: x.numpy()})
    by_type: dict[str, float] = collections.defaultdict(float)
    for _ in range(calls):
        request.infer({0: x.numpy()})
        for info in request.get_profiling_info():
            if info.status == info.Status.EXECUTED:
                by_type[info.node_type] += info.real_time.total_seconds() / calls
    return dict(by_type)


def profile_onnxruntime(model: torch.nn.Module, x: torch.Tensor, calls: int) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    session = ort.InferenceSession(onnx_bytes(model, x), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    session.run(None, feed)
    for _ in range(calls):
        session.run(None, feed)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    by_type: dict[str, float] = collections.defaultdict(float)
    runs = 0
    for e in events:
        if e.get("cat") == "Session" and e.get("name") == "model_run":
            runs += 1
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            by_type[e["args"]["op_name"]] += e["dur"] / 1e6
    return {k: v / max(runs, 1) for k, v in by_type.items()}


def profile_eager(model: torch.nn.Module, x: torch.Tensor, calls: int) -> dict[str, float]:
    from torch.profiler import ProfilerActivity, profile

    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                model(x)
    by_type: dict[str, float] = collections.defaultdict(float)
    for event in prof.key_averages():
        # leaf aten ops only (self time): aten::mkldnn_convolution holds the convolution kernels
        if event.key.startswith("aten::"):
            by_type[event.key.replace("aten::", "")] += event.self_cpu_time_total / 1e6 / calls
    return {k: v for k, v in by_type.items() if v > 0}


def is_conv(op: str) -> bool:
    return "conv" in op.lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = cnnzoo.create_model(args.model, **OPTIONS.get(args.model, {})).eval()
    size = tuple(cnnzoo.model_info(args.model).input_size)
    calibrate_batchnorm(model, torch.randn(16, *size))
    prepared, folded = fold_batchnorm(model)
    for p in prepared.parameters():
        p.requires_grad_(False)
    x = torch.randn(args.batch, *size)
    total_macs, conv_macs = macs(prepared, size)
    total_gflop, conv_gflop = 2 * total_macs * args.batch / 1e9, 2 * conv_macs * args.batch / 1e9
    peak = matmul_peak_gflops(seconds=2.0)
    print(describe_line())
    print(f"{args.model} batch {args.batch}, {args.threads} thread(s), {folded} BatchNorms folded; "
          f"{total_gflop:.2f} GFLOP per call, {conv_gflop:.2f} of it in convolutions; "
          f"fp32 peak {peak:.1f} GFLOP/s (best dense kernel: cnnzoo.export.machine.matmul_peak_gflops)\n")
    print("| runtime | per call ms (profiled) | conv share | conv GFLOP/s | conv % of peak | "
          "model % of peak | top other ops (ms) |")
    print("|---|---|---|---|---|---|---|")
    for name, fn in (("openvino", profile_openvino), ("onnxruntime", profile_onnxruntime),
                     ("eager channels_last", profile_eager)):
        by_type = fn(prepared, x, args.calls)
        total = sum(by_type.values())
        conv = sum(v for k, v in by_type.items() if is_conv(k))
        others = sorted(((v, k) for k, v in by_type.items() if not is_conv(k)), reverse=True)[:3]
        other_text = ", ".join(f"{k} {1e3 * v:.2f}" for v, k in others)
        print(f"| {name} | {1e3 * total:.2f} | {100 * conv / total:.0f}% | {conv_gflop / conv:.1f} | "
              f"{100 * conv_gflop / conv / peak:.0f}% | {100 * total_gflop / total / peak:.0f}% | {other_text} |",
              flush=True)


if __name__ == "__main__":
    main()
