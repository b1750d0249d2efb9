"""scripts/measure_architecture.py loaded as a module, for the tests that read the code's shape
(test_architecture, test_inference): the script is not part of the package."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def measure_module() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "measure_architecture.py"
    spec = importlib.util.spec_from_file_location("measure_architecture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
