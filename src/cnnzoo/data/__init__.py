"""Data sets as in-memory uint8 tensors, the one image decoder, and the training augmentation.

    from cnnzoo.data import load_dataset, training_data
    data = training_data("sample", None, "lenet5")   # train/test sets, pipeline, augment
    x = data.pipeline(data.augment(data.train.images[:128]))   # float 128 x 1 x 32 x 32

Image files of any mode become pixels in cnnzoo.data.images (decode_image, fit_image); a model's
input pipeline is cnnzoo.pipeline.InputPipeline.
"""
from __future__ import annotations

from .base import ArrayDataset
from .datasets import DATASETS, load_dataset, resolve_data_dir
from .training import TrainingData, adapt_input, training_data
from .transforms import AUGMENT_SPECS, BatchAugment, augment_for, default_augment

__all__ = ["AUGMENT_SPECS", "DATASETS", "ArrayDataset", "BatchAugment", "TrainingData",
           "adapt_input", "augment_for", "default_augment", "load_dataset", "resolve_data_dir",
           "training_data"]
