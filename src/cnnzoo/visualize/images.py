"""Photographs of any size and mode -> the input a model expects, and back for display.

A file is read with Pillow, turned upright (EXIF orientation), made float in [0, 1] (16-bit and
32-bit grey scaled by their range, not clipped; transparency composited over white), converted to
the model's channels (grey -> RGB by repetition, RGB -> grey by ITU-R 601 luma, as Pillow's "L"),
resized to the model's input size (antialiased bilinear) and normalised with the checkpoint's
mean/std. `fit="resize"` keeps the whole picture (its aspect ratio is changed, and shown restored);
`fit="crop"` scales the short side and cuts the centre, as the papers' test crops do.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DataError, InputShapeError

_LUMA = (0.299, 0.587, 0.114)


@dataclass
class ModelImage:
    """An image ready for a model, and what is needed to show results beside it.

    tensor: 1 x C x H x W normalised; pixels: H x W x C float in [0, 1] (the same picture,
    un-normalised); original_size: (height, width) of the file; aspect: width / height of the
    region of the file that the model sees (for display)."""

    tensor: Tensor
    pixels: np.ndarray
    original_size: tuple[int, int]
    aspect: float
    path: str = ""


def _to_float(img) -> np.ndarray:
    """H x W x {1, 3} float32 in [0, 1] from any Pillow mode."""
    from PIL import Image

    mode = img.mode
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.float32) / 65535.0
        return arr[..., None]
    if mode == "I":  # 32-bit int; Pillow opens some 16-bit PNGs so
        arr = np.asarray(img).astype(np.float32)
        scale = 65535.0 if arr.max() > 255 else 255.0
        return np.clip(arr / scale, 0, 1)[..., None]
    if mode == "F":
        arr = np.asarray(img).astype(np.float32)
        return np.clip(arr / (255.0 if arr.max() > 1 else 1.0), 0, 1)[..., None]
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
        grey = mode in ("LA", "La")
        return (np.asarray(img.convert("L") if grey else img).astype(np.float32) / 255.0
                ).reshape(img.size[1], img.size[0], -1)
    if mode in ("1", "L"):
        return (np.asarray(img.convert("L")).astype(np.float32) / 255.0)[..., None]
    return np.asarray(img.convert("RGB")).astype(np.float32) / 255.0


def read_image(path: str | Path) -> np.ndarray:
    """The file as H x W x {1, 3} float32 in [0, 1]; DataError (one line) if it cannot be read."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"cannot read image {p}: no such file")
    try:
        with Image.open(p) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_float(img)
    except UnidentifiedImageError:
        raise DataError(f"cannot read image {p}: not an image format Pillow knows "
                        "(give a PNG, JPEG, BMP, TIFF, WebP... file)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image {p}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                        " (truncated or corrupt file?)") from None


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    if arr.shape[2] == channels:
        return arr
    if arr.shape[2] == 1:
        return np.repeat(arr, channels, axis=2)
    if channels == 1:
        return (arr[..., :3] @ np.asarray(_LUMA, dtype=np.float32))[..., None]
    raise InputShapeError(f"cannot turn a {arr.shape[2]}-channel image into the {channels} channels "
                          "the model takes")


def prepare(arr: np.ndarray, channels: int, size: tuple[int, int],
            mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,),
            fit: str = "resize", pad_from: tuple[int, int] | None = None
            ) -> tuple[Tensor, np.ndarray, float]:
    """H x W x C' float [0, 1] -> (1 x C x H x W normalised tensor, H x W x C pixels, aspect).

    pad_from: for a model trained on smaller images padded into its input (LeNet-5 on 28x28
    digits in 32x32): the picture is fitted to that size, then padded with black as they were."""
    if pad_from is not None and tuple(pad_from) != tuple(size):
        t, pixels, aspect = prepare(arr, channels, pad_from, (0.0,), (1.0,), fit)
        dh, dw = size[0] - pad_from[0], size[1] - pad_from[1]
        t = F.pad(t, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        return normalise(t, mean, std), t[0].permute(1, 2, 0).numpy().copy(), aspect
    arr = to_channels(arr, channels)
    h0, w0 = arr.shape[:2]
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0)
    if fit == "crop":
        scale = max(size[0] / h0, size[1] / w0)
        mid = (max(size[0], round(h0 * scale)), max(size[1], round(w0 * scale)))
        t = F.interpolate(t, size=mid, mode="bilinear", antialias=True, align_corners=False)
        top, left = (mid[0] - size[0]) // 2, (mid[1] - size[1]) // 2
        t = t[:, :, top:top + size[0], left:left + size[1]]
        aspect = size[1] / size[0]
    elif fit == "resize":
        t = F.interpolate(t, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
        aspect = w0 / h0
    else:
        raise ValueError(f"fit must be 'resize' or 'crop', got {fit!r}")
    t = t.clamp(0, 1)
    pixels = t[0].permute(1, 2, 0).numpy().copy()
    return normalise(t, mean, std), pixels, aspect


def normalise(t: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    m = torch.as_tensor(list(mean), dtype=t.dtype).view(1, -1, 1, 1)
    s = torch.as_tensor(list(std), dtype=t.dtype).view(1, -1, 1, 1)
    return (t - m) / s


def denormalise(t: Tensor | np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """C x H x W normalised -> H x W x C in [0, 1] for display."""
    t = torch.as_tensor(t, dtype=torch.float32)
    m = torch.as_tensor(list(mean), dtype=t.dtype).view(-1, 1, 1)
    s = torch.as_tensor(list(std), dtype=t.dtype).view(-1, 1, 1)
    return (t * s + m).clamp(0, 1).permute(1, 2, 0).numpy()


def load_image(path: str | Path, channels: int, size: tuple[int, int],
               mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,),
               fit: str = "resize", pad_from: tuple[int, int] | None = None) -> ModelImage:
    """Read a photograph and convert it as the model expects (see the module docstring and
    `prepare`)."""
    arr = read_image(path)
    tensor, pixels, aspect = prepare(arr, channels, size, mean, std, fit, pad_from)
    return ModelImage(tensor, pixels, (arr.shape[0], arr.shape[1]), aspect, str(path))
