"""RunOwner: the process that trains in a run folder, and every write into it during a run.

It claims the folder (a resumed one is locked and tidied at once; a new one is only checked,
then created and locked by `take_new` once the data and the model are ready, so a refused run
writes nothing), and it is the one place that writes config.json, the checkpoints
(checkpoints/epoch-NNNN and checkpoints/last), metrics.csv, curves.png, results.json and the
TensorBoard scalars. Only rank 0 writes; the other processes of a torchrun job learn the folder
(or rank 0's refusal) through `DeviceContext.collective`. The paths and the lock are RunDir's.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import OptionError
from . import checkpoint as ckpt
from .config import ResolvedConfig
from .device import DeviceContext
from .metrics import csv_text
from .plots import learning_curves
from .rundir import RunDir, RunFolderError

METRIC_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5",
                  "images_per_s", "epoch_time_s", "wall_time_s")

_TB_TAGS = {"train_loss": "loss/train", "test_loss": "loss/test", "train_top1": "top1/train",
            "test_top1": "top1/test", "test_top5": "top5/test", "lr": "lr",
            "images_per_s": "speed/images_per_s", "epoch_time_s": "time/epoch_s",
            "wall_time_s": "time/wall_s"}


def summary_writer() -> Any:
    """TensorBoard's SummaryWriter, or one line saying which package --tensorboard needs."""
    try:
        # lazy: tensorboard is optional and slow to import; only --tensorboard needs it
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise OptionError("--tensorboard needs the tensorboard package: pip install tensorboard "
                          "(metrics.csv is written either way)") from None
    return SummaryWriter


class RunOwner:
    """The run folder of one run: claimed in the constructor, released by `close`."""

    def __init__(self, config: ResolvedConfig, resume_dir: Path | None, ctx: DeviceContext) -> None:
        self.config = config
        self.resume_dir = resume_dir
        self.ctx = ctx
        self.is_main = ctx.is_main
        self.notes: list[str] = []  # what the run should say about its folder
        self.tb: Any = None
        self._held: RunDir | None = None
        if config.tensorboard and self.is_main:
            summary_writer()  # one line naming the package if it is missing, before any write
        try:
            self.root = Path(ctx.collective(self._claim))
            self.dir = RunDir(self.root)
            if config.tensorboard and self.is_main:
                self.dir.check_tensorboard()  # before anything is written
        except BaseException:
            self.close()  # a refused claim leaves the folder unlocked
            raise

    # --- claiming ------------------------------------------------------------------------------
    def _claim(self) -> str:
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
            self._check_new(out)
            return str(out.root)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = RunDir(Path("runs") / f"{c.model}-{stamp}")
        k = 1
        while out.root.exists():
            k += 1
            out = RunDir(Path("runs") / f"{c.model}-{stamp}-{k}")
        c.out = str(out.root)
        return str(out.root)

    @staticmethod
    def _check_new(out: RunDir) -> None:
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

    def restarting(self) -> bool:
        """Whether a resumed run starts again from the beginning: it was stopped before its first
        checkpoint. Refused when it left epoch checkpoints and the config was changed."""
        if self.resume_dir is None or self.dir.has_checkpoint():
            return False
        orphans = self.dir.restart_epochs()
        if orphans and not self._same_config():
            # stopped between the two writes of its first save: epoch-NNNN has the weights but no
            # training state. Starting again with the run's own config.json recomputes the same
            # epochs; with other settings it would overwrite them with another run's, so refuse
            raise RunFolderError(f"{self.root} holds {orphans[0].relative_to(self.root)} but no "
                                 "checkpoints/last (it was stopped while saving): --resume starts "
                                 "it again only with its own config.json; drop the other flags, "
                                 "or train with another --out")
        self.notes.append(f"{self.root} was stopped before its first checkpoint: starting it "
                          "again from the beginning with its saved config.json"
                          + (" (the same run rewrites its epoch checkpoints)" if orphans else ""))
        return True

    def _same_config(self) -> bool:
        """Whether the config trains what the run's own config.json does (no flag changed it on
        --resume; where the folder lives, `out`, may differ: a run folder can be moved)."""
        try:
            saved = json.loads(self.dir.config.read_text())
        except (OSError, ValueError):
            return False
        now = json.loads(json.dumps(self.config.to_json()))
        return isinstance(saved, dict) and {**saved, "out": None} == {**now, "out": None}

    def take_new(self) -> None:
        """A new run: create and lock the folder (rank 0), then check it again (another process
        may have taken it since the first look), and tidy what a run killed before its first
        checkpoint left."""
        if self.resume_dir is None:
            self.ctx.collective(self._take_new)

    def _take_new(self) -> None:
        rd = self.dir
        rd.create()
        rd.lock()
        self._held = rd
        self._check_new(rd)
        if rd.holds_run():
            rd.tidy()
            self.notes.append(f"{rd.root} held a run stopped before its first checkpoint: "
                              "starting a new run in it")

    def close(self) -> None:
        """Close the TensorBoard writer and release the lock (the run is over, however it ended)."""
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self._held is not None:
            self._held.unlock()
            self._held = None

    # --- writing -------------------------------------------------------------------------------
    def start(self, *, config_changed: bool, epoch: int) -> None:
        """Write config.json when the run is new (or restarted, or extended) and open TensorBoard."""
        if not self.is_main:
            return
        if config_changed:
            ckpt.atomic_json(self.dir.config, self.config.to_json())
        if self.config.tensorboard:
            self.tb = summary_writer()(str(self.dir.tensorboard_folder()), purge_step=epoch + 1)

    def save(self, model: torch.nn.Module, meta: dict[str, Any], train_state: tuple[dict, dict],
             history: list[dict[str, Any]], *, epoch: int | None) -> None:
        """The one checkpoint write: checkpoints/epoch-NNNN when `epoch` ends (unless
        --keep-epochs 0), checkpoints/last with the training state, then metrics.csv."""
        if self.is_main:
            sd = ckpt.clean_state_dict(model)
            if epoch is not None and self.config.keep_epochs != 0:
                ckpt.write_checkpoint(self.dir.epoch(epoch), sd, meta)
                ckpt.prune_epochs(self.root, self.config.keep_epochs)
            ckpt.write_checkpoint(self.dir.last, sd, meta, train_state=train_state)
            self.write_metrics(history)
        self.ctx.dist.barrier()

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """metrics.csv from the history (rank 0; it may lag the checkpoint by a row after a kill)."""
        if self.is_main:
            ckpt.atomic_bytes(self.dir.metrics, csv_text(history, METRIC_COLUMNS).encode(),
                              fix=ckpt.RESUME_FIX)

    def epoch_done(self, history: list[dict[str, Any]]) -> None:
        """curves.png and the TensorBoard scalars of the epoch just finished (rank 0)."""
        if not self.is_main:
            return
        c = self.config
        try:
            learning_curves(history, self.dir.curves, title=f"{c.model} on {c.dataset}")
        except Exception as e:  # a plotting problem must not lose a training run
            print(f"cnnzoo: warning: could not draw curves.png ({e})", file=sys.stderr)
        if self.tb is not None:
            row = history[-1]
            for key in METRIC_COLUMNS[1:]:
                if row.get(key) is not None:
                    self.tb.add_scalar(_TB_TAGS.get(key, key), row[key], row["epoch"])
            self.tb.flush()

    def write_results(self, results: dict[str, Any]) -> None:
        if self.is_main:
            ckpt.atomic_json(self.dir.results, results)
