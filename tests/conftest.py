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


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def stopped_run(tmp_path_factory):
    """lenet5_modern (SGD with momentum) stopped, resumably, after epoch 1 of 2; trained once per
    test session. Tests that change it take `run`, their own copy."""
    from cnnzoo.train.loop import train
    from run_cases import FAST

    out = tmp_path_factory.mktemp("runs") / "stopped"
    train("lenet5_modern", out=str(out), epochs=2, stop_after=1, **FAST)
    return out


@pytest.fixture
def run(stopped_run, tmp_path):
    from run_cases import copy_run

    return copy_run(stopped_run, tmp_path)
