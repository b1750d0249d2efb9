"""Unit tests of the training engine's parts: schedules, optimizer state round trips, atomic
checkpoint writes, the progress display, GoogLeNet-style auxiliary losses, per-step model hooks,
and the public API. Fast: tiny tensors and in-memory data sets."""
from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.data import ArrayDataset
from cnnzoo.errors import CheckpointError, OptionError
from cnnzoo.inference import checkpoint as reader
from cnnzoo.train import checkpoint as ckpt
from cnnzoo.train import loop, parts
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.optim import Schedule, build_optimizer
from cnnzoo.train.progress import Progress
from cnnzoo.train.rundir import RunDir
from cnnzoo.train.step import run_steps


# --- schedules ------------------------------------------------------------------------------
def test_onecycle_rises_from_a_25th_to_the_peak_then_falls_to_zero():
    s = Schedule("onecycle", total_steps=100, warmup_steps=25)
    assert s.factor(0) == pytest.approx(1 / 25)
    assert s.factor(25) == pytest.approx(1.0)
    assert max(s.factor(t) for t in range(100)) == pytest.approx(1.0)
    assert s.factor(99) == pytest.approx(1 / 75)  # one step before zero
    rising = [s.factor(t) for t in range(26)]
    assert rising == sorted(rising)


def test_cosine_with_warmup_and_step_milestones():
    s = Schedule("cosine", total_steps=110, warmup_steps=10)
    assert [s.factor(t) for t in range(10)] == pytest.approx([(t + 1) / 10 for t in range(10)])
    assert s.factor(10) == pytest.approx(1.0)
    assert s.factor(60) == pytest.approx(0.5)  # half way through the cosine part
    assert s.factor(109) == pytest.approx(0.5 * (1 + math.cos(math.pi * 99 / 100)))
    step = Schedule("step", total_steps=64)  # He et al.: /10 at 32k and 48k of 64k iterations
    assert [step.factor(t) for t in (0, 31, 32, 47, 48, 63)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert Schedule("constant", 10).factor(7) == 1.0


def test_run_steps_sets_each_steps_rate_draws_no_batch_past_the_stop_and_returns_the_last_rate():
    """The step loop the engine and claims' fits share: global steps counted from `first`, the
    schedule's rate set before each step, the callback's True ends it before another batch is drawn."""
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    schedule = Schedule("cosine", total_steps=10)
    drawn: list[int] = []
    seen: list[tuple[int, float, float]] = []

    def batches():
        for i in range(10):
            drawn.append(i)
            yield torch.tensor([float(i)]), torch.tensor([i])

    def step(x, y):
        return x.sum(), x

    def after(global_step, loss, out, y):
        seen.append((global_step, opt.param_groups[0]["lr"], loss.item()))
        return global_step == 6

    last = run_steps(batches(), schedule, opt, 0.5, 4, step, after)
    assert [s for s, _, _ in seen] == [4, 5, 6] and drawn == [0, 1, 2]
    assert [lr for _, lr, _ in seen] == [0.5 * schedule.factor(s) for s in (4, 5, 6)]
    assert [v for _, _, v in seen] == [0.0, 1.0, 2.0]
    assert last == 0.5 * schedule.factor(6)
    assert run_steps(iter(()), schedule, opt, 0.5, 0, step, after) == 0.5  # no batch: the base rate


def test_recipes_fill_unset_fields_and_bad_values_are_option_errors():
    c = TrainConfig("resnet20", dataset="fashion-mnist").resolved()
    assert (c.optimizer, c.lr, c.momentum, c.schedule, c.batch_size) == ("sgd", 0.1, 0.9, "cosine", 128)
    assert TrainConfig("lenet5_modern", lr=0.2).resolved().lr == 0.2  # explicit values win
    c = TrainConfig("lenet5").resolved()
    assert c.warmup_epochs == pytest.approx(0.25 * c.epochs)  # one-cycle: first quarter
    # The LeNet recipes chosen on the validation split (config.py): on a full data set the paper's
    # network trains 100 epochs of batch 64 with augmentation; on the embedded sample a short run
    # without it (the sample's entry).
    paper, modern = (TrainConfig(m, dataset="fashion-mnist").resolved() for m in ("lenet5", "lenet5_modern"))
    assert (paper.augment, paper.lr, paper.batch_size, paper.epochs) == (True, 0.01, 64, 100)
    assert (modern.augment, modern.lr, modern.batch_size, modern.epochs) == (True, 0.05, 128, 30)
    assert (c.augment, c.batch_size, c.epochs) == (False, 128, 15)
    assert TrainConfig("resnet20").resolved().epochs == 15
    assert TrainConfig("alexnet").resolved().epochs == 5
    assert TrainConfig("lenet5", dataset="fashion-mnist", augment=True).resolved().augment is True
    for bad in (dict(epochs=0), dict(lr=-1.0), dict(label_smoothing=1.0), dict(schedule="linear"),
                dict(momentum=1.5), dict(amp="fp8")):
        with pytest.raises(OptionError):
            TrainConfig("lenet5", **bad).resolved()


# --- optimizer / checkpoint state ------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_optimizer_state_round_trips_through_safetensors_and_json(optimizer, tmp_path):
    def make():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        return model, build_optimizer(model, TrainConfig("lenet5", optimizer=optimizer).resolved())

    def step(model, opt, seed):
        g = torch.Generator().manual_seed(seed)
        loss = model(torch.randn(5, 4, generator=g)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    a, opt_a = make()
    for k in range(3):
        step(a, opt_a, k)
    tensors, scalars = ckpt.pack_optimizer(opt_a)
    ckpt.write_checkpoint(tmp_path / "c", a.state_dict(), {"model": "x", "model_options": {},
                          "num_classes": 2, "in_channels": 1}, train_state=(tensors, scalars))
    b, opt_b = make()
    reader.load_weights(b, reader.read_tensors(tmp_path / "c" / "model.safetensors"))
    import json
    ckpt.unpack_optimizer(opt_b, reader.read_tensors(tmp_path / "c" / "state.safetensors"),
                          json.loads((tmp_path / "c" / "state.json").read_text()))
    for k in range(3, 6):  # continuing from the saved state is the same as never stopping
        step(a, opt_a, k)
        step(b, opt_b, k)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_interrupted_replacement_is_recovered(tmp_path):
    meta = {"model": "lenet5", "model_options": {}, "num_classes": 10, "in_channels": 1}
    model = cnnzoo.create_model("lenet5")
    folder = tmp_path / "checkpoints" / "last"
    ckpt.write_checkpoint(folder, model.state_dict(), meta)
    # A crash between "rename the old folder aside" and "rename the new one in":
    folder.rename(folder.with_name(".last.old"))
    assert not folder.exists()
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    loaded, got = reader.load_model(tmp_path)  # a reader reads the complete copy, touching nothing
    assert got["model"] == "lenet5" and not folder.exists()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    run = RunDir(tmp_path)  # the lock holder (the trainer) finishes the swap
    run.lock()
    run.tidy()
    run.unlock()
    assert folder.is_dir() and not folder.with_name(".last.old").exists()


def test_load_model_rejects_weights_of_another_model(tmp_path):
    meta = {"model": "lenet5_modern", "model_options": {}, "num_classes": 10, "in_channels": 1}
    ckpt.write_checkpoint(tmp_path / "c", cnnzoo.create_model("lenet5").state_dict(), meta)
    with pytest.raises(CheckpointError, match="do not fit model 'lenet5_modern'"):
        reader.load_model(tmp_path / "c" / "model.safetensors")
    (tmp_path / "c" / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        reader.load_model(tmp_path / "c")


def test_load_model_never_unpickles(tmp_path):
    # A torch.save pickle renamed to model.safetensors must be refused, not executed.
    meta = {"model": "lenet5", "model_options": {}, "num_classes": 10, "in_channels": 1}
    ckpt.write_checkpoint(tmp_path / "c", cnnzoo.create_model("lenet5").state_dict(), meta)
    torch.save(cnnzoo.create_model("lenet5").state_dict(), tmp_path / "c" / "model.safetensors")
    with pytest.raises(CheckpointError, match="corrupt"):
        reader.load_model(tmp_path / "c")


# --- progress -------------------------------------------------------------------------------
class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_draws_only_on_a_terminal():
    plain = _Stream(tty=False)
    p = Progress(stream=plain)
    p.update(1, 2, 3, 10, 0.5, 0.8, 1000.0, force=True)
    p.clear()
    assert plain.getvalue() == ""
    term = _Stream(tty=True)
    p = Progress(stream=term)
    p.update(1, 2, 3, 10, 0.5, 0.8, 1234.0, force=True)
    assert term.getvalue().startswith("\r") and "3/10" in term.getvalue() and "1,234 img/s" in term.getvalue()
    assert "\n" not in term.getvalue()


# --- aux losses and per-step hooks ----------------------------------------------------------
class _AuxNet(nn.Module):
    """GoogLeNet's contract in miniature: (logits, aux1, aux2) in training, logits in eval."""

    def __init__(self, aux_loss_weight: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16, 8), nn.ReLU())
        self.fc = nn.Linear(8, 2)
        self.aux1 = nn.Linear(8, 2)
        self.aux2 = nn.Linear(8, 2)
        self.aux_loss_weight = aux_loss_weight
        self.renorm_calls = 0

    def renormalize_filters(self) -> None:
        self.renorm_calls += 1

    def forward(self, x):
        h = self.body(x)
        if self.training:
            return self.fc(h), self.aux1(h), self.aux2(h)
        return self.fc(h)


def _tiny_sets():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 1, 4, 4), dtype=torch.uint8, generator=g)
    labels = (images.float().mean((1, 2, 3)) > 127).long()
    make = lambda split: ArrayDataset("sample", split, images, labels, ["dark", "light"])  # noqa: E731
    return make("train"), make("test")


@pytest.mark.parametrize("weight", [0.3, 0.0])
def test_aux_heads_train_with_their_weight_and_renormalize_runs_every_step(weight, tmp_path, monkeypatch):
    built = []

    def fake_create(config, num_classes, in_channels):
        torch.manual_seed(0)
        built.append(_AuxNet(weight))
        return built[-1]

    monkeypatch.setattr(parts, "_create", fake_create)
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in _AuxNet(weight).state_dict().items() if k.startswith("aux")}
    result = loop.train("lenet5_modern", datasets=_tiny_sets(), epochs=2, batch_size=16,
                        augment=False, weight_decay=0.0, out=str(tmp_path / "run"), quiet=True,
                        progress=False, keep_epochs=0)
    net = built[0]
    assert net.renorm_calls == 2 * 4  # 2 epochs x 4 steps
    changed = [k for k, v in net.state_dict().items() if k in before and not torch.equal(v, before[k])]
    assert bool(changed) == (weight > 0)  # aux heads learn only through their weighted loss
    assert result["top1"] is not None


def test_public_api():
    assert callable(cnnzoo.train) and cnnzoo.train.checkpoint is ckpt  # callable package
    assert cnnzoo.load_checkpoint is reader.load_model
    assert {"train", "evaluate", "load_checkpoint", "TrainConfig", "predict"} <= set(cnnzoo.__all__)
