"""Interoperability with other tools: torchvision weights (more formats as they land)."""
from .._lazy import lazy_names

# imported on first use, so that the registry can use interop.layout without loading this
# package's from_torchvision (which builds models through the registry)
_LAZY = {"from_torchvision": "torchvision"}
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)
