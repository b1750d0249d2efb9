"""Hostile inputs lose nothing and every refusal is one line (issue #11): the classes a hostile
audit found after the first round, one test each (A..T in the audit's letters)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import cnnzoo
from cnnzoo.errors import CheckpointError, CnnzooError, DataError, OptionError
from cnnzoo.inference import checkpoint as reader
from cnnzoo.train import checkpoint as ckpt
from cnnzoo.train.loop import train
from run_cases import FAST, cli, reseal


def refused(r: subprocess.CompletedProcess, *words: str, code: int = 1) -> str:
    assert r.returncode == code, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = [ln for ln in r.stderr.splitlines() if ln and not ln.startswith("cnnzoo: warning")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text and "\n" not in text, text
    return text


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.name != ".lock"}








# --- A: a file write never replaces a device, FIFO, symlink or folder -----------------------
def test_writes_refuse_fifos_symlinks_and_folders(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, kind in ((fifo, "FIFO"), (link, "symbolic link"), (folder, "folder")):
        with pytest.raises(CnnzooError) as e:
            ckpt.atomic_bytes(path, b"data")
        assert kind in one_line(e.value) and str(path) in str(e.value)
    assert fifo.is_fifo() and link.is_symlink() and target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder", "link.png", "target.txt"]


def test_eval_out_refuses_a_fifo_and_a_symlink(run, tmp_path):
    fifo = tmp_path / "c.png"
    os.mkfifo(fifo)
    refused(cli("eval", str(run), "--out", str(fifo)), "FIFO")
    assert fifo.is_fifo()
    target = tmp_path / "t.png"
    target.write_bytes(b"keep")
    link = tmp_path / "l.png"
    link.symlink_to(target)
    refused(cli("eval", str(run), "--out", str(link)), "symbolic link")
    assert link.is_symlink() and target.read_bytes() == b"keep"


# --- R: a refused plot write speaks of the plot, not of checkpoints -----------------------------
def test_eval_out_folder_is_refused_with_a_message_for_the_plot(run, tmp_path):
    line = refused(cli("eval", str(run), "--out", str(tmp_path)), "folder")
    assert "resume" not in line and "checkpoint is intact" not in line
    with pytest.raises(CnnzooError) as e:
        ckpt.atomic_bytes(tmp_path / "missing" / "x.png", b"x")
    assert "resume" not in one_line(e.value)


# --- B: optimizer hyper-parameters in state.json must be the config's -------------------------
@pytest.mark.parametrize("field,value", [("maximize", True), ("momentum", 5.0),
                                         ("weight_decay", -1.0), ("nesterov", True),
                                         ("dampening", 0.5)])
def test_edited_optimizer_hyperparameters_are_refused(run, field, value):
    path = run / "checkpoints" / "last" / "state.json"
    state = json.loads(path.read_text())
    state["optimizer"]["param_groups"][0][field] = value
    path.write_text(json.dumps(state))
    reseal(path.parent)  # past the checksums: the check of the values refuses it
    before = listing(run)
    with pytest.raises(CheckpointError) as e:
        train(resume=str(run), quiet=True, progress=False)
    assert "state.json" in one_line(e.value) and field in str(e.value)
    assert listing(run) == before


# --- C: a folder with only epoch-NNNN checkpoints is a run, never empty ------------------------
def test_epoch_checkpoint_without_last_is_never_overwritten(run):
    shutil.rmtree(run / "checkpoints" / "last")
    epoch1 = run / "checkpoints" / "epoch-0001"
    assert (epoch1 / "model.safetensors").is_file()
    before = listing(run)
    with pytest.raises(CnnzooError) as e:
        train("lenet5_modern", out=str(run), epochs=2, **FAST)
    assert "--resume" in one_line(e.value)
    with pytest.raises(CnnzooError) as e:  # extended: another run's settings, refused
        train(resume=str(run), epochs=3, quiet=True, progress=False)
    assert "epoch-0001" in one_line(e.value)
    assert listing(run) == before
    # with its own config.json, --resume starts the same run again: epoch 1 comes out the same
    saved = load_file(str(epoch1 / "model.safetensors"))
    train(resume=str(run), quiet=True, progress=False)
    again = load_file(str(epoch1 / "model.safetensors"))
    assert all(torch.equal(saved[k], again[k]) for k in saved)
    assert reader.load_model(run)[1]["epoch"] == 2


# --- Q: a reader during a checkpoint swap gets one whole checkpoint, always ----------------------
def test_reader_during_checkpoint_swaps_never_mixes_two_checkpoints(tmp_path):
    last = tmp_path / "checkpoints" / "last"
    base = {"model": "lenet5", "model_options": {}, "num_classes": 10, "in_channels": 1}
    versions = [{"w": torch.full((64,), float(i))} for i in range(2)]
    ckpt.write_checkpoint(last, versions[0], dict(base, epoch=0))
    stop = threading.Event()
    writes = [0]

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            ckpt.write_checkpoint(last, versions[i % 2], dict(base, epoch=i % 2))
            writes[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    errors, reads = [], 0
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                _, meta, weights = reader.read_checkpoint(tmp_path)
                assert float(weights["w"][0]) == meta["epoch"]  # meta and weights of one write
            except CheckpointError as e:
                errors.append(str(e))
            reads += 1
    finally:
        stop.set()
        thread.join()
    assert reads > 50 and writes[0] > 50
    assert errors == [], f"{len(errors)} of {reads} reads failed: {errors[:3]}"


# --- D/E: a state.safetensors missing a buffer or an RNG state is refused ----------------------
def _drop_state_tensor(run: Path, name: str) -> None:
    last = run / "checkpoints" / "last"
    tensors = load_file(str(last / "state.safetensors"))
    assert name in tensors, sorted(tensors)
    del tensors[name]
    (last / "state.safetensors").write_bytes(ckpt.tensor_bytes(tensors))
    reseal(last)  # the hashes fixed up: only the set is wrong


@pytest.mark.parametrize("name", ["optimizer.0.momentum_buffer", "optimizer.3.momentum_buffer",
                                  "rng.cpu.rank0"])
def test_missing_state_tensors_are_refused(run, name):
    _drop_state_tensor(run, name)
    before = listing(run)
    with pytest.raises(CheckpointError) as e:
        train(resume=str(run), quiet=True, progress=False)
    assert name in one_line(e.value) and "state.safetensors" in str(e.value)
    assert listing(run) == before


# --- G, H: meta.json's class names and hashes --------------------------------------------------
@pytest.mark.parametrize("count", [9, 11])
def test_pipeline_class_names_must_match_num_classes(run, count):
    meta_path = run / "checkpoints" / "last" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["num_classes"] == 10
    meta["pipeline"]["classes"] = [f"c{i}" for i in range(count)]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as e:
        reader.load_model(run)
    assert "pipeline" in one_line(e.value) and str(count) in str(e.value)
    photo = run.parent / "x.png"
    from PIL import Image

    Image.new("L", (28, 28)).save(photo)
    refused(cli("predict", str(run), str(photo)), "pipeline")


def test_a_meta_json_stripped_of_its_hashes_is_refused(run):
    meta_path = run / "checkpoints" / "last" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = 1
    del meta["files"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as e:
        reader.load_model(run)
    assert "'version' is 1" in one_line(e.value) and "SHA-256" in str(e.value)


# --- F/O: figures are PNGs written at exactly the given path ----------------------------------
def test_visualize_out_is_exactly_the_png_given(tmp_path):
    folder = tmp_path / "figs"
    folder.mkdir()
    refused(cli("visualize", "filters", "--model", "lenet5", "--out", str(folder)), "folder")
    for name in ("noext", "f.pdf", "f.xyz"):
        refused(cli("visualize", "filters", "--model", "lenet5", "--out", str(tmp_path / name)),
                ".png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs"] and not list(folder.iterdir())
    out = tmp_path / "f.png"
    r = cli("visualize", "filters", "--model", "lenet5", "--out", str(out))
    assert r.returncode == 0 and r.stdout.strip() == f"wrote {out}", r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "figs"]


# --- T: eval reads a run it cannot write -------------------------------------------------------
def test_eval_on_an_unwritable_run_skips_the_png_with_a_note(run, monkeypatch):
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # root ignores chmod: pretend the folder is read-only
        if Path(path) == run and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    before = listing(run)
    r = cli("eval", str(run))
    assert r.returncode == 0, r.stderr
    assert "confusion matrix not written" in r.stdout and "--out" in r.stdout
    assert listing(run) == before
    r = cli("eval", str(run), "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["confusion_png"] is None
    assert "confusion matrix not written" in r.stderr
    assert listing(run) == before


# --- I, J: CLI flags that were silently dropped or read as "not given" -------------------------
def test_input_channels_must_match_the_data(tmp_path):
    out = tmp_path / "r"
    refused(cli("train", "lenet5", "--input", "5,32,32", "--epochs", "1", "--out", str(out)),
            "channel")
    assert not out.exists()


@pytest.mark.parametrize("argv", [["train", "lenet5", "--out", ""],
                                  ["train", "lenet5", "--data-dir", ""],
                                  ["train", "--resume", ""],
                                  ["eval", "x", "--out", ""],
                                  ["predict", "--model", "", "x.png"]])
def test_empty_text_flags_are_refused(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(cli(*argv), "empty", code=2)
    assert list(tmp_path.iterdir()) == []


# --- K, S: image files -------------------------------------------------------------------------
def test_float_images_with_nan_pixels_are_refused(tmp_path):
    from PIL import Image

    from cnnzoo.data.images import decode_image

    a = np.full((8, 8), 0.5, dtype=np.float32)
    a[2, 3] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(a, mode="F").save(path)
    with pytest.raises(DataError) as e:
        decode_image(path)
    assert "NaN" in one_line(e.value) and "nan.tif" in str(e.value)


def test_image_refusals_say_what_is_wrong(tmp_path):
    from PIL import Image

    from cnnzoo.data.images import decode_image

    wide = tmp_path / "wide.png"
    Image.new("L", (65536, 1)).save(wide)
    with pytest.raises(DataError) as e:
        decode_image(wide)
    assert "65,535" in one_line(e.value) and "0 megapixels" not in str(e.value)
    with pytest.raises(DataError) as e:
        decode_image(tmp_path)
    assert "folder" in one_line(e.value) and "no such file" not in str(e.value)


# --- L/P: the Python API raises CnnzooError lines, never TypeError/AttributeError ---------------
@pytest.mark.parametrize("call", [
    lambda: cnnzoo.train("lenet5", stop_after=0, **FAST),
    lambda: cnnzoo.train("lenet5", stop_after=-1, **FAST),
    lambda: cnnzoo.train("lenet5", bogus=1),
    lambda: cnnzoo.train("lenet5", out="", **FAST),
    lambda: cnnzoo.train(resume=5),
    lambda: cnnzoo.summary(None),
    lambda: cnnzoo.load_checkpoint(None),
    lambda: cnnzoo.load_checkpoint(5),
], ids=["stop_after=0", "stop_after=-1", "bogus", "out=''", "resume=5", "summary(None)",
        "load(None)", "load(5)"])
def test_public_api_refuses_with_cnnzoo_errors(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CnnzooError) as e:
        call()
    one_line(e.value)
    assert not isinstance(e.value, TypeError)
    assert list(tmp_path.iterdir()) == []  # refused before any run folder exists


def test_unknown_train_option_names_the_close_match():
    with pytest.raises(OptionError) as e:
        cnnzoo.train("lenet5", epoch=1)
    assert "epochs" in one_line(e.value)
