"""Measure the code's shape: import cycles, long functions, long modules, file renames, limits.

    python scripts/measure_architecture.py [SRC]      # SRC defaults to src/cnnzoo; --json for JSON

Reported (issue 18's "Done when" proxies):
- import cycles: strongly connected groups (more than one module) of the import graph of SRC,
  imports inside functions included, `if TYPE_CHECKING:` imports left out (they never run). An
  import names a module: `from pkg import name` is an edge to pkg.name when that is a module of
  SRC, else to pkg; `from .a import b` is an edge to pkg.a.
- private names imported across modules: `from .x import _name` where _name is not a module.
- imports inside functions (of SRC's modules), and how many of them say why in a comment: on
  their own line, or on the line above them or above the block of imports they open (blank
  lines may separate the imports of a block); and every import inside a function, of any
  package, that says nothing (`uncommented_function_imports`, which tests/test_architecture.py
  checks).
- functions longer than 80 (and 60) lines; modules longer than 600 (and 500) lines.
- modules that call os.replace / os.rename.
- limit definitions: module-level assignments of MAX_* names and of the choice tuples
  (OPTIMIZERS, SCHEDULES, AMP_MODES, RUNTIMES, PRECISIONS), and the names defined more than once.
tests/test_architecture.py imports `import_graph`, `cycles` and `uncommented_function_imports`
from here.
"""
from __future__ import annotations

import ast
import json
import sys
from collections import Counter
from pathlib import Path

CHOICES = {"OPTIMIZERS", "SCHEDULES", "AMP_MODES", "RUNTIMES", "PRECISIONS"}


def module_names(src: Path) -> dict[str, Path]:
    """'cnnzoo.train.loop' -> its file, for every module of the package at src."""
    root = src.name
    names = {}
    for path in sorted(src.rglob("*.py")):
        parts = [root, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_package(name: str, names: dict[str, Path]) -> bool:
    return names[name].name == "__init__.py"


def _import_nodes(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that runs (not under `if TYPE_CHECKING:`), and whether it is
    inside a function."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.orelse:
                    visit(stmt, in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append((child, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def imports(name: str, names: dict[str, Path], tree: ast.AST | None = None
            ) -> list[tuple[str, ast.AST, bool]]:
    """(imported module of the package, node, inside a function) for each import of a module."""
    if tree is None:
        tree = ast.parse(names[name].read_text(), str(names[name]))
    package = name if _is_package(name, names) else name.rpartition(".")[0]
    found = []
    for node, in_function in _import_nodes(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for alias in node.names:
                sub = f"{stem}.{alias.name}"
                targets.append(sub if sub in names else stem)
        for target in targets:
            if target in names and target != name:
                found.append((target, node, in_function))
    return found


def _import_lines(tree: ast.AST) -> set[int]:
    """The line numbers (from 1) that import statements occupy."""
    return {line for node, _ in _import_nodes(tree)
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}


def says_why(node: ast.AST, lines: list[str], import_lines: set[int]) -> bool:
    """Whether an import carries a comment: on its own lines, or on the first line above it that
    is neither blank nor part of an import (so one comment covers a block of imports)."""
    start, end = node.lineno, getattr(node, "end_lineno", None) or node.lineno
    if any("#" in line for line in lines[start - 1:end]):  # an import holds no string: '#' opens a comment
        return True
    above = start - 1
    while above >= 1 and (not lines[above - 1].strip() or above in import_lines):
        above -= 1
    return above >= 1 and lines[above - 1].lstrip().startswith("#")


def uncommented_function_imports(src: Path) -> list[str]:
    """'path/to/module.py:LINE import ...' (path relative to src) for every import inside a
    function, of any package, that does not say why (says_why)."""
    found = []
    for path in sorted(src.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text, str(path))
        import_lines = _import_lines(tree)
        for node, in_function in _import_nodes(tree):
            if in_function and not says_why(node, lines, import_lines):
                found.append(f"{path.relative_to(src).as_posix()}:{node.lineno} {ast.unparse(node)}")
    return found


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the modules importing it runs. Importing `a.b.c` from outside package `a.b` runs
    `a/b/__init__.py` first (and `a/__init__.py` from outside `a`), so those packages are edges
    too: a cycle through a package's __init__ fails at import time like any other."""
    names = module_names(src)
    graph = {}
    for name in names:
        targets = set()
        for t, _, _ in imports(name, names):
            targets.add(t)
            parts = t.split(".")
            for i in range(1, len(parts)):
                package = ".".join(parts[:i])
                if package in names and not (name + ".").startswith(package + "."):
                    targets.add(package)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def measure(src: Path) -> dict:
    names = module_names(src)
    graph = import_graph(src)
    private, inner, inner_commented = [], 0, 0
    long60, long80, modules500, modules600, renames = [], [], [], [], []
    limits: Counter[str] = Counter()
    for name, path in names.items():
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text, str(path))
        import_lines = _import_lines(tree)
        for target, node, in_function in imports(name, names, tree):
            if in_function:
                inner += 1
                inner_commented += says_why(node, lines, import_lines)
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.name.startswith("_") and not alias.name.startswith("__")
                            and f"{target}.{alias.name}" not in names and target != name):
                        private.append(f"{name} imports {target}.{alias.name}")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                where = f"{name}.{node.name} ({length})"
                if length > 60:
                    long60.append(where)
                if length > 80:
                    long80.append(where)
            if (isinstance(node, ast.Attribute) and node.attr in ("replace", "rename")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                renames.append(name)
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            for t in targets:
                if isinstance(t, ast.Name) and (t.id.startswith("MAX_") or t.id in CHOICES):
                    limits[t.id] += 1
        if len(lines) > 500:
            modules500.append(f"{name} ({len(lines)})")
        if len(lines) > 600:
            modules600.append(f"{name} ({len(lines)})")
    groups = cycles(graph)
    return {
        "modules": len(names),
        "import_cycles": len(groups),
        "cycle_groups": groups,
        "private_names_imported_across_modules": sorted(set(private)),
        "imports_inside_functions": inner,
        "imports_inside_functions_with_comment": inner_commented,
        "imports_inside_functions_of_any_package_without_comment": uncommented_function_imports(src),
        "functions_over_60_lines": len(long60),
        "functions_over_80_lines": sorted(long80),
        "modules_over_500_lines": len(modules500),
        "modules_over_600_lines": sorted(modules600),
        "modules_with_os_replace_or_rename": sorted(set(renames)),
        "limit_definitions": sum(limits.values()),
        "limits_defined_more_than_once": sorted(n for n, c in limits.items() if c > 1),
    }


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--json"]
    src = Path(args[0]) if args else Path(__file__).resolve().parents[1] / "src" / "cnnzoo"
    result = measure(src)
    if "--json" in argv:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            if isinstance(value, list):
                print(f"{key}: {len(value)}")
                for item in value:
                    print(f"    {item}")
            else:
                print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
