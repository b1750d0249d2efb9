"""Shared test set-up: deterministic CPU runs, and the registry as the list of models to test."""
from __future__ import annotations

import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.use_deterministic_algorithms(False)
