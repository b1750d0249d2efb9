"""Names of a package imported on first use (PEP 562), so importing the package costs nothing.

`cnnzoo`, `cnnzoo.analysis`, `cnnzoo.claims` and `cnnzoo.export` declare their public names this
way: the command line imports them for their argument declarations and help, which must not
import torch (about 1.3 s); the code behind a name loads when the name is first used.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any


def lazy_names(package: str, namespace: dict[str, Any], names: dict[str, str],
               submodules: Iterable[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's `__getattr__` and `__dir__`.

    names: public name -> "module" (the attribute of that name in package.module) or
    "module:attribute" where the two differ. submodules: subpackages reachable as attributes.
    A name must not equal a submodule's name: importing the submodule would replace it.
    """
    submodules = tuple(submodules)

    def __getattr__(name: str) -> Any:
        if name in names:
            module, _, attribute = names[name].partition(":")
            value = getattr(importlib.import_module(f".{module}", package), attribute or name)
        elif name in submodules:
            value = importlib.import_module(f".{name}", package)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names, *submodules})

    return __getattr__, __dir__
