"""Data sets as in-memory uint8 tensors, and the batch transforms that feed them to the models.

    from cnnzoo.data import load_dataset, adapt_input, default_augment
    train = load_dataset("sample", "train")         # ArrayDataset: 5000 x 1 x 28 x 28 uint8
    adapter = adapt_input(train, "lenet5")          # 28x28 padded to 32x32, paper scaling
    augment = default_augment("sample")
    x = adapter(augment(train.images[:128]))        # float 128 x 1 x 32 x 32
"""
from __future__ import annotations

from .base import ArrayDataset
from .datasets import DATASETS, load_dataset
from .transforms import BatchAugment, InputAdapter, adapt_input, default_augment

__all__ = ["DATASETS", "ArrayDataset", "BatchAugment", "InputAdapter", "adapt_input",
           "default_augment", "load_dataset"]
