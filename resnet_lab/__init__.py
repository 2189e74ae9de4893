"""resnet_lab: the helper package of the resnet-lab course on residual networks.

Bottom to top, in three parts (README.md, "What is in the repository", says more):

- facts and settings, with no Keras: ``registry`` (every model and dataset the course
  knows), ``config`` (``RunConfig``, one training run's settings), ``env`` (the device,
  the lessons' profiles, versions) and ``files`` (atomic writes);
- the library the lessons import: ``blocks`` (identity, convolutional and pre-activation
  blocks), ``models`` (ResNet-50 built from them, its twins ResNet-101/152 and
  ResNet-50/101/152 V2, lesson 6's CIFAR networks), ``family`` (ResNet-18/34,
  ResNeXt-50, ResNet-50-D), ``weights`` (name-mapped weight transfer, ImageNet
  weights), ``data``, ``augment``, ``training`` (the recipe), ``transfer``,
  ``analysis``, ``plotting`` and ``summary``;
- for the course around them: ``checks`` (the exercises' feedback) and ``commands``
  (``python -m resnet_lab train``, ``bench``, ``student``, ``grade``, ``course``).

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
