"""Issue 17: outputs never overwrite inputs, nothing is read without its checksum (meta.json,
config.json, state.json sealed by the weights file), and the smaller refusals it lists. Each
test reproduces a probe of the hostile audit; each fails with its fix reverted."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from safetensors.torch import load_file

from cnnzoo.errors import CheckpointError, CnnzooError
from cnnzoo.inference import checkpoint as reader
from cnnzoo.train import checkpoint as ckpt
from cnnzoo.train.loop import train
from run_cases import FAST, cli


def refused(r: subprocess.CompletedProcess, *words: str) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln and not ln.startswith("cnnzoo: warning")]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# --- outputs never overwrite inputs ------------------------------------------------------------
@pytest.mark.parametrize("command, target", [
    (("export",), "checkpoints/last/model.safetensors"),
    (("export",), "checkpoints/epoch-0001/new.onnx"),
    (("eval",), "checkpoints/last/confusion.png"),
    (("visualize", "filters"), "checkpoints/epoch-0001/filters.png"),
])
def test_an_output_inside_a_runs_checkpoints_is_refused(run, command, target):
    before = listing(run)
    refused(cli(*command, str(run), "--out", str(run / target)), "holds a run's checkpoints")
    assert listing(run) == before
    reader.load_model(run)  # still a sound run


def test_an_output_through_a_link_into_checkpoints_is_refused(run, tmp_path):
    (tmp_path / "alias").symlink_to(run / "checkpoints" / "last")
    before = listing(run)
    refused(cli("export", str(run), "--out", str(tmp_path / "alias" / "model.safetensors")),
            "holds a run's checkpoints")
    assert listing(run) == before


# --- meta.json is sealed by the weights file --------------------------------------------------
@pytest.mark.parametrize("field, change", [
    ("pipeline", lambda m: m["pipeline"].update(mean=[0.9])),
    ("epoch", lambda m: m.update(epoch=5)),
    ("metrics", lambda m: m["metrics"].update(test_top1=99.9)),
    ("dataset", lambda m: m.pop("dataset")),
    ("files", lambda m: m["files"].pop("state.json")),
])
def test_an_edited_meta_json_is_refused_naming_the_field(run, field, change):
    edit(run / "checkpoints" / "last" / "meta.json", change)
    with pytest.raises(CheckpointError, match=f"'{field}' (changed|removed)") as e:
        reader.load_model(run)
    assert "\n" not in str(e.value)
    refused(cli("predict", str(run), str(Path(__file__).parent.parent / "src" / "cnnzoo"
                                         / "examples" / "shirt.png")), field)


def test_a_downgraded_meta_json_is_refused(run):
    def downgrade(m):
        m["version"] = 1
        del m["files"]

    edit(run / "checkpoints" / "last" / "meta.json", downgrade)
    with pytest.raises(CheckpointError, match="'version' is 1"):
        reader.load_model(run)


def test_weights_without_the_seal_are_refused_for_a_version_3_meta(run):
    last = run / "checkpoints" / "last"
    data = ckpt.tensor_bytes(load_file(str(last / "model.safetensors")))  # no seal in the header
    (last / "model.safetensors").write_bytes(data)
    edit(last / "meta.json", lambda m: m["files"].update({"model.safetensors": reader.sha256(data)}))
    with pytest.raises(CheckpointError, match="records no SHA-256"):
        reader.load_model(run)


# --- config.json and state.json -----------------------------------------------------------------
@pytest.mark.parametrize("field, value", [("lr", 5.0), ("schedule", "constant"), ("seed", 7)])
def test_a_hand_edited_config_json_is_refused_on_resume(run, field, value):
    edit(run / "config.json", lambda c: c.update({field: value}))
    before = listing(run)
    with pytest.raises(CheckpointError, match=f"config.json differs .*{field}") as e:
        train(resume=str(run), epochs=3, quiet=True, progress=False)
    assert "\n" not in str(e.value) and listing(run) == before


def test_state_json_is_checked_against_its_checksum(run):
    edit(run / "checkpoints" / "last" / "state.json", lambda s: s.update(elapsed=1.0))
    with pytest.raises(CheckpointError, match="state.json is corrupt: its SHA-256"):
        train(resume=str(run), quiet=True, progress=False)


# --- a restart never overwrites epoch checkpoints of other settings ------------------------------
def test_a_restart_with_an_edited_config_keeps_the_epoch_checkpoints(run):
    shutil.rmtree(run / "checkpoints" / "last")
    edit(run / "config.json", lambda c: c.update(epochs=3))
    before = listing(run)
    with pytest.raises(CheckpointError, match="epochs is 3 here, 2 there") as e:
        train(resume=str(run), quiet=True, progress=False)
    assert "\n" not in str(e.value) and listing(run) == before


def test_an_epoch_checkpoint_of_other_settings_is_never_replaced(run):
    epoch1 = run / "checkpoints" / "epoch-0001"
    meta = reader.read_meta(epoch1)
    weights = load_file(str(epoch1 / "model.safetensors"))
    other = {**meta, "config": {**meta["config"], "lr": 0.5}}
    other.pop("files")
    before = listing(epoch1)
    with pytest.raises(CheckpointError, match="other settings wrote it .*lr"):
        ckpt.write_checkpoint(epoch1, weights, other)
    assert listing(epoch1) == before
    ckpt.write_checkpoint(epoch1, weights, {k: v for k, v in meta.items() if k != "files"})


def test_a_missing_last_with_epoch_checkpoints_says_so(run):
    shutil.rmtree(run / "checkpoints" / "last")
    with pytest.raises(CheckpointError, match="holds complete epoch checkpoints: give .*epoch-0001"):
        reader.load_model(run)


# --- the smaller refusals -----------------------------------------------------------------------
def test_summary_paper_refuses_the_flags_it_cannot_honour():
    refused(cli("summary", "lenet5", "--paper", "--input", "1,64,64"), "--input")
    refused(cli("summary", "lenet5", "--paper", "--depth", "1"), "--depth")


def test_tensorboard_where_a_file_is_in_the_way_leaves_nothing(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    out.mkdir()
    (out / "tensorboard").write_text("mine")
    with pytest.raises(CnnzooError, match="tensorboard .*not a folder") as e:
        train("lenet5_modern", out=str(out), epochs=1, tensorboard=True, **FAST)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in out.iterdir()) == ["tensorboard"]
    assert (out / "tensorboard").read_text() == "mine"


# --- the prepared-runtime cache: nothing used without its checksum -------------------------------
@pytest.mark.parametrize("runtime, suffix", [("onnxruntime", ".onnx"), ("openvino", ".bin")])
def test_a_cache_entry_from_another_model_or_edited_is_rebuilt_and_said(tmp_path, monkeypatch,
                                                                         capsys, runtime, suffix):
    import torch

    import cnnzoo
    from cnnzoo.export import installed_runtimes, optimize

    if runtime not in installed_runtimes():
        pytest.skip(f"{runtime} is not installed")
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path))
    cache = tmp_path / "fast"
    torch.manual_seed(0)
    mine = cnnzoo.create_model("lenet5_modern").eval()
    torch.manual_seed(1)
    other = cnnzoo.create_model("lenet5_modern").eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        expected = mine(x)
    optimize(mine, runtime)
    entry = max(cache.glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
    optimize(other, runtime)
    theirs = next(p for p in cache.glob(f"*{suffix}") if p != entry)
    for tamper in ("copy", "flip"):
        if tamper == "copy":  # another run's prepared file copied over this one's entry
            shutil.copyfile(theirs, entry)
        else:  # 1 KiB overwritten inside the file
            data = bytearray(entry.read_bytes())
            data[len(data) // 2:len(data) // 2 + 1024] = bytes(1024)
            entry.write_bytes(bytes(data))
        capsys.readouterr()
        with torch.no_grad():
            torch.testing.assert_close(optimize(mine, runtime)(x), expected, rtol=1e-4, atol=1e-4)
        assert "does not match its recorded SHA-256" in capsys.readouterr().err
        with torch.no_grad():  # rebuilt: used again, silently
            torch.testing.assert_close(optimize(mine, runtime)(x), expected, rtol=1e-4, atol=1e-4)
        assert "SHA-256" not in capsys.readouterr().err


def test_a_link_planted_in_the_cache_is_never_written_through(tmp_path, monkeypatch):
    import torch

    import cnnzoo
    from cnnzoo.export import cache as runtime_cache
    from cnnzoo.export import installed_runtimes, optimize

    if "onnxruntime" not in installed_runtimes():
        pytest.skip("onnxruntime is not installed")
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path / "c"))
    model = cnnzoo.create_model("lenet5_modern").eval()
    key = runtime_cache.model_key(model, (1, 32, 32), torch.float32, "onnxruntime")
    (tmp_path / "c" / "fast").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "c" / "fast" / f"{key}.onnx").symlink_to(victim)
    (tmp_path / "c" / "fast" / f"{key}.onnx.sha256.json").symlink_to(victim)
    optimize(model, "onnxruntime")
    assert victim.read_text() == "keep me"
    # the planted names were the very entry (nothing written beside them), left as they were
    assert all(p.is_symlink() for p in (tmp_path / "c" / "fast").glob("*.onnx*"))


# --- foreign weights: never another data set's class names --------------------------------------
def test_fine_tuned_weights_of_another_head_size_get_neutral_names(tmp_path, capsys):
    import hashlib

    import torch
    import torchvision

    from cnnzoo.inference.run import load_run

    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None, num_classes=10).eval()  # fine-tuned: 10 classes
    tmp = tmp_path / "tmp.pth"
    torch.save(tv.state_dict(), tmp)
    path = tmp_path / f"resnet18-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(path)
    run = load_run(model="resnet18", weights=path)
    assert "10 outputs" in capsys.readouterr().err
    assert [run.pipeline.class_name(k) for k in (0, 9)] == ["class 0", "class 9"]  # not "tench"
    run = load_run(model="resnet18", weights=_imagenet_head(tmp_path))
    assert run.pipeline.class_name(0) == "tench" and "outputs" not in capsys.readouterr().err


def _imagenet_head(folder: Path) -> Path:
    import hashlib

    import torch
    import torchvision

    tv = torchvision.models.resnet18(weights=None).eval()
    tmp = folder / "tmp.pth"
    torch.save(tv.state_dict(), tmp)
    path = folder / f"resnet18-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(path)
    return path


# --- bounded memory before allocating -------------------------------------------------------------
def test_export_and_bench_refuse_a_batch_that_cannot_fit(tmp_path, monkeypatch):
    from cnnzoo.errors import OptionError
    from cnnzoo.export import machine
    from cnnzoo.export.bench import bench
    from cnnzoo.export.exporter import export

    monkeypatch.setattr(machine, "available_memory", lambda: 2 << 30)  # a machine with 2 GiB free
    with pytest.raises(OptionError, match=r"batch 4096 needs about .* GiB .*at most \d+") as e:
        export("alexnet", "onnx", tmp_path / "a.onnx", batch=4096)
    assert "\n" not in str(e.value) and not list(tmp_path.iterdir())
    with pytest.raises(OptionError, match="needs about"):
        bench("alexnet", batch=4096, runtimes=["eager"])
    export("lenet5", "onnx", tmp_path / "l.onnx", batch=64)  # what fits is exported


# --- the lock and the report, end to end -----------------------------------------------------------
@pytest.mark.parametrize("dangling", [False, True])
def test_a_lock_planted_as_a_link_is_refused_and_its_target_untouched(run, tmp_path, dangling):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (run / ".lock").unlink(missing_ok=True)
    (run / ".lock").symlink_to(tmp_path / "created-elsewhere" if dangling else victim)
    with pytest.raises(CnnzooError, match="symbolic link") as e:
        train(resume=str(run), quiet=True, progress=False)
    assert "\n" not in str(e.value) and victim.read_text() == "keep me"
    assert not (tmp_path / "created-elsewhere").exists()


def test_claims_out_never_writes_through_a_link_nor_over_a_users_report(tmp_path):
    from cnnzoo.claims.report import write_report

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "claims.md").write_text("my own notes")
    with pytest.raises(CnnzooError, match="did not write"):
        write_report([], mine)
    assert (mine / "claims.md").read_text() == "my own notes"
    ours = tmp_path / "ours"
    write_report([], ours)
    victim = tmp_path / "victim.html"
    victim.write_text("keep me")
    (ours / "claims.html").unlink()
    (ours / "claims.html").symlink_to(victim)
    with pytest.raises(CnnzooError, match="symbolic link"):
        write_report([], ours)
    assert victim.read_text() == "keep me"
