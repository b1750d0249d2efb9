"""The training loop: one engine for every model in the zoo.

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

import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, CnnzooError, OptionError
from . import checkpoint as ckpt
from .config import TrainConfig
from .distributed import DistInfo, local_slice, setup, teardown
from .evaluate import autocast, evaluate_arrays
from .metrics import Meter, csv_text, is_finite
from .optim import Schedule, build_optimizer
from .progress import Progress

METRIC_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5",
                  "images_per_s", "epoch_time_s", "wall_time_s")


class TrainingDiverged(CnnzooError):
    """The loss became NaN or infinite."""


def _mix(*parts: int) -> int:
    """A 63-bit seed from several integers (distinct tuples give distinct, unrelated seeds)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


_ORDER, _AUGMENT, _RANK = 1, 2, 3


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
    """One training run. `Trainer(config).run()`, or `Trainer(resume=DIR).run()`."""

    def __init__(self, config: TrainConfig | None = None, *, resume: str | Path | None = None,
                 stop_after: int | None = None, device: str | None = None, quiet: bool = False,
                 datasets: tuple[Any, Any] | None = None, progress: bool = True) -> None:
        self.stop_after = stop_after
        self.quiet = quiet
        self.show_progress = progress
        self.datasets = datasets
        self.resume_dir = Path(resume) if resume is not None else None
        if self.resume_dir is not None:
            if not (self.resume_dir / "config.json").is_file():
                raise CheckpointError(f"{self.resume_dir} is not a run folder (no config.json): "
                                      "--resume takes the --out folder of an earlier `cnnzoo train`")
            saved = TrainConfig.load(self.resume_dir / "config.json")
            if config is not None and config.model != saved.model:
                raise CheckpointError(f"{self.resume_dir} is a run of {saved.model!r}, not {config.model!r}")
            config = saved
            config.out = str(self.resume_dir)
        if config is None:
            raise OptionError("give a model to train or a run folder to resume")
        if device is not None:
            config.device = device
        self.config = config.resolved()

    # --- output ----------------------------------------------------------------------------
    def log(self, text: str) -> None:
        if self.dist.is_main and not self.quiet:
            self.progress.clear()
            print(text, flush=True)

    # --- setup -----------------------------------------------------------------------------
    def _setup(self) -> None:
        from ..data import adapt_input, default_augment, load_dataset

        c = self.config
        self.dist, self.device = setup(c.device)
        if c.batch_size % self.dist.world:
            raise OptionError(f"batch size {c.batch_size} does not split over {self.dist.world} "
                              f"processes: use a multiple of {self.dist.world}")
        if c.amp == "fp16" and self.device.type != "cuda":
            raise OptionError("--amp fp16 needs a CUDA GPU: use --amp bf16 (or off) on the CPU")
        if c.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.progress = Progress(enabled=self.show_progress and self.dist.is_main and not self.quiet)

        # The run folder: rank 0 picks (and checks) it, the others are told.
        run_dir = None
        if self.dist.is_main:
            run_dir = self._run_dir()
        self.run_dir = Path(self.dist.broadcast(str(run_dir) if run_dir else None))

        if self.datasets is not None:
            self.train_set, self.test_set = self.datasets
        else:
            # ImageFolder images of any size are decoded straight to the size the model takes
            # (fixed-size sets such as Fashion-MNIST ignore it and are adapted below).
            from ..registry import model_info
            size = c.image_size or model_info(c.model).input_size[-1]
            self.train_set = load_dataset(c.dataset, "train", data_dir=c.data_dir, image_size=size)
            self.test_set = load_dataset(c.dataset, "test", data_dir=c.data_dir, image_size=size)
        self.classes = list(self.train_set.classes)
        in_channels = c.in_channels or int(self.train_set.images.shape[1])
        self.adapter = adapt_input(self.train_set, c.model, image_size=c.image_size, in_channels=in_channels)
        self.augment = default_augment(self.train_set.name) if c.augment else None

        torch.manual_seed(c.seed)  # the same initial weights on every process
        self.model = _create(c, len(self.classes), in_channels)
        if self.dist.rank:  # dropout masks differ between processes; rank 0 keeps the plain stream
            torch.manual_seed(_mix(c.seed, _RANK, self.dist.rank))
        self.model.to(self.device)
        if c.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, c)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=c.amp == "fp16")
        self.net: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if c.compile:
            self.net = torch.compile(self.net)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=c.label_smoothing)

        # Data in memory, on the device when that is a GPU (one copy, uint8).
        self.images = self.train_set.images.to(self.device)
        self.labels = self.train_set.labels.to(self.device)
        n = self.images.shape[0]
        if n < c.batch_size:
            raise OptionError(f"batch size {c.batch_size} is larger than the {n} training images: "
                              "use a smaller --batch-size")
        self.steps_per_epoch = n // c.batch_size
        self.schedule = Schedule(c.schedule, c.epochs * self.steps_per_epoch,
                                 round(c.warmup_epochs * self.steps_per_epoch))

        # Counters (overwritten by a resume).
        self.epoch = 0  # completed epochs
        self.step_in_epoch = 0
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.elapsed = 0.0  # wall time of earlier sessions of this run
        self.train_time = 0.0  # time spent in training steps (for images/s)
        self.train_images = 0
        self.partial: dict[str, Any] | None = None
        if self.resume_dir is not None:
            self._load_state()
        elif self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.atomic_json(self.run_dir / "config.json", c.to_json())

    def _run_dir(self) -> Path:
        c = self.config
        if self.resume_dir is not None:
            return self.resume_dir
        if c.out:
            out = Path(c.out)
            if (out / "config.json").exists() or (out / "checkpoints").exists():
                raise OptionError(f"{out} already holds a run: continue it with --resume {out}, "
                                  "or choose another --out")
            if out.exists() and not out.is_dir():
                raise OptionError(f"--out {out} is a file, not a folder")
            return out
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{c.model}-{stamp}"
        k = 1
        while out.exists():
            k += 1
            out = Path("runs") / f"{c.model}-{stamp}-{k}"
        c.out = str(out)
        return out

    # --- state -----------------------------------------------------------------------------
    def _meta(self, metrics: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        a = self.adapter
        return {
            "model": c.model, "model_options": dict(c.model_options), "num_classes": len(self.classes),
            "in_channels": int(getattr(self.model, "in_channels", 0) or _in_channels(self.model, a)),
            "dataset": c.dataset, "classes": self.classes,
            "image_shape": list(self.train_set.images.shape[1:]),  # what the adapter takes (C, H, W)
            "normalization": {"mean": _floats(a.mean), "std": _floats(a.std),
                              "size": list(a.size) if a.size is not None else None, "mode": a.mode},
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "metrics": metrics, "config": c.to_json(), "created": ckpt.now(),
            "torch_version": torch.__version__,
        }

    def _train_state(self, meter: Meter | None, aug_gen: torch.Generator | None) -> tuple[dict, dict]:
        """Optimizer, scaler, RNG, generator and counter state: (tensors, JSON scalars).

        RNG and partial-epoch tensors come from every process (collected on all, written by 0)."""
        tensors, opt_json = ckpt.pack_optimizer(self.optimizer)
        mine: dict[str, Tensor] = {"rng.cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            mine["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        if aug_gen is not None:
            mine["augment"] = aug_gen.get_state()
        if meter is not None:
            mine["meter"] = meter.sums.cpu()
        for rank, states in enumerate(self.dist.gather(mine)):
            for key, value in states.items():
                tensors[f"{key}.rank{rank}"] = value
        scalars = {
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
            "world_size": self.dist.world, "optimizer": opt_json, "scaler": self.scaler.state_dict(),
            "history": self.history, "elapsed": self.elapsed + (time.perf_counter() - self.t0),
            "train_time": self.train_time, "train_images": self.train_images,
            "partial_time": self.partial_time if meter is not None else 0.0,
        }
        return tensors, scalars

    def _save(self, metrics: dict[str, Any], meter: Meter | None = None,
              aug_gen: torch.Generator | None = None, epoch_end: bool = True) -> None:
        state = self._train_state(meter, aug_gen)  # a collective: every process takes part
        if self.dist.is_main:
            sd = ckpt.clean_state_dict(self.model)
            meta = self._meta(metrics)
            if epoch_end and self.config.keep_epochs != 0:
                ckpt.write_checkpoint(ckpt.epoch_dir(self.run_dir, self.epoch), sd, meta)
                ckpt.prune_epochs(self.run_dir, self.config.keep_epochs)
            ckpt.write_checkpoint(self.run_dir / "checkpoints" / "last", sd, meta, train_state=state)
            ckpt.atomic_bytes(self.run_dir / "metrics.csv",
                              csv_text(self.history, METRIC_COLUMNS).encode())
        self.dist.barrier()

    def _load_state(self) -> None:
        folder = ckpt.checkpoint_dir(self.resume_dir)
        meta = ckpt.read_meta(folder)
        if meta["model"] != self.config.model:
            raise CheckpointError(f"{folder} holds a checkpoint of {meta['model']!r}, but the run is "
                                  f"of {self.config.model!r}")
        if not (folder / "state.json").is_file():
            raise CheckpointError(f"{folder} has no training state (state.json): it cannot be resumed")
        try:
            import json

            scalars = json.loads((folder / "state.json").read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{folder / 'state.json'} is corrupt ({e.__class__.__name__})") from None
        tensors = ckpt.read_tensors(folder / "state.safetensors")
        ckpt.load_weights(self.model, ckpt.read_tensors(folder / "model.safetensors"), where=str(folder))
        ckpt.unpack_optimizer(self.optimizer, tensors, scalars["optimizer"])
        if scalars.get("scaler"):
            self.scaler.load_state_dict(scalars["scaler"])
        self.epoch = int(scalars["epoch"])
        self.step_in_epoch = int(scalars["step_in_epoch"])
        self.global_step = int(scalars["global_step"])
        self.history = list(scalars["history"])
        self.elapsed = float(scalars["elapsed"])
        self.train_time = float(scalars["train_time"])
        self.train_images = int(scalars["train_images"])
        rank = self.dist.rank
        same_world = int(scalars.get("world_size", 1)) == self.dist.world
        if not same_world:
            self.log(f"note: the run was saved by {scalars.get('world_size')} processes and resumes "
                     f"on {self.dist.world}: it continues, but not bit-identically")
        key = f"rank{rank if same_world else 0}"
        if f"rng.cpu.{key}" in tensors:
            torch.set_rng_state(tensors[f"rng.cpu.{key}"])
        if self.device.type == "cuda" and f"rng.cuda.{key}" in tensors:
            torch.cuda.set_rng_state(tensors[f"rng.cuda.{key}"], self.device)
        if self.step_in_epoch:
            self.partial = {"augment": tensors.get(f"augment.{key}"), "meter": tensors.get(f"meter.{key}"),
                            "time": float(scalars.get("partial_time", 0.0))}
        if self.dist.is_main:  # metrics.csv may lag the checkpoint by a row after a kill
            ckpt.atomic_bytes(self.run_dir / "metrics.csv", csv_text(self.history, METRIC_COLUMNS).encode())

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.t0 = time.perf_counter()
        self._setup()
        try:
            with _StopFlag() as stop:
                return self._loop(stop)
        finally:
            self.progress.clear()
            teardown(self.dist)

    def _announce(self) -> None:
        c = self.config
        params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        world = f" x {self.dist.world} processes" if self.dist.enabled else ""
        where = "resuming" if self.resume_dir is not None else "training"
        self.log(f"{where} {c.model} ({params:,} parameters) on {c.dataset}: {self.images.shape[0]:,} "
                 f"train / {self.test_set.images.shape[0]:,} test images, {len(self.classes)} classes; "
                 f"device {self.device}{world}")
        self.log(f"input: {self.adapter.description}")
        opt = (f"SGD momentum {c.momentum}" if c.optimizer == "sgd" else "AdamW")
        warm = f", warm-up {c.warmup_epochs:g} epochs" if c.warmup_epochs else ""
        self.log(f"recipe: {c.epochs} epochs x {self.steps_per_epoch} steps of {c.batch_size}, {opt}, "
                 f"lr {c.lr:g} ({c.schedule}{warm}), weight decay {c.weight_decay:g}"
                 + (f", label smoothing {c.label_smoothing:g}" if c.label_smoothing else "")
                 + (f", augment: {getattr(self.augment, 'description', 'on')}" if self.augment else ", no augmentation")
                 + (f", amp {c.amp}" if c.amp != "off" else "") + (", channels_last" if c.channels_last else "")
                 + (", compiled" if c.compile else ""))
        self.log(f"run folder: {self.run_dir}")
        if self.resume_dir is not None:
            self.log(f"resuming {self._position()}")

    def _loop(self, stop: _StopFlag) -> dict[str, Any]:
        c = self.config
        self._announce()
        sync_every = 1 if (self.device.type == "cpu" or self.dist.enabled) else 25
        raw = self.model
        renorm = getattr(raw, "renormalize_filters", None)
        aux_weight = float(getattr(raw, "aux_loss_weight", 0.3))
        n = self.images.shape[0]
        B = c.batch_size
        last_eval: dict[str, Any] | None = self.history[-1] if self.history else None

        while self.epoch < c.epochs:
            if self.stop_after is not None and self.epoch >= self.stop_after:
                self.log(f"stopped after epoch {self.epoch} as asked; continue with "
                         f"`cnnzoo train --resume {self.run_dir}`")
                return {"stopped": True, "epoch": self.epoch, "run_dir": str(self.run_dir)}
            order = torch.randperm(n, generator=torch.Generator().manual_seed(_mix(c.seed, _ORDER, self.epoch)))
            order = order.to(self.device)
            aug_gen = torch.Generator(device=self.device)
            aug_gen.manual_seed(_mix(c.seed, _AUGMENT, self.epoch, self.dist.rank))
            meter = Meter(self.device)
            self.partial_time = 0.0
            if self.partial is not None:  # resuming inside this epoch
                if self.partial["augment"] is not None:
                    aug_gen.set_state(self.partial["augment"])
                if self.partial["meter"] is not None:
                    meter.sums.copy_(self.partial["meter"].to(self.device))
                self.partial_time = self.partial["time"]
                self.partial = None
            self.net.train()
            lr = c.lr
            window: list[tuple[int, Tensor]] = []
            epoch_start = time.perf_counter() - self.partial_time
            first_step = self.step_in_epoch
            for step in range(first_step, self.steps_per_epoch):
                idx = local_slice(order[step * B:(step + 1) * B], self.dist)
                x = self.images[idx]
                y = self.labels[idx]
                if self.augment is not None:
                    x = self.augment(x, aug_gen)
                x = self.adapter(x)
                if c.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = self.schedule.apply(self.optimizer, c.lr, self.global_step)
                with autocast(self.device, c.amp):
                    out = self.net(x)
                    if isinstance(out, tuple):  # GoogLeNet: (logits, aux1, aux2)
                        logits = out[0]
                        loss = self.criterion(logits, y) + aux_weight * sum(self.criterion(a, y) for a in out[1:])
                    else:
                        logits = out
                        loss = self.criterion(logits, y)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                if renorm is not None:
                    renorm()
                self.global_step += 1
                self.step_in_epoch = step + 1
                meter.add(loss.float(), logits.float(), y)
                window.append((step, loss.detach()))
                if len(window) >= sync_every or step + 1 == self.steps_per_epoch:
                    self._check_finite(window)
                    window = []
                    if self.progress.active:
                        done = (step + 1 - first_step) * B
                        v = meter.values()
                        self.progress.update(self.epoch + 1, c.epochs, step + 1, self.steps_per_epoch,
                                             v["loss"], v["top1"] / 100,
                                             done / max(time.perf_counter() - epoch_start - self.partial_time, 1e-9)
                                             if done else 0.0)
                if self._stop_requested(stop) and step + 1 < self.steps_per_epoch:
                    self._check_finite(window)
                    self.partial_time = time.perf_counter() - epoch_start
                    self._save({"interrupted": True}, meter=meter, aug_gen=aug_gen, epoch_end=False)
                    self._interrupted()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            epoch_time = time.perf_counter() - epoch_start
            steps_done = self.steps_per_epoch - first_step
            self.train_time += epoch_time - self.partial_time if first_step else epoch_time
            self.train_images += steps_done * B
            train = meter.sums.clone()
            self.dist.all_reduce(train)
            loss_sum, top1, _, seen = train.tolist()
            self.epoch += 1
            self.step_in_epoch = 0
            row: dict[str, Any] = {
                "epoch": self.epoch, "lr": lr, "train_loss": loss_sum / seen, "train_top1": 100 * top1 / seen,
                "images_per_s": steps_done * B / max(epoch_time - (self.partial_time if first_step else 0.0), 1e-9),
                "epoch_time_s": epoch_time,
            }
            if self.epoch % c.eval_every == 0 or self.epoch == c.epochs:
                ev = self._evaluate()
                row.update(test_loss=ev["loss"], test_top1=ev["top1"], test_top5=ev["top5"])
                last_eval = row
            row["wall_time_s"] = self.elapsed + time.perf_counter() - self.t0
            self.history.append(row)
            self._save({k: v for k, v in row.items() if k != "epoch"})
            if self.dist.is_main:
                self._plot()
            self.log(self._epoch_line(row))
            if self._stop_requested(stop) and self.epoch < c.epochs:
                self._interrupted()
        return self._finish(last_eval)

    def _evaluate(self) -> dict[str, Any]:
        return evaluate_arrays(self.model, self.test_set.images, self.test_set.labels, self.adapter,
                               len(self.classes), device=self.device, batch_size=max(256, self.config.batch_size),
                               amp=self.config.amp, channels_last=self.config.channels_last, dist=self.dist)

    def _check_finite(self, window: list[tuple[int, Tensor]]) -> None:
        if not window:
            return
        losses = torch.stack([l.float() for _, l in window])
        bad = ~torch.isfinite(losses)
        flag = bad.any().to(torch.float64).reshape(1)
        self.dist.all_reduce(flag)  # every process stops together
        if flag.item() == 0:
            return
        k = int(bad.nonzero()[0, 0]) if bad.any() else len(window) - 1
        step, value = window[k][0], losses[k].item()
        global_step = self.global_step - (len(window) - k)
        what = "nan" if math.isnan(value) else "infinite" if bad.any() else "non-finite (on another process)"
        kept = (f"the last good checkpoint (epoch {self.epoch}) is kept in {self.run_dir / 'checkpoints' / 'last'}"
                if self.epoch else "no checkpoint was written")
        raise TrainingDiverged(
            f"loss became {what} at epoch {self.epoch + 1} step {step + 1} (global step {global_step + 1}): "
            f"lower the learning rate (--lr, now {self.config.lr:g}) or add warm-up (--warmup-epochs); {kept}")

    def _stop_requested(self, stop: _StopFlag) -> bool:
        if not self.dist.enabled:  # no device round trip (a GPU would sync every step)
            return stop.signal is not None
        # Under torchrun every process must stop at the same step, or the next all-reduce hangs.
        flag = torch.tensor([1.0 if stop.signal is not None else 0.0], dtype=torch.float64,
                            device=self.device if self.device.type == "cuda" else "cpu")
        self.dist.all_reduce(flag)
        return bool(flag.item())

    def _position(self) -> str:
        """Where the run stands, in the same words for the stop and the resume messages."""
        if self.step_in_epoch:
            return f"in epoch {self.epoch + 1}, after step {self.step_in_epoch} of {self.steps_per_epoch}"
        return f"after epoch {self.epoch}"

    def _interrupted(self) -> None:
        self.log(f"interrupted: saved a checkpoint {self._position()} in {self.run_dir / 'checkpoints' / 'last'}; "
                 f"continue with `cnnzoo train --resume {self.run_dir}`")
        raise KeyboardInterrupt

    def _epoch_line(self, row: dict[str, Any]) -> str:
        c = self.config
        test = (f"  test loss {row['test_loss']:.4f} top-1 {row['test_top1']:.2f}% top-5 {row['test_top5']:.2f}%"
                if "test_loss" in row else "")
        return (f"epoch {row['epoch']:>{len(str(c.epochs))}}/{c.epochs}  lr {row['lr']:.3g}  "
                f"train loss {row['train_loss']:.4f} top-1 {row['train_top1']:.2f}%{test}  "
                f"{row['images_per_s']:,.0f} img/s  {row['epoch_time_s']:.1f}s")

    def _plot(self) -> None:
        try:
            from .plots import learning_curves

            learning_curves(self.history, self.run_dir / "curves.png",
                            title=f"{self.config.model} on {self.config.dataset}")
        except Exception as e:  # a plotting problem must not lose a training run
            print(f"cnnzoo: warning: could not draw curves.png ({e})", file=sys.stderr)

    def _finish(self, last_eval: dict[str, Any] | None) -> dict[str, Any]:
        c = self.config
        wall = self.elapsed + time.perf_counter() - self.t0
        ev = last_eval or {}
        results = {
            "model": c.model, "dataset": c.dataset, "epochs": self.epoch,
            "top1": ev.get("test_top1"), "top5": ev.get("test_top5"), "loss": ev.get("test_loss"),
            "train_loss": self.history[-1]["train_loss"] if self.history else None,
            "train_top1": self.history[-1]["train_top1"] if self.history else None,
            "images_per_s": self.train_images / max(self.train_time, 1e-9),
            "wall_time_s": wall, "train_time_s": self.train_time,
            "params": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            "device": str(self.device), "world_size": self.dist.world, "seed": c.seed,
            "torch_version": torch.__version__, "units": "top1/top5 in percent; loss = mean cross-entropy",
            "run_dir": str(self.run_dir), "checkpoint": str(self.run_dir / "checkpoints" / "last"),
        }
        if self.dist.is_main:
            ckpt.atomic_json(self.run_dir / "results.json", results)
        if ev:
            self.log(f"test accuracy: top-1 {ev['test_top1']:.2f}%  top-5 {ev['test_top5']:.2f}%  "
                     f"(loss {ev['test_loss']:.4f}) after {self.epoch} epochs, {_duration(wall)}; "
                     f"run saved in {self.run_dir}")
        return results


def _create(c: TrainConfig, num_classes: int, in_channels: int) -> nn.Module:
    from ..registry import create_model

    try:
        return create_model(c.model, num_classes=num_classes, in_channels=in_channels, **c.model_options)
    except (TypeError, ValueError) as e:
        if isinstance(e, CnnzooError):
            raise
        raise OptionError(f"cannot build {c.model} with {num_classes} classes, {in_channels} channels "
                          f"and options {c.model_options}: {e}") from None


def _in_channels(model: nn.Module, adapter: Any) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return int(getattr(adapter, "channels", 0) or 0)


def _floats(v: Any) -> list[float] | None:
    if v is None:
        return None
    if isinstance(v, Tensor):
        return [float(x) for x in v.flatten().tolist()]
    if isinstance(v, (int, float)):
        return [float(v)]
    return [float(x) for x in v]


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{seconds:.1f}s"


def train(config: TrainConfig | str | None = None, *, resume: str | Path | None = None,
          stop_after: int | None = None, device: str | None = None, quiet: bool = False,
          progress: bool = True, datasets: tuple[Any, Any] | None = None, **options: Any) -> dict[str, Any]:
    """Train a model; returns the results dict (also written to DIR/results.json).

    `train("lenet5", epochs=3, out="runs/l5")`, `train(TrainConfig(...))` or
    `train(resume="runs/l5")`. `stop_after=k` stops (resumably) once k epochs are complete.
    `datasets=(train_set, test_set)` trains on ArrayDatasets you built instead of loading by name.
    """
    if isinstance(config, str):
        config = TrainConfig(model=config, **options)
    elif options:
        raise TypeError("keyword options go with a model name, not with a TrainConfig")
    return Trainer(config, resume=resume, stop_after=stop_after, device=device, quiet=quiet,
                   datasets=datasets, progress=progress).run()
