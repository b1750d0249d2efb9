"""`cnnzoo bench`: the JSON's fields present and consistent with its rows, torchvision's twin
holding the same weights, and refusals in one line."""
from __future__ import annotations

import json

import pytest
import torch

import cnnzoo
from cnnzoo.errors import OptionError
from cnnzoo.export import calibrate_batchnorm
from cnnzoo.export.bench import bench, format_bench, real_images, torchvision_twin
from cnnzoo.export.runtimes import MissingRuntimeError
from cnnzoo.export.source import load_source

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def result():
    return bench("resnet20", batch=4, runtimes=["eager", "onnxruntime"], rounds=2, round_seconds=0.05)


def test_bench_json_fields_are_consistent(result):
    data = json.loads(json.dumps(result))
    for key in ("model", "batch", "machine", "rows", "speedup", "vs_best_runtime", "best_runtime",
                "fast_path", "matmul_peak_gflops", "fast_path_peak_fraction"):
        assert key in data
    assert data["machine"]["threads"] == torch.get_num_threads() and data["machine"]["torch"] == torch.__version__
    names = [r["name"] for r in data["rows"]]
    assert names[:3] == ["cnnzoo eager", "eager (hand-set)", "onnxruntime (hand-set)"]
    fast = next(r for r in data["rows"] if r["kind"] == "cnnzoo")
    hand = [r for r in data["rows"] if r["kind"] == "runtime"]
    best = max(hand, key=lambda r: r["images_per_s"])
    assert data["best_runtime"] == best["name"]
    assert data["vs_best_runtime"] == pytest.approx(fast["images_per_s"] / best["images_per_s"])
    assert data["speedup"] is None and "torchvision has no resnet20" in data["torchvision"]
    for r in data["rows"]:
        assert r["images_per_s"] == pytest.approx(4 / (r["latency_ms"] / 1e3))
        assert r["latency_p90_ms"] >= r["latency_ms"] > 0 and r["calls"] >= 2
        assert r["relative_diff"] <= 1e-4 and r["top1_agreement"] == 100.0
    assert data["fast_path"]["batchnorms_folded"] == 19
    assert 0 < data["fast_path_peak_fraction"] == pytest.approx(
        data["fast_path_gflops"] / data["matmul_peak_gflops"])
    assert data["model_gflops_per_image"] == pytest.approx(2 * cnnzoo.model_info("resnet20").macs / 1e9)
    assert data["weights"] == "random, BatchNorm statistics of 64 real images (19 layers)"
    table = format_bench(result)
    assert "vs_best_runtime" in table and "machine:" in table and "threads" in table


@pytest.mark.parametrize("name,options", [("resnet18", {"variant": "v1.5"}), ("googlenet_tv", {})])
def test_torchvision_twin_has_the_same_weights(name, options):
    pytest.importorskip("torchvision")
    source = load_source(name, options)
    twin, why = torchvision_twin(source)
    assert twin is not None, why
    x = real_images(source, 2)
    with torch.no_grad():
        assert torch.allclose(twin(x), source.model(x), atol=1e-5, rtol=1e-5)


def test_no_torchvision_twin_for_resnet_v1():
    twin, why = torchvision_twin(load_source("resnet18"))
    assert twin is None and "variant=v1.5" in why


def test_bench_refusals():
    with pytest.raises(OptionError, match="tensorrt"):
        bench("resnet20", runtimes=["tensorrt"])
    with pytest.raises(OptionError, match="--batch"):
        bench("resnet20", batch=0)


def test_bench_missing_runtime(monkeypatch):
    from cnnzoo.export import runtimes as rt

    monkeypatch.setattr(rt, "missing_modules", lambda r: ["openvino"] if r == "openvino" else [])
    with pytest.raises(MissingRuntimeError, match=r"cnnzoo\[openvino\]"):
        bench("resnet20", runtimes=["openvino"])


def test_calibrated_batchnorms_normalise_the_images_they_saw():
    model = cnnzoo.create_model("resnet20")
    images = torch.randn(16, 3, 32, 32) * 3 + 1
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    outputs = []
    for m in norms:
        m.register_forward_hook(lambda mod, inp, out: outputs.append(out))
    assert calibrate_batchnorm(model, images) == len(norms) == 19
    assert not model.training and all(m.momentum == 0.1 for m in norms)  # momentum restored
    outputs.clear()
    with torch.no_grad():
        model(images)
    for out in outputs:  # eval mode, the calibration images: zero mean, unit variance per channel
        channels = out.transpose(0, 1).flatten(1)
        assert channels.mean(1).abs().max() < 1e-2  # float32 sums over 16x32x32 values
        assert torch.allclose(channels.var(1), torch.ones(channels.shape[0]), atol=1e-2)


def test_hand_set_runtimes_leave_the_reference_model_alone():
    from cnnzoo.export.bench import _hand_set

    model = cnnzoo.create_model("resnet20").eval()
    run = _hand_set("eager", model, torch.randn(1, 3, 32, 32))
    run(torch.randn(1, 3, 32, 32))
    # the "cnnzoo eager" reference row stays in the layout it was built in (NCHW)
    assert all(p.is_contiguous() for p in model.parameters())


def test_bf16_refused_up_front_without_native_bf16(monkeypatch):
    from cnnzoo.export import runtimes as rt

    monkeypatch.setattr(rt, "native_bf16", lambda: False)
    monkeypatch.setattr("cnnzoo.export.bench.load_source",
                        lambda *a, **k: pytest.fail("prepared the model before refusing bf16"))
    with pytest.raises(OptionError, match="native bf16"):
        bench("resnet20", runtimes=["eager"], bf16=True)


def test_training_refuses_emulated_bf16(monkeypatch, tmp_path):
    from cnnzoo.train import device, loop

    monkeypatch.setattr(device, "native_bf16", lambda: False)
    with pytest.raises(OptionError, match="native bf16"):
        loop.train(loop.TrainConfig(model="lenet5", epochs=1, amp="bf16", out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()
