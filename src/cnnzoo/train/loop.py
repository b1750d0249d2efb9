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

import dataclasses
import json
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

from ..errors import CheckpointError, CnnzooError, DataError, OptionError, UnknownOptionError, close_matches
from ..export.machine import native_bf16
from ..inference.evaluate import evaluate_arrays
from . import checkpoint as ckpt
from .config import TrainConfig
from .distributed import local_slice, setup, teardown
from .metrics import Meter, csv_text
from .optim import Schedule, build_optimizer
from .progress import Progress, duration
from .rundir import RunDir, RunFolderError
from .state import TrainState, check_tensors
from .step import train_step
from .threads import apply as apply_threads
from .threads import describe as describe_threads

METRIC_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5",
                  "images_per_s", "epoch_time_s", "wall_time_s")


class TrainingDiverged(CnnzooError):
    """The loss became NaN or infinite."""


_TB_TAGS = {"train_loss": "loss/train", "test_loss": "loss/test", "train_top1": "top1/train",
            "test_top1": "top1/test", "test_top5": "top5/test", "lr": "lr",
            "images_per_s": "speed/images_per_s", "epoch_time_s": "time/epoch_s",
            "wall_time_s": "time/wall_s"}


def _summary_writer() -> Any:
    """TensorBoard's SummaryWriter, or one line saying which package --tensorboard needs."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise OptionError("--tensorboard needs the tensorboard package: pip install tensorboard "
                          "(metrics.csv is written either way)") from None
    return SummaryWriter


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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
    """One training run. `Trainer(config).run()`, or `Trainer(resume=DIR).run()`.

    Everything the user gave is checked (TrainConfig.resolved) before any file is written; the
    run folder is then locked for the whole run (RunDir), so one process owns it."""

    def __init__(self, config: TrainConfig | None = None, *, resume: str | Path | None = None,
                 stop_after: int | None = None, device: str | None = None, quiet: bool = False,
                 datasets: tuple[Any, Any] | None = None, progress: bool = True,
                 epochs: int | None = None, threads: int | None = None) -> None:
        from .. import checks

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
        self.extended_from: int | None = None
        if self.resume_dir is not None:
            rd = RunDir(self.resume_dir)
            if not rd.config.is_file():
                raise RunFolderError(f"{self.resume_dir} is not a run folder (no config.json): "
                                     "--resume takes the --out folder of an earlier `cnnzoo train`")
            saved = TrainConfig.load(rd.config)
            if config is not None and config.model != saved.model:
                raise CheckpointError(f"{self.resume_dir} is a run of {saved.model!r}, not {config.model!r}")
            config = saved
            config.out = str(self.resume_dir)
            config.threads = None  # a property of this session and machine, not of the run
            if epochs is not None and epochs != saved.epochs:
                self.extended_from = saved.epochs
                config.epochs = epochs
        elif epochs is not None and config is not None:
            config.epochs = epochs
        if config is None:
            raise OptionError("give a model to train or a run folder to resume")
        if device is not None:
            config.device = device
        if threads is not None:
            config.threads = threads
        self.config = config.resolved()
        for name in ("out", "data_dir"):  # an empty path is a mistake, not "the default"
            checks.text(f"--{name.replace('_', '-')}", getattr(self.config, name), optional=True)
        if self.resume_dir is None and self.config.data_dir is not None:
            # stored absolute, so a resume from another working directory reads the same files
            self.config.data_dir = str(Path(self.config.data_dir).expanduser().absolute())
        self.rundir: RunDir | None = None
        self.tb: Any = None
        self._held: RunDir | None = None
        self.progress = Progress(enabled=False)  # replaced by _setup; run()'s clean-up clears it

    # --- output ----------------------------------------------------------------------------
    def log(self, text: str) -> None:
        if self.dist.is_main and not self.quiet:
            self.progress.clear()
            print(text, flush=True)

    # --- setup -----------------------------------------------------------------------------
    def _setup(self) -> None:
        """Everything a run needs, in this order: the device, the run folder, the data and the
        model, then the counters (from the checkpoint when resuming)."""
        self._setup_device()
        self._setup_folder()
        self._setup_model()
        self._setup_counters()

    def _setup_device(self) -> None:
        """Threads, the process group and the device, what --amp needs of it, determinism."""
        c = self.config
        self.threads = apply_threads(c.threads)
        self.dist, self.device = setup(c.device)
        if c.batch_size % self.dist.world:
            raise OptionError(f"batch size {c.batch_size} does not split over {self.dist.world} "
                              f"processes: use a multiple of {self.dist.world}")
        if c.amp == "fp16" and self.device.type != "cuda":
            raise OptionError("--amp fp16 needs a CUDA GPU: use --amp bf16 (or off) on the CPU")
        if c.amp == "bf16" and self.device.type == "cpu" and not native_bf16():
            # emulated bf16 autocast made resnet20 training 10x slower than float32 on such a CPU
            raise OptionError("--amp bf16 needs a CPU with native bf16 (AVX512-BF16 or AMX): this one "
                              "would emulate it, several times slower than float32; use --amp off")
        if c.tensorboard and self.dist.is_main:
            _summary_writer()  # one line naming the package if it is missing, before any write
        if c.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.progress = Progress(enabled=self.show_progress and self.dist.is_main and not self.quiet)

    def _setup_folder(self) -> None:
        c = self.config
        # A resumed run is locked before anything of it is read; a new one is only checked here
        # (nothing is written until the data and the model are ready).
        self.notes: list[str] = []
        self.run_dir = Path(self._collective(self._claim_folder))
        self.rundir = RunDir(self.run_dir)
        if c.tensorboard and self.dist.is_main:
            self.rundir.check_tensorboard()  # before anything is written

    def _setup_model(self) -> None:
        """The data (in memory, on the device when that is a GPU), the model, its optimizer,
        DDP/compile wrapping and the learning-rate schedule."""
        from .data import training_data  # the data sets' readers load with the run

        c = self.config
        data = training_data(c.dataset, c.data_dir, c.model, image_size=c.image_size,
                             augment=c.augment, in_channels=c.in_channels, datasets=self.datasets)
        self.data = data
        self.train_set, self.test_set = data.train, data.test
        if len(self.test_set) == 0:
            raise DataError(f"the {self.test_set.name} test split is empty: nothing to evaluate on")
        self.classes = list(self.train_set.classes)
        self.pipeline = data.pipeline
        self.augment = data.augment
        in_channels = self.pipeline.channels

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
            self.net = torch.compile(self.net)  # type: ignore[assignment]  # an nn.Module in practice
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

    def _setup_counters(self) -> None:
        """The run's counters, then a resume's checkpoint read over them, or a new folder taken."""
        c = self.config
        assert self.rundir is not None  # set by _setup_folder
        # Counters (overwritten by a resume).
        self.epoch = 0  # completed epochs
        self.step_in_epoch = 0
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.elapsed = 0.0  # wall time of earlier sessions of this run
        self.train_time = 0.0  # time spent in training steps (for images/s)
        self.train_images = 0
        self.partial: dict[str, Any] | None = None
        self.partial_time = 0.0
        restart = self.resume_dir is not None and not self.rundir.has_checkpoint()
        orphans = self.rundir.restart_epochs() if restart else []
        if orphans and not self._same_config(c):
            # stopped between the two writes of its first save: epoch-NNNN has the weights but no
            # training state. Starting again with the run's own config.json recomputes the same
            # epochs; with other settings it would overwrite them with another run's, so refuse
            first = orphans[0]
            raise RunFolderError(f"{self.run_dir} holds {first.relative_to(self.run_dir)} but no "
                                 "checkpoints/last (it was stopped while saving): --resume starts "
                                 "it again only with its own config.json; drop the other flags, "
                                 "or train with another --out")
        if self.resume_dir is not None and not restart:
            self._load_state()
        if self.resume_dir is None:
            self._collective(self._take_new_folder)
        if self.dist.is_main:
            if self.resume_dir is None or restart or self.extended_from is not None:
                ckpt.atomic_json(self.rundir.config, c.to_json())
            if c.tensorboard:
                self.tb = _summary_writer()(str(self.rundir.tensorboard_folder()), purge_step=self.epoch + 1)
        if restart:
            self.notes.append(f"{self.run_dir} was stopped before its first checkpoint: starting it "
                              "again from the beginning with its saved config.json"
                              + (" (the same run rewrites its epoch checkpoints)" if orphans else ""))

    def _same_config(self, c: TrainConfig) -> bool:
        """Whether c trains what the run's own config.json does (no flag changed it on --resume;
        where the folder lives, `out`, may differ: a run folder can be moved)."""
        if self.rundir is None:
            return False
        try:
            saved = json.loads(self.rundir.config.read_text())
        except (OSError, ValueError):
            return False
        now = json.loads(json.dumps(c.to_json()))
        return isinstance(saved, dict) and {**saved, "out": None} == {**now, "out": None}

    def _collective(self, work: Callable[[], Any]) -> Any:
        """Run `work` on rank 0 and hand its result (or its error, as one line) to every process,
        so a refusal on rank 0 does not leave the others waiting forever."""
        result: Any = None
        error: str | None = None
        if self.dist.is_main:
            try:
                result = work()
            except CnnzooError as e:
                if not self.dist.enabled:
                    raise
                error = str(e)
        result, error = self.dist.broadcast((result, error))
        if error is not None:
            raise CheckpointError(error)
        return result

    def _claim_folder(self) -> str:
        """Rank 0: the run folder. A resumed one is locked and tidied now; a new one is checked."""
        c = self.config
        if self.resume_dir is not None:
            rd = RunDir(self.resume_dir)
            rd.lock()
            self._held = rd
            rd.tidy()
            return str(self.resume_dir)
        if c.out:
            out = RunDir(c.out)
            self._check_new_folder(out)
            return str(out.root)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = RunDir(Path("runs") / f"{c.model}-{stamp}")
        k = 1
        while out.root.exists():
            k += 1
            out = RunDir(Path("runs") / f"{c.model}-{stamp}-{k}")
        c.out = str(out.root)
        return str(out.root)

    def _check_new_folder(self, out: RunDir) -> None:
        if out.root.exists() and not out.root.is_dir():
            raise RunFolderError(f"--out {out.root} is a file, not a folder: choose another --out")
        if out.holds_run() and not out.has_checkpoint() and out.saved_epochs():
            first = out.saved_epochs()[0].relative_to(out.root)
            raise RunFolderError(f"{out.root} already holds a run ({first}, stopped while saving, "
                                 "no checkpoints/last): it is never overwritten, and --resume "
                                 "cannot continue it exactly; choose another --out")
        if out.holds_run() and out.has_checkpoint():
            raise RunFolderError(f"{out.root} already holds a run: continue it with --resume {out.root}, "
                                 "or choose another --out")

    def _take_new_folder(self) -> None:
        """Rank 0, new run: create and lock the folder, then check it again (another process may
        have taken it since the first look), and tidy what a run killed before its first
        checkpoint left."""
        rd = self.rundir
        assert rd is not None
        rd.create()
        rd.lock()
        self._held = rd
        self._check_new_folder(rd)
        if rd.holds_run():
            rd.tidy()
            self.notes.append(f"{rd.root} held a run stopped before its first checkpoint: "
                              "starting a new run in it")

    def _release(self) -> None:
        held = self._held
        if held is not None:
            held.unlock()
            self._held = None

    # --- state -----------------------------------------------------------------------------
    def _meta(self, metrics: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        p = self.pipeline
        return {
            "model": c.model, "model_options": dict(c.model_options), "num_classes": len(self.classes),
            "in_channels": int(p.channels),
            "dataset": c.dataset, "classes": self.classes,
            "image_shape": list(self.train_set.images.shape[1:]),  # what the pipeline takes (C, H, W)
            "pipeline": p.to_meta(),
            # the pipeline in the form readers written before "pipeline" understand
            "normalization": {"mean": list(p.mean), "std": list(p.std), "size": list(p.size),
                              "mode": p.fit},
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
        state = TrainState(
            epoch=self.epoch, step_in_epoch=self.step_in_epoch, global_step=self.global_step,
            world_size=self.dist.world, optimizer=opt_json,
            threads=self.threads if self.device.type == "cpu" else None, scaler=self.scaler.state_dict(),
            history=self.history, elapsed=self.elapsed + (time.perf_counter() - self.t0),
            train_time=self.train_time, train_images=self.train_images,
            partial_time=self.partial_time if meter is not None else 0.0)
        return tensors, state.to_json()

    def _save(self, metrics: dict[str, Any], meter: Meter | None = None,
              aug_gen: torch.Generator | None = None, epoch_end: bool = True) -> None:
        state = self._train_state(meter, aug_gen)  # a collective: every process takes part
        if self.dist.is_main:
            rd = self.rundir
            assert rd is not None
            sd = ckpt.clean_state_dict(self.model)
            meta = self._meta(metrics)
            if epoch_end and self.config.keep_epochs != 0:
                ckpt.write_checkpoint(rd.epoch(self.epoch), sd, meta)
                ckpt.prune_epochs(rd.root, self.config.keep_epochs)
            ckpt.write_checkpoint(rd.last, sd, meta, train_state=state)
            ckpt.atomic_bytes(rd.metrics, csv_text(self.history, METRIC_COLUMNS).encode(),
                              fix=ckpt.RESUME_FIX)
        self.dist.barrier()

    def _load_state(self) -> None:
        """Read checkpoints/last and check every part of it against this run before using it."""
        c = self.config
        folder, meta, weights = ckpt.read_checkpoint(self.run_dir)
        if meta["model"] != c.model:
            raise CheckpointError(f"{folder} holds a checkpoint of {meta['model']!r}, but the run is "
                                  f"of {c.model!r}")
        state_path = folder / ckpt.STATE_FILE
        if not state_path.is_file():
            raise CheckpointError(f"{folder} has no training state ({ckpt.STATE_FILE}): it cannot be resumed")
        state = TrainState.from_json(ckpt.read_json(state_path, meta), state_path)
        ckpt.check_config(RunDir(self.run_dir).config, {**meta, "path": str(folder)}, epochs_may_differ=True)
        if meta.get("epoch") is not None and meta["epoch"] != state.epoch:
            raise CheckpointError(f"{state_path}: field 'epoch' is {state.epoch} but {folder / ckpt.META_FILE} "
                                  f"says {meta['epoch']}: the two files are from different checkpoints")
        if self.extended_from is not None and c.epochs < state.epoch:
            raise OptionError(f"--epochs {c.epochs} is fewer than the {state.epoch} epochs {self.run_dir} "
                              "has already trained: give a larger --epochs to extend it")
        state.check_run(state_path, epochs=c.epochs, steps_per_epoch=self.steps_per_epoch)
        state.check_optimizer(state_path, self.optimizer)
        tensors = ckpt.read_tensors(folder / ckpt.STATE_TENSORS, meta=meta)
        check_tensors(tensors, folder / ckpt.STATE_TENSORS, optimizer=self.optimizer,
                      world_size=state.world_size, global_step=state.global_step,
                      step_in_epoch=state.step_in_epoch, scalars=state.optimizer.get("scalars"))
        if meta["num_classes"] != len(self.classes):
            raise CheckpointError(f"{folder / ckpt.META_FILE}: field 'num_classes' is {meta['num_classes']}, "
                                  f"but {c.dataset} has {len(self.classes)} classes")
        ckpt.load_weights(self.model, weights, where=str(folder))
        ckpt.unpack_optimizer(self.optimizer, tensors, state.optimizer)
        fresh_scaler = self.scaler.state_dict()
        if fresh_scaler and state.scaler:
            if set(state.scaler) != set(fresh_scaler):
                raise CheckpointError(f"{state_path}: field 'scaler' does not fit the run's gradient scaler")
            self.scaler.load_state_dict(state.scaler)
        self.epoch, self.step_in_epoch, self.global_step = state.epoch, state.step_in_epoch, state.global_step
        self.history = list(state.history)
        self.elapsed, self.train_time, self.train_images = state.elapsed, state.train_time, state.train_images
        rank = self.dist.rank
        same_world = state.world_size == self.dist.world
        if not same_world:
            self.notes.append(f"note: the run was saved by {state.world_size} processes and resumes "
                              f"on {self.dist.world}: it continues, but not bit-identically")
        if self.device.type == "cpu" and state.threads is not None and state.threads != self.threads:
            self.notes.append(f"note: the run was saved with {describe_threads(state.threads)} and resumes "
                              f"with {self.threads}: it continues, but not bit-identically "
                              f"(give --threads {state.threads} for an exact continuation)")
        key = f"rank{rank if same_world else 0}"
        try:
            if f"rng.cpu.{key}" in tensors:
                torch.set_rng_state(tensors[f"rng.cpu.{key}"])
            if self.device.type == "cuda" and f"rng.cuda.{key}" in tensors:
                torch.cuda.set_rng_state(tensors[f"rng.cuda.{key}"], self.device)
            if self.step_in_epoch and f"augment.{key}" in tensors:
                torch.Generator(device=self.device).set_state(tensors[f"augment.{key}"])
        except RuntimeError as e:
            raise CheckpointError(f"{folder / ckpt.STATE_TENSORS}: a saved random-number state is "
                                  f"invalid ({str(e).splitlines()[0][:100]})") from None
        if self.step_in_epoch:
            self.partial = {"augment": tensors.get(f"augment.{key}"), "meter": tensors.get(f"meter.{key}"),
                            "time": state.partial_time}
        if self.extended_from is not None:
            self.notes.append(f"extending the run from {_count(self.extended_from, 'epoch')} to "
                              f"{c.epochs}: the learning-rate schedule now spans {c.epochs} epochs")
        if self.dist.is_main:  # metrics.csv may lag the checkpoint by a row after a kill
            ckpt.atomic_bytes(self.rundir.metrics if self.rundir else self.run_dir / "metrics.csv",
                              csv_text(self.history, METRIC_COLUMNS).encode(), fix=ckpt.RESUME_FIX)

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.t0 = time.perf_counter()
        try:
            self._setup()
            with _StopFlag() as stop:
                return self._loop(stop)
        finally:
            self.progress.clear()
            if self.tb is not None:
                self.tb.close()
            self._release()
            if hasattr(self, "dist"):  # set by _setup once the process group exists
                teardown(self.dist)

    def _announce(self) -> None:
        c = self.config
        params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        world = f" x {self.dist.world} processes" if self.dist.enabled else ""
        where = "resuming" if self.resume_dir is not None else "training"
        self.log(f"{where} {c.model} ({params:,} parameters) on {c.dataset}: {self.images.shape[0]:,} "
                 f"train / {self.test_set.images.shape[0]:,} test images, {len(self.classes)} classes; "
                 f"device {self.device}{world}"
                 + (f", {describe_threads(self.threads)}" if self.device.type == "cpu" else ""))
        self.log(self.data.banner)
        opt = (f"SGD momentum {c.momentum}" if c.optimizer == "sgd" else "AdamW")
        warm = f", warm-up {c.warmup_epochs:g} epochs" if c.warmup_epochs else ""
        self.log(f"recipe: {_count(c.epochs, 'epoch')} x {_count(self.steps_per_epoch, 'step')} of "
                 f"{c.batch_size}, {opt}, lr {c.lr:g} ({c.schedule}{warm}), weight decay {c.weight_decay:g}"
                 + (f", label smoothing {c.label_smoothing:g}" if c.label_smoothing else "")
                 + (f", amp {c.amp}" if c.amp != "off" else "") + (", channels_last" if c.channels_last else "")
                 + (", compiled" if c.compile else ""))
        self.log(f"run folder: {self.run_dir}" + (" (TensorBoard: tensorboard/)" if self.tb is not None else ""))
        for note in self.notes:
            self.log(note)
        if self.resume_dir is not None and (self.epoch or self.step_in_epoch):
            self.log(f"resuming {self._position()}")

    def _train_step(self, x: Tensor, y: Tensor, renorm: Callable[[], Any] | None,
                    aux_weight: float) -> tuple[Tensor, Tensor]:
        """One optimisation step on a batch (uint8 images, after augmentation): (loss, logits)."""
        c = self.config
        x = self.pipeline(x)
        if c.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)

        def loss_of(out: Any, y: Tensor) -> Tensor:
            if isinstance(out, tuple):  # GoogLeNet: (logits, aux1, aux2)
                return self.criterion(out[0], y) + aux_weight * sum(self.criterion(a, y) for a in out[1:])
            return self.criterion(out, y)

        loss, out = train_step(self.net, x, y, self.optimizer, loss_of, scaler=self.scaler,
                               amp=c.amp, after=renorm)
        return loss, out[0] if isinstance(out, tuple) else out

    def _loop(self, stop: _StopFlag) -> dict[str, Any]:
        c = self.config
        self._announce()
        last_eval: dict[str, Any] | None = self.history[-1] if self.history else None
        while self.epoch < c.epochs:
            if self.stop_after is not None and self.epoch >= self.stop_after:
                self.log(f"stopped after epoch {self.epoch} as asked; continue with "
                         f"`cnnzoo train --resume {self.run_dir}`")
                return {"stopped": True, "epoch": self.epoch, "run_dir": str(self.run_dir)}
            row = self._train_epoch(stop)
            if self.epoch % c.eval_every == 0 or self.epoch == c.epochs:
                ev = self._evaluate()
                row.update(test_loss=ev["loss"], test_top1=ev["top1"], test_top5=ev["top5"])
                last_eval = row
            row["wall_time_s"] = self.elapsed + time.perf_counter() - self.t0
            self.history.append(row)
            self._save({k: v for k, v in row.items() if k != "epoch"})
            if self.dist.is_main:
                self._plot()
                self._log_tensorboard(row)
            self.log(self._epoch_line(row))
            if self._stop_requested(stop) and self.epoch < c.epochs:
                self._interrupted()
        return self._finish(last_eval)

    def _train_epoch(self, stop: _StopFlag) -> dict[str, Any]:
        """One epoch (or the rest of one, after a resume inside it): its metrics row."""
        c = self.config
        sync_every = 1 if (self.device.type == "cpu" or self.dist.enabled) else 25
        renorm = getattr(self.model, "renormalize_filters", None)
        aux_weight = float(getattr(self.model, "aux_loss_weight", 0.3))
        n, B = self.images.shape[0], c.batch_size
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
            x, y = self.images[idx], self.labels[idx]
            if self.augment is not None:
                x = self.augment(x, aug_gen)
            lr = self.schedule.apply(self.optimizer, c.lr, self.global_step)
            loss, logits = self._train_step(x, y, renorm, aux_weight)
            self.global_step += 1
            self.step_in_epoch = step + 1
            meter.add(loss.float(), logits.float(), y)
            window.append((step, loss.detach()))
            if len(window) >= sync_every or step + 1 == self.steps_per_epoch:
                self._check_finite(window)
                window = []
                if self.progress.active:
                    done = step + 1 - first_step
                    spent = max(time.perf_counter() - epoch_start - self.partial_time, 1e-9)
                    v = meter.values()
                    self.progress.update(self.epoch + 1, c.epochs, step + 1, self.steps_per_epoch,
                                         v["loss"], v["top1"] / 100, done * B / spent,
                                         eta=spent / done * (self.steps_per_epoch - step - 1))
            if self._stop_requested(stop) and step + 1 < self.steps_per_epoch:
                self._check_finite(window)
                self.partial_time = time.perf_counter() - epoch_start
                self._save({"interrupted": True}, meter=meter, aug_gen=aug_gen, epoch_end=False)
                self._interrupted()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        epoch_time = time.perf_counter() - epoch_start
        steps_done = self.steps_per_epoch - first_step
        stepping = epoch_time - (self.partial_time if first_step else 0.0)
        self.train_time += stepping
        self.train_images += steps_done * B
        train = meter.sums.clone()
        self.dist.all_reduce(train)
        loss_sum, top1, _, seen = train.tolist()
        self.epoch += 1
        self.step_in_epoch = 0
        return {"epoch": self.epoch, "lr": lr, "train_loss": loss_sum / seen,
                "train_top1": 100 * top1 / seen, "images_per_s": steps_done * B / max(stepping, 1e-9),
                "epoch_time_s": epoch_time}

    def _log_tensorboard(self, row: dict[str, Any]) -> None:
        if self.tb is None:
            return
        for key in METRIC_COLUMNS[1:]:
            if row.get(key) is not None:
                self.tb.add_scalar(_TB_TAGS.get(key, key), row[key], row["epoch"])
        self.tb.flush()

    def _evaluate(self) -> dict[str, Any]:
        return evaluate_arrays(self.model, self.test_set.images, self.test_set.labels, self.pipeline,
                               len(self.classes), device=self.device, batch_size=max(256, self.config.batch_size),
                               amp=self.config.amp, channels_last=self.config.channels_last, dist=self.dist)

    def _check_finite(self, window: list[tuple[int, Tensor]]) -> None:
        if not window:
            return
        losses = torch.stack([value.float() for _, value in window])
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
        test = (f"  test loss {row['test_loss']:.4f} top-1 {row['test_top1']:6.2f}% "
                f"top-5 {row['test_top5']:6.2f}%" if "test_loss" in row else "")
        left = c.epochs - self.epoch
        eta = f"  ETA {duration(left * row['epoch_time_s'])}" if left else ""
        return (f"epoch {row['epoch']:>{len(str(c.epochs))}}/{c.epochs}  lr {row['lr']:.3e}  "
                f"train loss {row['train_loss']:.4f} top-1 {row['train_top1']:6.2f}%{test}  "
                f"{row['images_per_s']:,.0f} img/s  {row['epoch_time_s']:.1f}s{eta}")

    def _plot(self) -> None:
        try:
            from .plots import learning_curves

            learning_curves(self.history, RunDir(self.run_dir).curves,
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
            "run_dir": str(self.run_dir), "checkpoint": str(RunDir(self.run_dir).last),
        }
        if self.dist.is_main:
            ckpt.atomic_json(RunDir(self.run_dir).results, results)
        if ev:
            self.log(f"test accuracy: top-1 {ev['test_top1']:.2f}%  top-5 {ev['test_top5']:.2f}%  "
                     f"(loss {ev['test_loss']:.4f}) after {_count(self.epoch, 'epoch')}, {duration(wall)}; "
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
