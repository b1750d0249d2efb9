"""Image files -> pixels: the ONE decoder and the ONE fit policy of cnnzoo.

Every image file that reaches a model (an ImageFolder's training images, `cnnzoo predict`, every
`cnnzoo visualize` tool) goes through `decode_image` and `fit_image`, so what a model is trained
on and what it is later shown are decoded by the same rules:

- Orientation: a JPEG's EXIF orientation is applied (the picture is turned upright).
- Bit depth: 8-bit modes are taken as they are. 16- and 32-bit integer grey (I;16, I;16B, I) is
  on the 16-bit scale, 0..65535, and becomes round(v / 257) (65535 -> 255 exactly), clipped to
  0..255. Floating-point grey (F) is on the 0..1 scale and becomes round(255 v), clipped. The rule
  depends on the mode only, never on the pixel values.
- Alpha (RGBA, LA, PA, P with a transparent colour): composited over BLACK, the colour of the zero
  padding that the pad fit and the random crops add, and of MNIST-style backgrounds.
- Channels: grey modes (1, L, LA, I, I;16, F) give 1 channel, every other mode (RGB, RGBA, P,
  CMYK, YCbCr, LAB, HSV) 3 channels (RGB). `to_channels` then converts to what a model takes:
  grey -> RGB by repetition, RGB -> grey by ITU-R 601-2 luma (Pillow's "L":
  L = (299 R + 587 G + 114 B) / 1000, rounded).
- Size limit: an image of more than MAX_PIXELS pixels is refused from its header, before any
  pixel is decoded (a decompression bomb); Pillow's own bomb warning and error never escape.
- A file that is missing, not an image, truncated or corrupt: DataError, one line, naming it.

Fit (`fit_image`): scale so the picture covers size (the shorter side becomes the target side,
the aspect ratio is kept: bilinear, antialiased when shrinking, Pillow's resize) and cut the
centre. This is how an ImageFolder is loaded at --image-size and how a photograph is brought to
the size of a run's training images; the model-side step after it (LeNet-5's padding of 28x28 to
32x32, or a resize to a larger input) is the run's InputPipeline (cnnzoo/pipeline.py).
"""
from __future__ import annotations

import functools
import io
import struct
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError, InputShapeError
from ..limits import MAX_FILE_SIDE, MAX_PIXELS
from .base import brief, shown

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
LUMA = (299, 587, 114)  # per mille, ITU-R 601-2 as Pillow's convert("L")


def _name(source: str | Path | bytes) -> str:
    return ("image bytes" if isinstance(source, (bytes, bytearray, memoryview))
            else f"image {shown(source)}")


def _to_array(img, where: str = "image") -> np.ndarray:
    """H x W x {1, 3} uint8 from a loaded Pillow image of any mode (the rules of the docstring).
    A floating-point image with NaN or infinite pixels is refused (DataError naming `where`)."""
    # Pillow only when an image file is decoded or resized: the input pipeline imports this module
    from PIL import Image

    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).sum())
            raise DataError(f"cannot read {where}: {bad:,} of its {a.size:,} pixels are NaN or "
                            "infinite (a floating-point image); fix or replace them first")
        a = a / 257.0 if mode != "F" else a * 255.0
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)[..., None]
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in _ALPHA_MODES:
        grey = mode in ("LA", "La")
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba).convert("L" if grey else "RGB")
        mode = img.mode
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"), dtype=np.uint8)[..., None]
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


@functools.cache
def _quiet_pillow_bomb_warning() -> None:
    """Pillow warns about images between its limit and twice it; ours (MAX_PIXELS) is lower and
    refuses all of them with one line, so its warning only adds noise. A filter set once, not
    warnings.catch_warnings(): ImageFolder decodes in threads, and catch_warnings is not
    thread-safe."""
    # Pillow only when an image file is decoded or resized: the input pipeline imports this module
    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def decode_image(source: str | Path | bytes) -> np.ndarray:
    """An image file (a path, or its bytes) as uint8 H x W x C, C = 1 (grey modes) or 3.

    The rules for orientation, bit depth, alpha and channels are the module docstring's. Raises
    DataError (one line naming the file) for a missing, unreadable, truncated, corrupt or
    too-large (more than MAX_PIXELS) image.
    """
    # Pillow only when an image file is decoded or resized: the input pipeline imports this module
    from PIL import Image, ImageOps, UnidentifiedImageError

    where = _name(source)
    stream: Path | io.BytesIO
    if isinstance(source, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(source))
    else:
        stream = Path(source)
        if stream.is_dir():
            raise DataError(f"cannot read {where}: it is a folder, not an image file")
        if not stream.is_file():
            raise DataError(f"cannot read {where}: no such file")
    _quiet_pillow_bomb_warning()
    try:
        with Image.open(stream) as img:
            w, h = img.size
            if w * h > MAX_PIXELS or max(w, h) > MAX_FILE_SIDE:
                if max(w, h) > MAX_FILE_SIDE:
                    raise DataError(f"cannot read {where}: {w}x{h} has a side longer than the "
                                    f"{MAX_FILE_SIDE:,} pixels cnnzoo decodes: scale it down first")
                raise DataError(
                    f"cannot read {where}: {w}x{h} is {w * h:,} pixels, more than the "
                    f"{MAX_PIXELS:,} ({MAX_PIXELS >> 20} megapixels) cnnzoo decodes (a "
                    "decompression bomb?): scale it down first")
            if w < 1 or h < 1:
                raise DataError(f"cannot read {where}: it is empty ({w}x{h})")
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_array(img, where)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"cannot read {where}: not an image format Pillow knows "
                        "(give a PNG, JPEG, BMP, TIFF, WebP... file)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow refuses at open, before our own check, beyond twice its own limit.
        raise DataError(f"cannot read {where}: more than the {MAX_PIXELS >> 20} megapixels "
                        f"cnnzoo decodes, a decompression bomb? ({brief(e)}): scale it "
                        "down first") from None
    except MemoryError:
        raise DataError(f"cannot read {where}: not enough memory to decode it") from None
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError,
            struct.error, ZeroDivisionError, OverflowError, RuntimeError) as e:
        # Truncated and corrupt files surface as any of these from Pillow's plugins.
        raise DataError(f"cannot read {where}: {brief(e)} (truncated or corrupt file?)"
                        ) from None


def to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """H x W x C uint8 with `channels` channels: grey -> RGB by repetition, RGB -> grey by luma."""
    have = pixels.shape[2]
    if have == channels:
        return pixels
    if have == 1 and channels == 3:
        return np.repeat(pixels, 3, axis=2)
    if have == 3 and channels == 1:
        luma = pixels.astype(np.uint32) @ np.asarray(LUMA, dtype=np.uint32)
        return ((luma + 500) // 1000).astype(np.uint8)[..., None]
    raise InputShapeError(f"cannot turn a {have}-channel image into {channels} channels "
                          "(cnnzoo models take 1 or 3)")


def fit_image(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale H x W x C uint8 pixels to cover size = (height, width), keeping the aspect ratio, and
    cut the centre: the one fit of cnnzoo (Pillow bilinear, antialiased when shrinking)."""
    # Pillow only when an image file is decoded or resized: the input pipeline imports this module
    from PIL import Image

    target_h, target_w = int(size[0]), int(size[1])
    h, w = pixels.shape[:2]
    if (h, w) == (target_h, target_w):
        return pixels
    scale = max(target_h / h, target_w / w)
    new_h, new_w = max(target_h, round(h * scale)), max(target_w, round(w * scale))
    channels = pixels.shape[2]
    img = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, "L" if channels == 1 else "RGB")
    if (new_h, new_w) != (h, w):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top, left = (new_h - target_h) // 2, (new_w - target_w) // 2
    img = img.crop((left, top, left + target_w, top + target_h))
    out = np.asarray(img, dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out


def load_pixels(source: str | Path | bytes, channels: int, size: tuple[int, int]) -> np.ndarray:
    """decode_image, then to_channels, then fit_image: uint8 size[0] x size[1] x channels."""
    return fit_image(to_channels(decode_image(source), channels), size)
