"""Shared test set-up: deterministic CPU runs, and the registry as the list of models to test."""
from __future__ import annotations

import os

import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.use_deterministic_algorithms(False)

try:  # property-based tests: no per-example deadline (a shared 2-core machine is noisy)
    from hypothesis import HealthCheck, settings

    settings.register_profile("cnnzoo", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                              database=None)
    settings.load_profile("cnnzoo")
except ImportError:  # hypothesis comes with the test extra; tests that need it import it
    pass
