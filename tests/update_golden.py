"""Rewrite tests/golden/*.json. Run only on purpose, after a deliberate change to a model or its
initialisation:  .venv/bin/python tests/update_golden.py [NAME...]"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import cnnzoo  # noqa: E402
from model_cases import golden_output, golden_path  # noqa: E402

# resnet1202's untrained eval output is NaN (tests/test_models.py NO_GOLDEN): nothing to pin
names = sys.argv[1:] or [n for n in cnnzoo.list_models() if n != "resnet1202"]
for name in names:
    golden_path(name).write_text(json.dumps({"model": name, "output": golden_output(name)}) + "\n")
    print("wrote", golden_path(name))
