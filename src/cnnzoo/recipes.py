"""The training recipe of each model family: optimizer, learning rate, schedule, batch, epochs.

Plain data, apart from the training engine (cnnzoo.train.config fills a run's unset fields from
here), so that `cnnzoo train --help` can print the table without importing torch.
"""
from __future__ import annotations

from typing import Any

# Family -> defaults; "sample" holds what differs when training on the embedded sample.
RECIPES: dict[str, dict[str, Any]] = {
    "lenet": dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="onecycle",
                  warmup_epochs=None, batch_size=128, epochs=30, augment=True, sample=dict(epochs=15)),
    "lenet_rbf": dict(optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="onecycle",
                      warmup_epochs=None, batch_size=64, epochs=100, augment=True,
                      sample=dict(epochs=15, batch_size=128, augment=False)),
    "cifar_resnet": dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, schedule="cosine",
                         warmup_epochs=1.0, batch_size=128, epochs=40, augment=True, sample=dict(epochs=15)),
    "imagenet": dict(optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="cosine",
                     warmup_epochs=1.0, batch_size=64, epochs=30, augment=True, sample=dict(epochs=5)),
}
