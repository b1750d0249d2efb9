"""Look inside a network: layer-by-layer summaries (shapes with their arithmetic, parameters,
MACs, receptive fields, memory) and side-by-side comparisons of the registered models.

The functions are `cnnzoo.summary` / `cnnzoo.compare` (defined in `analysis.summary` and
`analysis.compare`). The summary reads a pass recorded by `cnnzoo.trace` (which imports nothing
of this package). This package imports nothing up front, so the command line can name it
without loading torch."""
from __future__ import annotations

from .._lazy import lazy_names

# classes and constants only: a function here named like its submodule (summary, compare) would
# be replaced by that submodule as soon as anyone imports it
_LAZY = {"LINEAGE": "compare", "Comparison": "compare", "Row": "summary", "Summary": "summary"}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
