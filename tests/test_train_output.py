"""Training output: the banner (threads, input, augment), fixed-width epoch lines with an ETA,
singular/plural, the progress bar's ETA, TensorBoard logging, and extending a run from the CLI."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from cnnzoo.train.loop import train
from cnnzoo.train.progress import Progress, duration

CLI = [sys.executable, "-m", "cnnzoo"]


def _cli(*args: str, threads: str | None = "1") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    return subprocess.run(CLI + list(args), capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_banner_epoch_lines_and_extension_on_the_cli(tmp_path):
    out = tmp_path / "run"
    first = _cli("train", "lenet5_modern", "--epochs", "1", "--batch-size", "256", "--augment", "crop",
                 "--out", str(out), "--threads", "2", threads=None)
    assert first.returncode == 0, first.stderr
    text = first.stdout
    assert "2 CPU threads" in text, text
    assert "augment: random crop" in text and "flip" not in text, text
    assert "1 epoch," in text and "1 epochs" not in text, text
    more = _cli("train", "--resume", str(out), "--epochs", "3")
    assert more.returncode == 0, more.stderr
    assert "extending the run from 1 epoch to 3" in more.stdout
    lines = [line for line in more.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2
    lr_fields = [re.search(r"lr (\S+)", line).group(1) for line in lines]
    assert len({len(f) for f in lr_fields}) == 1, lr_fields  # one width whatever the value
    assert "ETA" in lines[0] and "ETA" not in lines[-1]
    assert "1 CPU thread" in more.stdout  # OMP_NUM_THREADS honoured


def test_progress_bar_shows_an_eta():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    Progress(stream=stream).update(1, 3, 5, 10, 0.5, 0.8, 1000.0, force=True, eta=75.0)
    assert "ETA 1m15s" in stream.getvalue()
    assert duration(5.04) == "5.0s" and duration(7260) == "2h01m"


def test_tensorboard_logs_the_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "tb"
    train("lenet5_modern", out=str(out), epochs=1, batch_size=256, tensorboard=True, quiet=True,
          progress=False)
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert {"loss/train", "top1/test", "lr"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("top1/test")] == [1]
