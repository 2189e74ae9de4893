"""resnet_lab: the helper package of the resnet-lab course on residual networks.

Layers, bottom to top: ``blocks`` (identity and convolutional blocks), ``models``
(ResNet-50 built from them, its deeper twins ResNet-101/152 and the pre-activation
ResNet-50/101/152 V2; ``family``: ResNet-18/34, ResNeXt-50, ResNet-50-D),
``weights`` (name-mapped weight transfer and the ImageNet weights), ``config`` (a run's
settings), ``data`` (cached datasets in batches), ``augment`` (augmentation on the
accelerator), ``training`` (the recipe) and ``transfer`` (a pretrained base and a new
classifier).
Beside them, for the lessons: ``env`` (profile, versions), ``summary`` (tables),
``plotting``, ``analysis`` (gradients), ``checks`` (exercise feedback), ``student``
(student notebooks) and ``course`` (running the notebooks headless).

The main names are importable from here; Keras is imported on first use, so that
``python -m resnet_lab --help`` answers at once.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "identity_block": "resnet_lab.blocks",
    "convolutional_block": "resnet_lab.blocks",
    "preactivation_block": "resnet_lab.blocks",
    "ResNet50": "resnet_lab.models",
    "ResNet101": "resnet_lab.models",
    "ResNet152": "resnet_lab.models",
    "ResNet50V2": "resnet_lab.models",
    "ResNet101V2": "resnet_lab.models",
    "ResNet152V2": "resnet_lab.models",
    "transfer_weights": "resnet_lab.weights",
    "WeightsUnavailableError": "resnet_lab.weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'resnet_lab' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
