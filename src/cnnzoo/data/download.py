"""Downloads into the cache folder, verified against the published checksums, written atomically.

Where files go: `$CNNZOO_CACHE/<data set>/` (default `~/.cache/cnnzoo/<data set>/`), or the
--data-dir the user named. Where they come from: the canonical addresses in BASE_URLS, or only
`$CNNZOO_MIRROR/<data set>/<file>` when CNNZOO_MIRROR is set (an internal mirror; tests point it,
or BASE_URLS, at a local HTTP server).

A download streams into a hidden temporary file in the destination folder, is hashed on the way,
and is renamed onto its final name (cnnzoo.io.atomic_writer, atomic on one file system) only when its MD5 is
the published one; anything else removes the temporary file, so a failed or corrupt download
never leaves a file that a later run would trust. SIGTERM during a download exits the way Ctrl-C
does, removing the temporary file; a process killed outright (SIGKILL, power cut) cannot clean
up: its `.part` file names its process id, and the next download of that file removes the
leftovers of dead processes. Only the cache folder is created; a --data-dir
must exist.

The MD5s are the ones the data sets' authors publish (also listed in torchvision's mnist.py and
cifar.py). They check downloads only: Debian's Fashion-MNIST is recompressed, so local copies are
validated by their decoded content instead (idx.py, cifar.py).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import io
from ..errors import DataError

CACHE_ENV = "CNNZOO_CACHE"
MIRROR_ENV = "CNNZOO_MIRROR"
TIMEOUT_S = 30.0
_WRITE_FIX = "free space or fix the folder's permissions, or give another --data-dir"

# Canonical base addresses, tried in order. Tests replace these with a local server.
BASE_URLS: dict[str, list[str]] = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "http://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
    "cifar100": ["https://www.cs.toronto.edu/~kriz/"],
}

# Published MD5 of each downloadable file.
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
    "cifar100": {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
}


def cache_dir(dataset: str | None = None) -> Path:
    """The download cache: $CNNZOO_CACHE, else ~/.cache/cnnzoo; with a data set, its subfolder."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "cnnzoo").expanduser()
    return root / dataset if dataset else root


def urls(dataset: str, filename: str) -> list[str]:
    """Where `filename` of `dataset` is fetched from, in order."""
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return [f"{mirror.rstrip('/')}/{dataset}/{filename}"]
    return [base + filename for base in BASE_URLS[dataset]]


def _part_prefix(dest: Path) -> str:
    return f".{dest.name}.tmp-"  # io.temp_name: .NAME.tmp-PID-RANDOM.part


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or an odd number): leave its file alone
    return True


def clean_partial(dest: Path) -> None:
    """Remove the .part files that earlier downloads of dest left behind (a SIGTERM or a power cut
    skips the cleanup of `_fetch_one`); a download still running in a live process is kept."""
    prefix = _part_prefix(dest)
    try:
        leftovers = [p for p in dest.parent.iterdir()
                     if p.name.startswith(prefix) and p.name.endswith(".part")]
    except OSError:
        return
    for path in leftovers:
        pid_text = path.name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and _alive(int(pid_text)) and int(pid_text) != os.getpid():
            continue
        try:
            path.unlink()
        except OSError:
            pass


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While downloading, SIGTERM raises SystemExit (exit status 143), so the temporary file is
    removed on the way out as for Ctrl-C; a handler someone else installed is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGTERM)
    if old not in (signal.SIG_DFL, None):
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _fetch_one(url: str, dest: Path, md5: str) -> None:
    """Download url to dest atomically; raise OSError/URLError on transfer, DataError on MD5.

    The temporary file is named .<dest>.tmp-<pid>-<random>.part (cnnzoo.io.atomic_writer), so a
    later run can tell a leftover of a dead process (removed by clean_partial) from a download in
    progress."""
    digest = hashlib.md5()
    with _sigterm_as_exit(), io.atomic_writer(dest, suffix=".part", fix=_WRITE_FIX) as out, \
            urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        while chunk := resp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(
                f"{url} does not match its published MD5 (got {digest.hexdigest()}, expected "
                f"{md5}): nothing was kept; try again later, or set {MIRROR_ENV} to another mirror")


def fetch(dataset: str, filename: str, folder: Path, where_to_put: str) -> Path:
    """Download one published file of `dataset` into `folder`; return its path.

    where_to_put: the end of the one-line error when every address fails (what the user can do
    instead), e.g. "put train-images-idx3-ubyte.gz ... in ~/.cache/cnnzoo/mnist".
    """
    md5 = MD5[dataset][filename]
    dest = folder / filename
    cache = cache_dir()
    if not folder.is_dir():
        # Only the cache is ever created: a folder the user named (--data-dir) must exist, so a
        # mistyped name is an error rather than a new folder full of downloads.
        if cache not in (folder, *folder.parents):
            raise DataError(f"{folder} does not exist: create it or fix --data-dir; "
                            f"{where_to_put}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"cannot create {folder} to download {dataset} into ({e.strerror}): "
                            f"{where_to_put}") from None
    clean_partial(dest)
    failures: list[str] = []
    checksum_error: DataError | None = None
    for url in urls(dataset, filename):
        print(f"cnnzoo: downloading {url} -> {dest}", file=sys.stderr, flush=True)
        try:
            _fetch_one(url, dest, md5)
            return dest
        except DataError as e:
            checksum_error = e
        except (urllib.error.URLError, http.client.HTTPException, socket.timeout, TimeoutError,
                ConnectionError, ValueError) as e:  # ValueError: a malformed address
            reason = getattr(e, "reason", None) or e
            failures.append(f"{url}: {reason}")
        except OSError as e:  # disk full, permissions: not worth trying another address
            raise DataError(f"cannot write {dest} ({e.strerror or e}): {where_to_put}") from None
    if checksum_error is not None:
        raise checksum_error
    raise DataError(f"{dataset} is not here and could not be downloaded ({'; '.join(failures)}): "
                    f"{where_to_put}")
