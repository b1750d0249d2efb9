"""Hostile data files and faults on the data surfaces: every outcome is success or a one-line
CnnzooError, never another exception, and never unbounded memory or leftover files.

Property-based (hypothesis): malformed IDX headers and payloads, malformed CIFAR pickles. The
default run tries a few dozen cases per property; the slow run (`-m slow`) 2,500 per property,
10,000 in all.
"""
from __future__ import annotations

import gzip
import http.server
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnzoo.data import download, load_dataset
from cnnzoo.data.cifar import LAYOUTS
from cnnzoo.errors import CnnzooError, DataError
from test_data import Py2Pickle, idx_bytes

FAST, SLOW = 40, 2500


def _succeeds_or_one_line(call) -> object:
    try:
        return call()
    except CnnzooError as e:
        msg = str(e)
        assert msg and "\n" not in msg, msg
        return e


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    for name in list(download.BASE_URLS):
        monkeypatch.setitem(download.BASE_URLS, name, ["http://127.0.0.1:9/"])


# ---- IDX -----------------------------------------------------------------------------------------

def _valid_pair(n: int = 5) -> tuple[bytes, bytes]:
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    return idx_bytes(images, 2051), idx_bytes(labels, 2049)


@st.composite
def idx_files(draw) -> tuple[bytes, bytes, bool]:
    """An IDX images/labels pair with a hostile header or payload, gzipped or not."""
    images, labels = _valid_pair(draw(st.integers(0, 6)))
    which = draw(st.sampled_from(["images", "labels", "both"]))
    kind = draw(st.sampled_from(["header", "mutate", "truncate", "append", "random"]))

    def spoil(data: bytes) -> bytes:
        if kind == "header":  # any magic and dimensions, the valid payload behind
            ndim = draw(st.integers(0, 4))
            magic = draw(st.one_of(st.just(0x800 + ndim), st.integers(0, 2**32 - 1)))
            dims = draw(st.lists(st.one_of(st.integers(0, 40), st.integers(0, 2**32 - 1)),
                                 min_size=ndim, max_size=ndim))
            return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) \
                + data[4 + 4 * (len(data) > 8 and 3 or 1):]
        if kind == "mutate":
            out = bytearray(data)
            for _ in range(draw(st.integers(1, 8))):
                if out:
                    out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
            return bytes(out)
        if kind == "truncate":
            return data[:draw(st.integers(0, len(data)))]
        if kind == "append":
            return data + draw(st.binary(min_size=1, max_size=64))
        return draw(st.binary(max_size=64))

    if which in ("images", "both"):
        images = spoil(images)
    if which in ("labels", "both"):
        labels = spoil(labels)
    return images, labels, draw(st.booleans())


def _load_idx(images: bytes, labels: bytes, gz: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        suffix = ".gz" if gz else ""
        pack = gzip.compress if gz else (lambda b: b)
        (folder / f"train-images-idx3-ubyte{suffix}").write_bytes(pack(images))
        (folder / f"train-labels-idx1-ubyte{suffix}").write_bytes(pack(labels))
        result = _succeeds_or_one_line(lambda: load_dataset("mnist", "train", data_dir=folder,
                                                            download=False))
        if not isinstance(result, CnnzooError):  # accepted: then it is a consistent data set
            assert result.images.shape[1:] == (1, 28, 28)
            assert len(result.labels) == len(result.images)
            assert all(0 <= v < 10 for v in result.labels.tolist())


@settings(max_examples=FAST)
@given(idx_files())
def test_malformed_idx_is_one_line(files):
    _load_idx(*files)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(idx_files())
def test_malformed_idx_is_one_line_many(files):
    _load_idx(*files)


@settings(max_examples=FAST)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_corrupt_gzip_streams_are_one_line(a, b):
    images, labels = _valid_pair()
    gz = gzip.compress(images)
    spoiled = gz[:len(gz) // 2] + a if a else gz[:-8] + b"\0" * 8
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "train-images-idx3-ubyte.gz").write_bytes(spoiled)
        (Path(d) / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
        result = _succeeds_or_one_line(lambda: load_dataset("mnist", "train", data_dir=d,
                                                            download=False))
        assert isinstance(result, DataError)
        (Path(d) / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b)
        assert isinstance(_succeeds_or_one_line(
            lambda: load_dataset("mnist", "train", data_dir=d, download=False)), DataError)


def test_gzip_bomb_is_refused_after_the_header_with_small_memory(tmp_path):
    """A 12 GiB inflation behind an honest-looking header: refused at once, little memory."""
    images, labels = _valid_pair(10)
    zeros = gzip.compress(b"\0" * (16 << 20), compresslevel=9)  # one 16 MiB gzip member
    with open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(gzip.compress(images))
        for _ in range(768):  # gzip members concatenate: 768 x 16 MiB = 12 GiB inflated
            f.write(zeros)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    # VmHWM (peak RSS of this program; ru_maxrss would include the forked pytest's)
    code = ("import re, sys, time; from cnnzoo.data import load_dataset\n"
            "from cnnzoo.errors import DataError\nt = time.perf_counter()\n"
            "try:\n    load_dataset('mnist', 'train', data_dir=sys.argv[1], download=False)\n"
            "except DataError as e:\n    print(e)\n"
            "hwm = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "print(time.perf_counter() - t, hwm)\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                       text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    message, numbers = r.stdout.strip().splitlines()
    seconds, max_rss_kib = float(numbers.split()[0]), int(numbers.split()[1])
    assert "trailing bytes" in message and "train-images-idx3-ubyte.gz" in message
    # reading all 12 GiB would take minutes and (before the fix) 12 GiB of memory
    assert seconds < 30 and max_rss_kib < 1_000_000, (seconds, max_rss_kib)


def test_a_header_promising_too_much_is_refused_before_reading(tmp_path):
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 3_000_000))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, 3_000_000, 28, 28))
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "train", data_dir=tmp_path, download=False)
    assert "more than cnnzoo reads" in str(e.value)


# ---- CIFAR pickles -------------------------------------------------------------------------------

_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.binary(max_size=40),
                  st.text(st.characters(max_codepoint=255), max_size=10))


def _values():
    return st.recursive(_leaf | st.builds(lambda n: np.zeros(n, np.uint8), st.integers(0, 8)),
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(st.characters(max_codepoint=255), max_size=8),
                                          inner, max_size=4), max_leaves=12)


class HostilePickle(Py2Pickle):
    """Py2Pickle plus None/bool, and arrays of any dtype code and shape (the state is made up)."""

    @classmethod
    def obj(cls, v) -> bytes:
        if v is None:
            return b"N"
        if isinstance(v, bool):
            return b"\x88" if v else b"\x89"
        if isinstance(v, int) and not (0 <= v < 2**31):
            return b"L" + str(v).encode() + b"L\n"
        return super().obj(v)


@st.composite
def cifar_documents(draw) -> tuple[bytes, bytes]:
    """(batches.meta, test_batch) pickles, from valid ones spoiled in one of several ways."""
    n = draw(st.integers(0, 4))
    data = np.random.default_rng(n).integers(0, 256, (n, 3072), dtype=np.uint8)
    batch = {"data": data, "labels": [int(v) for v in np.arange(n) % 10],
             "batch_label": "testing batch 1 of 1", "filenames": [f"f{i}.png" for i in range(n)]}
    meta = {"label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}
    kind = draw(st.sampled_from(["values", "array", "bytes", "truncate", "opcodes"]))
    if kind == "values":  # a key replaced by anything
        target = draw(st.sampled_from([batch, meta]))
        key = draw(st.sampled_from(sorted(target) + ["other"]))
        target[key] = draw(_values())
    elif kind == "array":  # an array whose state lies about its dtype or shape
        shape = draw(st.lists(st.integers(0, 2**40), min_size=0, max_size=3))
        raw = draw(st.binary(max_size=64))
        dtype = draw(st.sampled_from(["u1", "<f4", "O", "i8", "", "|u1"]))
        arr = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R(K\x01"
               + b"(" + b"".join(Py2Pickle.int_(d) if d < 2**31 else b"L%dL\n" % d for d in shape)
               + b"t" + b"cnumpy\ndtype\n" + Py2Pickle.string(dtype) + b"K\x00K\x01\x87R"
               + b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
               + Py2Pickle.string(raw) + b"tb")
        return HostilePickle.dumps(meta), b"\x80\x02}(U\x04data" + arr + b"U\x06labels]u."
    meta_bytes, batch_bytes = HostilePickle.dumps(meta), HostilePickle.dumps(batch)
    if kind == "bytes":
        out = bytearray(batch_bytes)
        for _ in range(draw(st.integers(1, 6))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        batch_bytes = bytes(out)
    elif kind == "truncate":
        batch_bytes = batch_bytes[:draw(st.integers(0, len(batch_bytes)))]
    elif kind == "opcodes":
        batch_bytes = b"\x80\x02" + draw(st.binary(max_size=80))
    return meta_bytes, batch_bytes


def _load_cifar(meta: bytes, batch: bytes) -> None:
    layout = LAYOUTS["cifar10"]
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / layout.folder
        folder.mkdir()
        (folder / layout.meta).write_bytes(meta)
        (folder / "test_batch").write_bytes(batch)
        result = _succeeds_or_one_line(lambda: load_dataset("cifar10", "test", data_dir=d,
                                                            download=False))
        if not isinstance(result, CnnzooError):
            assert result.images.shape[1:] == (3, 32, 32) and len(result.classes) == 10
            assert len(result.labels) == len(result.images)


def test_a_pickle_naming_a_huge_memo_index_costs_no_memory(tmp_path):
    """LONG_BINPUT 2**31 - 1: the C unpickler would allocate a 16 GB memo table for these bytes."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    meta = HostilePickle.dumps({"label_names": [f"c{i}" for i in range(10)]})
    for put in (b"r\xff\xff\xff\x7f", b"r\xff\xff\xff\xff", b"q\xff"):
        _load_cifar(meta, b"\x80\x02}" + put + b"(U\x04dataNu.")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


@settings(max_examples=FAST)
@given(cifar_documents())
def test_malformed_cifar_is_one_line(docs):
    _load_cifar(*docs)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(cifar_documents())
def test_malformed_cifar_is_one_line_many(docs):
    _load_cifar(*docs)


@settings(max_examples=FAST)
@given(st.binary(max_size=300))
def test_random_bytes_as_cifar_files_are_one_line(data):
    meta = HostilePickle.dumps({"label_names": [f"c{i}" for i in range(10)]})
    _load_cifar(meta, data)
    _load_cifar(data, meta)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(st.binary(max_size=300))
def test_random_bytes_as_cifar_files_are_one_line_many(data):
    meta = HostilePickle.dumps({"label_names": [f"c{i}" for i in range(10)]})
    _load_cifar(meta, data)


# ---- downloads -----------------------------------------------------------------------------------

def test_a_data_dir_named_for_reading_is_never_created(tmp_path):
    missing = tmp_path / "typo"
    for name in ("mnist", "cifar10", "imagefolder", "fashion-mnist"):
        with pytest.raises(DataError) as e:
            load_dataset(name, "train", data_dir=missing)
        assert "does not exist" in str(e.value) and "\n" not in str(e.value)
        assert not missing.exists()


def test_relative_data_dir_is_resolved_to_an_absolute_path(tmp_path, monkeypatch):
    from cnnzoo.data import resolve_data_dir

    (tmp_path / "d").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir("d") == tmp_path / "d" and resolve_data_dir("d").is_absolute()
    assert resolve_data_dir(None) is None


class _Slow(http.server.BaseHTTPRequestHandler):
    """Sends a 64 MiB body slowly: a download that is still running when it is killed."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(64 << 20))
        self.end_headers()
        try:
            for _ in range(64 << 4):
                self.wfile.write(b"\0" * (1 << 16))
                time.sleep(0.01)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def _start_download(cache: Path, mirror: str) -> subprocess.Popen:
    env = {**os.environ, download.CACHE_ENV: str(cache), download.MIRROR_ENV: mirror,
           "OMP_NUM_THREADS": "1"}
    code = ("from cnnzoo.data import download\n"
            "download.fetch('mnist', 't10k-labels-idx1-ubyte.gz', "
            "download.cache_dir('mnist'), 'put it there')\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = cache / "mnist"
    deadline = time.time() + 60
    while time.time() < deadline and not list(folder.glob(".*.part")):
        time.sleep(0.05)
    assert list(folder.glob(".*.part")), "the download never started"
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_download_leaves_no_part_file_for_good(tmp_path, monkeypatch, sig):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        cache, folder = tmp_path / "cache", tmp_path / "cache" / "mnist"
        proc = _start_download(cache, f"http://127.0.0.1:{server.server_address[1]}")
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        if sig == signal.SIGTERM:  # exits as Ctrl-C does, cleaning up on the way
            assert code == 128 + signal.SIGTERM and not list(folder.glob(".*.part"))
            return
        assert list(folder.glob(".*.part"))  # SIGKILL: nothing can clean up now...
        monkeypatch.setenv(download.MIRROR_ENV, "http://127.0.0.1:9")  # nothing listens there
        with pytest.raises(DataError):
            download.fetch("mnist", "t10k-labels-idx1-ubyte.gz", folder, "put it there")
        assert not list(folder.glob(".*.part"))  # ...the next start does
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# ---- ImageFolder -----------------------------------------------------------------------------

def test_imagefolder_with_a_bomb_or_a_non_image_is_one_line(tmp_path):
    from PIL import Image

    from test_pipeline import _png_header_only

    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / split / cls / "ok.png")
    _png_header_only(tmp_path / "train" / "b" / "bomb.png", 30000, 30000)
    with pytest.raises(DataError) as e:
        load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=8)
    assert "bomb.png" in str(e.value) and "megapixels" in str(e.value)
    assert "\n" not in str(e.value)
    (tmp_path / "val" / "a" / "fake.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError) as e:
        load_dataset("imagefolder", "test", data_dir=tmp_path, image_size=8)
    assert "fake.jpg" in str(e.value) and "\n" not in str(e.value)


# ---- a run's input pipeline, as meta.json holds it -------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70)
                     | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
_PIPELINE_FIELDS = ("channels", "size", "data_size", "fit", "mean", "std", "scaling", "classes",
                    "data_mean", "data_std")


@st.composite
def pipeline_metas(draw) -> dict:
    from cnnzoo.inference.pipeline import InputPipeline

    good = InputPipeline(1, (32, 32), (28, 28), "pad", (0.1,), (0.8,), "lenet",
                         tuple("abcdefghij"), (0.3,), (0.35,)).to_meta()
    for key in draw(st.lists(st.sampled_from(_PIPELINE_FIELDS), min_size=1, max_size=4)):
        if draw(st.booleans()):
            good[key] = draw(_json)
        else:
            good.pop(key, None)
    return draw(st.sampled_from([{"pipeline": good}, {"normalization": good}, good]))


def _check_pipeline_meta(meta: dict) -> None:
    from cnnzoo.inference.pipeline import InputPipeline

    result = _succeeds_or_one_line(lambda: InputPipeline.from_meta(meta, where="meta.json"))
    if isinstance(result, CnnzooError):
        assert "meta.json" in str(result)
    else:  # accepted: bounded, and it runs
        assert max(result.size) <= 4096 and result.channels in (1, 3)
        import torch
        x = torch.zeros(1, result.channels, *result.data_size, dtype=torch.uint8)
        assert torch.isfinite(result(x)).all()


@settings(max_examples=FAST)
@given(pipeline_metas())
def test_hostile_pipeline_meta_is_one_line(meta):
    _check_pipeline_meta(meta)


@pytest.mark.slow
@settings(max_examples=SLOW)
@given(pipeline_metas())
def test_hostile_pipeline_meta_is_one_line_many(meta):
    _check_pipeline_meta(meta)


def test_a_cifar_archive_claiming_a_huge_member_is_refused_unread(tmp_path):
    import io
    import tarfile

    layout = LAYOUTS["cifar10"]
    with tarfile.open(tmp_path / layout.tarball, "w:gz") as tar:
        meta = HostilePickle.dumps({"label_names": [f"c{i}" for i in range(10)]})
        info = tarfile.TarInfo(f"{layout.folder}/{layout.meta}")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
        big = tarfile.TarInfo(f"{layout.folder}/test_batch")
        big.size = 300 << 20  # 300 MiB of zeros, compressed to 300 KB: never read
        tar.addfile(big, _Zeros(big.size))
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "test", data_dir=tmp_path, download=False)
    assert "more than a cifar-10-batches-py file ever has" in str(e.value)


class _Zeros:
    """A file of n zero bytes that tarfile can copy without n bytes in memory."""

    def __init__(self, n: int) -> None:
        self.left = n

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


def test_an_imagefolder_too_big_for_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    for split in ("train", "val"):
        (tmp_path / split / "a").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / split / "a" / "x.png")
    real = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: 4096 if name == "SC_PAGE_SIZE" else
                        (10 if name == "SC_PHYS_PAGES" else real(name)))  # a 40 KiB machine
    with pytest.raises(DataError) as e:
        load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=224)
    assert "smaller --image-size" in str(e.value) and "\n" not in str(e.value)
    assert len(load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=16)) == 1


def test_file_and_folder_names_with_newlines_stay_on_one_line(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        (tmp_path / split / "a").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / split / "a" / "x.png")
        (tmp_path / split / "b\nc").mkdir()
    with pytest.raises(DataError) as e:
        load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=8)
    assert "\n" not in str(e.value) and "b\\nc" in str(e.value)
    bad = tmp_path / "train" / "b\nc" / "y\n.png"
    bad.write_text("not an image")
    with pytest.raises(DataError) as e:
        load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=8)
    assert "\n" not in str(e.value)
