"""Look inside a network: layer-by-layer summaries (shapes with their arithmetic, parameters,
MACs, receptive fields, memory) and side-by-side comparisons of the registered models."""
from __future__ import annotations

from .compare import LINEAGE, Comparison, compare
from .summary import Row, Summary, summary

__all__ = ["LINEAGE", "Comparison", "Row", "Summary", "compare", "summary"]
