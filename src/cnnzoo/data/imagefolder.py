"""ImageFolder trees: --data-dir/train/<class>/*.png|jpg and --data-dir/val/<class>/... .

The test split is val/ (test/ is accepted when there is no val/). Classes are the sub-folders of
train/ in sorted order; val/ must have the same set. Hidden files and files that are not images by
their extension are ignored; a class folder with no images is an error, as is an image that does
not decode (named in the message).

Every image becomes RGB, whatever its mode: L, LA, P (palette, with or without transparency),
RGBA (alpha dropped, as torchvision's loader does), CMYK, 1-bit, and 16-bit or 32-bit grey
(I;16, I), which is scaled to 8 bits by its range (65535 -> 255) rather than clipped. RGB always,
so that one model fits every folder; grey folders cost three identical channels.

Every image is resized so its shorter side is image_size (PIL bilinear, antialiased when
shrinking) and centre-cropped to image_size x image_size: the whole set is then one uint8 tensor,
like the small data sets. Pass the model's input size (or a bit more, for random crops).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from .base import ArrayDataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm",
                    ".pgm")
DEFAULT_IMAGE_SIZE = 224


def _class_dirs(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def to_rgb(img: Image.Image) -> Image.Image:
    """An RGB image from any PIL mode, high-bit-depth grey scaled (not clipped) to 8 bits."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        a = np.asarray(img).astype(np.float64)
        # 16-bit data (I;16, or I from a 16-bit PNG) spans 0..65535; 'I' with 8-bit values and
        # 'F' in 0..1 or 0..255 are taken as they are.
        if img.mode.startswith("I;16") or a.max(initial=0) > 255:
            a = a / 257.0
        elif img.mode == "F" and a.max(initial=0) <= 1.0:
            a = a * 255.0
        grey = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # PIL asks for this route for palettes with transparency
    return img.convert("RGB")


def _load_one(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            rgb = to_rgb(img)
            w, h = rgb.size
            scale = size / min(w, h)
            new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
            if (new_w, new_h) != (w, h):
                rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
            left, top = (new_w - size) // 2, (new_h - size) // 2
            rgb = rgb.crop((left, top, left + size, top + size))
            return np.asarray(rgb, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        # UnidentifiedImageError and "image file is truncated" are OSErrors.
        raise DataError(f"cannot read image {path}: {e}") from None


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
    size = DEFAULT_IMAGE_SIZE if image_size is None else int(image_size)
    if size < 1:
        raise DataError(f"image size must be positive, got {image_size}")
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
            parts = ([f"only in train/: {', '.join(only_train[:5])}"] if only_train else []) + \
                    ([f"only in {val_dir.name}/: {', '.join(only_val[:5])}"] if only_val else [])
            raise DataError(f"{data_dir}: train/ and {val_dir.name}/ have different classes "
                            f"({'; '.join(parts)}): give both the same class folders")
    folder = train_dir if split == "train" else val_dir
    assert folder is not None
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = _images_in(folder / name)
        if not found:
            raise DataError(f"class folder {folder / name} has no images ({', '.join(IMAGE_EXTENSIONS[:3])}"
                            "...): add images or remove the folder")
        files += found
        labels += [label] * len(found)
    # PIL releases the GIL while decoding and resizing, so threads help.
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        arrays = list(pool.map(lambda p: _load_one(p, size), files))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # N x 3 x S x S
    return ArrayDataset("imagefolder", split, images, torch.tensor(labels, dtype=torch.int64),
                        classes, source=str(folder))
