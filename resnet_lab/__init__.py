"""resnet_lab: the helper package of the resnet-lab course on residual networks.

Layers, bottom to top: ``blocks`` (identity and convolutional blocks), ``models``
(ResNet-50 built from them), ``weights`` (name-mapped weight transfer and the
ImageNet weights).
"""

from resnet_lab.blocks import convolutional_block, identity_block
from resnet_lab.models import ResNet50
from resnet_lab.weights import WeightsUnavailableError, transfer_weights

__version__ = "0.1.0"

__all__ = [
    "ResNet50",
    "WeightsUnavailableError",
    "convolutional_block",
    "identity_block",
    "transfer_weights",
]
