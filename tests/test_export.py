"""Export: every registered model to ONNX and to a torch.export program, read back and run against
the eager outputs (the heavy ImageNet networks in the slow run), and the file's metadata."""
from __future__ import annotations

import copy
import json

import pytest
import torch

import cnnzoo
from cnnzoo.errors import CnnzooError, OptionError
from cnnzoo.export.exporter import NOISE_FACTOR, RELATIVE_LIMIT, export, read_metadata
from cnnzoo.export.fold import calibrate_batchnorm

pytest.importorskip("onnxruntime")

# Small enough for the default suite: LeNet-5 (partial C3, RBF output) and the CIFAR ResNets
# (shortcut A's zero padding); everything else (LRN, GoogLeNet's aux heads) in the slow run.
FAST = {"lenet5", "lenet5_modern", "resnet20", "plain20"}
CASES = [pytest.param(name, fmt, marks=() if name in FAST else pytest.mark.slow)
         for name in cnnzoo.list_models() for fmt in ("onnx", "pt2")]


def test_every_registered_model_is_a_case():
    assert len(cnnzoo.list_models()) == 36
    assert {c.values[0] for c in CASES} == set(cnnzoo.list_models())


def _calibrated(model: torch.nn.Module, size) -> torch.nn.Module:
    """The network as built, in eval mode, unless its output is not finite: a fresh resnet1202 with
    unit running variances overflows to inf (inf is no output to compare), so it gets BatchNorm
    statistics measured on one random batch. Not every network: with measured statistics a deep
    plain net is chaotic (calibrated plain110's own float32 output is 5-36% of its scale from its
    float64 result, 7 seeds), so no float32 comparison could tell a right export from a wrong one,
    while the fresh one is within 1e-7."""
    model.eval()
    with torch.no_grad():
        finite = bool(torch.isfinite(model(torch.randn(2, *size))).all())
    if not finite:
        calibrate_batchnorm(model, torch.randn(4, *size))
    return model


@pytest.mark.parametrize("name,fmt", CASES)
def test_export_reproduces_eager(name, fmt, tmp_path):
    out = tmp_path / f"{name}.{fmt}"
    model = _calibrated(cnnzoo.create_model(name), cnnzoo.model_info(name).input_size)
    result = export(model, fmt, out)
    assert out.is_file() and result.bytes == out.stat().st_size
    # checked at the export batch and, the batch being dynamic, at another one
    assert sorted(c["batch"] for c in result.checks) == [2, 3]
    assert all(c["max_abs_diff"] <= c["limit"] for c in result.checks)
    for c in result.checks:  # a wider limit only ever comes from eager's own float32 error
        by_scale = c["by"] == "the output's scale"
        assert c["relative"] <= RELATIVE_LIMIT if by_scale else c["limit"] == NOISE_FACTOR * c["eager_error"]
    assert "max |diff|" in result.report()
    # independently of export()'s own check: run the file on a fresh input of batch 5
    x = torch.randn(5, *cnnzoo.model_info(name).input_size)
    with torch.no_grad():
        expected = model(x)
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
    else:
        got = torch.export.load(str(out)).module()(x)
    with torch.no_grad():
        eager_error = (expected.double() - copy.deepcopy(model).double()(x.double())).abs().max()
    assert (got - expected).abs().max() <= max(RELATIVE_LIMIT * expected.abs().max(), NOISE_FACTOR * eager_error)


def test_a_network_without_finite_output_is_refused(tmp_path):
    model = cnnzoo.create_model("lenet5")
    with torch.no_grad():
        next(model.parameters()).fill_(float("inf"))
    out = tmp_path / "x.onnx"
    with pytest.raises(CnnzooError, match="not finite"):
        export(model, "onnx", out)
    assert not out.exists()


@pytest.mark.slow
def test_an_overflowing_random_network_gets_measured_statistics(tmp_path):
    # a fresh resnet1202 built from its name overflows to inf in eval mode (unit running variances)
    result = export("resnet1202", "onnx", tmp_path / "r.onnx")
    assert "16 images" in result.metadata["batchnorm_statistics"]
    assert read_metadata(tmp_path / "r.onnx")["batchnorm_statistics"] == result.metadata["batchnorm_statistics"]
    assert "BatchNorm statistics" in result.report()


def test_unwritable_out_is_one_line(tmp_path, monkeypatch):
    import os

    from cnnzoo import io as safe_io

    (tmp_path / "img.png").write_bytes(b"x")
    with pytest.raises(OptionError, match="not a folder"):
        export("lenet5", "onnx", tmp_path / "img.png" / "x.onnx")
    folder = tmp_path / "out"
    folder.mkdir()
    os.mkfifo(folder / "pipe.onnx")
    with pytest.raises(OptionError, match="not a regular file"):
        export("lenet5", "onnx", folder / "pipe.onnx")

    def no_permission(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(safe_io.os, "replace", no_permission)  # the one write path (cnnzoo.io)
    with pytest.raises(CnnzooError, match="write .*Permission denied"):
        export("lenet5", "onnx", folder / "x.onnx")
    assert sorted(p.name for p in folder.iterdir()) == ["pipe.onnx"]  # no temporary file left


def test_lenet_rbf_output_exports(tmp_path):
    options = {"head": "rbf"}
    result = export("lenet5", "onnx", tmp_path / "rbf.onnx", options=options)
    assert result.metadata["options"] == options


def test_fixed_batch_and_opset(tmp_path):
    import onnx

    result = export("resnet20", "onnx", tmp_path / "b4.onnx", batch="4", opset=18)
    assert [c["batch"] for c in result.checks] == [4]
    proto = onnx.load(str(tmp_path / "b4.onnx"))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert any(o.version == 18 for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def test_run_folder_carries_its_pipeline(tmp_path):
    from cnnzoo.inference.pipeline import InputPipeline
    from cnnzoo.train.checkpoint import write_checkpoint

    model = cnnzoo.create_model("lenet5")
    pipeline = InputPipeline(1, (32, 32), (28, 28), "pad", (0.2860,), (0.3530,), "standardize",
                             tuple(f"c{i}" for i in range(10)))
    folder = tmp_path / "run" / "checkpoints" / "last"
    meta = {"model": "lenet5", "model_options": {}, "num_classes": 10, "in_channels": 1,
            "dataset": "fashion-mnist", "pipeline": pipeline.to_meta(), "epoch": 1}
    write_checkpoint(folder, model.state_dict(), meta)
    for fmt in ("onnx", "pt2"):
        out = tmp_path / f"run.{fmt}"
        export(tmp_path / "run", fmt, out)
        meta = read_metadata(out)
        assert meta["weights"] == "trained" and meta["model"] == "lenet5"
        assert meta["pipeline"]["mean"] == [0.2860] and meta["pipeline"]["std"] == [0.3530]
        assert meta["pipeline"]["fit"] == "pad" and meta["pipeline"]["size"] == [32, 32]
        assert meta["pipeline"]["classes"] == [f"c{i}" for i in range(10)]
        json.dumps(meta)


def test_bad_arguments_are_one_line(tmp_path):
    with pytest.raises(OptionError, match="format"):
        export("lenet5", "tflite", tmp_path / "x")
    with pytest.raises(OptionError, match="--batch"):
        export("lenet5", "onnx", tmp_path / "x.onnx", batch="0")
    with pytest.raises(OptionError, match="--batch"):
        export("lenet5", "onnx", tmp_path / "x.onnx", batch="many")
    with pytest.raises(OptionError, match="--opset"):
        export("lenet5", "pt2", tmp_path / "x.pt2", opset=18)
    with pytest.raises(OptionError, match="folder"):
        export("lenet5", "onnx", tmp_path)
    with pytest.raises(CnnzooError, match="lenet5"):
        export("lenet", "onnx", tmp_path / "x.onnx")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_failed_check_writes_nothing(tmp_path, monkeypatch):
    from cnnzoo.export import exporter

    real = exporter.onnx_bytes

    def wrong_weights(model, example, **kwargs):  # an exporter bug: the file holds other numbers
        model = copy.deepcopy(model)
        with torch.no_grad():
            next(model.parameters()).add_(0.5)
        return real(model, example, **kwargs)

    monkeypatch.setattr(exporter, "onnx_bytes", wrong_weights)
    out = tmp_path / "x.onnx"
    out.write_bytes(b"old")
    with pytest.raises(exporter.ExportCheckError, match="exceeds"):
        export("lenet5", "onnx", out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.onnx"]


def test_cli_export(tmp_path, capsys):
    from cnnzoo.cli import main

    out = tmp_path / "r.pt2"
    assert main(["export", "resnet20", "--format", "pt2", "--out", str(out)]) == 0
    assert "max |diff|" in capsys.readouterr().out and out.is_file()
    try:  # refused while parsing (exit 2) or while running (exit 1): either way one line
        code = main(["export", "resnet20", "--batch", "-3", "--out", str(tmp_path / "y.onnx")])
    except SystemExit as e:
        code = e.code
    assert code not in (0, None)
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "y.onnx").exists()
