"""The training augmentation: random crops and flips of whole uint8 batches on the device.

BatchAugment: random crop after zero padding (per-sample offsets, two gathers) and random
horizontal flip, as the ResNet paper's CIFAR recipe (pad 4, random 32x32 crop, flip). Apply it to
the uint8 batch before the input pipeline (cnnzoo/pipeline.py), so the padding is black like the
images' background. Deterministic given a torch.Generator, which is what exact resume needs.

`augment_for(spec, dataset, side)` turns an augment spec ("crop,flip", "crop", "flip", "none";
None or True = the data set's usual one, False = none) into a BatchAugment.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import OptionError, UnknownNameError, close_matches
from .datasets import DATASETS, canonical_name


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


# The usual augmentation of each data set: (crop padding, horizontal flips). None = 1/8 of the side.
# cifar: pad 4, crop, flip (ResNet paper, Sec. 4.2); fashion-mnist/sample: pad 2, crop, flip
# (clothes are near left-right symmetric); mnist: pad 2, crop, no flip (a mirrored digit is
# another symbol); imagefolder: pad 1/8 of the side the images are loaded at, crop, no flip
# (handedness: digits, text and many objects are not mirror-symmetric; ask for flip).
_USUAL: dict[str, tuple[int | None, bool]] = {
    "cifar10": (4, True), "cifar100": (4, True), "fashion-mnist": (2, True), "sample": (2, True),
    "mnist": (2, False), "imagefolder": (None, False),
}
AUGMENT_SPECS = ("crop,flip", "crop", "flip", "none")


def _padding(name: str, side: int | None) -> int:
    pad = _USUAL[name][0]
    if pad is not None:
        return pad
    if side is None:
        raise OptionError(f"the crop padding of {name} depends on the image size: pass it")
    return max(1, side // 8)


def default_augment(dataset_name: str, image_size: int | None = None) -> BatchAugment:
    """The usual training augmentation for a data set (see _USUAL); image_size: the side of the
    images actually trained on (imagefolder's crop padding is 1/8 of it)."""
    try:
        name = canonical_name(dataset_name)
    except UnknownNameError:
        raise UnknownNameError(f"no default augmentation for {dataset_name!r}."
                               f"{close_matches(dataset_name, DATASETS)}") from None
    return BatchAugment(crop_padding=_padding(name, image_size), hflip=_USUAL[name][1])


def augment_for(spec: str | bool | None, dataset_name: str, image_size: int | None
                ) -> BatchAugment | None:
    """The BatchAugment for an augment spec: "crop,flip", "crop", "flip" or "none" (any order,
    "+" also separates); None or True: the data set's usual one; False: none.

    The crop padding is the data set's usual one, 1/8 of image_size (the side of the images
    trained on) for an ImageFolder. Returns None for no augmentation.
    """
    name = canonical_name(dataset_name)
    if spec is None or spec is True:
        augment = default_augment(name, image_size)
        return augment if augment.crop_padding or augment.hflip else None
    if spec is False:
        return None
    if not isinstance(spec, str):
        raise OptionError(f"--augment takes one of {', '.join(AUGMENT_SPECS)}, got {spec!r}")
    parts = {p.strip().lower() for p in spec.replace("+", ",").split(",") if p.strip()}
    if parts == {"none"}:
        return None
    if not parts or not parts <= {"crop", "flip"}:
        raise OptionError(f"--augment takes one of {', '.join(AUGMENT_SPECS)} (comma-separated "
                          f"crop and flip, or none), got {spec!r}")
    return BatchAugment(crop_padding=_padding(name, image_size) if "crop" in parts else 0,
                        hflip="flip" in parts)
