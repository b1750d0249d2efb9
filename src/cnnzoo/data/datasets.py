"""load_dataset: one entry point for every data set cnnzoo reads.

- sample: 5,000 training and 1,000 test images of Fashion-MNIST shipped inside the package (the
  first 500 / 100 of each class, see sample/README.md), so the main job runs with no download.
- fashion-mnist: the IDX files in --data-dir, else /usr/share/datasets/fashion-mnist (Debian's
  dataset-fashion-mnist), else the download cache, else a download.
- mnist: the IDX files in --data-dir, else the cache, else a download.
- cifar10, cifar100: the python-version pickles (folder or .tar.gz) in --data-dir, else the cache,
  else a download.
- imagefolder: --data-dir/train/<class>/... and --data-dir/val/<class>/... .

With --data-dir the files are looked for there only, and downloaded there (the folder must exist:
a folder named for reading is never created); without, downloads go to the cache ($CNNZOO_CACHE,
default ~/.cache/cnnzoo). See download.py.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError, OptionError, UnknownNameError, close_matches
from .base import FASHION_MNIST_CLASSES, MNIST_CLASSES, SPLITS, ArrayDataset
from .cifar import load_cifar
from .idx import load_idx_dataset
from .imagefolder import load_imagefolder

DATASETS: tuple[str, ...] = ("sample", "fashion-mnist", "mnist", "cifar10", "cifar100", "imagefolder")

_ALIASES = {
    "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10", "cifar_10": "cifar10", "cifar-100": "cifar100", "cifar_100": "cifar100",
    "image-folder": "imagefolder", "image_folder": "imagefolder",
}

SAMPLE_DIR = Path(__file__).with_name("sample")


def canonical_name(name: str) -> str:
    """The data set's name as DATASETS spells it; UnknownNameError with close matches."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise UnknownNameError(f"unknown data set {name!r}.{close_matches(name, DATASETS)} "
                               f"The data sets are: {', '.join(DATASETS)}.")
    return key


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """--data-dir as an absolute path (~ expanded), so a run folder that stores it can be resumed
    from anywhere. It is never created: a folder named for reading must exist."""
    if data_dir is None:
        return None
    if not isinstance(data_dir, (str, Path)) or not str(data_dir).strip():
        raise OptionError(f"--data-dir must be a folder, got {data_dir!r}")
    folder = Path(data_dir).expanduser().absolute()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise DataError(f"--data-dir {data_dir} {what}: give the folder that holds the data set's "
                        "files (it is not created; without --data-dir cnnzoo uses its cache)")
    return folder


def load_dataset(name: str, split: str, data_dir: str | Path | None = None,
                 download: bool = True, image_size: int | None = None) -> ArrayDataset:
    """Load a whole split of a data set into memory as uint8 tensors.

    name: one of DATASETS. split: "train" or "test" (imagefolder's test split is val/).
    data_dir: where the files are (required for imagefolder); None = the usual places.
    download: fetch MNIST-family and CIFAR files when no local copy exists.
    image_size: imagefolder only: images are resized (shorter side) and centre-cropped to
        image_size x image_size at load (default 224).
    """
    key = canonical_name(name)
    if split not in SPLITS:
        raise OptionError(f"split must be 'train' or 'test', got {split!r}")
    if image_size is not None and key != "imagefolder":
        # The array data sets have one size; the model's input size is the InputPipeline's business.
        image_size = None
    folder = resolve_data_dir(data_dir)
    if key == "sample":
        return load_idx_dataset("sample", split, FASHION_MNIST_CLASSES, folder=SAMPLE_DIR)
    if key in ("fashion-mnist", "mnist"):
        classes = FASHION_MNIST_CLASSES if key == "fashion-mnist" else MNIST_CLASSES
        return load_idx_dataset(key, split, classes, data_dir=folder, download_ok=download)
    if key in ("cifar10", "cifar100"):
        return load_cifar(key, split, data_dir=folder, download_ok=download)
    return load_imagefolder(split, folder, image_size=image_size)
