"""The training engine end to end on the embedded Fashion-MNIST sample (real images): run
folders, exact resume after Ctrl-C / SIGKILL / a stop, NaN stop, DDP parity, eval and predict."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from cnnzoo.errors import CheckpointError
from cnnzoo.inference.checkpoint import epoch_checkpoints, load_model
from cnnzoo.limits import MAX_LR
from cnnzoo.train.loop import TrainingDiverged, train
from run_cases import reseal

FAST = dict(dataset="sample", epochs=3, batch_size=256, quiet=True, progress=False)
CLI = [sys.executable, "-m", "cnnzoo"]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / "last" / "model.safetensors"))


def assert_identical(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"weights differ after resume: {different}"


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted 3-epoch run of lenet5_modern on the sample."""
    out = tmp_path_factory.mktemp("runs") / "reference"
    train("lenet5_modern", out=str(out), **FAST)
    return out


def test_run_folder_holds_everything(reference_run):
    for name in ("config.json", "metrics.csv", "results.json", "curves.png"):
        assert (reference_run / name).is_file(), name
    results = json.loads((reference_run / "results.json").read_text())
    assert {"top1", "top5", "loss", "images_per_s", "wall_time_s"} <= results.keys()
    assert results["top1"] > 50  # 3 epochs on 5,000 real images: well above chance (10%)
    rows = (reference_run / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3
    assert [e for e, _ in epoch_checkpoints(reference_run)] == [1, 2, 3]
    model, meta = load_model(reference_run)
    assert meta["model"] == "lenet5_modern" and meta["dataset"] == "sample"
    assert len(meta["classes"]) == 10 and meta["normalization"]["size"] == [32, 32]
    assert not model.training


def test_resume_after_a_stop_is_bit_identical(reference_run, tmp_path):
    out = tmp_path / "stopped"
    train("lenet5_modern", out=str(out), stop_after=1, **FAST)
    assert [e for e, _ in epoch_checkpoints(out)] == [1]
    train(resume=str(out), quiet=True, progress=False)
    assert_identical(reference_run, out)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def _start(out: Path) -> subprocess.Popen:
    return subprocess.Popen(CLI + ["train", "lenet5_modern", "--epochs", "3", "--batch-size", "256",
                                   "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_saves_and_resume_is_bit_identical(reference_run, tmp_path):
    out = tmp_path / "interrupted"
    proc = _start(out)
    _wait_for(out / "checkpoints" / "epoch-0001", proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.fail("the run finished before Ctrl-C arrived; the test could not interrupt it")
    assert proc.returncode == 130, stderr
    assert "--resume" in stdout + stderr and "Traceback" not in stderr
    resumed = subprocess.run(CLI + ["train", "--resume", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_identical(reference_run, out)


def test_sigkill_then_resume_is_bit_identical(reference_run, tmp_path):
    out = tmp_path / "killed"
    proc = _start(out)
    _wait_for(out / "checkpoints" / "last", proc)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "checkpoints" / "epoch-0003").exists()
    resumed = subprocess.run(CLI + ["train", "--resume", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_identical(reference_run, out)


def test_nan_loss_stops_naming_the_step_and_keeps_last_good_checkpoint(tmp_path):
    out = tmp_path / "diverging"
    train("lenet5_modern", out=str(out), stop_after=1, schedule="constant", warmup_epochs=0.0, **FAST)
    good = weights(out)
    config = json.loads((out / "config.json").read_text())
    config["lr"] = MAX_LR  # the largest learning rate cnnzoo accepts: the next epoch blows up
    (out / "config.json").write_text(json.dumps(config))
    last = out / "checkpoints" / "last"  # an edited config.json is refused: edit the run's record too
    meta = json.loads((last / "meta.json").read_text())
    (last / "meta.json").write_text(json.dumps({**meta, "config": config}))
    reseal(last)
    with pytest.raises(TrainingDiverged, match=r"(nan|inf).*step"):
        train(resume=str(out), quiet=True, progress=False)
    after = weights(out)
    assert all(torch.equal(good[k], after[k]) for k in good)
    assert all(torch.isfinite(v).all() for v in after.values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_one_process(tmp_path):
    args = ["train", "lenet5_modern", "--epochs", "1", "--batch-size", "128", "--no-augment",
            "--device", "cpu"]
    single = subprocess.run(CLI + args + ["--out", str(tmp_path / "one")], capture_output=True,
                            text=True)
    assert single.returncode == 0, single.stderr
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                          f"--master_port={_free_port()}", "-m", "cnnzoo"] + args
                         + ["--out", str(tmp_path / "two")], capture_output=True, text=True, env=env,
                         timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5)


def test_eval_and_predict_cli(reference_run, tmp_path):
    result = subprocess.run(CLI + ["eval", str(reference_run), "--json"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 1000 and len(report["per_class"]) == 10
    assert 0 < report["top1"] <= report["top5"] <= 100
    assert Path(report["confusion_png"]).is_file()
    stated = json.loads((reference_run / "results.json").read_text())["top1"]
    assert report["top1"] == pytest.approx(stated, abs=1e-6)  # same data, same normalisation

    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((300, 200, 4)) * 255).astype("uint8"),
                    "RGBA").save(photo)
    grey = tmp_path / "grey.jpg"
    Image.fromarray((np.random.default_rng(1).random((50, 70)) * 255).astype("uint8"), "L").save(grey)
    result = subprocess.run(CLI + ["predict", str(reference_run), str(photo), str(grey), "--top", "3",
                                   "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)
    assert [len(p["top"]) for p in predictions] == [3, 3]
    for p in predictions:
        probs = [t["probability"] for t in p["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert all(t["class"] in ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                  "Shirt", "Sneaker", "Bag", "Ankle boot") for t in p["top"])


def test_checkpoint_errors_are_one_line(reference_run, tmp_path):
    with pytest.raises(CheckpointError, match="not 'alexnet'"):
        load_model(reference_run, expect_model="alexnet")
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    import shutil
    shutil.copytree(reference_run / "checkpoints" / "last", broken / "checkpoints" / "last")
    (broken / "checkpoints" / "last" / "model.safetensors").write_bytes(b"not safetensors")
    result = subprocess.run(CLI + ["eval", str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, words", [
    (["train", "lenet7"], "unknown model 'lenet7'"),
    (["train", "lenet5", "--dataset", "cifar11"], "unknown data set 'cifar11'"),
    (["train", "lenet5", "--optimizer", "adam"], "invalid choice"),
    (["train", "lenet5", "--epochs", "0"], "must be at least 1"),
    (["train", "alexnet", "--input", "100"], "alexnet takes only 227x227"),
    (["train", "--resume", "/nonexistent/run"], "not a run folder"),
    (["train", "--resume", "/nonexistent/run", "--lr", "0.1"], "not a run folder"),
    (["eval", "/nonexistent/run"], "/nonexistent/run"),
    (["predict", "/nonexistent/run", "x.png"], "/nonexistent/run"),
])
def test_cli_errors_are_one_line(args, words):
    result = subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_imagefolder_of_any_size_trains_at_the_models_input(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k, cls in enumerate(("red", "blue")):
            (tmp_path / "data" / split / cls).mkdir(parents=True)
            for i in range(8):
                arr = (rng.random((40 + 3 * i, 60, 3)) * 80).astype("uint8")
                arr[..., 2 * k] = 255
                Image.fromarray(arr).save(tmp_path / "data" / split / cls / f"{i}.png")
    out = tmp_path / "run"
    train("resnet20", dataset="imagefolder", data_dir=str(tmp_path / "data"), out=str(out),
          epochs=1, batch_size=8, quiet=True, progress=False)
    _, meta = load_model(out)
    assert meta["classes"] == ["blue", "red"] and meta["image_shape"] == [3, 32, 32]
    assert meta["normalization"]["size"] == [32, 32]
