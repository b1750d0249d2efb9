"""One module per family; each registers its networks with cnnzoo.registry on import.

Imported (by the registry, on its first use) in lineage order, which is the order `cnnzoo list`
shows the families in; torchvision_layouts adds torchvision's alexnet and googlenet layouts to
their families. A new family is a module here and a line below.
"""
from . import lenet, alexnet, zfnet, vgg, googlenet, resnet  # noqa: F401, I001  (lineage order)
from . import torchvision_layouts  # noqa: F401, E402
