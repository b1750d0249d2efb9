"""The training loop: one engine for every model in the zoo.

`Trainer(config).run()` puts a run together from four parts, then runs the loop (`_Loop`):

- DeviceContext (device.py): threads, the process group, the device, AMP checks, DDP/compile;
- RunOwner (owner.py): the run folder claimed and locked, and every write into it;
- build_parts (parts.py): the data in memory, the model, its optimizer and schedule;
- Checkpointer (checkpointer.py): the run's state packed into checkpoints/last and restored
  from it, checked; `Counters` is where the run stands.

Data: the data set lives in memory as a uint8 N x C x H x W tensor (on the training device when
that is a GPU). Each epoch draws a permutation from a generator seeded with (seed, epoch); a batch
is one index_select of that tensor, augmented on the device by `default_augment(dataset)` with a
generator seeded with (seed, epoch, rank), then converted by the input adapter (size, channels,
normalisation). No per-sample Python work anywhere. The last incomplete batch of an epoch is
dropped (a different one each epoch, since the order changes).

Model: any registered network. GoogLeNet in training mode returns (logits, aux1, aux2); the loss
is then main + model.aux_loss_weight * (aux1 + aux2) (0.3 in the paper). A model with a
`renormalize_filters()` method (ZFNet's filter-norm clipping) has it called after every step.

Exact resume: every random draw comes from a seeded generator whose state is saved (the global
torch RNG for dropout, the augmentation generator) or re-derived (the data order), the schedule
is a function of the step counter, and the partial-epoch sums are saved as float64 tensors; so a
run stopped at a step boundary (Ctrl-C, SIGTERM, `stop_after`) or killed after a checkpoint and
resumed ends with bit-identical weights on CPU.

Interrupts: SIGINT/SIGTERM set a flag checked after each step; the loop then writes
checkpoints/last (with the step inside the epoch) and raises KeyboardInterrupt. A second Ctrl-C
stops at once. A loss that is NaN or infinite stops the run with TrainingDiverged (a one-line
CnnzooError naming the step); nothing is written after it, so the last good checkpoint stays.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .. import checks
from ..errors import CheckpointError, CnnzooError, OptionError, UnknownOptionError, close_matches
from ..inference.evaluate import evaluate_arrays
from .checkpointer import Checkpointer, Counters, count
from .config import ResolvedConfig, TrainConfig
from .device import DeviceContext
from .distributed import local_slice
from .metrics import Meter
from .owner import METRIC_COLUMNS, RunOwner
from .parts import AUGMENT, ORDER, Parts, build_parts, mix
from .progress import Progress, duration
from .rundir import RunDir, RunFolderError
from .step import run_steps, train_step
from .threads import describe as describe_threads

__all__ = ["METRIC_COLUMNS", "Trainer", "TrainingDiverged", "train"]


class TrainingDiverged(CnnzooError):
    """The loss became NaN or infinite."""


class _StopFlag:
    """SIGINT/SIGTERM -> a flag the loop polls at step boundaries; a second SIGINT stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """One training run. `Trainer(config).run()`, or `Trainer(resume=DIR).run()`.

    Everything the user gave is checked (TrainConfig.resolved) before any file is written; the
    run folder is then locked for the whole run (RunOwner), so one process owns it."""

    def __init__(self, config: TrainConfig | None = None, *, resume: str | Path | None = None,
                 stop_after: int | None = None, device: str | None = None, quiet: bool = False,
                 datasets: tuple[Any, Any] | None = None, progress: bool = True,
                 epochs: int | None = None, threads: int | None = None) -> None:
        # the public API's arguments, checked as the CLI's flags are (one CnnzooError line)
        self.stop_after = (None if stop_after is None
                           else checks.positive_int("stop_after", stop_after))
        if resume is not None:
            if not isinstance(resume, (str, Path)):
                raise OptionError(f"resume must be a run folder (a path), got "
                                  f"{type(resume).__name__} {resume!r}"[:200])
            checks.text("resume", str(resume))
        if epochs is not None:
            epochs = checks.positive_int("epochs", epochs)
        if threads is not None:
            threads = checks.positive_int("threads", threads, maximum=1024)
        if config is not None and not isinstance(config, TrainConfig):
            raise OptionError(f"config must be a TrainConfig or a model name, got "
                              f"{type(config).__name__} {config!r}"[:200])
        self.quiet = quiet
        self.show_progress = progress
        self.datasets = datasets
        self.resume_dir = Path(resume) if resume is not None else None
        self.config, self.extended_from = _resolve(config, self.resume_dir, epochs=epochs,
                                                   device=device, threads=threads)

    def run(self) -> dict[str, Any]:
        """Set the run up (device, folder, data and model, resume), then train it."""
        t0 = time.perf_counter()
        c = self.config
        progress = Progress(enabled=False)
        try:
            with DeviceContext(c) as ctx, contextlib.closing(RunOwner(c, self.resume_dir, ctx)) as owner:
                progress = Progress(enabled=self.show_progress and ctx.is_main and not self.quiet)
                parts = build_parts(c, ctx, self.datasets)
                saver = Checkpointer(c, ctx, parts.model, parts.optimizer, parts.scaler, parts.pipeline,
                                     parts.classes, list(parts.data.train.images.shape[1:]))
                at, notes = self._start(owner, parts, saver)
                loop = _Loop(self, ctx, owner, parts, saver, at, progress, notes, t0)
                with _StopFlag() as stop:
                    return loop.run(stop)
        finally:
            progress.clear()

    def _start(self, owner: RunOwner, parts: Parts, saver: Checkpointer) -> tuple[Counters, list[str]]:
        """Where the run starts: from checkpoints/last on a resume, else from nothing (a new
        folder taken now, when the data and the model are ready); then config.json."""
        restart = owner.restarting()
        at, notes = Counters(), list[str]()
        if self.resume_dir is not None and not restart:
            at, notes = saver.restore(owner.root, steps_per_epoch=parts.steps_per_epoch,
                                      extended_from=self.extended_from)
            owner.write_metrics(at.history)  # metrics.csv may lag the checkpoint by a row after a kill
        owner.take_new()
        owner.start(config_changed=self.resume_dir is None or restart or self.extended_from is not None,
                    epoch=at.epoch)
        return at, notes + owner.notes


def _resolve(config: TrainConfig | None, resume_dir: Path | None, *, epochs: int | None,
             device: str | None, threads: int | None) -> tuple[ResolvedConfig, int | None]:
    """The run's config, checked: the given one, or the resumed run's config.json (with
    --epochs extending it): (config, the epochs it had when extended, else None)."""
    extended_from = None
    if resume_dir is not None:
        rd = RunDir(resume_dir)
        if not rd.config.is_file():
            raise RunFolderError(f"{resume_dir} is not a run folder (no config.json): "
                                 "--resume takes the --out folder of an earlier `cnnzoo train`")
        saved = TrainConfig.load(rd.config)
        if config is not None and config.model != saved.model:
            raise CheckpointError(f"{resume_dir} is a run of {saved.model!r}, not {config.model!r}")
        config = saved
        config.out = str(resume_dir)
        config.threads = None  # a property of this session and machine, not of the run
        if epochs is not None and epochs != saved.epochs:
            extended_from = saved.epochs
            config.epochs = epochs
    elif epochs is not None and config is not None:
        config.epochs = epochs
    if config is None:
        raise OptionError("give a model to train or a run folder to resume")
    if device is not None:
        config.device = device
    if threads is not None:
        config.threads = threads
    resolved = config.resolved()
    for name in ("out", "data_dir"):  # an empty path is a mistake, not "the default"
        checks.text(f"--{name.replace('_', '-')}", getattr(resolved, name), optional=True)
    if resume_dir is None and resolved.data_dir is not None:
        # stored absolute, so a resume from another working directory reads the same files
        resolved.data_dir = str(Path(resolved.data_dir).expanduser().absolute())
    return resolved, extended_from


class _Loop:
    """The loop of one run: epochs of steps, an evaluation, a checkpoint and a line per epoch."""

    def __init__(self, trainer: Trainer, ctx: DeviceContext, owner: RunOwner, parts: Parts,
                 saver: Checkpointer, at: Counters, progress: Progress, notes: list[str],
                 t0: float) -> None:
        self.config = trainer.config
        self.stop_after = trainer.stop_after
        self.resuming = trainer.resume_dir is not None
        self.quiet = trainer.quiet
        self.ctx, self.owner, self.parts, self.saver, self.at = ctx, owner, parts, saver, at
        self.progress = progress
        self.notes = notes
        self.t0 = t0  # when this session started (the wall time adds earlier sessions')
        self.renorm = getattr(parts.model, "renormalize_filters", None)  # ZFNet's filter clipping
        self.aux_weight = float(getattr(parts.model, "aux_loss_weight", 0.3))  # GoogLeNet's heads

    def log(self, text: str) -> None:
        if self.ctx.is_main and not self.quiet:
            self.progress.clear()
            print(text, flush=True)

    # --- the loop ------------------------------------------------------------------------------
    def run(self, stop: _StopFlag) -> dict[str, Any]:
        c, at = self.config, self.at
        self._announce()
        last_eval: dict[str, Any] | None = at.history[-1] if at.history else None
        while at.epoch < c.epochs:
            if self.stop_after is not None and at.epoch >= self.stop_after:
                self.log(f"stopped after epoch {at.epoch} as asked; continue with "
                         f"`cnnzoo train --resume {self.owner.root}`")
                return {"stopped": True, "epoch": at.epoch, "run_dir": str(self.owner.root)}
            row = self._train_epoch(stop)
            if at.epoch % c.eval_every == 0 or at.epoch == c.epochs:
                ev = self._evaluate()
                row.update(test_loss=ev["loss"], test_top1=ev["top1"], test_top5=ev["top5"])
                last_eval = row
            row["wall_time_s"] = at.elapsed + time.perf_counter() - self.t0
            at.history.append(row)
            self._save({k: v for k, v in row.items() if k != "epoch"})
            self.owner.epoch_done(at.history)
            self.log(self._epoch_line(row))
            if self._stop_requested(stop) and at.epoch < c.epochs:
                self._interrupted()
        return self._finish(last_eval)

    def _train_epoch(self, stop: _StopFlag) -> dict[str, Any]:
        """One epoch (or the rest of one, after a resume inside it): its metrics row."""
        c, at, p = self.config, self.at, self.parts
        order, aug_gen, meter = self._begin_epoch()
        p.net.train()
        window: list[tuple[int, Tensor]] = []  # losses not yet checked for NaN
        epoch_start = time.perf_counter() - at.partial_time
        first_step = at.step_in_epoch

        def after(_: int, loss: Tensor, logits: Tensor, y: Tensor) -> bool:
            step = at.step_in_epoch
            at.global_step += 1
            at.step_in_epoch = step + 1
            meter.add(loss.float(), logits.float(), y)
            window.append((step, loss.detach()))
            if len(window) >= self.ctx.sync_every() or step + 1 == p.steps_per_epoch:
                self._check_finite(window)
                window.clear()
                self._show_progress(meter, step, first_step, epoch_start)
            if self._stop_requested(stop) and step + 1 < p.steps_per_epoch:
                self._check_finite(window)
                at.partial_time = time.perf_counter() - epoch_start
                self._save({"interrupted": True}, meter=meter, aug_gen=aug_gen)
                self._interrupted()  # raises
            return False

        lr = run_steps(self._batches(order, aug_gen, first_step), p.schedule, p.optimizer, c.lr,
                       at.global_step, self._step, after)
        return self._end_epoch(meter, lr, first_step, epoch_start)

    def _batches(self, order: Tensor, aug_gen: torch.Generator, first_step: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The epoch's batches from `first_step` on: this process's share, augmented (uint8)."""
        p, B = self.parts, self.config.batch_size
        for step in range(first_step, p.steps_per_epoch):
            idx = local_slice(order[step * B:(step + 1) * B], self.ctx.dist)
            x, y = p.images[idx], p.labels[idx]
            yield (x if p.augment is None else p.augment(x, aug_gen)), y

    def _step(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """One optimisation step on a batch (uint8 images, after augmentation): (loss, logits)."""
        p, c = self.parts, self.config
        x = p.pipeline(x)
        if c.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)

        def loss_of(out: Any, y: Tensor) -> Tensor:
            if isinstance(out, tuple):  # GoogLeNet: (logits, aux1, aux2)
                return p.criterion(out[0], y) + self.aux_weight * sum(p.criterion(a, y) for a in out[1:])
            return p.criterion(out, y)

        loss, out = train_step(p.net, x, y, p.optimizer, loss_of, scaler=p.scaler, amp=c.amp,
                               after=self.renorm)
        return loss, out[0] if isinstance(out, tuple) else out

    # --- an epoch's start and end --------------------------------------------------------------
    def _begin_epoch(self) -> tuple[Tensor, torch.Generator, Meter]:
        """The epoch's data order and augmentation generator (seeded by seed, epoch and rank) and
        its meter; inside an epoch after a resume, the saved generator, sums and time."""
        c, at, device = self.config, self.at, self.ctx.device
        n = self.parts.images.shape[0]
        order = torch.randperm(n, generator=torch.Generator().manual_seed(mix(c.seed, ORDER, at.epoch)))
        order = order.to(device)
        aug_gen = torch.Generator(device=device)
        aug_gen.manual_seed(mix(c.seed, AUGMENT, at.epoch, self.ctx.dist.rank))
        meter = Meter(device)
        at.partial_time = 0.0
        if at.partial is not None:  # resuming inside this epoch
            if at.partial["augment"] is not None:
                aug_gen.set_state(at.partial["augment"])
            if at.partial["meter"] is not None:
                meter.sums.copy_(at.partial["meter"].to(device))
            at.partial_time = at.partial["time"]
            at.partial = None
        return order, aug_gen, meter

    def _end_epoch(self, meter: Meter, lr: float, first_step: int, epoch_start: float) -> dict[str, Any]:
        """Count the epoch done and return its training row (sums over every process)."""
        at, B = self.at, self.config.batch_size
        self.ctx.synchronize()
        epoch_time = time.perf_counter() - epoch_start
        steps_done = self.parts.steps_per_epoch - first_step
        stepping = epoch_time - (at.partial_time if first_step else 0.0)
        at.train_time += stepping
        at.train_images += steps_done * B
        train = meter.sums.clone()
        self.ctx.dist.all_reduce(train)
        loss_sum, top1, _, seen = train.tolist()
        at.epoch += 1
        at.step_in_epoch = 0
        return {"epoch": at.epoch, "lr": lr, "train_loss": loss_sum / seen,
                "train_top1": 100 * top1 / seen, "images_per_s": steps_done * B / max(stepping, 1e-9),
                "epoch_time_s": epoch_time}

    def _show_progress(self, meter: Meter, step: int, first_step: int, epoch_start: float) -> None:
        if not self.progress.active:
            return
        steps = self.parts.steps_per_epoch
        done = step + 1 - first_step
        spent = max(time.perf_counter() - epoch_start - self.at.partial_time, 1e-9)
        v = meter.values()
        self.progress.update(self.at.epoch + 1, self.config.epochs, step + 1, steps, v["loss"],
                             v["top1"] / 100, done * self.config.batch_size / spent,
                             eta=spent / done * (steps - step - 1))

    def _evaluate(self) -> dict[str, Any]:
        p, c = self.parts, self.config
        return evaluate_arrays(p.model, p.test_set.images, p.test_set.labels, p.pipeline,
                               len(p.classes), device=self.ctx.device, batch_size=max(256, c.batch_size),
                               amp=c.amp, channels_last=c.channels_last, dist=self.ctx.dist)

    def _save(self, metrics: dict[str, Any], meter: Meter | None = None,
              aug_gen: torch.Generator | None = None) -> None:
        """checkpoints/last (and at an epoch's end, without a meter, checkpoints/epoch-NNNN)."""
        state = self.saver.pack(self.at, self.t0, meter, aug_gen)  # a collective
        meta = self.saver.meta(self.at, metrics) if self.ctx.is_main else {}
        self.owner.save(self.parts.model, meta, state, self.at.history,
                        epoch=self.at.epoch if meter is None else None)

    # --- stopping ------------------------------------------------------------------------------
    def _check_finite(self, window: list[tuple[int, Tensor]]) -> None:
        if not window:
            return
        at = self.at
        losses = torch.stack([value.float() for _, value in window])
        bad = ~torch.isfinite(losses)
        flag = bad.any().to(torch.float64).reshape(1)
        self.ctx.dist.all_reduce(flag)  # every process stops together
        if flag.item() == 0:
            return
        k = int(bad.nonzero()[0, 0]) if bad.any() else len(window) - 1
        step, value = window[k][0], losses[k].item()
        global_step = at.global_step - (len(window) - k)
        what = "nan" if math.isnan(value) else "infinite" if bad.any() else "non-finite (on another process)"
        kept = (f"the last good checkpoint (epoch {at.epoch}) is kept in {self.owner.dir.last}"
                if at.epoch else "no checkpoint was written")
        raise TrainingDiverged(
            f"loss became {what} at epoch {at.epoch + 1} step {step + 1} (global step {global_step + 1}): "
            f"lower the learning rate (--lr, now {self.config.lr:g}) or add warm-up (--warmup-epochs); {kept}")

    def _stop_requested(self, stop: _StopFlag) -> bool:
        return self.ctx.any_process(stop.signal is not None)

    def _position(self) -> str:
        """Where the run stands, in the same words for the stop and the resume messages."""
        if self.at.step_in_epoch:
            return (f"in epoch {self.at.epoch + 1}, after step {self.at.step_in_epoch} of "
                    f"{self.parts.steps_per_epoch}")
        return f"after epoch {self.at.epoch}"

    def _interrupted(self) -> None:
        self.log(f"interrupted: saved a checkpoint {self._position()} in {self.owner.dir.last}; "
                 f"continue with `cnnzoo train --resume {self.owner.root}`")
        raise KeyboardInterrupt

    # --- what it says --------------------------------------------------------------------------
    def _announce(self) -> None:
        c, p, ctx = self.config, self.parts, self.ctx
        params = sum(q.numel() for q in p.model.parameters() if q.requires_grad)
        world = f" x {ctx.dist.world} processes" if ctx.dist.enabled else ""
        self.log(f"{'resuming' if self.resuming else 'training'} {c.model} ({params:,} parameters) on "
                 f"{c.dataset}: {p.images.shape[0]:,} train / {p.test_set.images.shape[0]:,} test images, "
                 f"{len(p.classes)} classes; device {ctx.device}{world}"
                 + (f", {describe_threads(ctx.threads)}" if ctx.device.type == "cpu" else ""))
        self.log(p.data.banner)
        opt = (f"SGD momentum {c.momentum}" if c.optimizer == "sgd" else "AdamW")
        warm = f", warm-up {c.warmup_epochs:g} epochs" if c.warmup_epochs else ""
        self.log(f"recipe: {count(c.epochs, 'epoch')} x {count(p.steps_per_epoch, 'step')} of "
                 f"{c.batch_size}, {opt}, lr {c.lr:g} ({c.schedule}{warm}), weight decay {c.weight_decay:g}"
                 + (f", label smoothing {c.label_smoothing:g}" if c.label_smoothing else "")
                 + (f", amp {c.amp}" if c.amp != "off" else "") + (", channels_last" if c.channels_last else "")
                 + (", compiled" if c.compile else ""))
        self.log(f"run folder: {self.owner.root}"
                 + (" (TensorBoard: tensorboard/)" if self.owner.tb is not None else ""))
        for note in self.notes:
            self.log(note)
        if self.resuming and (self.at.epoch or self.at.step_in_epoch):
            self.log(f"resuming {self._position()}")

    def _epoch_line(self, row: dict[str, Any]) -> str:
        c = self.config
        test = (f"  test loss {row['test_loss']:.4f} top-1 {row['test_top1']:6.2f}% "
                f"top-5 {row['test_top5']:6.2f}%" if "test_loss" in row else "")
        left = c.epochs - self.at.epoch
        eta = f"  ETA {duration(left * row['epoch_time_s'])}" if left else ""
        return (f"epoch {row['epoch']:>{len(str(c.epochs))}}/{c.epochs}  lr {row['lr']:.3e}  "
                f"train loss {row['train_loss']:.4f} top-1 {row['train_top1']:6.2f}%{test}  "
                f"{row['images_per_s']:,.0f} img/s  {row['epoch_time_s']:.1f}s{eta}")

    def _finish(self, last_eval: dict[str, Any] | None) -> dict[str, Any]:
        c, at, ctx = self.config, self.at, self.ctx
        wall = at.elapsed + time.perf_counter() - self.t0
        ev = last_eval or {}
        last = at.history[-1] if at.history else {}
        results = {
            "model": c.model, "dataset": c.dataset, "epochs": at.epoch,
            "top1": ev.get("test_top1"), "top5": ev.get("test_top5"), "loss": ev.get("test_loss"),
            "train_loss": last.get("train_loss"), "train_top1": last.get("train_top1"),
            "images_per_s": at.train_images / max(at.train_time, 1e-9),
            "wall_time_s": wall, "train_time_s": at.train_time,
            "params": sum(p.numel() for p in self.parts.model.parameters() if p.requires_grad),
            "device": str(ctx.device), "world_size": ctx.dist.world, "seed": c.seed,
            "torch_version": torch.__version__, "units": "top1/top5 in percent; loss = mean cross-entropy",
            "run_dir": str(self.owner.root), "checkpoint": str(self.owner.dir.last),
        }
        self.owner.write_results(results)
        if ev:
            self.log(f"test accuracy: top-1 {ev['test_top1']:.2f}%  top-5 {ev['test_top5']:.2f}%  "
                     f"(loss {ev['test_loss']:.4f}) after {count(at.epoch, 'epoch')}, {duration(wall)}; "
                     f"run saved in {self.owner.root}")
        return results


def train(config: TrainConfig | str | None = None, *, resume: str | Path | None = None,
          stop_after: int | None = None, device: str | None = None, quiet: bool = False,
          progress: bool = True, datasets: tuple[Any, Any] | None = None, epochs: int | None = None,
          threads: int | None = None, **options: Any) -> dict[str, Any]:
    """Train a model; returns the results dict (also written to DIR/results.json).

    `train("lenet5", epochs=3, out="runs/l5")`, `train(TrainConfig(...))` or
    `train(resume="runs/l5")`. `stop_after=k` stops (resumably) once k epochs are complete.
    `datasets=(train_set, test_set)` trains on ArrayDatasets you built instead of loading by name.
    `train(resume=DIR, epochs=N)` extends a run (finished or not) to N epochs.
    `threads=N` sets the CPU threads (default: OMP_NUM_THREADS, else PyTorch's choice).
    """
    if isinstance(config, str):
        fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"model", "epochs"}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise UnknownOptionError(f"train() takes no option {unknown[0]!r}"
                                     + close_matches(unknown[0], sorted(fields)))
        config = TrainConfig(model=config, epochs=epochs, **options)
        epochs = None
    elif options:
        raise OptionError("keyword options go with a model name, not with a TrainConfig: set "
                          f"them on the TrainConfig ({', '.join(sorted(options))})")
    return Trainer(config, resume=resume, stop_after=stop_after, device=device, quiet=quiet,
                   datasets=datasets, progress=progress, epochs=epochs, threads=threads).run()
