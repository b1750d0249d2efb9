"""No cnnzoo JSON file holds NaN or Infinity (not JSON): io.write_json refuses them, and a writer
that must record a non-finite measurement writes null and says what it was (io.finite)."""
from __future__ import annotations

import json
import math

import pytest

from cnnzoo import io
from cnnzoo.claims import get_claim
from cnnzoo.claims.base import Measured, Verdict
from cnnzoo.claims.report import ClaimResult, read_results, write_report


def strict_load(text: str):
    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_write_json_refuses_non_finite(tmp_path, bad):
    with pytest.raises(ValueError):
        io.write_json(tmp_path / "x.json", {"a": [1.0, bad]})
    assert not (tmp_path / "x.json").exists()


def test_finite_replaces_and_lists_non_finite():
    clean, found = io.finite({"a": 1.5, "b": [math.nan, 2], "c": {"d": -math.inf}, "e": None})
    assert clean == {"a": 1.5, "b": [None, 2], "c": {"d": None}, "e": None}
    assert found == {"b[0]": "nan", "c.d": "-inf"}
    assert io.finite({"x": 1}) == ({"x": 1}, {})


def test_claims_json_records_a_non_finite_measurement_as_null(tmp_path):
    claim = get_claim("googlenet-params")
    values = {"googlenet_params": 7e6, "alexnet_params": 6.1e7, "ratio": 8.7, "overflow": math.nan,
              "deep_reach_plain": {"plain twin of resnet1202": math.inf}}
    measured = Measured(values=values, units={}, method="hand-made", seeds=[0])
    verdict = Verdict("holds", "hand-made")
    result = ClaimResult(claim, measured, verdict, 1.0, "tiny")
    write_report([result], tmp_path)
    doc = strict_load((tmp_path / "claims.json").read_text())
    entry = next(c for c in doc["claims"] if c["id"] == "googlenet-params")
    assert entry["measured"]["overflow"]["value"] is None
    assert entry["not_finite"] == {"measured.overflow.value": "nan",
                                   "measured.deep_reach_plain.value.plain twin of resnet1202": "inf"}
    assert read_results(tmp_path)[0].measured.values["overflow"] is None  # and it reads back


def test_residual_judge_reads_a_non_finite_deep_gradient_as_null():
    v = dict(train_error_plain20=20.1, train_error_plain56=74.8, train_error_resnet20=13.0,
             train_error_resnet56=18.6, seeds=2, tolerance=1.0, first_grad_plain56=350.0,
             first_grad_resnet56=2.6, deep_reach={"resnet152": 0.3, "resnet1202": 0.05},
             deep_reach_plain={"plain twin of resnet152": 1e-3, "plain twin of resnet1202": None},
             deep_reach_not_finite={"plain twin of resnet1202": "nan: overflowed: activations not finite"},
             **{f"train_error_std_{n}": 4.45 for n in ("plain20", "plain56", "resnet20", "resnet56")})
    p = next(p for p in get_claim("residual").judge(v).parts if p.part == "152 layers train")
    assert "plain twin of resnet1202 not finite (nan: overflowed" in p.reason
    v["deep_reach"] = {"resnet152": 0.3, "resnet1202": None}  # a residual net overflowing fails the part
    p = next(p for p in get_claim("residual").judge(v).parts if p.part == "152 layers train")
    assert p.verdict == "does not hold"


# --- every other JSON writer makes a non-finite number explicit (null + not_finite) or refuses --
def test_explicit_says_where():
    assert io.explicit({"loss": math.nan, "top1": 50.0}) == {"loss": None, "top1": 50.0,
                                                            "not_finite": {"loss": "nan"}}
    assert io.explicit([1.0, math.inf]) == [1.0, None]
    assert strict_load(io.json_text({"t": [math.inf]})) == {"t": [None], "not_finite": {"t[0]": "inf"}}


def test_evaluation_report_json_is_strict():
    from cnnzoo.inference.report import EvalReport, report_json

    result = {"model": "lenet5", "top1": 10.0, "top5": 50.0, "loss": math.nan}
    for text in (EvalReport(result).to_json(), report_json(result)):
        doc = strict_load(text)
        assert doc["loss"] is None and doc["not_finite"] == {"loss": "nan"} and doc["top1"] == 10.0


def test_bench_json_is_strict():
    from cnnzoo.export.bench import to_json

    doc = strict_load(to_json({"model": "lenet5", "speedup": math.inf, "images_per_s": 10.0}))
    assert doc["speedup"] is None and doc["not_finite"] == {"speedup": "inf"}


def test_fast_path_cache_records_are_strict(tmp_path, monkeypatch):
    from cnnzoo.export import cache, precision

    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path))
    cache.write_choice("choice-x", "onnxruntime", {"onnxruntime": 0.01, "openvino": math.inf})
    written = cache.path("choice-x")
    assert written is not None and written.is_file()
    doc = strict_load(written.read_text())
    assert doc["median_seconds"] == {"onnxruntime": 0.01, "openvino": None}
    assert doc["not_finite"] == {"median_seconds.openvino": "inf"}
    assert cache.read_choice("choice-x")["runtime"] == "onnxruntime"
    bad = precision.Guard("bf16", "onnxruntime", 8, 100.0, math.nan)
    assert precision._store("k1", bad) is bad and cache.read_bytes("k1-guard.json") is None  # not cached
    good = precision.Guard("bf16", "onnxruntime", 8, 100.0, 0.01)
    precision._store("k2", good)
    assert strict_load(cache.read_bytes("k2-guard.json").decode())["max_abs_diff"] == 0.01


def test_checkpoint_meta_is_strict(tmp_path):
    import torch

    import cnnzoo
    from cnnzoo.inference.checkpoint import load_model, read_meta
    from cnnzoo.inference.pipeline import InputPipeline
    from cnnzoo.train.checkpoint import write_checkpoint

    pipeline = InputPipeline(1, (32, 32), (28, 28), "pad", (0.2860,), (0.3530,), "standardize",
                             tuple(f"c{i}" for i in range(10)))
    meta = {"model": "lenet5", "model_options": {}, "num_classes": 10, "in_channels": 1, "dataset": "sample",
            "pipeline": pipeline.to_meta(), "epoch": 1, "metrics": {"test_loss": math.inf, "top1": 10.0}}
    torch.manual_seed(0)
    folder = write_checkpoint(tmp_path / "ck", cnnzoo.create_model("lenet5").state_dict(), meta)
    doc = strict_load((folder / "meta.json").read_text())
    assert doc["metrics"] == {"test_loss": None, "top1": 10.0}
    assert doc["not_finite"] == {"metrics.test_loss": "inf"}
    assert read_meta(folder)["metrics"]["test_loss"] is None  # it reads back,
    load_model(folder)  # and its seal (computed from the same strict form) verifies
