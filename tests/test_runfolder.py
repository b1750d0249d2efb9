"""What a run folder guarantees (docs/run-folder.md): validated documents, verified weights, one
owner (an OS lock), readers that never write, nothing lost to faults (kill, disk full, read-only)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnnzoo import io as safe_io
from cnnzoo.errors import CheckpointError, CnnzooError, OptionError
from cnnzoo.inference import checkpoint as reader
from cnnzoo.train import checkpoint as ckpt
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.loop import train
from cnnzoo.train.rundir import RunDir
from cnnzoo.train.state import TrainState
from run_cases import FAST, reseal

CLI = [sys.executable, "-m", "cnnzoo"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")








def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.name != ".lock"}  # the lock file is no data


def one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text and text, text
    return text


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# --- integrity -------------------------------------------------------------------------------
def test_flipped_bytes_in_weights_are_refused_by_load_and_resume(run):
    last = run / "checkpoints" / "last"
    meta = json.loads((last / "meta.json").read_text())
    assert set(meta["files"]) == {"model.safetensors", "state.safetensors", "state.json"}
    data = bytearray((last / "model.safetensors").read_bytes())
    data[-3] ^= 0x01  # one bit of one weight: still a valid safetensors file
    (last / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256") as e:
        reader.load_model(run)
    one_line(e.value)
    with pytest.raises(CheckpointError, match="SHA-256"):
        train(resume=str(run), quiet=True, progress=False)
    result = subprocess.run(CLI + ["eval", str(run)], capture_output=True, text=True, env=ENV)
    assert result.returncode != 0 and "SHA-256" in result.stderr and "Traceback" not in result.stderr


def test_nan_weights_are_refused(run):
    last = run / "checkpoints" / "last"
    tensors = load_file(str(last / "model.safetensors"))
    key = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[key][0] = float("nan")
    (last / "model.safetensors").write_bytes(ckpt.tensor_bytes(tensors))
    reseal(last)  # the checksums fixed up: only the values are wrong
    with pytest.raises(CheckpointError, match="NaN") as e:
        reader.load_model(run)
    one_line(e.value)


def test_weight_files_follow_the_umask(run):
    modes = {p.name: p.stat().st_mode & 0o777 for p in (run / "checkpoints" / "last").iterdir()}
    assert modes["model.safetensors"] == modes["meta.json"], modes
    assert modes["model.safetensors"] & 0o044, "weights unreadable by group/others under umask 022"


# --- impossible states are refused before anything is written --------------------------------
@pytest.mark.parametrize("field, value, words", [
    ("epoch", -5, "'epoch'"),
    ("epoch", 99, "99"),
    ("step_in_epoch", 10**6, "'step_in_epoch'"),
    ("history", "not a list", "'history'"),
    ("history", [{"epoch": 1, "lr": "x"}], "'lr'"),
    ("global_step", 3, "'global_step'"),
    ("optimizer", None, "'optimizer'"),
    ("elapsed", -1.0, "'elapsed'"),
])
def test_impossible_state_is_refused_and_nothing_is_overwritten(run, field, value, words):
    state = run / "checkpoints" / "last" / "state.json"
    edit_json(state, **{field: value})
    with pytest.raises(CheckpointError, match="state.json is corrupt: its SHA-256"):
        train(resume=str(run), quiet=True, progress=False)  # the checksum sees the edit first
    reseal(state.parent)  # the checksums fixed up: the check behind them refuses it too
    before = listing(run)
    with pytest.raises(CheckpointError, match=words) as e:
        train(resume=str(run), quiet=True, progress=False)
    assert "state.json" in one_line(e.value)
    assert listing(run) == before


def _rewrite_state_tensors(run: Path, change) -> None:
    last = run / "checkpoints" / "last"
    tensors = load_file(str(last / "state.safetensors"))
    change(tensors)
    (last / "state.safetensors").write_bytes(ckpt.tensor_bytes(tensors))
    reseal(last)


@pytest.mark.parametrize("change, words", [
    (lambda t: t.update({k: torch.zeros(3) for k in t if k.startswith("optimizer.0.")}), "shape"),
    (lambda t: [t.pop(k) for k in [k for k in t if k.startswith("optimizer.")]], "optimizer state"),
    (lambda t: t.update({"rng.cpu.rank0": torch.zeros(7, dtype=torch.float32)}), "RNG state"),
    (lambda t: t.update({"rng.cpu.rank5": torch.get_rng_state()}), "process 5"),
])
def test_impossible_state_tensors_are_refused(run, change, words):
    _rewrite_state_tensors(run, change)
    before = listing(run)
    with pytest.raises(CheckpointError, match=words) as e:
        train(resume=str(run), quiet=True, progress=False)
    one_line(e.value)
    assert listing(run) == before


@pytest.mark.parametrize("field, value", [("lr", "fast"), ("epochs", -1), ("seed", 2**70),
                                          ("augment", 3), ("model_options", [1]), ("bogus", 1)])
def test_bad_config_json_is_refused_naming_the_field(run, field, value):
    edit_json(run / "config.json", **{field: value})
    with pytest.raises(CnnzooError) as e:
        train(resume=str(run), quiet=True, progress=False)
    assert field in one_line(e.value) or field.replace("_", "-") in str(e.value)


@pytest.mark.parametrize("options", [dict(lr=float("nan")), dict(lr=float("inf")),
                                     dict(weight_decay=float("nan")), dict(momentum=1.5),
                                     dict(seed=2**64), dict(seed=-1), dict(batch_size=0),
                                     dict(label_smoothing=float("nan")), dict(eval_every=0),
                                     dict(warmup_epochs=float("inf")), dict(threads=0)])
def test_bad_numbers_are_refused_before_a_folder_exists(tmp_path, options):
    out = tmp_path / "never"
    with pytest.raises(OptionError) as e:
        train("lenet5_modern", out=str(out), epochs=1, **{**FAST, **options})
    one_line(e.value)
    assert not out.exists()


def test_lr_nan_on_the_cli_creates_no_folder(tmp_path):
    result = subprocess.run(CLI + ["train", "lenet5_modern", "--lr", "nan", "--out", str(tmp_path / "x")],
                            capture_output=True, text=True, env=ENV)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


# --- one owner ---------------------------------------------------------------------------------
def test_a_locked_run_folder_is_refused_in_one_line(run):
    holder = RunDir(run)
    holder.lock()
    try:
        with pytest.raises(CheckpointError, match="in use by another cnnzoo train") as e:
            train(resume=str(run), quiet=True, progress=False)
        one_line(e.value)
        with pytest.raises(CheckpointError, match="in use|already holds a run"):
            train("lenet5_modern", out=str(run), epochs=1, **FAST)
    finally:
        holder.unlock()
    train(resume=str(run), quiet=True, progress=False)  # free again once released


def test_two_concurrent_trains_into_one_folder(tmp_path):
    out = tmp_path / "same"
    args = CLI + ["train", "lenet5_modern", "--epochs", "2", "--batch-size", "256", "--out", str(out)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 1], results
    loser = next(r for r in results if r[2] == 1)
    assert len(loser[1].strip().splitlines()) == 1 and "Traceback" not in loser[1]
    assert "in use" in loser[1] or "already holds a run" in loser[1]
    assert json.loads((out / "results.json").read_text())["epochs"] == 2


@pytest.mark.slow
def test_lock_is_released_when_the_owner_is_killed(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(CLI + ["train", "lenet5_modern", "--epochs", "3", "--batch-size", "256",
                                   "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=ENV)
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "last").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    train(resume=str(out), quiet=True, progress=False)  # the kernel dropped the lock


# --- readers never write ------------------------------------------------------------------------
def test_reader_during_a_swap_reads_the_complete_copy_and_touches_nothing(run):
    checkpoints = run / "checkpoints"
    last = checkpoints / "last"
    # the writer's intermediate states: (1) new copy written beside, (2) old moved aside
    tmp = checkpoints / ".last.tmp-99999"
    shutil.copytree(last, tmp)
    for state in ("tmp written", "old aside"):
        if state == "old aside":
            last.rename(checkpoints / ".last.old")
        before = listing(run)
        model, meta = reader.load_model(run)
        assert meta["model"] == "lenet5_modern"
        assert reader.read_meta(reader.checkpoint_dir(run))["epoch"] == 1
        assert listing(run) == before, state
    # the owner (next start, holding the lock) finishes the swap and removes the leftover
    train(resume=str(run), quiet=True, progress=False)
    assert last.is_dir() and not tmp.exists() and not (checkpoints / ".last.old").exists()


def test_readers_work_in_a_read_only_run_folder(run):
    for p in [run, *run.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    try:
        model, meta = reader.load_model(run)
        assert meta["epoch"] == 1
    finally:
        for p in [run, *run.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


# --- stuck and leftover states -------------------------------------------------------------------
def test_run_killed_before_its_first_checkpoint_can_be_resumed_or_reused(tmp_path):
    out = tmp_path / "early"
    out.mkdir()
    config = TrainConfig("lenet5_modern", epochs=1, batch_size=256, out=str(out)).resolved()
    (out / "config.json").write_text(json.dumps(config.to_json()))
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / ".epoch-0001.tmp-4242").mkdir()
    result = train(resume=str(out), quiet=True, progress=False)  # restarts from the beginning
    assert result["epochs"] == 1 and not (out / "checkpoints" / ".epoch-0001.tmp-4242").exists()
    again = tmp_path / "early2"
    shutil.copytree(out, again)
    shutil.rmtree(again / "checkpoints")
    (again / "results.json").unlink()
    result = train("lenet5_modern", out=str(again), epochs=1, **FAST)  # --out reuses it
    assert result["epochs"] == 1


def test_relative_data_dir_is_stored_absolute(tmp_path, monkeypatch):
    from cnnzoo.train.loop import Trainer

    monkeypatch.chdir(tmp_path)
    trainer = Trainer(TrainConfig("lenet5_modern", data_dir="some/data", epochs=1, batch_size=256))
    assert Path(trainer.config.data_dir).is_absolute()
    assert trainer.config.data_dir == str(tmp_path / "some" / "data")


def test_out_under_a_regular_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CnnzooError) as e:
        train("lenet5_modern", out=str(blocker / "run"), epochs=1, **FAST)
    one_line(e.value)
    with pytest.raises(CnnzooError):
        train("lenet5_modern", out=str(blocker), epochs=1, **FAST)


_READ_ONLY_TRAIN = """
import sys
from cnnzoo.errors import CnnzooError
from cnnzoo.train.loop import train
try:
    train("lenet5_modern", out=sys.argv[1], epochs=1, **{fast!r})
except CnnzooError as e:
    print(str(e))
    sys.exit(3)
"""


def _nobody():
    """(uid, gid) of the unprivileged user `nobody`, or None."""
    import pwd

    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def test_out_in_a_read_only_folder_is_one_line(tmp_path):
    """Root writes anywhere, so as root (CI) the refusal is checked in a process running as
    `nobody`; where that cannot run (no such user, or this Python is not readable by it) the
    test says so as a skip instead of passing without checking."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        with pytest.raises(CnnzooError) as e:
            train("lenet5_modern", out=str(ro / "run"), epochs=1, **FAST)
        one_line(e.value)
        return
    ids = _nobody()
    if ids is None:
        pytest.skip("running as root and there is no user 'nobody' to check a read-only folder as")
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="cnnzoo-ro-"))  # /tmp, reachable by nobody (tmp_path is not)
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir()
        os.chown(home, *ids)
        ro = base / "ro"
        ro.mkdir(mode=0o555)
        ro.chmod(0o555)
        env = {**os.environ, "HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}

        def as_nobody() -> None:
            os.setgid(ids[1])
            os.setuid(ids[0])

        try:
            probe = subprocess.run([sys.executable, "-c", "import cnnzoo.train.loop"], env=env,
                                   preexec_fn=as_nobody, capture_output=True, text=True)
            why = probe.stderr.strip().splitlines()[-1:] if probe.returncode else None
        except OSError as e:  # the interpreter itself is not readable by nobody
            why = [str(e)]
        if why is not None:
            pytest.skip(f"running as root, and 'nobody' cannot run this Python with cnnzoo ({why}): "
                        "the read-only refusal is not checked here")
        done = subprocess.run([sys.executable, "-c", _READ_ONLY_TRAIN.format(fast=FAST),
                               str(ro / "run")], env=env, preexec_fn=as_nobody,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 3, (done.returncode, done.stderr[-2000:])
        message = done.stdout.strip()
        assert message and "\n" not in message and "Traceback" not in done.stderr
        assert not (ro / "run").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_disk_full_keeps_the_previous_checkpoint(run, monkeypatch):
    last = run / "checkpoints" / "last"
    good = (last / "model.safetensors").read_bytes()
    real_write = safe_io._write_new
    calls = {"n": 0}

    def full(path, data):
        calls["n"] += 1
        if calls["n"] > 1:  # the epoch checkpoint is written; the next file finds the disk full
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(safe_io, "_write_new", full)
    with pytest.raises(CheckpointError, match="No space left") as e:
        train(resume=str(run), quiet=True, progress=False)
    one_line(e.value)
    monkeypatch.undo()
    assert (last / "model.safetensors").read_bytes() == good
    assert not list((run / "checkpoints").glob(".*tmp-*"))
    train(resume=str(run), quiet=True, progress=False)  # and it resumes once there is space


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_disk_full_on_a_small_tmpfs(tmp_path, stopped_run):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "4m"):
        pytest.skip("no size-limited tmpfs here (needs root and mount); the patched write covers it")
    try:
        run = disk / "run"
        shutil.copytree(stopped_run / "checkpoints" / "last", run / "checkpoints" / "last")
        shutil.copy(stopped_run / "config.json", run / "config.json")
        good = (run / "checkpoints" / "last" / "model.safetensors").read_bytes()
        filler = disk / "filler"
        with open(filler, "wb") as f:  # leave too little room for a second copy of the weights
            free = shutil.disk_usage(disk).free
            f.write(b"\0" * max(0, free - 100_000))
        result = subprocess.run(CLI + ["train", "--resume", str(run)], capture_output=True, text=True,
                                env=ENV)
        assert result.returncode == 1, result.stderr
        assert "No space left" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert (run / "checkpoints" / "last" / "model.safetensors").read_bytes() == good
        filler.unlink()
        reader.load_model(run)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# --- extending a run --------------------------------------------------------------------------
def test_resume_with_more_epochs_extends_a_finished_run(run):
    train(resume=str(run), quiet=True, progress=False)
    result = train(resume=str(run), epochs=3, quiet=True, progress=False)
    assert result["epochs"] == 3
    assert json.loads((run / "config.json").read_text())["epochs"] == 3
    assert [e for e, _ in reader.epoch_checkpoints(run)] == [1, 2, 3]
    with pytest.raises(OptionError, match="fewer than"):
        train(resume=str(run), epochs=2, quiet=True, progress=False)


def test_a_resume_refused_after_the_claim_leaves_the_folder_unlocked(run):
    # the checkpoint is read (and refused) while the run holds the folder's lock: the refusal
    # must release it, or the same process could never resume the folder again
    weights = run / "checkpoints" / "last" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # one bit of one weight: refused by its SHA-256 in meta.json
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        train(resume=str(run), quiet=True, progress=False)
    holder = RunDir(run)
    holder.lock()  # RunFolderError "in use" if the refused run kept its lock
    holder.unlock()


def test_a_resume_refused_while_claiming_leaves_the_folder_unlocked(run):
    pytest.importorskip("tensorboard")
    edit_json(run / "config.json", tensorboard=True)  # a session setting: resume may change it
    (run / "tensorboard").write_text("not a folder")  # refused after the resume took the lock
    with pytest.raises(CheckpointError, match="tensorboard"):
        train(resume=str(run), quiet=True, progress=False)
    holder = RunDir(run)
    holder.lock()  # RunFolderError "in use" if the refused claim kept its lock
    holder.unlock()


def test_resume_on_another_thread_count_says_it_is_not_bit_identical(run):
    saved = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    assert saved["threads"] == 1  # conftest runs every test with one CPU thread
    proc = subprocess.run(CLI + ["train", "--resume", str(run), "--threads", "2"], capture_output=True,
                          text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "saved with 1 CPU thread and resumes with 2" in proc.stdout
    assert "--threads 1" in proc.stdout


def test_state_round_trips_through_json():
    state = TrainState(epoch=2, step_in_epoch=3, global_step=2 * 19 + 3, history=[
        {"epoch": 1, "lr": 0.1}, {"epoch": 2, "lr": 0.05, "test_top1": None}],
        optimizer={"param_groups": [], "scalars": {}})
    again = TrainState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state
    again.check_run("state.json", epochs=5, steps_per_epoch=19)
    with pytest.raises(CheckpointError, match="'step_in_epoch'"):
        again.check_run("state.json", epochs=5, steps_per_epoch=3)


_KILL_INSIDE_WRITE = """
import os, signal, sys
from cnnzoo import io
from cnnzoo.train.loop import train
real, calls = io._write_new, [0]
def write(path, data):
    real(path, data)
    if path.parent.name.startswith(".last.tmp-") and path.name == "model.safetensors":
        calls[0] += 1
        if calls[0] == int(sys.argv[2]):  # this save of checkpoints/last: die mid-write
            os.kill(os.getpid(), signal.SIGKILL)
io._write_new = write
train("lenet5_modern", out=sys.argv[1], epochs=2, batch_size=256, quiet=True, progress=False)
"""


@pytest.mark.parametrize("save", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_sigkill_inside_a_checkpoint_write_loses_nothing(tmp_path, save):
    reference = tmp_path / "reference"
    train("lenet5_modern", out=str(reference), epochs=2, **FAST)
    out = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", _KILL_INSIDE_WRITE, str(out), str(save)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == -9, proc.stderr
    assert list((out / "checkpoints").glob(".last.tmp-*")), "the kill did not land inside the write"
    if save == 2:  # the first epoch's checkpoint is intact and readable meanwhile
        assert reader.load_model(out)[1]["epoch"] == 1
    else:  # killed inside the first save of `last`: epoch-0001 is complete, one line says so
        with pytest.raises(CheckpointError, match="holds complete epoch checkpoints: give .*epoch-0001"):
            reader.load_model(out)
    train(resume=str(out), quiet=True, progress=False)
    assert not list((out / "checkpoints").glob(".*tmp-*"))  # the owner removed the leftover
    a = load_file(str(reference / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(out / "checkpoints" / "last" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a), "resume after the kill is not bit-identical"
