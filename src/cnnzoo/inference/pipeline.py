"""How images reach a model: InputPipeline (a trained run loaded with it is inference.run).

An InputPipeline is everything between pixels and a model's input, written once at training time
into the checkpoint's meta.json (meta["pipeline"] = pipeline.to_meta()) and read back by every
tool that feeds the model (eval, predict, visualize, export, bench, claims):

    image file --decode_image, to_channels, fit_image (cnnzoo/data/images.py)--> uint8 at data_size
    uint8 N x C x h x w --InputPipeline.__call__--> float N x C x H x W (the model's input)

The second step does what the paper did to the data set's images: `fit="pad"` centres smaller
images in the input with zeros (LeNet-5's 28x28 digits in its 32x32 field, Sec. II-B),
`fit="resize"` resizes them (bilinear, antialiased); then (x / 255 - mean) / std per channel.
LeNet-5's own scaling (background -0.1, ink 1.175) is stored as the equivalent mean and std.

    run = load_run("runs/lenet5")                  # or load_run(model="alexnet"): random weights
    x = run.load_image("shirt.png").tensor         # 1 x 1 x 32 x 32, as the model was trained
    probs = run.model(x).softmax(1)
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import checks
from ..data.images import decode_image, fit_image, to_channels
from ..errors import CheckpointError, DataError, InputShapeError, OptionError
from ..limits import MAX_CLASSES, MAX_SIDE
from ..registry import model_info

FITS = ("pad", "resize", "crop")
SCALINGS = ("standardize", "lenet", "default", "pretrained")
LENET_SCALE, LENET_SHIFT = 1.275, -0.1  # LeNet-5, Sec. II-B: background -0.1, ink 1.175
FAR_FROM_TRAINING = 1.5  # see InputPipeline._doubts
# Random weights have no data statistics; (x - 0.5) / 0.5 maps [0, 1] pixels to [-1, 1].
DEFAULT_MEAN, DEFAULT_STD = 0.5, 0.5


@dataclass
class ModelImage:
    """One picture ready for a model, and what is needed to show results beside it.

    tensor: 1 x C x H x W, normalised; pixels: H x W x C float in [0, 1], the same picture before
    normalisation (what the model sees); original_size: (height, width) of the file; aspect: width /
    height of the region the model sees; description: what was done to the file, in words;
    warnings: reasons to doubt a prediction on it (empty when it looks like the training data)."""

    tensor: Tensor
    pixels: np.ndarray
    original_size: tuple[int, int]
    aspect: float
    path: str = ""
    description: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass(eq=False)
class InputPipeline:
    """uint8 images -> a model's float input, as the model was trained.

    channels: 1 or 3. size: the model's input (H, W). data_size: the (H, W) of the training images,
    to which image files are fitted first. fit: "pad", "resize" or "crop" (data_size -> size;
    "crop" cuts the centre, as torchvision's evaluation transforms: resize 256, crop 224).
    mean, std: per channel, on the [0, 1] scale. scaling: "standardize" (the training set's mean
    and std), "lenet" (LeNet-5's scaling), "default" (0.5/0.5, for random weights) or
    "pretrained" (the mean and std that came with pretrained weights).
    classes: the class names (index = label), or None.
    """

    channels: int
    size: tuple[int, int]
    data_size: tuple[int, int]
    fit: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scaling: str = "standardize"
    classes: tuple[str, ...] | None = None
    # The training images' per-channel pixel mean and std on the [0, 1] scale (None: unknown),
    # to tell when a picture is far from what the model was trained on.
    data_mean: tuple[float, ...] | None = None
    data_std: tuple[float, ...] | None = None
    _affine: dict[torch.device, tuple[Tensor, Tensor]] = field(
        default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        self.data_size = (int(self.data_size[0]), int(self.data_size[1]))
        self.mean, self.std = tuple(map(float, self.mean)), tuple(map(float, self.std))
        if self.classes is not None:
            self.classes = tuple(self.classes)
        if self.data_mean is not None and self.data_std is not None:
            self.data_mean = tuple(map(float, self.data_mean))
            self.data_std = tuple(map(float, self.data_std))
        else:
            self.data_mean = self.data_std = None
        problem = _problem(self.to_meta())
        if problem:
            raise OptionError(f"invalid input pipeline: {problem}")

    def __repr__(self) -> str:
        classes = f", {len(self.classes)} classes" if self.classes is not None else ""
        return (f"InputPipeline({self.channels}x{self.data_size[0]}x{self.data_size[1]} -> "
                f"{self.channels}x{self.size[0]}x{self.size[1]}, fit={self.fit!r}, "
                f"scaling={self.scaling!r}{classes})")

    # --- building --------------------------------------------------------------------------
    @classmethod
    def for_training(cls, dataset: Any, model: str, image_size: int | None = None,
                     in_channels: int | None = None) -> InputPipeline:
        """The pipeline that feeds `dataset` (an ArrayDataset, the training split: its statistics
        normalise every split) to the registered model `model`, from its ModelInfo (input_size,
        fixed_size, input_fit, input_scaling).

        image_size: the side to train at, for models that take any size; a fixed-size model
            accepts only its own and raises OptionError otherwise.
        in_channels: the channels the model is built with (default: the data's own).
        """
        info = model_info(model)
        _, model_h, model_w = info.input_size
        c, h, w = (int(v) for v in dataset.images.shape[1:])
        if in_channels is not None and in_channels != c:
            raise InputShapeError(
                f"{model} was built with in_channels={in_channels} but {dataset.name} images have "
                f"{c} channel{'s' if c > 1 else ''}: build it with in_channels={c} (cnnzoo does not "
                "copy grey images into colour channels)")
        size = (model_h, model_w)
        if image_size is not None:
            side = checks.positive_int("--image-size", image_size, maximum=MAX_SIDE)
            if info.fixed_size and (side, side) != size:
                raise OptionError(
                    f"{model} takes only {model_h}x{model_w} images: drop --image-size {side} "
                    "(its fully connected layers fix the input size)")
            size = (side, side)
        fits = info.input_fit == "pad" and h <= size[0] and w <= size[1]
        fit = "pad" if fits else "resize"
        data_mean, data_std = dataset.mean_std()
        if info.input_scaling == "lenet" and c == 1:
            mean, std, scaling = (-LENET_SHIFT / LENET_SCALE,), (1.0 / LENET_SCALE,), "lenet"
        else:
            mean, std, scaling = data_mean, data_std, "standardize"
            if min(std) <= 0:
                raise DataError(f"{dataset.name} {dataset.split}: every pixel of a channel has the "
                                "same value (standard deviation 0): nothing to learn from")
        return cls(c, size, (h, w), fit, tuple(mean), tuple(std), scaling,
                   tuple(dataset.classes), tuple(data_mean), tuple(data_std))

    @classmethod
    def for_random(cls, model: str, in_channels: int | None = None) -> InputPipeline:
        """A pipeline for a registered model with random weights: its own input size, pixels
        scaled to [-1, 1] (there are no training statistics)."""
        info = model_info(model)
        c, h, w = info.input_size
        c = c if in_channels is None else in_channels
        return cls(c, (h, w), (h, w), info.input_fit, (DEFAULT_MEAN,) * c, (DEFAULT_STD,) * c,
                   "default")

    @classmethod
    def for_torchvision(cls, weights: Any) -> InputPipeline:
        """The evaluation pipeline of a torchvision weights entry (e.g.
        torchvision.models.ResNet50_Weights.IMAGENET1K_V1): its resize, centre crop, mean, std
        and class names, all read from torchvision's own metadata (no download)."""
        try:
            transforms = weights.transforms()
            resize, crop = int(transforms.resize_size[0]), int(transforms.crop_size[0])
            mean, std = tuple(transforms.mean), tuple(transforms.std)
            classes = tuple(weights.meta["categories"])
        except (AttributeError, KeyError, IndexError, TypeError) as e:
            raise OptionError(f"{weights!r} is not a torchvision weights entry with evaluation "
                              f"transforms ({e})") from None
        return cls.for_pretrained(mean, std, resize, crop, classes)

    @classmethod
    def for_pretrained(cls, mean: tuple[float, ...], std: tuple[float, ...], resize: int, crop: int,
                       classes: tuple[str, ...] | None) -> InputPipeline:
        """The evaluation pipeline that came with pretrained weights: shorter side to `resize`,
        centre crop `crop`, the weights' mean and std (cnnzoo.weights.WeightsInfo has them all)."""
        return cls(3, (crop, crop), (resize, resize), "crop", tuple(mean), tuple(std), "pretrained",
                   classes, tuple(mean), tuple(std))

    # --- metadata --------------------------------------------------------------------------
    def to_meta(self) -> dict[str, Any]:
        """The JSON form written to a checkpoint's meta.json under "pipeline"."""
        return {"channels": self.channels, "size": list(self.size),
                "data_size": list(self.data_size), "fit": self.fit, "mean": list(self.mean),
                "std": list(self.std), "scaling": self.scaling,
                "classes": list(self.classes) if self.classes is not None else None,
                "data_mean": list(self.data_mean) if self.data_mean is not None else None,
                "data_std": list(self.data_std) if self.data_std is not None else None}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], where: str = "meta.json") -> InputPipeline:
        """The pipeline stored in a checkpoint's metadata, every field checked: a hostile
        meta.json cannot make cnnzoo allocate huge images. Old checkpoints (meta["normalization"]
        and meta["image_shape"]) are read too. CheckpointError naming `where` and the field."""
        if not isinstance(meta, dict):
            raise CheckpointError(f"{where} is not a JSON object")
        data = meta.get("pipeline")
        name = "pipeline"
        if data is None:
            data, name = _legacy(meta, where), "normalization"
        if not isinstance(data, dict):
            raise CheckpointError(f"{where}: {name} must be a JSON object, got {_short(data)}")
        problem = _problem(data)
        if problem:
            raise CheckpointError(f"{where}: {name}.{problem}: the checkpoint's metadata is corrupt "
                                  "or was edited by hand")
        return cls(data["channels"], tuple(data["size"]), tuple(data["data_size"]), data["fit"],
                   tuple(data["mean"]), tuple(data["std"]), data.get("scaling") or "standardize",
                   tuple(data["classes"]) if data.get("classes") is not None else None,
                   data.get("data_mean"), data.get("data_std"))

    # --- use -------------------------------------------------------------------------------
    @property
    def description(self) -> str:
        """One line saying what the pipeline does (for banners and logs)."""
        (h, w), (H, W) = self.data_size, self.size
        if (h, w) == (H, W):
            how = f"{h}x{w} as is"
        elif self.fit == "crop" and h >= H and w >= W:
            how = f"{h}x{w} cut to its centre {H}x{W}"
        elif self.fit == "pad":
            how = f"{h}x{w} padded to {H}x{W} (centred, zeros, as in the LeNet-5 paper)"
        else:
            how = f"{h}x{w} resized to {H}x{W} (bilinear, antialiased)"
        if self.scaling == "lenet":
            values = "scaled as the paper: background -0.1, ink 1.175"
        elif self.scaling == "pretrained":
            values = ("normalised as the pretrained weights were: mean "
                      f"{'/'.join(f'{m:.3f}' for m in self.mean)} and std "
                      f"{'/'.join(f'{s:.3f}' for s in self.std)}")
        elif self.scaling == "default":
            values = "scaled to [-1, 1] (random weights: no training statistics)"
        else:
            values = ("normalised by the training set's mean "
                      f"{'/'.join(f'{m:.3f}' for m in self.mean)} and std "
                      f"{'/'.join(f'{s:.3f}' for s in self.std)}")
        return f"{how}; {values}"

    def class_name(self, k: int) -> str:
        if self.classes and 0 <= k < len(self.classes):
            return str(self.classes[k])
        return f"class {k}"

    def _scale_shift(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._affine:
            mean = torch.tensor(self.mean, dtype=torch.float32)
            std = torch.tensor(self.std, dtype=torch.float32)
            scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
            shift = (-mean / std).view(1, -1, 1, 1)
            self._affine[device] = (scale.to(device), shift.to(device))
        return self._affine[device]

    def resize(self, batch: Tensor) -> Tensor:
        """uint8 N x C x h x w -> float N x C x H x W on the 0..255 scale (padded or resized)."""
        if batch.dtype != torch.uint8:
            raise InputShapeError(f"the input pipeline takes uint8 images, got {batch.dtype}")
        if batch.dim() != 4 or batch.shape[1] != self.channels:
            raise InputShapeError(
                f"the input pipeline expects N x {self.channels} x H x W uint8 images, got "
                f"{'x'.join(map(str, batch.shape))}")
        x = batch.to(torch.float32)  # N x C x h x w, 0..255
        h, w = x.shape[-2:]
        H, W = self.size
        if (h, w) == (H, W):
            return x
        if self.fit == "pad" and h <= H and w <= W:
            dh, dw = H - h, W - w
            return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))  # zeros = background
        if self.fit == "crop" and h >= H and w >= W:
            top, left = (h - H) // 2, (w - W) // 2
            return x[..., top:top + H, left:left + W]
        return F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False, antialias=True)

    def normalize(self, x: Tensor) -> Tensor:
        """float N x C x H x W on the 0..255 scale -> the model's input."""
        scale, shift = self._scale_shift(x.device)
        return torch.addcmul(shift, x, scale)

    def __call__(self, batch: Tensor) -> Tensor:
        """uint8 N x C x h x w (training images, or files fitted to data_size) -> float
        N x C x H x W, the model's input."""
        return self.normalize(self.resize(batch))

    def unnormalise(self, x: Tensor) -> Tensor:
        """The model's input back to uint8 pixels (padding/resizing is not undone)."""
        scale, shift = self._scale_shift(x.device)
        return ((x.float() - shift) / scale).round().clamp(0, 255).to(torch.uint8)

    def to_pixels(self, x: Tensor | np.ndarray) -> np.ndarray:
        """A normalised C x H x W input (or input-shaped patch) -> H x W x C in [0, 1], to show."""
        return denormalise(x, self.mean, self.std)

    def load_image(self, source: str | Path | bytes) -> ModelImage:
        """An image file (any size and mode) as this pipeline's model input, by the one decoder
        and fit of cnnzoo.data.images, then this pipeline: what the model was trained on."""
        where = "image bytes" if isinstance(source, (bytes, bytearray)) else str(source)
        decoded = decode_image(source)
        h0, w0, c0 = decoded.shape
        pixels = fit_image(to_channels(decoded, self.channels), self.data_size)
        batch = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1).unsqueeze(0)
        with torch.no_grad():
            scaled = self.resize(batch)
            tensor = self.normalize(scaled)
        shown = (scaled[0] / 255.0).clamp(0, 1).permute(1, 2, 0).numpy().copy()
        steps = []
        if c0 != self.channels:
            steps.append(f"converted {'RGB' if c0 == 3 else 'grey'} {h0}x{w0} (HxW) to "
                         f"{'grey' if self.channels == 1 else 'RGB'}")
        else:
            steps.append(f"read {'RGB' if c0 == 3 else 'grey'} {h0}x{w0} (HxW)")
        dh, dw = self.data_size
        if (h0, w0) != (dh, dw):
            cut = " and cut the centre" if h0 * dw != w0 * dh else ""
            steps.append(f"scaled to {dh}x{dw}{cut}")
        if self.data_size != self.size:
            H, W = self.size
            if self.fit == "pad" and dh <= H and dw <= W:
                steps.append(f"padded to {H}x{W}")
            elif self.fit == "crop" and dh >= H and dw >= W:
                steps.append(f"then its centre {H}x{W} kept")
            else:
                steps.append(f"resized to {H}x{W}")
        return ModelImage(tensor, shown, (h0, w0), self.size[1] / self.size[0], where,
                          ", ".join(steps), self._doubts(pixels, c0))

    def _doubts(self, pixels: np.ndarray, file_channels: int) -> list[str]:
        """Reasons a prediction on these pixels (H x W x C uint8 at data_size) may mean little."""
        notes = []
        if file_channels == 3 and self.channels == 1:
            notes.append("a colour picture was turned grey: the model was trained on grey images")
        if self.data_mean is not None and self.data_std is not None:
            # How many of the training set's pixel standard deviations the picture's mean
            # brightness lies from the training images' (a light background where the training
            # images are dark, a night shot for a daylight set). At 1.5, none of the 1,000 test images
            # of the embedded Fashion-MNIST sample is flagged (their largest is 1.10;
            # tests/test_pipeline.py measures it).
            x = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64) / 255.0
            z = float(np.mean(np.abs(x.mean(0) - self.data_mean) / np.maximum(self.data_std, 1e-6)))
            if z > FAR_FROM_TRAINING:
                notes.append(f"its brightness is {z:.1f} standard deviations from the training "
                             f"images' (pixel mean {float(x.mean()):.2f} where they average "
                             f"{float(np.mean(self.data_mean)):.2f}): the prediction may mean little")
        return notes


def denormalise(t: Tensor | np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """C x H x W normalised -> H x W x C in [0, 1] for display."""
    t = torch.as_tensor(t, dtype=torch.float32)
    m = torch.as_tensor(list(mean), dtype=t.dtype).view(-1, 1, 1)
    s = torch.as_tensor(list(std), dtype=t.dtype).view(-1, 1, 1)
    return (t * s + m).clamp(0, 1).permute(1, 2, 0).numpy()


# --- metadata validation ------------------------------------------------------------------------
def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _problem(d: dict[str, Any]) -> str | None:
    """What is wrong with a pipeline's JSON form, as 'field: reason', or None."""
    for key in ("channels", "size", "data_size", "fit", "mean", "std"):
        if key not in d:
            return f"{key}: missing"
    c = d["channels"]
    if not _is_int(c) or c not in (1, 3):
        return f"channels: must be 1 or 3, got {_short(c)}"
    for key in ("size", "data_size"):
        v = d[key]
        if (not isinstance(v, (list, tuple)) or len(v) != 2
                or not all(_is_int(x) and 1 <= x <= MAX_SIDE for x in v)):
            return f"{key}: must be [height, width], each 1..{MAX_SIDE}, got {_short(v)}"
    if d["fit"] not in FITS:
        return f"fit: must be one of {', '.join(FITS)}, got {_short(d['fit'])}"
    for key in ("mean", "std"):
        v = d[key]
        if (not isinstance(v, (list, tuple)) or len(v) != c
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                           and math.isfinite(x) and abs(x) <= 1e6 for x in v)):
            return f"{key}: must be {c} finite number{'s' if c > 1 else ''}, got {_short(v)}"
    if not all(x > 1e-12 for x in d["std"]):
        return f"std: must be greater than 0, got {_short(d['std'])}"
    scaling = d.get("scaling", "standardize")
    if scaling is not None and scaling not in SCALINGS:
        return f"scaling: must be one of {', '.join(SCALINGS)}, got {_short(scaling)}"
    for key in ("data_mean", "data_std"):
        v = d.get(key)
        if v is not None and (not isinstance(v, (list, tuple)) or len(v) != c or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                and 0 <= x <= 1 for x in v)):
            return f"{key}: must be {c} number{'s' if c > 1 else ''} in [0, 1], got {_short(v)}"
    classes = d.get("classes")
    if classes is not None and (not isinstance(classes, (list, tuple)) or not classes
                                or len(classes) > MAX_CLASSES
                                or not all(isinstance(x, str) and len(x) <= 1000 for x in classes)):
        return f"classes: must be a list of 1..{MAX_CLASSES} names, got {_short(classes)}"
    return None


def _legacy(meta: dict[str, Any], where: str) -> dict[str, Any]:
    """The pipeline of a checkpoint written before meta["pipeline"]: its "normalization"
    (mean, std, size, mode), "image_shape" (the training images' C, H, W) and "classes"."""
    norm = meta.get("normalization", meta.get("normalisation"))
    if norm is None:
        raise CheckpointError(f"{where} has no input pipeline (no 'pipeline' or 'normalization' "
                              "entry): it was not written by `cnnzoo train`")
    if not isinstance(norm, dict):
        raise CheckpointError(f"{where}: normalization must be a JSON object, got {_short(norm)}")
    shape = meta.get("image_shape")
    size: Any = norm.get("size")
    mean: Any = norm.get("mean")
    std: Any = norm.get("std")
    channels: Any = meta.get("in_channels")
    data_size: Any = size
    if isinstance(shape, list) and len(shape) == 3:
        channels, data_size = shape[0], shape[1:]
    if _is_int(channels) and isinstance(mean, list) and len(mean) == 1 and channels > 1:
        mean, std = mean * channels, (std * channels if isinstance(std, list) else std)
    mode = norm.get("mode")
    lenet = (isinstance(mean, list) and isinstance(std, list) and len(mean) == 1 and len(std) == 1
             and mean[0] == -LENET_SHIFT / LENET_SCALE and std[0] == 1.0 / LENET_SCALE)
    return {"channels": channels, "size": size, "data_size": data_size,
            "fit": "pad" if mode == "pad" else "resize", "mean": mean, "std": std,
            "scaling": "lenet" if lenet else "standardize", "classes": meta.get("classes"),
            "data_mean": None if lenet else mean, "data_std": None if lenet else std}
