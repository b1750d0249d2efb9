"""The code's shape, checked: each limit defined once (cnnzoo.limits)."""
from __future__ import annotations

import ast
from pathlib import Path

import cnnzoo
from cnnzoo import limits

SRC = Path(cnnzoo.__file__).parent


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_each_limit_and_choice_is_defined_once():
    """A name cnnzoo/limits.py defines is assigned nowhere else (a file format's own limits, such
    as IDX's MAX_ITEMS, live with its reader and are defined once there)."""
    names = {n for n in vars(limits) if n.isupper()}
    assert {"MAX_SIDE", "MAX_CHANNELS", "MAX_CLASSES", "OPTIMIZERS", "SCHEDULES", "AMP_MODES",
            "RUNTIMES"} <= names
    copies = []
    for path in _modules():
        if path == SRC / "limits.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names:
                    copies.append(f"{path.relative_to(SRC)}:{node.lineno} {target.id}")
    assert not copies, f"limits defined outside cnnzoo/limits.py: {copies}"
