"""cnnzoo claims --device: the models run on the chosen device, the batches are drawn on the CPU.
On the CPU, `--device cpu` gives the same `measured` as the default, bit for bit; `--device cuda`
without CUDA is refused in one line before anything runs."""
from __future__ import annotations

import json

import pytest
import torch

from cnnzoo.claims import common, get_claim, run_claim
from cnnzoo.errors import CnnzooError

FAST = ["nonlinearity", "dataset-size", "googlenet-params"]


@pytest.fixture(autouse=True)
def default_device():
    yield
    common.use_device("cpu")  # the process-wide default, for the tests after these


def test_device_cpu_gives_the_defaults_measured_values():
    default = [run_claim(get_claim(i), "tiny") for i in FAST]
    common.use_device("cpu")
    chosen = [run_claim(get_claim(i), "tiny") for i in FAST]
    for a, b in zip(default, chosen):
        assert json.dumps(a.measured.values) == json.dumps(b.measured.values), a.claim.id


def test_fit_runs_the_model_on_the_chosen_device_with_cpu_batches(monkeypatch):
    seen = []
    real = common.on_device

    def spy(*tensors):
        moved = real(*tensors)
        seen.append([t.device.type for t in moved])
        return moved

    monkeypatch.setattr(common, "on_device", spy)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    common.fit(model, torch.randn(8, 1, 2, 2), torch.arange(8) % 3, steps=3, batch=4)
    assert seen == [["cpu", "cpu"]] * 3  # every batch goes through on_device


def test_device_cuda_without_cuda_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    from cnnzoo.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CnnzooError, match="no CUDA GPU"):
        common.use_device("cuda")
    assert common.device().type == "cpu"
    from cnnzoo.claims import report
    monkeypatch.setattr(report, "run_claim", lambda *a, **k: pytest.fail("ran without the device"))
    assert main(["claims", "--only", "10", "--device", "cuda", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
