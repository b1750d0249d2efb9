"""The one write path: every file cnnzoo writes goes through this module.

Guarantees (docs/run-folder.md states them for users):

- A file is written under a temporary name in its own folder, created exclusively
  (O_CREAT|O_EXCL|O_NOFOLLOW, a random suffix): a link or file planted under that name is never
  written through, it makes the create fail.
- The final name is refused when it is a symbolic link, a folder, a device, a FIFO or a socket,
  once before writing and again right before the rename (os.replace renames over the entry
  itself, so even a link swapped in between is replaced, never followed).
- The data and the folder are fsynced; the rename is atomic: a reader sees the old file or the
  new one, never half of one. On any failure nothing is left behind and the old file stays.
- An OSError becomes one CnnzooError line saying what to do.
- An output folder (claims report, atlas...) is written only when it is empty or holds
  cnnzoo's own marker for that kind of output, so a user's own files are never overwritten.
- The run folder's lock is opened without following links and never truncated through one.

os.replace/os.rename appear here only (a test walks the source for them and for open(...) for
writing, Path.write_bytes/write_text, .savefig( and shutil.move outside this module).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import CheckpointError, CnnzooError

FIX = "free space or fix permissions, or give another path"
MAX_JSON_BYTES = 64 << 20  # cnnzoo's JSON documents are kilobytes; refuse before parsing gigabytes
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


# --- targets ---------------------------------------------------------------------------------
def _kind(mode: int) -> str:
    return ("a folder" if stat.S_ISDIR(mode) else
            "a symbolic link" if stat.S_ISLNK(mode) else
            "a FIFO" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def check_target(path: str | Path, what: str = "") -> Path:
    """Refuse, in one line, a path that a file write would clobber rather than write: an existing
    folder, symlink, device, FIFO or socket, or a path whose parent is not a folder. Returns the
    path."""
    path = Path(path)
    label = f"{what} to {path}" if what else str(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise CnnzooError(f"cannot write {label} ({e.strerror or e}): give another path") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise CnnzooError(f"cannot write {label}: {path} is {_kind(st.st_mode)}, not a regular "
                          "file; give the path of a file to write")
    if not path.parent.is_dir():
        raise CnnzooError(f"cannot write {label}: {path.parent} is not a folder; give another path")
    guard = checkpoint_folder_of(path)
    if guard is not None:
        raise CnnzooError(f"cannot write {label}: it is inside {guard}, which holds a run's "
                          "checkpoints (an output never replaces an input); give a path outside it")
    return path


def checkpoint_folder_of(path: Path) -> Path | None:
    """The checkpoint folder (model.safetensors + meta.json) or run `checkpoints/` folder (beside
    a config.json) that a file at `path` would land in, links resolved; None when it is none."""
    parent = Path(os.path.realpath(path.parent))
    if (parent / "model.safetensors").is_file() and (parent / "meta.json").is_file():
        return parent
    for folder in (parent, *parent.parents):
        if folder.name == "checkpoints" and (folder.parent / "config.json").is_file():
            return folder
    return None


def write_error(path: Path, e: OSError, fix: str = FIX) -> CheckpointError:
    """An OSError while writing `path`, as one line ending in what to do."""
    return CheckpointError(f"could not write {path} ({e.strerror or e.__class__.__name__}): {fix}")


def temp_name(path: Path, suffix: str = "") -> Path:
    """A fresh hidden name next to `path`: `.NAME.tmp-PID-RANDOM` (the PID lets a later run
    tell a dead process's leftover from a write in progress)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _create(path: Path, suffix: str = "") -> tuple[Path, int]:
    """A new temporary file next to `path`, created exclusively: (its name, an open descriptor)."""
    for _ in range(16):
        tmp = temp_name(path, suffix)
        try:
            return tmp, os.open(tmp, _NEW, 0o666)  # the umask applies, as for any file
        except FileExistsError:
            continue  # someone planted this very name: take another
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def remove(path: Path) -> None:
    """Remove a file, link or folder (not what a link points to); ignore what cannot be removed."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (best effort: some file systems cannot fsync a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit(tmp: Path, path: Path, what: str) -> None:
    check_target(path, what)  # nothing swapped in a folder, device or FIFO meanwhile
    os.replace(tmp, path)
    fsync_dir(path.parent)


# --- files -----------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_writer(path: str | Path, *, fix: str = FIX, what: str = "",
                  suffix: str = "") -> Iterator[IO[bytes]]:
    """A binary file to stream into (downloads); committed onto `path` when the block ends
    normally, removed when it raises (the exception goes on unchanged). An OSError of the
    creation, fsync or rename becomes one CheckpointError line ending in `fix`. `suffix` ends
    the temporary name (downloads use `.part`)."""
    path = check_target(path, what)
    try:
        tmp, fd = _create(path, suffix)
    except OSError as e:
        raise write_error(path, e, fix) from None
    f = os.fdopen(fd, "wb")
    try:
        yield f
    except BaseException:
        f.close()
        remove(tmp)
        raise
    try:
        f.flush()
        os.fsync(f.fileno())
        f.close()
        _commit(tmp, path, what)
    except OSError as e:
        f.close()
        remove(tmp)
        raise write_error(path, e, fix) from None
    except BaseException:
        remove(tmp)
        raise


def write_bytes(path: str | Path, data: bytes, *, fix: str = FIX, what: str = "") -> Path:
    """Write a regular file atomically (see the module's guarantees); returns the path."""
    with atomic_writer(path, fix=fix, what=what) as f:
        try:
            f.write(data)
        except OSError as e:  # disk full while writing
            raise write_error(Path(path), e, fix) from None
    return Path(path)


def write_text(path: str | Path, text: str, *, fix: str = FIX, what: str = "") -> Path:
    return write_bytes(path, text.encode(), fix=fix, what=what)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (tuple, set)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "numel") and hasattr(obj, "item") and obj.numel() == 1:  # a 1-element tensor
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def finite(obj: Any, path: str = "") -> tuple[Any, dict[str, str]]:
    """`obj` with every NaN or infinity (not JSON) replaced by None, and where each was:
    {"a.b[2]": "nan"}. For writers that record a non-finite measurement explicitly (null, with
    what it was) rather than refuse the file (json_bytes refuses)."""
    found: dict[str, str] = {}

    def walk(o: Any, at: str) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            found[at] = repr(o)
            return None
        if isinstance(o, dict):
            return {k: walk(v, f"{at}.{k}" if at else str(k)) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v, f"{at}[{i}]") for i, v in enumerate(o)]
        return o

    return walk(obj, path), found


def explicit(obj: Any) -> Any:
    """`obj` ready for strict JSON when it may hold a non-finite measurement (a diverged loss, a
    timing that failed): each NaN or infinity becomes null, and a dict says where under
    "not_finite" ({"loss": "nan"}). json_bytes / write_json refuse what is not made explicit."""
    clean, found = finite(obj)
    if found and isinstance(clean, dict):
        clean["not_finite"] = {**clean.get("not_finite", {}), **found}
    return clean


def json_text(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of a record that may hold non-finite numbers (made explicit, see explicit)."""
    return json.dumps(explicit(obj), indent=indent, default=_json_default, allow_nan=False)


def json_bytes(obj: Any) -> bytes:
    """cnnzoo's JSON: indent 2, no NaN or infinity (not JSON), a final newline."""
    return (json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n").encode()


def write_json(path: str | Path, obj: Any, *, fix: str = FIX, what: str = "") -> Path:
    return write_bytes(path, json_bytes(obj), fix=fix, what=what)


def figure_bytes(fig: Any, format: str = "png", **savefig_kwargs: Any) -> bytes:
    """A matplotlib figure rendered in memory (matplotlib never opens a path itself)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=format, **savefig_kwargs)
    return buf.getvalue()


def save_figure(fig: Any, path: str | Path, *, fix: str = FIX, **savefig_kwargs: Any) -> Path:
    """Render `fig` in the format its suffix names (.png, .svg, .pdf) and write it atomically."""
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    check_target(path)  # refuse before spending time on rendering
    return write_bytes(path, figure_bytes(fig, fmt, **savefig_kwargs), fix=fix)


# --- folders ---------------------------------------------------------------------------------
def make_folder(path: str | Path, what: str = "", error: type[CnnzooError] = CnnzooError) -> Path:
    """Create a folder (and its parents) or accept an existing one; one line (an `error`) when
    something else (a file, a link to a file, a device) is in the way."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise error(f"cannot create {label}: a file is in the way; move it or give another "
                    "path") from None
    except NotADirectoryError:
        raise error(f"cannot create {label}: part of the path is a file; give another "
                    "path") from None
    except OSError as e:
        raise error(f"cannot create {label} ({e.strerror or e}): fix permissions or give "
                    "another path") from None
    return path


def marker_name(kind: str) -> str:
    return f".cnnzoo-{kind}"


def output_folder(folder: str | Path, kind: str) -> Path:
    """Create or accept `folder` for one kind of cnnzoo output ("claims", "atlas"...): accepted
    only when it is empty or holds cnnzoo's own marker for that kind (a regular file), so a
    user's own files are never overwritten. Writes the marker; returns the folder."""
    folder = Path(folder)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise CnnzooError(f"--out {folder} is not a folder: give a new or empty folder")
    make_folder(folder, "--out")
    marker = folder / marker_name(kind)
    try:
        ours = stat.S_ISREG(os.lstat(marker).st_mode)
    except FileNotFoundError:
        ours = False
    except OSError as e:
        raise CnnzooError(f"--out {folder} cannot be read ({e.strerror or e}): give another "
                          "folder") from None
    if not ours:
        try:
            others = next(iter(os.scandir(folder)), None)
        except OSError as e:
            raise CnnzooError(f"--out {folder} cannot be read ({e.strerror or e}): give another "
                              "folder") from None
        if others is not None:
            raise CnnzooError(f"--out {folder} holds files cnnzoo did not write (no "
                              f"{marker.name} marker): give a new or empty folder")
        write_bytes(marker, f"cnnzoo {kind} output; cnnzoo rewrites this folder\n".encode(),
                    fix="give a folder that can be written")
    return folder


def _old_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.old")


def recover_folder(final: Path) -> None:
    """Undo a folder replacement cut short between its two renames (see replace_folder): the
    `.NAME.old` copy goes back when NAME is missing, and is deleted when NAME is complete.
    Writers only (the holder of the folder's lock)."""
    old = _old_name(final)
    if not os.path.lexists(final) and old.is_dir() and not old.is_symlink():
        os.rename(old, final)
    elif os.path.lexists(final) and os.path.lexists(old):
        remove(old)


def _write_new(path: Path, data: bytes) -> None:
    """A new file (never an existing one, never through a link), written and fsynced."""
    with os.fdopen(os.open(path, _NEW, 0o666), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def replace_folder(final: str | Path, files: Iterable[tuple[str, bytes]], *, fix: str = FIX) -> Path:
    """Write a folder of files atomically and return its path. Writers only (the lock holder).

    The files go into a fresh temporary sibling folder (files created exclusively, fsynced);
    an existing folder is renamed aside (`.NAME.old`), the new one renamed in, the old one
    deleted. A crash between the renames is undone by the next write (recover_folder); readers
    meanwhile read the `.NAME.old` copy. `files` may be a generator, so that only one file's
    bytes need be in memory. An OSError raises one CheckpointError line; the old folder stays."""
    final = Path(final)
    tmp = temp_name(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        recover_folder(final)
        if os.path.lexists(final) and (final.is_symlink() or not final.is_dir()):
            raise CnnzooError(f"cannot write {final}: it is {_kind(os.lstat(final).st_mode)}, not "
                              "a folder cnnzoo wrote; move it away")
        os.mkdir(tmp)
        for name, data in files:
            _write_new(tmp / name, data)
        fsync_dir(tmp)
        if os.path.lexists(final):
            os.rename(final, _old_name(final))
        os.rename(tmp, final)
    except OSError as e:
        remove(tmp)
        raise write_error(final, e, fix) from None
    except BaseException:
        remove(tmp)
        raise
    remove(_old_name(final))
    fsync_dir(final.parent)
    return final


# --- the run folder's lock -------------------------------------------------------------------
class LockBusy(CnnzooError):
    """The lock is held by another process (its id, as it wrote it, in .owner)."""

    def __init__(self, path: Path, owner: str) -> None:
        super().__init__(f"{path} is held by another process")
        self.owner = owner


class Lock:
    """An exclusive flock on a lock file, held until close() (or the process ends: the kernel
    releases it, so a crash never leaves a stale lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = _open_lock(self.path)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            owner = os.pread(self._fd, 32, 0).decode(errors="replace").strip()
            self.close()
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockBusy(self.path, owner) from None
            raise
        # The owner's id, for the message another process shows; written into the lock file
        # only (opened without following links, and refused when hard-linked elsewhere).
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _open_lock(path: Path) -> int:
    """The lock file, created if missing, opened without following a link (O_NOFOLLOW: a link,
    even a dangling one, fails with ELOOP) and without blocking on a FIFO; anything but a
    regular file of its own (a hard link to another file) is refused."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                 | getattr(os, "O_CLOEXEC", 0), 0o666)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        kind = _kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else "a hard link to another file"
        raise OSError(errno.EPERM, f"it is {kind}, not cnnzoo's lock file; remove it", str(path))
    return fd


# --- reading ---------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file, read in chunks (OSError as raised)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_bytes(path: str | Path, max_bytes: int, what: str = "") -> bytes:
    """A whole file of at most `max_bytes`, or one CnnzooError line."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise CnnzooError(f"{label} does not exist: give an existing file") from None
    except IsADirectoryError:
        raise CnnzooError(f"{label} is a folder, not a file") from None
    except OSError as e:
        raise CnnzooError(f"{label} cannot be read ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise CnnzooError(f"{label} is larger than the {max_bytes:,} bytes such a file can hold: "
                          "it is not one cnnzoo wrote")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(path: str | Path, max_bytes: int = MAX_JSON_BYTES, what: str = "") -> Any:
    """A JSON document of at most `max_bytes` (NaN and Infinity refused), or one CnnzooError."""
    data = read_bytes(path, max_bytes, what)
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError included
        label = f"{what} {path}" if what else str(path)
        raise CnnzooError(f"{label} is not valid JSON ({e.__class__.__name__}): it is corrupt") from None
