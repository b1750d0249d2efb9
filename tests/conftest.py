"""Shared test set-up: deterministic CPU runs, and the registry as the list of models to test."""
from __future__ import annotations

import os
import tempfile

# One CPU thread everywhere, set before torch starts: a CPU reduction's rounding depends on the
# thread count, so tests that compare an in-process run with a subprocess (which runs with
# OMP_NUM_THREADS=1) are bit-identical only if this process uses one thread too; and two OpenMP
# threads on a shared 2-core machine are many times slower than one.
os.environ["OMP_NUM_THREADS"] = "1"
# cnnzoo's cache (downloads, prepared runtimes) in a folder of this test session, not the user's
os.environ.setdefault("CNNZOO_CACHE", tempfile.mkdtemp(prefix="cnnzoo-test-cache-"))

import torch  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")
torch.use_deterministic_algorithms(False)
torch.set_num_threads(1)

try:  # property-based tests: no per-example deadline (a shared 2-core machine is noisy)
    from hypothesis import HealthCheck, settings

    settings.register_profile("cnnzoo", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                              database=None)
    settings.load_profile("cnnzoo")
except ImportError:  # hypothesis comes with the test extra; tests that need it import it
    pass
