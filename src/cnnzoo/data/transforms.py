"""Batch transforms on the training device: the input adapter and the training augmentation.

Both take a whole N x C x H x W batch (CPU or CUDA) and do no per-sample Python.

InputAdapter (made by adapt_input) turns a data set's uint8 images into what a model takes:
- size: pad (centred, zeros = background) when the data are smaller by an even margin and the
  model's paper padded them (LeNet-5, Sec. II-B: the 32x32 input is larger than the 28x28 field
  MNIST's digits are centred in, so 28x28 goes in padded by 2 on each side); otherwise resize
  (bilinear, antialiased) to the model's input size, or to --image-size for models that take any
  size (fixed_size=False).
- channels: kept. Grey data are not copied into three channels: the trainer builds the model with
  in_channels = the data's channels, and a mismatch is an error that says so.
- values: LeNet-5's own scaling for `lenet5` on grey data (Sec. II-B: background -0.1, foreground
  1.175, making the mean input roughly 0 and its variance roughly 1; on [0, 1] ink-high
  images like MNIST and Fashion-MNIST that is 1.275 x - 0.1;
  http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf),
  otherwise the training set's per-channel mean and standard deviation. Both are stored as
  (mean, std) on the [0, 1] scale: 1.275 x - 0.1 = (x - 0.1/1.275) / (1/1.275).

BatchAugment: random crop after zero padding (per-sample offsets, two gathers) and random
horizontal flip, as the ResNet paper's CIFAR recipe (pad 4, random 32x32 crop, flip). Apply it to
the uint8 batch before the adapter, so the padding is black like the images' background.
Deterministic given a torch.Generator, which is what exact resume needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputShapeError, OptionError, UnknownNameError, close_matches
from .base import ArrayDataset
from .datasets import DATASETS, canonical_name

# Models whose paper padded smaller images into their input rather than resizing them.
PAPER_PADS_FAMILIES = {"lenet"}
# Models that use LeNet-5's scaling (background -0.1, ink 1.175) rather than mean/std.
PAPER_SCALING_MODELS = {"lenet5"}
LENET_SCALE, LENET_SHIFT = 1.275, -0.1


@dataclass
class InputAdapter:
    """Turns uint8 batches N x C x h x w into the model's float input N x C x H x W.

    description: one line saying what it does (for logs and run folders).
    mean, std: per channel, on the [0, 1] scale: out = (x / 255 - mean) / std.
    size: the (H, W) the model gets. mode: "pad", "resize" or "none" (for the data's own size).
    """

    description: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: tuple[int, int]
    mode: str
    _affine: dict[torch.device, tuple[Tensor, Tensor]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    @property
    def channels(self) -> int:
        return len(self.mean)

    def _scale_shift(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._affine:
            mean = torch.tensor(self.mean, dtype=torch.float32)
            std = torch.tensor(self.std, dtype=torch.float32)
            scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1)
            shift = (-mean / std).view(1, -1, 1, 1)
            self._affine[device] = (scale.to(device), shift.to(device))
        return self._affine[device]

    def __call__(self, batch: Tensor) -> Tensor:
        if batch.dtype != torch.uint8:
            raise TypeError(f"InputAdapter takes uint8 batches, got {batch.dtype}")
        if batch.dim() != 4 or batch.shape[1] != self.channels:
            raise InputShapeError(
                f"the input adapter expects N x {self.channels} x H x W uint8 images, got "
                f"{'x'.join(map(str, batch.shape))}")
        x = batch.to(torch.float32)  # N x C x h x w, 0..255
        h, w = x.shape[-2:]
        H, W = self.size
        if (h, w) != (H, W):
            dh, dw = H - h, W - w
            if self.mode == "pad" and dh >= 0 and dw >= 0 and dh % 2 == 0 and dw % 2 == 0:
                x = F.pad(x, (dw // 2, dw // 2, dh // 2, dh // 2))  # zeros = background
            else:
                x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False,
                                  antialias=True)
        scale, shift = self._scale_shift(x.device)
        return torch.addcmul(shift, x, scale)  # N x C x H x W

    def unnormalise(self, x: Tensor) -> Tensor:
        """Model input back to uint8 pixels (for pictures; padding/resizing is not undone)."""
        scale, shift = self._scale_shift(x.device)
        return ((x.float() - shift) / scale).round().clamp(0, 255).to(torch.uint8)


def adapt_input(dataset: ArrayDataset, model_name: str, image_size: int | None = None,
                in_channels: int | None = None) -> InputAdapter:
    """The InputAdapter that feeds `dataset`'s images to the registered model `model_name`.

    dataset: the training set (its statistics normalise every split).
    image_size: the side to train at, for models that take any size; a model with a fixed input
        size (fixed_size=True) accepts only its own and raises OptionError otherwise.
    in_channels: the channels the model was built with (default: the data's own).
    """
    from ..registry import model_info

    info = model_info(model_name)
    _, model_h, model_w = info.input_size
    c, h, w = dataset.images.shape[1:]
    if in_channels is not None and in_channels != c:
        raise InputShapeError(
            f"{model_name} was built with in_channels={in_channels} but {dataset.name} images have "
            f"{c} channel{'s' if c > 1 else ''}: build it with in_channels={c} (cnnzoo does not "
            "copy grey images into colour channels)")
    if image_size is not None:
        if not isinstance(image_size, int) or image_size < 1:
            raise OptionError(f"image size must be a positive integer, got {image_size!r}")
        if info.fixed_size and (image_size, image_size) != (model_h, model_w):
            raise OptionError(
                f"{model_name} takes only {model_h}x{model_w} images: drop --image-size "
                f"{image_size} (its fully connected layers fix the input size)")
        size = (image_size, image_size)
    else:
        size = (model_h, model_w)

    dh, dw = size[0] - h, size[1] - w
    if (h, w) == size:
        mode, how = "none", f"{h}x{w} as is"
    elif (info.family in PAPER_PADS_FAMILIES and dh >= 0 and dw >= 0
          and dh % 2 == 0 and dw % 2 == 0):
        mode = "pad"
        how = f"{h}x{w} padded to {size[0]}x{size[1]} (centred, as in the LeNet-5 paper)"
    else:
        mode, how = "resize", f"{h}x{w} resized to {size[0]}x{size[1]} (bilinear, antialiased)"

    if model_name in PAPER_SCALING_MODELS and c == 1:
        mean, std = (-LENET_SHIFT / LENET_SCALE,), (1.0 / LENET_SCALE,)
        values = "scaled as the paper: background -0.1, ink 1.175"
    else:
        mean, std = dataset.mean_std()
        values = ("normalised by the training set's mean "
                  f"{'/'.join(f'{m:.3f}' for m in mean)} and std {'/'.join(f'{s:.3f}' for s in std)}")
    return InputAdapter(f"{how}; {values}", tuple(mean), tuple(std), size, mode)


class BatchAugment:
    """Random crop with zero padding and random horizontal flip, a whole batch at once.

    crop_padding: pad each side by this many pixels, then crop back to the original size at a
        random offset per sample (0 = no crop). hflip: flip each sample with probability 1/2.
    generator_seed: seeds the augment's own CPU generator (used when no generator is passed).
    The random numbers are drawn on the generator's device (CPU by default), in a fixed order
    (row offsets, column offsets, flips), so a saved generator state replays the same batches.
    """

    def __init__(self, crop_padding: int = 0, hflip: bool = False,
                 generator_seed: int | None = None, fill: int = 0) -> None:
        if crop_padding < 0:
            raise OptionError(f"crop padding must be >= 0, got {crop_padding}")
        self.crop_padding = int(crop_padding)
        self.hflip = bool(hflip)
        self.fill = fill
        self.generator: torch.Generator | None = None
        if generator_seed is not None:
            self.generator = torch.Generator().manual_seed(generator_seed)

    def __repr__(self) -> str:
        return f"BatchAugment(crop_padding={self.crop_padding}, hflip={self.hflip})"

    @property
    def description(self) -> str:
        parts = ([f"random crop after {self.crop_padding}-pixel padding"] if self.crop_padding
                 else []) + (["random horizontal flip"] if self.hflip else [])
        return ", ".join(parts) or "none"

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        g = generator if generator is not None else self.generator
        rng_device = g.device if g is not None else x.device
        n, c, h, w = x.shape
        p = self.crop_padding
        if p == 0 and not self.hflip:
            return x
        if p:
            dy = torch.randint(0, 2 * p + 1, (n,), generator=g, device=rng_device).to(x.device)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=g, device=rng_device).to(x.device)
        cols = torch.arange(w, device=x.device).expand(n, w)  # N x W source columns
        if self.hflip:
            flip = torch.rand(n, generator=g, device=rng_device).to(x.device) < 0.5
            if not p:
                return torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
            cols = torch.where(flip.view(n, 1), (w - 1) - cols, cols)
        # Crop (and flip) as two gathers on the padded batch; expand() makes no index copies.
        xp = F.pad(x, (p, p, p, p), value=self.fill)  # N x C x (H+2p) x (W+2p)
        rows = dy.view(n, 1) + torch.arange(h, device=x.device)  # N x H
        cols = dx.view(n, 1) + cols  # N x W
        x = xp.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * p))  # N x C x H x (W+2p)
        return x.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))  # N x C x H x W


def default_augment(dataset_name: str, image_size: int | None = None) -> BatchAugment:
    """The usual training augmentation for a data set.

    cifar10/cifar100: pad 4, random crop, flip (ResNet paper, Sec. 4.2). fashion-mnist/sample:
    pad 2, crop, flip (clothes are near left-right symmetric). mnist: pad 2, crop, no flip (a
    mirrored digit is another symbol). imagefolder: crop after padding by 1/8 of the side, flip.
    """
    name = canonical_name(dataset_name)
    if name in ("cifar10", "cifar100"):
        return BatchAugment(crop_padding=4, hflip=True)
    if name in ("fashion-mnist", "sample"):
        return BatchAugment(crop_padding=2, hflip=True)
    if name == "mnist":
        return BatchAugment(crop_padding=2, hflip=False)
    if name == "imagefolder":
        side = image_size if image_size is not None else 224
        return BatchAugment(crop_padding=max(1, side // 8), hflip=True)
    raise UnknownNameError(f"no default augmentation for {dataset_name!r}."
                           f"{close_matches(dataset_name, DATASETS)}")  # pragma: no cover
