"""Data sets as in-memory uint8 tensors, the one image decoder, and the training augmentation.

    from cnnzoo.data import load_dataset
    test = load_dataset("sample", "test")          # ArrayDataset: uint8 images, int64 labels

Image files of any mode become pixels in cnnzoo.data.images (decode_image, fit_image); a model's
input pipeline is cnnzoo.inference.pipeline.InputPipeline; what a run trains with (data sets,
pipeline, augmentation) is cnnzoo.train.data.training_data.
"""
from __future__ import annotations

from .base import ArrayDataset
from .datasets import DATASETS, load_dataset, resolve_data_dir
from .transforms import AUGMENT_SPECS, BatchAugment, augment_for, default_augment

__all__ = ["AUGMENT_SPECS", "DATASETS", "ArrayDataset", "BatchAugment", "augment_for",
           "default_augment", "load_dataset", "resolve_data_dir"]
