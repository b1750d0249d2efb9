"""The data layer: real Fashion-MNIST, generated IDX / CIFAR / ImageFolder files, downloads from a
local HTTP server, the input adapter and the batch augmentation.

No test reaches the internet: an autouse fixture points every download address at a closed local
port and the cache at a temporary folder; the download tests serve files from 127.0.0.1.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import socket
import struct
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnzoo.data import (
    DATASETS,
    ArrayDataset,
    BatchAugment,
    default_augment,
    download,
    idx,
    load_dataset,
)
from cnnzoo.data.base import FASHION_MNIST_CLASSES
from cnnzoo.data.datasets import SAMPLE_DIR
from cnnzoo.errors import CnnzooError, DataError, InputShapeError, OptionError, UnknownNameError
from cnnzoo.inference.pipeline import InputPipeline

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Debian's dataset-fashion-mnist; CI installs it, a fresh machine may not have it.
needs_fashion_mnist = pytest.mark.skipif(
    not all((FASHION_DIR / f"{split}-{kind}-idx{rank}-ubyte.gz").is_file()
            for split in ("train", "t10k") for kind, rank in (("images", 3), ("labels", 1))),
    reason=f"needs Debian's Fashion-MNIST in {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def data_offline(tmp_path, monkeypatch):
    """Every test: cache in tmp, no mirror, all download addresses on a closed local port."""
    dead = f"http://127.0.0.1:{_closed_port()}/"
    for name in list(download.BASE_URLS):
        monkeypatch.setitem(download.BASE_URLS, name, [dead])
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(download.MIRROR_ENV, raising=False)
    monkeypatch.setattr(download, "TIMEOUT_S", 5.0)


def one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, CnnzooError)
    assert "\n" not in msg and msg
    return msg


# ---- generated files in the real formats ---------------------------------------------------------

def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    return (struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in array.shape)
            + array.tobytes())


def write_idx_pair(folder: Path, split: str, images: np.ndarray, labels: np.ndarray,
                   gz: bool = True) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, arr, magic in zip(idx.FILES[split], (images, labels), (2051, 2049)):
        data = idx_bytes(arr, magic)
        path = folder / (stem + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
        paths.append(path)
    return paths[0], paths[1]


def random_mnist(n: int, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            rng.integers(0, classes, n, dtype=np.uint8))


class Py2Pickle:
    """Protocol-2 pickles as Python 2's cPickle wrote the CIFAR files: str as SHORT_BINSTRING /
    BINSTRING, ints as BININT*, numpy arrays via numpy.core.multiarray._reconstruct + ndarray +
    dtype('u1', 0, 1) with state (1, shape, dtype, False, raw bytes)."""

    @staticmethod
    def string(b: str | bytes) -> bytes:
        b = b.encode("latin1") if isinstance(b, str) else b
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    @staticmethod
    def int_(v: int) -> bytes:
        if 0 <= v < 256:
            return b"K" + bytes([v])
        if 0 <= v < 65536:
            return b"M" + struct.pack("<H", v)
        return b"J" + struct.pack("<i", v)

    @classmethod
    def array(cls, a: np.ndarray, dtype: str = "u1") -> bytes:
        shape = b"".join(cls.int_(d) for d in a.shape) + {1: b"\x85", 2: b"\x86"}[a.ndim]
        dt = (b"cnumpy\ndtype\n" + cls.string(dtype) + cls.int_(0) + cls.int_(1) + b"\x87R"
              + b"(" + cls.int_(3) + cls.string("|") + b"NNN" + b"J\xff\xff\xff\xff" * 2
              + cls.int_(0) + b"tb")
        return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + cls.int_(0)
                + b"\x85" + cls.string("b") + b"\x87R" + b"(" + cls.int_(1) + shape + dt
                + b"\x89" + cls.string(a.tobytes()) + b"tb")

    @classmethod
    def obj(cls, v) -> bytes:
        if isinstance(v, np.ndarray):
            return cls.array(v)
        if isinstance(v, (str, bytes)):
            return cls.string(v)
        if isinstance(v, int):
            return cls.int_(v)
        if isinstance(v, list):
            return b"]" + (b"(" + b"".join(cls.obj(x) for x in v) + b"e" if v else b"")
        if isinstance(v, dict):
            return b"}(" + b"".join(cls.obj(k) + cls.obj(x) for k, x in v.items()) + b"u"
        raise TypeError(type(v))

    @classmethod
    def dumps(cls, d: dict) -> bytes:
        return b"\x80\x02" + cls.obj(d) + b"."


def cifar_batch(n: int, num_classes: int, seed: int, fine: bool = False) -> tuple[dict, np.ndarray, list]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, num_classes, n)]
    d = {"data": data, "batch_label": f"batch {seed}",
         "filenames": [f"img_{seed}_{i}.png" for i in range(n)]}
    if fine:
        d.update(fine_labels=labels, coarse_labels=[v // 5 for v in labels])
    else:
        d["labels"] = labels
    return d, data, labels


def write_cifar10(folder: Path, n: int = 6) -> dict[str, tuple[np.ndarray, list]]:
    """cifar-10-batches-py with six small batches; returns the data per file."""
    base = folder / "cifar-10-batches-py"
    base.mkdir(parents=True)
    meta = {"num_cases_per_batch": n, "label_names": [f"class{i}" for i in range(10)],
            "num_vis": 3072}
    (base / "batches.meta").write_bytes(Py2Pickle.dumps(meta))
    out = {}
    for seed, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        d, data, labels = cifar_batch(n, 10, seed)
        (base / name).write_bytes(Py2Pickle.dumps(d))
        out[name] = (data, labels)
    return out


def tar_gz(folder: Path, member_dir: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(member_dir, arcname=member_dir.name)
    return dest


# ---- names and the public API -----------------------------------------------------------------

def test_datasets_tuple_and_unknown_name_has_close_matches():
    assert DATASETS == ("sample", "fashion-mnist", "mnist", "cifar10", "cifar100", "imagefolder")
    with pytest.raises(UnknownNameError) as e:
        load_dataset("fashion-mnst", "train")
    assert "fashion-mnist" in one_line_error(e)
    with pytest.raises(OptionError) as e:
        load_dataset("sample", "validation")
    assert "'train' or 'test'" in one_line_error(e)


# ---- real data: Debian's Fashion-MNIST and the embedded sample ---------------------------------

@needs_fashion_mnist
def test_fashion_mnist_real_files_found_without_flag_and_fast():
    t0 = time.perf_counter()
    train = load_dataset("fashion-mnist", "train", download=False)
    seconds = time.perf_counter() - t0
    assert train.source == str(FASHION_DIR)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.images.is_contiguous() and train.labels.dtype == torch.int64
    assert train.classes == FASHION_MNIST_CLASSES and train.classes[9] == "Ankle boot"
    # Fashion-MNIST is balanced: 6,000 training images per class.
    assert train.labels.bincount().tolist() == [6000] * 10
    # The widely quoted normalisation constants of Fashion-MNIST: mean 0.2860, std 0.3530.
    (mean,), (std,) = train.mean_std()
    assert mean == pytest.approx(0.2860, abs=1e-4) and std == pytest.approx(0.3530, abs=1e-4)
    assert seconds < 4.0, f"loading Fashion-MNIST took {seconds:.2f} s"


@needs_fashion_mnist
def test_fashion_mnist_test_split_matches_torchvision_decoder(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file
    test = load_dataset("fashion-mnist", "test", download=False)
    assert len(test) == 10000 and test.labels.bincount().tolist() == [1000] * 10
    raw = {}
    for stem in idx.FILES["test"]:
        raw[stem] = tmp_path / stem
        raw[stem].write_bytes(gzip.decompress((FASHION_DIR / f"{stem}.gz").read_bytes()))
    assert torch.equal(test.images[:, 0], read_image_file(str(raw["t10k-images-idx3-ubyte"])))
    assert torch.equal(test.labels, read_label_file(str(raw["t10k-labels-idx1-ubyte"])))


@needs_fashion_mnist
def test_sample_is_first_n_per_class_of_real_fashion_mnist():
    for split, per_class in (("train", 500), ("test", 100)):
        sample = load_dataset("sample", split)
        full = load_dataset("fashion-mnist", split, download=False)
        keep = torch.cat([torch.nonzero(full.labels == c)[:per_class, 0] for c in range(10)]).sort()[0]
        assert len(sample) == 10 * per_class
        assert torch.equal(sample.images, full.images[keep])
        assert torch.equal(sample.labels, full.labels[keep])
        assert sample.classes == FASHION_MNIST_CLASSES and sample.name == "sample"


def test_sample_ships_small_with_licence_and_in_package_data():
    size = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert size < 3_000_000
    licence = (SAMPLE_DIR / "LICENSE").read_text()
    assert "Zalando SE" in licence and "MIT" in licence and "2017" in licence
    assert "make_sample.py" in (SAMPLE_DIR / "README.md").read_text()
    assert '"data/sample/*"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.slow
def test_make_sample_reproduces_the_shipped_bytes(tmp_path):
    import subprocess
    import sys
    subprocess.run([sys.executable, str(ROOT / "scripts/make_sample.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert (tmp_path / name).read_bytes() == (SAMPLE_DIR / name).read_bytes(), name


# ---- IDX: generated files -------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_from_data_dir(tmp_path, gz):
    images, labels = random_mnist(50)
    write_idx_pair(tmp_path / "mnist", "test", images, labels, gz=gz)
    ds = load_dataset("mnist", "test", data_dir=tmp_path, download=False)  # finds the subfolder
    assert ds.classes == [str(d) for d in range(10)]
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    assert torch.equal(ds.labels, torch.from_numpy(labels.astype(np.int64)))


def test_idx_torchvision_layout_and_dotted_names(tmp_path):
    images, labels = random_mnist(20, seed=1)
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx_pair(raw, "train", images, labels, gz=False)
    ds = load_dataset("fashion-mnist", "train", data_dir=tmp_path, download=False)
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    other = tmp_path / "dotted"
    img_path, lbl_path = write_idx_pair(other, "train", images, labels, gz=False)
    img_path.rename(other / "train-images.idx3-ubyte")
    lbl_path.rename(other / "train-labels.idx1-ubyte")
    assert torch.equal(load_dataset("mnist", "train", data_dir=other, download=False).labels,
                       torch.from_numpy(labels.astype(np.int64)))


def _corrupt_case(tmp_path, case):
    images, labels = random_mnist(30, seed=2)
    folder = tmp_path / "d"
    if case == "label out of range":
        labels[7] = 10
    if case == "count mismatch":
        labels = labels[:29]
    if case == "wrong image size":
        images = np.zeros((30, 32, 32), np.uint8)
    img, lbl = write_idx_pair(folder, "train", images, labels, gz=False)
    raw = img.read_bytes()
    if case == "truncated":
        img.write_bytes(raw[:-100])
    elif case == "trailing bytes":
        img.write_bytes(raw + b"\0")
    elif case == "wrong magic":
        img.write_bytes(lbl.read_bytes())  # a labels file where the images belong
    elif case == "empty file":
        img.write_bytes(b"")
    elif case == "truncated gzip":
        gz = gzip.compress(raw)
        img.unlink()
        (folder / (img.name + ".gz")).write_bytes(gz[: len(gz) // 2])
    elif case == "corrupt gzip":
        gz = bytearray(gzip.compress(raw))
        gz[len(gz) // 2: len(gz) // 2 + 50] = bytes(50)
        img.unlink()
        (folder / (img.name + ".gz")).write_bytes(bytes(gz))
    return folder


@pytest.mark.parametrize("case, words", [
    ("truncated", ["train-images-idx3-ubyte", "truncated", "30 x 28 x 28"]),
    ("trailing bytes", ["train-images-idx3-ubyte", "trailing bytes"]),
    ("wrong magic", ["magic number 2049", "2051", "not an IDX images file"]),
    ("empty file", ["truncated or empty"]),
    ("truncated gzip", ["train-images-idx3-ubyte.gz", "truncated"]),
    ("corrupt gzip", ["train-images-idx3-ubyte.gz", "corrupt gzip"]),
    ("label out of range", ["train-labels-idx1-ubyte", "label 10 is out of range for 10 classes"]),
    ("count mismatch", ["30 images", "29 labels"]),
    ("wrong image size", ["32x32 images", "28x28"]),
])
def test_idx_bad_files_are_one_line_data_errors(tmp_path, case, words):
    folder = _corrupt_case(tmp_path, case)
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "train", data_dir=folder, download=False)
    msg = one_line_error(e)
    for word in words:
        assert word in msg, (case, msg)


def test_idx_missing_files_without_download_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setitem(idx.SYSTEM_DIRS, "fashion-mnist", [tmp_path / "nowhere"])
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", "train", download=False)
    msg = one_line_error(e)
    assert "train-images-idx3-ubyte.gz" in msg and str(download.cache_dir("fashion-mnist")) in msg
    assert "apt-get install dataset-fashion-mnist" in msg


# ---- CIFAR: generated pickles in the real format --------------------------------------------------

def test_generated_pickle_is_what_numpy_and_pickle_read():
    """The test generator writes the real format: the stdlib unpickler with numpy reads it."""
    import pickle
    d, data, labels = cifar_batch(4, 10, seed=3)
    blob = Py2Pickle.dumps(d)
    assert blob.startswith(b"\x80\x02}(U\x04datacnumpy.core.multiarray\n_reconstruct\n")
    trusted = pickle.loads(blob, encoding="bytes")
    assert np.array_equal(trusted[b"data"], data) and trusted[b"labels"] == labels


@pytest.mark.parametrize("packed", [False, True])
def test_cifar10_folder_and_tarball(tmp_path, packed):
    written = write_cifar10(tmp_path / "src")
    data_dir = tmp_path / "src"
    if packed:
        data_dir = tmp_path / "tar"
        data_dir.mkdir()
        tar_gz(tmp_path / "src", tmp_path / "src" / "cifar-10-batches-py",
               data_dir / "cifar-10-python.tar.gz")
    train = load_dataset("cifar10", "train", data_dir=data_dir, download=False)
    test = load_dataset("cifar-10", "test", data_dir=data_dir, download=False)
    assert train.images.shape == (30, 3, 32, 32) and test.images.shape == (6, 3, 32, 32)
    assert train.classes == [f"class{i}" for i in range(10)] and train.name == "cifar10"
    data, labels = written["data_batch_2"]
    # Row layout: 1024 red values, 1024 green, 1024 blue, each 32 rows of 32.
    img = train.images[6]
    assert torch.equal(img[0].flatten(), torch.from_numpy(data[0, :1024]))
    assert torch.equal(img[2, 31], torch.from_numpy(data[0, 3072 - 32:]))
    assert train.labels[6:12].tolist() == labels
    assert test.labels.tolist() == written["test_batch"][1]


def test_cifar_extracted_folder_as_data_dir_and_cifar100(tmp_path):
    write_cifar10(tmp_path)
    ds = load_dataset("cifar10", "test", data_dir=tmp_path / "cifar-10-batches-py", download=False)
    assert len(ds) == 6
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    (base / "meta").write_bytes(Py2Pickle.dumps({
        "fine_label_names": [f"fine{i}" for i in range(100)],
        "coarse_label_names": [f"coarse{i}" for i in range(20)]}))
    d, data, labels = cifar_batch(40, 100, seed=5, fine=True)
    (base / "train").write_bytes(Py2Pickle.dumps(d))
    (base / "test").write_bytes(Py2Pickle.dumps(cifar_batch(3, 100, seed=6, fine=True)[0]))
    c100 = load_dataset("cifar100", "train", data_dir=tmp_path, download=False)
    assert c100.num_classes == 100 and c100.classes[42] == "fine42"
    assert c100.labels.tolist() == labels
    assert torch.equal(c100.images.reshape(40, 3072), torch.from_numpy(data))


def test_cifar_pickle_naming_other_globals_is_refused_and_not_run(tmp_path):
    write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    evil = (b"\x80\x02cos\nsystem\n" + Py2Pickle.string(f"touch {marker}") + b"\x85R.")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(evil)
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "test", data_dir=tmp_path, download=False)
    msg = one_line_error(e)
    assert "refusing" in msg and "os.system" in msg and "test_batch" in msg
    assert not marker.exists()
    # Even an allowed name cannot be used for anything but a numpy array stand-in.
    sneaky = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncos\nsystem\n" + b"K\x00\x85U\x01b\x87R."
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(sneaky)
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "test", data_dir=tmp_path, download=False)
    assert "os.system" in one_line_error(e)


@pytest.mark.parametrize("case, words", [
    ("truncated", ["test_batch", "truncated or corrupt"]),
    ("label out of range", ["test_batch", "label 10 is out of range"]),
    ("labels count", ["6 images but 5 labels"]),
    ("float data", ["dtype 'f8'", "uint8"]),
    ("wrong width", ["6 x 1024", "N x 3072"]),
    ("not a dict", ["holds a list"]),
])
def test_cifar_bad_batches_are_one_line_data_errors(tmp_path, case, words):
    write_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    d, data, labels = cifar_batch(6, 10, seed=9)
    blob = Py2Pickle.dumps(d)
    if case == "truncated":
        blob = blob[: len(blob) - 3000]
    elif case == "label out of range":
        d["labels"][2] = 10
        blob = Py2Pickle.dumps(d)
    elif case == "labels count":
        d["labels"] = d["labels"][:5]
        blob = Py2Pickle.dumps(d)
    elif case == "float data":
        blob = blob.replace(b"U\x02u1", b"U\x02f8")
    elif case == "wrong width":
        d["data"] = data.reshape(-1)[: 6 * 1024].reshape(6, 1024)
        blob = Py2Pickle.dumps(d)
    elif case == "not a dict":
        blob = Py2Pickle.dumps({"x": 1}).replace(b"}(U\x01xK\x01u", b"](K\x01e")
    path.write_bytes(blob)
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "test", data_dir=tmp_path, download=False)
    msg = one_line_error(e)
    for word in words:
        assert word in msg, (case, msg)


def test_cifar_truncated_tarball(tmp_path):
    write_cifar10(tmp_path / "src")
    tarball = tar_gz(tmp_path / "src", tmp_path / "src" / "cifar-10-batches-py",
                     tmp_path / "cifar-10-python.tar.gz")
    tarball.write_bytes(tarball.read_bytes()[:-200])
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "train", data_dir=tmp_path, download=False)
    assert "cifar-10-python.tar.gz" in one_line_error(e)


def test_cifar_missing_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar100", "train", data_dir=tmp_path, download=False)
    msg = one_line_error(e)
    assert "cifar-100-python.tar.gz" in msg and str(tmp_path) in msg


# ---- ImageFolder ---------------------------------------------------------------------------------

def _save(path: Path, img: Image.Image, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)


def make_imagefolder(root: Path) -> None:
    for split in ("train", "val"):
        # cat: a 32x16 image, red left half, blue right half (RGB PNG) and an RGBA one.
        two = np.zeros((16, 32, 3), np.uint8)
        two[:, :16, 0] = 255
        two[:, 16:, 2] = 255
        _save(root / split / "cat" / "a.png", Image.fromarray(two))
        rgba = np.dstack([np.full((20, 20, 3), (10, 200, 30), np.uint8), np.zeros((20, 20), np.uint8)])
        _save(root / split / "cat" / "b.PNG", Image.fromarray(rgba, "RGBA"))
        # dog: grey L JPEG, 16-bit grey PNG, palette with transparency, 1-bit, CMYK JPEG.
        _save(root / split / "dog" / "c.jpg", Image.new("L", (40, 30), 77), quality=100)
        _save(root / split / "dog" / "d.png",
              Image.fromarray(np.full((24, 24), 65535, np.uint16)))
        pal = Image.new("P", (18, 18), 1)
        pal.putpalette([0, 0, 0, 250, 100, 5] + [0] * 762)
        _save(root / split / "dog" / "e.png", pal, transparency=0)
        _save(root / split / "dog" / "f.png", Image.new("1", (16, 16), 1))
        _save(root / split / "dog" / "g.jpeg", Image.new("CMYK", (16, 16), (0, 0, 0, 0)), quality=100)
        (root / split / "dog" / "notes.txt").write_text("ignored")
        (root / split / "dog" / ".hidden.png").write_bytes(b"ignored")


def test_imagefolder_modes_sizes_and_labels(tmp_path):
    make_imagefolder(tmp_path)
    train = load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=16)
    val = load_dataset("imagefolder", "test", data_dir=tmp_path, image_size=16)
    assert train.classes == ["cat", "dog"] and val.classes == ["cat", "dog"]
    assert train.images.shape == (7, 3, 16, 16) and len(val) == 7
    assert train.labels.tolist() == [0, 0, 1, 1, 1, 1, 1]
    assert val.source == str(tmp_path / "val")
    im = train.images
    # a.png: short side already 16, centre crop of 32 columns = columns 8..23: 8 red then 8 blue.
    assert (im[0, 0, :, :8] == 255).all() and (im[0, 2, :, 8:] == 255).all()
    assert (im[0, 2, :, :8] == 0).all() and (im[0, 0, :, 8:] == 0).all()
    assert (im[1] == 0).all()  # RGBA with alpha 0: composited over black (the one alpha rule)
    assert (im[2] - 77).abs().max() <= 1  # grey JPEG, resized 30 -> 16
    assert (im[3] == 255).all()  # 16-bit 65535 scales to 255 (clipping would also give 255 ...)
    assert (im[4].flatten(1) == torch.tensor([[250], [100], [5]])).all()  # palette colour
    assert (im[5] == 255).all()  # 1-bit white
    assert (im[6] >= 254).all()  # CMYK (0,0,0,0) is white


def test_imagefolder_16_bit_grey_is_scaled_not_clipped(tmp_path):
    for split in ("train", "val"):
        _save(tmp_path / split / "x" / "a.png", Image.fromarray(np.full((8, 8), 32896, np.uint16)))
    ds = load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=8)
    assert (ds.images == 128).all()  # 32896 / 257 = 128; clipping would give 255


def test_imagefolder_resize_matches_pil_and_default_size(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    for split in ("train", "val"):
        _save(tmp_path / split / "x" / "a.png", Image.fromarray(arr))
    ds = load_dataset("imagefolder", "train", data_dir=tmp_path)
    assert ds.images.shape == (1, 3, 224, 224)
    small = load_dataset("imagefolder", "train", data_dir=tmp_path, image_size=30)
    expect = np.array(Image.fromarray(arr).resize((45, 30), Image.BILINEAR))[:, 7:37]
    assert torch.equal(small.images[0].permute(1, 2, 0), torch.from_numpy(expect))


@pytest.mark.parametrize("case, words", [
    ("empty class", ["class folder", "dog", "has no images"]),
    ("unreadable", ["cannot read image", "broken.png"]),
    ("truncated", ["cannot read image", "cut.jpg"]),
    ("no classes", ["has no class folders"]),
    ("mismatch", ["different classes", "only in train/: dog", "only in val/: cow"]),
    ("no val", ["no val/ (or test/) folder"]),
    ("no data dir", ["imagefolder needs --data-dir"]),
])
def test_imagefolder_errors(tmp_path, case, words):
    for split in ("train", "val"):
        _save(tmp_path / split / "cat" / "a.png", Image.new("RGB", (8, 8)))
        _save(tmp_path / split / "dog" / "a.png", Image.new("RGB", (8, 8)))
    data_dir, split = tmp_path, "test"
    if case == "empty class":
        (tmp_path / "val" / "dog" / "a.png").unlink()
    elif case == "unreadable":
        (tmp_path / "val" / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    elif case == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
            buf, "JPEG")
        (tmp_path / "val" / "cat" / "cut.jpg").write_bytes(buf.getvalue()[:300])
    elif case == "no classes":
        data_dir = tmp_path / "empty"
        (data_dir / "train").mkdir(parents=True)
        split = "train"
    elif case == "mismatch":
        (tmp_path / "val" / "dog").rename(tmp_path / "val" / "cow")
        split = "train"
    elif case == "no val":
        data_dir = tmp_path / "only_train"
        _save(data_dir / "train" / "cat" / "a.png", Image.new("RGB", (8, 8)))
    elif case == "no data dir":
        data_dir = None
    with pytest.raises(DataError) as e:
        load_dataset("imagefolder", split, data_dir=data_dir, image_size=8)
    msg = one_line_error(e)
    for word in words:
        assert word in msg, (case, msg)


# ---- downloads from a local HTTP server ---------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def data_server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base URL, folder, list of requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(_Quiet):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", www, requests
    server.shutdown()
    server.server_close()
    thread.join()


def _serve_mnist(www: Path, name: str, monkeypatch, corrupt: bool = False) -> tuple[np.ndarray, np.ndarray]:
    images, labels = random_mnist(40, seed=4)
    img, lbl = write_idx_pair(www / name, "test", images, labels)
    for path in (img, lbl):
        monkeypatch.setitem(download.MD5[name], path.name, hashlib.md5(path.read_bytes()).hexdigest())
    if corrupt:  # the server now sends other bytes than the published checksum's
        img.write_bytes(gzip.compress(idx_bytes(images[::-1].copy(), 2051)))
    return images, labels


def test_download_verified_into_cache_then_reused(data_server, monkeypatch, tmp_path):
    base, www, requests = data_server
    monkeypatch.setitem(idx.SYSTEM_DIRS, "fashion-mnist", [])
    monkeypatch.setitem(download.BASE_URLS, "fashion-mnist", [base + "fashion-mnist/"])
    images, labels = _serve_mnist(www, "fashion-mnist", monkeypatch)
    ds = load_dataset("fashion-mnist", "test")
    cache = tmp_path / "cache" / "fashion-mnist"
    assert ds.source == str(cache)
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-images-idx3-ubyte.gz",
                                                       "t10k-labels-idx1-ubyte.gz"]
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    assert len(requests) == 2
    again = load_dataset("fashion-mnist", "test")
    assert len(requests) == 2 and torch.equal(again.labels, ds.labels)


def test_download_first_address_down_falls_back_to_second(data_server, monkeypatch, tmp_path):
    base, www, requests = data_server
    dead = download.BASE_URLS["mnist"][0]
    monkeypatch.setitem(download.BASE_URLS, "mnist", [dead, base + "mnist/"])
    _serve_mnist(www, "mnist", monkeypatch)
    assert len(load_dataset("mnist", "test")) == 40


def test_download_corrupt_is_refused_and_leaves_nothing(data_server, monkeypatch, tmp_path):
    base, www, _ = data_server
    monkeypatch.setitem(download.BASE_URLS, "mnist", [base + "mnist/"])
    _serve_mnist(www, "mnist", monkeypatch, corrupt=True)
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "test")
    msg = one_line_error(e)
    assert "does not match its published MD5" in msg and "t10k-images-idx3-ubyte.gz" in msg
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_download_into_data_dir_via_mirror_env(data_server, monkeypatch, tmp_path):
    base, www, requests = data_server
    _serve_mnist(www, "mnist", monkeypatch)
    monkeypatch.setenv(download.MIRROR_ENV, base.rstrip("/"))
    (tmp_path / "mine").mkdir()
    ds = load_dataset("mnist", "test", data_dir=tmp_path / "mine")
    assert ds.source == str(tmp_path / "mine") and len(ds) == 40
    assert requests == ["/mnist/t10k-images-idx3-ubyte.gz", "/mnist/t10k-labels-idx1-ubyte.gz"]


def test_download_cifar_tarball(data_server, monkeypatch, tmp_path):
    base, www, _ = data_server
    written = write_cifar10(tmp_path / "src")
    tarball = tar_gz(tmp_path / "src", tmp_path / "src" / "cifar-10-batches-py",
                     www / "cifar-10-python.tar.gz")
    monkeypatch.setitem(download.BASE_URLS, "cifar10", [base])
    monkeypatch.setitem(download.MD5["cifar10"], tarball.name,
                        hashlib.md5(tarball.read_bytes()).hexdigest())
    ds = load_dataset("cifar10", "test")
    assert ds.labels.tolist() == written["test_batch"][1]
    assert (tmp_path / "cache" / "cifar10" / "cifar-10-python.tar.gz").is_file()


def test_server_that_never_answers_times_out(monkeypatch, tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        monkeypatch.setattr(download, "TIMEOUT_S", 0.3)
        monkeypatch.setitem(download.BASE_URLS, "mnist",
                            [f"http://127.0.0.1:{silent.getsockname()[1]}/"])
        t0 = time.perf_counter()
        with pytest.raises(DataError) as e:
            load_dataset("mnist", "test")
        assert time.perf_counter() - t0 < 5
    msg = one_line_error(e)
    assert "timed out" in msg and "could not be downloaded" in msg
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_server_down_gives_one_line_saying_where_to_put_files(monkeypatch, tmp_path):
    monkeypatch.setitem(idx.SYSTEM_DIRS, "fashion-mnist", [])
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", "train")
    msg = one_line_error(e)
    cache = tmp_path / "cache" / "fashion-mnist"
    assert "could not be downloaded" in msg and "127.0.0.1" in msg
    assert f"in {cache}" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert list(cache.iterdir()) == []
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", "train")
    msg = one_line_error(e)
    assert "cifar-10-python.tar.gz" in msg and "apt-get" not in msg


# ---- the input adapter -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def data_sample_train() -> ArrayDataset:
    return load_dataset("sample", "train")


def test_lenet5_adapter_pads_and_scales_as_the_paper(data_sample_train):
    a = InputPipeline.for_training(data_sample_train, "lenet5")
    assert isinstance(a, InputPipeline) and a.fit == "pad" and a.size == (32, 32)
    assert a.data_size == (28, 28) and a.scaling == "lenet"
    assert "padded to 32x32" in a.description and "-0.1" in a.description
    batch = data_sample_train.images[:64]
    x = a(batch)
    assert x.shape == (64, 1, 32, 32) and x.dtype == torch.float32
    # Border (padding) is background -0.1; the centre is 1.275 * v / 255 - 0.1 (paper Sec. II-B).
    assert (x[..., :2, :] + 0.1).abs().max() < 1e-6 and (x[..., :, 30:] + 0.1).abs().max() < 1e-6
    expect = batch.double() / 255 * 1.275 - 0.1
    assert torch.allclose(x[..., 2:30, 2:30].double(), expect, atol=1e-6)
    assert float(a(torch.full((1, 1, 28, 28), 255, dtype=torch.uint8)).max()) == pytest.approx(1.175)


def test_meanstd_adapter_standardises_the_training_set(data_sample_train):
    a = InputPipeline.for_training(data_sample_train, "resnet20", image_size=28)
    assert a.data_size == a.size == (28, 28) and a.scaling == "standardize"
    x = a(data_sample_train.images).double()
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(x.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)
    # mean_std is exact against a direct float64 computation.
    (mean,), (std,) = data_sample_train.mean_std()
    pixels = data_sample_train.images.double() / 255
    assert mean == pytest.approx(float(pixels.mean()), abs=1e-9)
    assert std == pytest.approx(float(pixels.std(unbiased=False)), abs=1e-9)


def test_resize_adapter_matches_pil_bilinear(data_sample_train):
    a = InputPipeline.for_training(data_sample_train, "resnet20")  # 28 -> 32 (fixed_size=False, no padding)
    assert a.fit == "resize" and a.size == (32, 32)
    batch = data_sample_train.images[:20]
    pixels = a.unnormalise(a(batch))
    pil = np.stack([np.asarray(Image.fromarray(im[0].numpy()).resize((32, 32), Image.BILINEAR))
                    for im in batch])
    assert (pixels[:, 0].int() - torch.from_numpy(pil).int()).abs().max() <= 1


def test_image_size_rules(data_sample_train):
    assert InputPipeline.for_training(data_sample_train, "resnet18", image_size=64).size == (64, 64)
    assert InputPipeline.for_training(data_sample_train, "alexnet", image_size=227).size == (227, 227)
    with pytest.raises(OptionError) as e:
        InputPipeline.for_training(data_sample_train, "alexnet", image_size=224)
    assert one_line_error(e).startswith("alexnet takes only 227x227")
    with pytest.raises(InputShapeError) as e:
        InputPipeline.for_training(data_sample_train, "resnet18", in_channels=3)
    msg = one_line_error(e)
    assert "in_channels=1" in msg and "1 channel" in msg
    with pytest.raises(UnknownNameError):
        InputPipeline.for_training(data_sample_train, "lenet6")


def test_adapter_feeds_the_model(data_sample_train):
    import cnnzoo
    a = InputPipeline.for_training(data_sample_train, "lenet5", in_channels=1)
    model = cnnzoo.create_model("lenet5", in_channels=data_sample_train.channels).eval()
    with torch.no_grad():
        assert model(a(data_sample_train.images[:8])).shape == (8, 10)


def test_adapter_is_device_generic(data_sample_train):
    a = InputPipeline.for_training(data_sample_train, "resnet20")
    assert a(torch.zeros(4, 1, 28, 28, dtype=torch.uint8, device="meta")).shape == (4, 1, 32, 32)
    with pytest.raises(InputShapeError):
        a(torch.zeros(1, 1, 28, 28))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_adapter_and_augment_on_cuda_match_cpu(data_sample_train):
    batch = data_sample_train.images[:32]
    for model in ("lenet5", "resnet20"):
        a = InputPipeline.for_training(data_sample_train, model)
        assert torch.allclose(a(batch.cuda()).cpu(), a(batch), atol=1e-5)
    aug = BatchAugment(crop_padding=2, hflip=True)
    out_gpu = aug(batch.cuda(), generator=torch.Generator().manual_seed(1)).cpu()
    assert torch.equal(out_gpu, aug(batch, generator=torch.Generator().manual_seed(1)))


# ---- batch augmentation ------------------------------------------------------------------------

def reference_augment(x: torch.Tensor, p: int, hflip: bool, seed: int) -> torch.Tensor:
    """Per-sample loop with the same random draws, in the same order (row offsets, column
    offsets, flips): the oracle for the vectorised version."""
    g = torch.Generator().manual_seed(seed)
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * p + 1, (n,), generator=g) if p else None
    dx = torch.randint(0, 2 * p + 1, (n,), generator=g) if p else None
    flips = torch.rand(n, generator=g) < 0.5 if hflip else torch.zeros(n, dtype=torch.bool)
    out = []
    for i in range(n):
        img = x[i]
        if p:  # crop at (dy, dx) of the zero-padded image, then flip
            padded = F.pad(img, (p, p, p, p))
            img = padded[:, dy[i]: dy[i] + h, dx[i]: dx[i] + w]
        if flips[i]:
            img = img.flip(-1)
        out.append(img)
    return torch.stack(out)


@pytest.mark.parametrize("p, hflip", [(4, True), (4, False), (0, True), (2, True)])
def test_batch_augment_matches_per_sample_reference(p, hflip):
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    aug = BatchAugment(crop_padding=p, hflip=hflip)
    out = aug(x, generator=torch.Generator().manual_seed(7))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, reference_augment(x, p, hflip, seed=7))
    # Not the identity, and different samples got different crops/flips.
    assert not torch.equal(out, x)


def test_batch_augment_deterministic_and_resumable():
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    a, b = BatchAugment(2, True, generator_seed=3), BatchAugment(2, True, generator_seed=3)
    first = a(x)
    assert torch.equal(first, b(x))
    state = a.generator.get_state()
    second = a(x)
    assert not torch.equal(first, second)
    a.generator.set_state(state)
    assert torch.equal(a(x), second)
    assert torch.equal(BatchAugment()(x), x)


def test_batch_augment_flip_rate_and_float_input():
    x = torch.arange(28.0).expand(4000, 1, 28, 28).contiguous()
    out = BatchAugment(hflip=True)(x, generator=torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] == 27).float().mean()
    assert 0.45 < float(flipped) < 0.55  # about half flipped, each exactly mirrored
    assert torch.equal(out[out[:, 0, 0, 0] == 27], x[: int((out[:, 0, 0, 0] == 27).sum())].flip(-1))


def test_default_augment():
    c = default_augment("cifar10")
    assert (c.crop_padding, c.hflip) == (4, True)
    assert (default_augment("mnist").crop_padding, default_augment("mnist").hflip) == (2, False)
    assert default_augment("sample").hflip and default_augment("fashion-mnist").hflip
    assert default_augment("imagefolder", image_size=64).crop_padding == 8
    # An ImageFolder's crop padding follows the images actually trained on, and flips are not
    # its default (digits, text: handedness).
    small = default_augment("imagefolder", image_size=32)
    assert (small.crop_padding, small.hflip) == (4, False)
    with pytest.raises(UnknownNameError):
        default_augment("svhn")
