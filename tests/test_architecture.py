"""The code's shape, checked: each limit defined once (cnnzoo.limits)."""
from __future__ import annotations

import ast
from pathlib import Path

import cnnzoo
from architecture_measure import measure_module as _measure
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


def test_import_graph_has_no_cycle():
    """The import graph of src/cnnzoo, imports inside functions included (ast, not importlib),
    has no cycle: each module sits on one floor and imports only from below."""
    measure = _measure()
    graph = measure.import_graph(SRC)
    assert "cnnzoo.cli" in graph["cnnzoo.__main__"]  # the graph is read, not empty
    assert measure.cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    """The check above can fail: a package whose two modules import each other (one of them
    inside a function) is reported."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import f\n    return f\n")
    (pkg / "c.py").write_text("from .b import f\n")
    measure = _measure()
    assert measure.cycles(measure.import_graph(pkg)) == [["pkg.a", "pkg.b"]]


def test_the_cycle_finder_sees_a_package_init(tmp_path):
    """Importing pkg.data.images from outside pkg.data runs pkg/data/__init__.py first: a cycle
    through that __init__ (images is innocent; the package imports what imports back) fails at
    import time, so the graph has the edge too."""
    pkg = tmp_path / "pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("from .training import f\n")
    (pkg / "data" / "images.py").write_text("x = 1\n")
    (pkg / "data" / "training.py").write_text("from ..pipeline import g\n\ndef f():\n    return g\n")
    (pkg / "pipeline.py").write_text("from .data.images import x\n\ndef g():\n    return x\n")
    measure = _measure()
    assert measure.cycles(measure.import_graph(pkg)) == [["pkg.data", "pkg.data.training", "pkg.pipeline"]]


def test_no_private_name_is_imported_across_modules():
    assert _measure().measure(SRC)["private_names_imported_across_modules"] == []


def test_every_import_inside_a_function_says_why():
    """An import inside a function is there only to keep a heavy or optional package (torch,
    matplotlib, Pillow, onnx, ...) out of start-up, and a comment says so (on its line, or above
    it or above its block of imports): anything else belongs at the top of the module."""
    found = _measure().uncommented_function_imports(SRC)
    assert found == [], "say why in a comment, or import at the top"


def test_the_import_comment_check_can_fail(tmp_path):
    """Found: an import inside a function with no comment; one whose comment is above another
    statement. Not found: a comment on the line, above the import, or above its block."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os\n")
    (pkg / "a.py").write_text(
        "def bare():\n"
        "    import json\n"
        "    return json\n\n\n"
        "def far():\n"
        "    # a comment about x, not the import\n"
        "    x = 1\n"
        "    import csv\n"
        "    return csv, x\n\n\n"
        "def ok():\n"
        "    import re  # heavy\n"
        "    # heavy and optional: a block\n"
        "    import math\n\n"
        "    from os import (\n"
        "        path,\n"
        "    )\n"
        "    return re, math, path\n")
    assert _measure().uncommented_function_imports(pkg) == ["a.py:2 import json", "a.py:9 import csv"]
