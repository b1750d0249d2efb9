"""training_data: everything the trainer needs from the data side, decided in one place.
(It lives with the engine: it builds the InputPipeline, which inference owns.)

    data = training_data("imagefolder", "digits/", "lenet5", augment="crop")
    data.train, data.test      # ArrayDatasets (uint8, in memory)
    data.pipeline              # InputPipeline: uint8 batch -> model input; saved in meta.json
    data.augment               # BatchAugment or None, applied to uint8 batches before the pipeline
    data.banner                # "input: ...; augment: ..." for the training banner

The model's needs come from its ModelInfo (input_size, fixed_size, input_fit, input_scaling),
never from its family's name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.base import ArrayDataset
from ..data.datasets import load_dataset
from ..data.transforms import BatchAugment, augment_for
from ..errors import DataError
from ..inference.pipeline import InputPipeline
from ..registry import model_info


@dataclass
class TrainingData:
    train: ArrayDataset
    test: ArrayDataset
    pipeline: InputPipeline
    augment: BatchAugment | None

    @property
    def banner(self) -> str:
        """What the model is fed, in words (one line)."""
        augment = self.augment.description if self.augment is not None else "none"
        return f"input: {self.pipeline.description}; augment: {augment}"


def training_data(dataset: str, data_dir: str | Path | None, model: str, *,
                  image_size: int | None = None, augment: str | bool | None = None,
                  in_channels: int | None = None, download: bool = True,
                  datasets: tuple[ArrayDataset, ArrayDataset] | None = None) -> TrainingData:
    """Load the train and test splits of `dataset` for training the registered `model`.

    data_dir: where the files are (None = the usual places; see load_dataset).
    image_size: the side to train at (models that take any size); an ImageFolder is decoded at
        this side, else at the model's input side.
    augment: "crop,flip" | "crop" | "flip" | "none"; None or True = the data set's usual
        augmentation (the recipe's), False = none. Crop padding follows the size of the images
        actually trained on.
    in_channels: the channels the model is built with (default: the data's).
    datasets: (train, test) already in memory (tests, notebooks): nothing is loaded.
    """
    if datasets is not None:
        train, test = datasets
    else:
        side = image_size or model_info(model).input_size[-1]
        train = load_dataset(dataset, "train", data_dir=data_dir, download=download,
                             image_size=side)
        test = load_dataset(dataset, "test", data_dir=data_dir, download=download,
                            image_size=side)
    if len(train) == 0:
        raise DataError(f"the {train.name} training split is empty: nothing to train on")
    pipeline = InputPipeline.for_training(train, model, image_size=image_size,
                                          in_channels=in_channels)
    batch_augment = augment_for(augment, train.name, train.image_size[0])
    return TrainingData(train, test, pipeline, batch_augment)
