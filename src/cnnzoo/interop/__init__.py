"""Interoperability with other tools: torchvision weights (more formats as they land)."""
from .torchvision import from_torchvision

__all__ = ["from_torchvision"]
