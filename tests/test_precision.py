"""Precisions of the fast path: the CPU's capabilities from its flags, the one-line refusal of a
precision it would emulate, the accuracy guard's rule and what auto does when a precision fails
it, and (slow) a trained run quantised to int8 end to end: eval, export and bench."""
from __future__ import annotations

import json

import pytest
import torch

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.errors import OptionError
from cnnzoo.export import precision as pr

AVX2 = {"avx2", "fma"}
AMX = {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}


def test_capabilities_from_flags():
    assert pr.capabilities(AVX2)["native"] == ["fp32", "int8"]
    assert pr.capabilities(AVX2)["bf16"] is None
    assert pr.capabilities(AMX)["native"] == ["fp32", "bf16", "int8"]
    assert (pr.capabilities(AMX)["bf16"], pr.capabilities(AMX)["int8"]) == ("AMX-BF16", "AMX-INT8")
    assert pr.capabilities({"avx512_vnni", "avx2"})["int8"] == "AVX512-VNNI"
    assert pr.capabilities(set())["native"] == ["fp32"]
    assert "not bf16" in pr.capability_line(pr.capabilities(AVX2))


@pytest.mark.parametrize("precision, flags, runtime, words", [
    ("bf16", AVX2, "auto", "native bf16"),
    ("int8", set(), "auto", "integer SIMD"),
    ("int8", AMX, "eager", "onnxruntime or openvino"),
    ("bf16", AMX, "onnxruntime", "eager or compile or openvino"),
    ("fp16", AMX, "auto", "unknown precision"),
])
def test_refused_in_one_line(precision, flags, runtime, words):
    with pytest.raises(OptionError, match=words) as caught:
        pr.check_precision(precision, runtime, flags)
    assert "\n" not in str(caught.value)


def test_accepted_names():
    assert pr.check_precision("bfloat16", "auto", AMX) == "bf16"
    assert pr.check_precision("int8", "openvino", AVX2) == "int8"
    assert pr.check_precision("auto", "eager", set()) == "auto"


def test_guard_rule():
    # the rule fixed by the issue: >= 99% agreement and <= 0.5 point of top-1 lost
    assert pr.decide(99.0, 0.5)[0] and pr.decide(100.0, None)[0] and pr.decide(99.5, -1.0)[0]
    assert not pr.decide(98.99, 0.0)[0]
    assert not pr.decide(100.0, 0.51)[0]
    assert "below 99%" in pr.decide(98.0, 0.0)[1] and "more than 0.5" in pr.decide(99.9, 0.7)[1]
    guard = pr.Guard("int8", "onnxruntime", 100, 99.5, 0.1, top1_fp32=90.0, top1=89.0)
    assert guard.loss_points == pytest.approx(1.0) and not guard.passed
    assert guard.to_dict()["passed"] is False and "1.00 points" in guard.to_dict()["why"]


def test_cli_refuses_emulated_bf16_before_loading(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(pr, "cpu_flags", lambda: AVX2)
    monkeypatch.setattr(pr, "optimize", lambda *a, **k: pytest.fail("prepared before refusing"))
    code = main(["predict", "--model", "lenet5", "--precision", "bf16", str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "native bf16" in err[0]


def _lenet_and_data():
    torch.manual_seed(0)
    model = cnnzoo.create_model("lenet5_modern").eval()
    images = pr.sample_images(None, (1, 32, 32), 64)
    return model, images, torch.zeros(64, dtype=torch.long)


@pytest.mark.skipif("int8" not in pr.capabilities()["native"], reason="no int8 SIMD here")
def test_auto_falls_back_past_a_failing_guard_and_explicit_still_runs(monkeypatch):
    monkeypatch.setenv("CNNZOO_CACHE", "off")  # the stub's result must not be cached
    failing = pr.Guard("int8", "onnxruntime", 64, 90.0, 2.0, top1_fp32=80.0, top1=70.0)
    monkeypatch.setattr(pr, "measure_guard", lambda *a, **k: failing)
    model, images, labels = _lenet_and_data()
    held = pr.HeldOut(images, labels, "test images")
    auto = pr.optimize(model, "onnxruntime", precision="auto", batch=8, calibration=images, held_out=held)
    assert auto.precision == "fp32"
    assert any("int8 fails the guard" in n and "falling back" in n for n in auto.notes)
    explicit = pr.optimize(model, "onnxruntime", precision="int8", batch=8, calibration=images, held_out=held)
    assert explicit.precision == "int8" and explicit.guard is failing
    assert any("FAILS" in n and "top-1 70.00% vs fp32 80.00%" in n for n in explicit.notes)
    assert explicit(images[:4]).shape == (4, 10)


@pytest.mark.skipif("int8" not in pr.capabilities()["native"], reason="no int8 SIMD here")
def test_random_weights_say_the_guard_did_not_apply(monkeypatch):
    monkeypatch.setenv("CNNZOO_CACHE", "off")
    model, _, _ = _lenet_and_data()
    fast = pr.optimize(model, "onnxruntime", precision="int8", batch=8)
    assert fast.precision == "int8" and fast.guard is None
    assert any("did not apply" in n for n in fast.notes)
    assert any("embedded sample" in n for n in fast.notes)
    assert "did not apply" in pr.describe_choice(fast)["guard"]["int8"]


@pytest.mark.slow
@pytest.mark.skipif("int8" not in pr.capabilities()["native"], reason="no int8 SIMD here")
def test_trained_run_quantised_end_to_end(stopped_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path / "cache"))
    code = main(["eval", str(stopped_run), "--precision", "int8", "--format", "json",
                 "--out", str(tmp_path / "c.png"), "--threads", "1"])
    report = json.loads(capsys.readouterr().out)
    choice = report["precision"]
    assert code == 0 and choice["precision"] == "int8"
    assert choice["top1"] == report["top1"]
    assert choice["top1_lost_points"] == pytest.approx(choice["top1_fp32"] - choice["top1"])
    guard = choice["guard"]["int8"]
    assert guard["images"] == 1000 and guard["top1"] is not None
    assert guard["passed"] == (guard["agreement"] >= 99.0 and guard["loss_points"] <= 0.5)
    assert any("300 training images" in n for n in choice["notes"])
    # the int8 ONNX file, with its quantisation parameters and the guard in its metadata
    from cnnzoo.export.exporter import export, read_metadata

    result = export(stopped_run, out=tmp_path / "l5.onnx", precision="int8")
    meta = read_metadata(result.path)["precision"]
    assert meta["precision"] == "int8" and meta["guard"]["images"] == 1000
    import onnx

    graph = onnx.load(result.path).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    # the classifier stays in float: quantised logits would tie, and argmax would break the ties
    last = next(n for n in graph.node if graph.output[0].name in n.output)
    assert last.op_type == "Gemm"


def test_fp32_fast_eval_reports_its_top1_in_the_precision_block(stopped_run, tmp_path, capsys, monkeypatch):
    """Every precision's block names the top-1 it scored; only a lower precision is compared
    with fp32 (fp32 has nothing to lose against itself)."""
    monkeypatch.setenv("CNNZOO_CACHE", "off")
    code = main(["eval", str(stopped_run), "--runtime", "onnxruntime", "--precision", "fp32",
                 "--format", "json", "--out", str(tmp_path / "c.png"), "--threads", "1"])
    report = json.loads(capsys.readouterr().out)
    choice = report["precision"]
    assert code == 0 and choice["precision"] == "fp32"
    assert choice["top1"] == report["top1"]
    assert "top1_lost_points" not in choice
