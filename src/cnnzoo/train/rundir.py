"""RunDir: every path of a run folder, named once, and the lock that makes one process its owner.

    DIR/config.json            the resolved TrainConfig (what --resume rebuilds the run from)
    DIR/metrics.csv            one row per epoch
    DIR/results.json           the final numbers
    DIR/curves.png             learning curves
    DIR/tensorboard/           TensorBoard scalars (with --tensorboard)
    DIR/checkpoints/last/      weights + meta + training state (resume reads it)
    DIR/checkpoints/epoch-NNNN/ weights + meta of each epoch
    DIR/.lock                  held (fcntl.flock) by the process that trains in DIR

The lock is an OS file lock: the kernel releases it when the owner exits or is killed, so a
crashed run never leaves a stale lock. Only the lock holder writes, and only it tidies what a
crashed writer left (a checkpoint swap cut short between its renames, `.NAME.tmp-PID` files and
folders). Readers (eval, predict, visualize) never take the lock and never modify the folder.
"""
from __future__ import annotations

import errno
import re
from pathlib import Path

from .. import io
from ..errors import CheckpointError
from ..inference import checkpoint as reader
from . import checkpoint as ckpt

_LEFTOVER = re.compile(r"^\..+\.(tmp-\d+(-[0-9a-f]+)?|old)$")  # io.temp_name, io.replace_folder


class RunFolderError(CheckpointError):
    """A run folder that cannot be used: in use, not writable, not a folder."""


class RunDir:
    """The paths of one run folder, and its lock."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock: io.Lock | None = None

    config = property(lambda self: self.root / "config.json")
    metrics = property(lambda self: self.root / "metrics.csv")
    results = property(lambda self: self.root / "results.json")
    curves = property(lambda self: self.root / "curves.png")
    tensorboard = property(lambda self: self.root / "tensorboard")
    checkpoints = property(lambda self: self.root / reader.CHECKPOINTS)
    last = property(lambda self: self.root / reader.CHECKPOINTS / reader.LAST)
    lock_file = property(lambda self: self.root / ".lock")

    def epoch(self, epoch: int) -> Path:
        return reader.epoch_dir(self.root, epoch)

    def __str__(self) -> str:
        return str(self.root)

    # --- what the folder holds -------------------------------------------------------------
    def holds_run(self) -> bool:
        return self.config.exists() or self.checkpoints.exists()

    def has_checkpoint(self) -> bool:
        """A resumable checkpoint (checkpoints/last, or its copy mid-swap)."""
        return ckpt._pick(self.last) is not None

    def saved_epochs(self) -> list[Path]:
        """The complete checkpoints/epoch-NNNN folders. A run killed between the two writes of
        its first save holds epoch-0001 but no `last`: it is a run all the same, never empty."""
        if not self.checkpoints.is_dir():
            return []
        return [folder for _, folder in reader.epoch_checkpoints(self.root) if ckpt._complete(folder)]

    def check_tensorboard(self) -> None:
        """Refuse, before anything is written, a `tensorboard` that is not a folder of its own."""
        path = self.tensorboard
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise RunFolderError(f"--tensorboard: {path} exists and is not a folder: move it away, "
                                 "or train with another --out")

    def restart_epochs(self) -> list[Path]:
        """The complete epoch checkpoints of a run restarting without `last`, after checking that
        config.json still holds the settings they were trained with (the restart rewrites them;
        a config.json edited since would overwrite them with another run's weights)."""
        saved = self.saved_epochs()
        if saved:
            meta = reader.read_meta(saved[0])
            ckpt.check_config(self.config, {**meta, "path": str(saved[0])}, epochs_may_differ=False)
        return saved

    # --- the owner's side ------------------------------------------------------------------
    def tensorboard_folder(self) -> Path:
        """DIR/tensorboard, created (io.make_folder; one line if something is in the way)."""
        self.check_tensorboard()
        return io.make_folder(self.tensorboard, "the TensorBoard folder")

    def create(self) -> None:
        """Make the folder (and its parents); one line if that is impossible."""
        if self.root.exists() and not self.root.is_dir():
            raise RunFolderError(f"--out {self.root} is a file, not a folder: choose another --out")
        io.make_folder(self.root, "run folder", error=RunFolderError)

    def lock(self) -> None:
        """Take the folder's lock or refuse in one line (another process trains here). The lock
        file is never followed through a link nor written when it is not cnnzoo's own (io.Lock)."""
        try:
            self._lock = io.Lock(self.lock_file)
        except io.LockBusy as e:
            who = f" (process {e.owner})" if e.owner.isdigit() else ""
            raise RunFolderError(f"{self.root} is in use by another cnnzoo train{who}: wait for it "
                                 "to finish, or choose another --out") from None
        except OSError as e:
            why = "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror
            raise RunFolderError(f"cannot lock run folder {self.root}: {self.lock_file} ({why}); "
                                 "remove it, or choose another --out") from None

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def locked(self) -> bool:
        return self._lock is not None

    def tidy(self) -> list[Path]:
        """Finish or undo what a crashed writer left: a checkpoint swap cut short (`.NAME.old`),
        and temporary `.NAME.tmp-PID` files and folders. Lock holder only. Returns what it removed."""
        if not self.locked:
            raise RuntimeError("RunDir.tidy() needs the lock: readers must not modify a run folder")
        removed: list[Path] = []
        folders = [self.root, self.checkpoints]
        for folder in folders:
            if not folder.is_dir():
                continue
            for child in sorted(folder.iterdir()):
                if child.name.endswith(".old") and child.is_dir():
                    final = child.with_name(child.name[1:-len(".old")])
                    existed = final.exists()
                    ckpt.recover(final)
                    if existed:
                        removed.append(child)
                elif _LEFTOVER.match(child.name):
                    ckpt._remove(child)
                    removed.append(child)
        return removed
