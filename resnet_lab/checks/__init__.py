"""Checks for the lessons' exercises: instant feedback in one sentence.

Each ``check_...`` function takes what the learner wrote (their function, or for the
step-by-step exercise of lesson 2 the tensors they built), builds it on small inputs
and compares it with the lesson's design in two ways:

1. **Structure**, read from the Keras graph of the result: which layers, in which
   order, with which settings (kernel sizes, filters, strides, padding, BatchNorm,
   where the ReLUs and the addition sit). A mistake is named in the learner's terms:
   "the stride should be on the first 1x1 convolution, not on the 3x3 one".
2. **Behaviour**: the learner's layers get random weights and BatchNorm statistics,
   resnet_lab's own block gets the same ones, and both must give the same outputs on
   the same random input, in inference and in training mode (with a tolerance, so
   nothing depends on one library version's floats).

On success a check prints one line. On a mistake it raises ``AssertionError`` with
one sentence, naming every mistake it can tell apart; an exception raised by the
learner's code is translated into one sentence too, never shown as a Keras traceback.
Where the fix is one exact call, the sentence comes in two steps (``feedback``): the
symptom and a question first, the exact fix when the same mistake comes back or when
the learner calls the check with ``explain=True``.

Lesson 5's check is about a random augmentation, which has no graph to read: it
recovers from the augmented test images which flip and which shift each one got.
Lesson 7's check reads what the learner's transfer model trains and what it leaves
frozen, and compares its outputs with a pooled softmax classifier on the base's features.
Lesson 8's check reads the pre-activation block's graph the same way as the v1 blocks'.
Lesson 9's check counts paths, not layers: it enumerates every path of a small ResNet.

The checks use only Keras 3 (no TensorFlow or JAX calls), so they run under every
backend. They read the functional graph through ``KerasTensor._keras_history`` and
``Operation._inbound_nodes``, which every Keras 3 release has.

Layout. Two engines that every lesson uses:

- ``runner``: runs the learner's code and puts what went wrong in one sentence,
  telling the learner's own mistakes from errors raised inside Keras or resnet_lab;
  ``Mistake`` (that sentence) and ``learner_check``, the decorator that turns it into
  the ``AssertionError`` the learner sees.
- ``graph``: reads the Keras graph of what the learner built, step by step.

Beside them, ``behaviour`` (the learner's layers against resnet_lab's, with the same
weights) and ``bottleneck`` (a ResNet v1 bottleneck block read from the graph: main
path, shortcut, addition). Then one module per lesson's exercise: ``skip`` (lesson 1),
``blocks`` (lessons 2 and 3), ``stages`` (lesson 4), ``augmentation`` (lesson 5),
``transfer`` (lesson 7), ``preactivation`` (lesson 8) and ``paths`` (lesson 9); and for
the open exercises that go further, ``skip`` again (lesson 1: a projected skip
connection), ``basic`` (lesson 2: ResNet-18's basic block), ``shortcuts`` (lesson 3:
option A), ``stem`` (lesson 4: ResNet-50's stem), ``mixup`` (lesson 5), ``freezing``
(lesson 7: ``freeze_up_to``) and ``grouped`` (lesson 8: a grouped convolution).
``feedback`` words a mistake in two steps. A new exercise gets a module of its own, with
a ``check_...`` function decorated with ``@learner_check``, and its name here.
"""

from resnet_lab.checks.augmentation import check_augmentation
from resnet_lab.checks.basic import check_basic_block
from resnet_lab.checks.blocks import (
    IDENTITY_PARTS,
    check_convolutional_block,
    check_identity_block,
    check_identity_block_part,
)
from resnet_lab.checks.freezing import check_freeze_up_to
from resnet_lab.checks.grouped import check_grouped_conv
from resnet_lab.checks.mixup import check_mixup
from resnet_lab.checks.paths import check_path_counts
from resnet_lab.checks.preactivation import check_preactivation_block
from resnet_lab.checks.runner import NOT_WRITTEN
from resnet_lab.checks.shortcuts import check_option_a_shortcut
from resnet_lab.checks.skip import check_projected_skip, check_skip_connection
from resnet_lab.checks.stages import check_resnet50_stages, check_resnet_stage
from resnet_lab.checks.stem import check_stem
from resnet_lab.checks.transfer import check_transfer_model, small_base

__all__ = [
    "IDENTITY_PARTS",
    "NOT_WRITTEN",
    "check_augmentation",
    "check_basic_block",
    "check_convolutional_block",
    "check_freeze_up_to",
    "check_grouped_conv",
    "check_identity_block",
    "check_identity_block_part",
    "check_mixup",
    "check_option_a_shortcut",
    "check_path_counts",
    "check_preactivation_block",
    "check_projected_skip",
    "check_resnet50_stages",
    "check_resnet_stage",
    "check_skip_connection",
    "check_stem",
    "check_transfer_model",
    "small_base",
]
