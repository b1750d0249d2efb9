"""ImageFolder trees: --data-dir/train/<class>/*.png|jpg and --data-dir/val/<class>/... .

The test split is val/ (test/ is accepted when there is no val/). Classes are the sub-folders of
train/ in sorted order; val/ must have the same set. Hidden files and files that are not images by
their extension are ignored; a class folder with no images is an error, as is an image that does
not decode (named in the message).

Every image is decoded by cnnzoo.data.images (the one decoder: EXIF orientation, alpha over
black, 16-bit grey / 257, bombs refused) and made RGB (grey by repetition), so that one model fits
every folder; then fitted to image_size x image_size by the one fit (shorter side to image_size,
aspect kept, centre cut). `cnnzoo predict` and `cnnzoo visualize` decode files by the same
functions, so a model is shown what it was trained on. The whole set is then one uint8 tensor,
like the small data sets.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..errors import DataError
from ..limits import MAX_SIDE
from .base import ArrayDataset, shown
from .images import load_pixels

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm",
                    ".pgm")
DEFAULT_IMAGE_SIZE = 224


def _class_dirs(split_dir: Path) -> list[str]:
    try:
        return sorted(p.name for p in split_dir.iterdir()
                      if p.is_dir() and not p.name.startswith("."))
    except OSError as e:
        raise DataError(f"cannot list {shown(split_dir)}: {e.strerror or e}") from None


def _images_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                      and p.suffix.lower() in IMAGE_EXTENSIONS)
    except OSError as e:
        raise DataError(f"cannot list {shown(folder)}: {e.strerror or e}") from None


def _load_one(path: Path, size: int) -> np.ndarray:
    return load_pixels(path, 3, (size, size))


def _check_memory(n: int, size: int, folder: Path) -> None:
    """Refuse, before decoding, a set that would not fit in half of this machine's memory."""
    need = n * 3 * size * size
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > total // 2:
        raise DataError(f"{folder}: {n:,} images at {size}x{size} need {need / 2**30:.1f} GiB in "
                        f"memory, more than half of this machine's {total / 2**30:.0f} GiB: use a "
                        "smaller --image-size or fewer images")


def _split_dir(root: Path, split: str) -> Path:
    names = ("train",) if split == "train" else ("val", "test")
    for name in names:
        if (root / name).is_dir():
            return root / name
    wanted = "train/" if split == "train" else "val/ (or test/)"
    raise DataError(f"{root} has no {wanted} folder: an imagefolder --data-dir holds train/ and "
                    "val/, each with one folder of images per class")


def load_imagefolder(split: str, data_dir: Path | None,
                     image_size: int | None = None) -> ArrayDataset:
    if data_dir is None:
        raise DataError("imagefolder needs --data-dir: a folder with train/ and val/, each with "
                        "one folder of images per class")
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} is not a folder: imagefolder needs --data-dir with train/ "
                        "and val/")
    size = DEFAULT_IMAGE_SIZE if image_size is None else checks.positive_int(
        "--image-size", image_size, maximum=MAX_SIDE)
    train_dir = _split_dir(data_dir, "train")
    classes = _class_dirs(train_dir)
    if not classes:
        raise DataError(f"{train_dir} has no class folders: put each class's images in its own "
                        "folder, e.g. train/cat/1.jpg")
    # Labels index the train/ classes, so val/ must name the same classes.
    try:
        val_dir: Path | None = _split_dir(data_dir, "test")
    except DataError:
        if split == "test":
            raise
        val_dir = None
    if val_dir is not None:
        val_classes = _class_dirs(val_dir)
        if val_classes != classes:
            only_train = sorted(set(classes) - set(val_classes))
            only_val = sorted(set(val_classes) - set(classes))
            parts = ([f"only in train/: {', '.join(map(shown, only_train[:5]))}"] if only_train
                     else []) + ([f"only in {val_dir.name}/: {', '.join(map(shown, only_val[:5]))}"]
                                 if only_val else [])
            raise DataError(f"{data_dir}: train/ and {val_dir.name}/ have different classes "
                            f"({'; '.join(parts)}): give both the same class folders")
    folder = train_dir if split == "train" else val_dir
    assert folder is not None
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = _images_in(folder / name)
        if not found:
            raise DataError(f"class folder {shown(folder / name)} has no images ({', '.join(IMAGE_EXTENSIONS[:3])}"
                            "...): add images or remove the folder")
        files += found
        labels += [label] * len(found)
    _check_memory(len(files), size, folder)
    # One uint8 tensor filled in place (no stacked copies); PIL releases the GIL while decoding
    # and resizing, so threads help.
    images = torch.empty(len(files), 3, size, size, dtype=torch.uint8)  # N x 3 x S x S
    pixels = images.numpy()  # the same memory

    def load(i: int) -> None:
        pixels[i] = _load_one(files[i], size).transpose(2, 0, 1)

    workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(load, range(len(files))))
    return ArrayDataset("imagefolder", split, images, torch.tensor(labels, dtype=torch.int64),
                        classes, source=str(folder))
