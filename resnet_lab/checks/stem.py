"""Lesson 4, going further: ResNet-50's stem, as keras.applications builds it.

A 7x7 convolution with 64 filters and stride 2, BatchNorm, ReLU, then a 3x3 max pool
with stride 2: 224x224 pixels become 56x56. The trap is the padding: keras.applications
pads 3 pixels on every side before the convolution and 1 before the pool, while
``padding="same"`` with stride 2 pads an even-sized image unevenly (less before than
after), which gives the same shapes and shifted outputs. The check reads the layers,
then gives a stem built like keras.applications' the learner's weights and compares the
outputs.
"""

import keras
import numpy as np
from keras import layers

from resnet_lab.checks.behaviour import copy_bn, copy_conv, random_input, same_outputs
from resnet_lab.checks.feedback import with_fix
from resnet_lab.checks.graph import Subgraph, conv_steps, graph_mistake, output_mistake
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate
from resnet_lab.weights import randomize_weights

STEM_SIZES = (64, 57)  # an even and an odd image side


@learner_check(keep_random_state=True)
def check_stem(stem):
    """Lesson 4, going further: ``stem(X)`` for images X of shape (batch, h, w, 3)."""
    name = "stem"
    for side in STEM_SIZES:
        shape = (side, side, 3)
        x = keras.Input(shape=shape)
        try:
            out = call_learner(stem, name, x)
        except Failure as failure:
            raise Mistake(translate(failure, f"{name}(X)")) from None
        mistake = output_mistake(out, name)
        sub = Subgraph(out, [x]) if not mistake else None
        mistake = mistake or graph_mistake(sub, name)
        if mistake:
            raise Mistake(mistake)
        mistake = _layers_mistake(sub)
        if mistake:
            raise Mistake(mistake)
        convs = conv_steps(sub.steps)
        norms = [step.op for step in sub.steps if step.kind == "bn"]
        reference = _reference(shape, norms[0])
        if tuple(out.shape) != tuple(reference.output.shape):
            raise Mistake(f"for {side}x{side} images the stem should return "
                          f"{tuple(reference.output.shape)}, a quarter of the side with 64 "
                          f"channels, but yours returns {tuple(out.shape)}.")
        learner = keras.Model(x, out)
        randomize_weights(learner, seed=1)
        copy_conv(convs[0].op, reference.layers[2])
        copy_bn(norms[0], reference.layers[3])
        if not same_outputs(learner, reference, random_input(shape)):
            raise Mistake(_padding_mistake(sub, side))
    print("stem: all checks passed (7x7 convolution with stride 2, BatchNorm, ReLU, 3x3 max "
          "pool with stride 2, padded as keras.applications pads them; outputs in training "
          "and inference mode).")


def _layers_mistake(sub):
    convs = conv_steps(sub.steps)
    if len(convs) != 1:
        return f"the stem has one convolution, but yours has {len(convs)}."
    conv = convs[0].op
    if (tuple(conv.kernel_size), conv.filters, tuple(conv.strides)) != ((7, 7), 64, (2, 2)):
        return (f"the stem's convolution is 7x7 with 64 filters and stride 2; yours is "
                f"{'x'.join(map(str, conv.kernel_size))} with {conv.filters} filters and "
                f"stride {conv.strides[0]}.")
    norms = [step for step in sub.steps if step.kind == "bn"]
    if len(norms) != 1:
        return f"one BatchNorm follows the convolution, but yours has {len(norms)}."
    if not any(step.kind == "relu" for step in sub.steps):
        return "the stem has a ReLU after its BatchNorm."
    pools = [step.op for step in sub.steps if isinstance(step.op, layers.MaxPooling2D)]
    if len(pools) != 1 or tuple(pools[0].pool_size) != (3, 3) or \
            tuple(pools[0].strides) != (2, 2):
        return ("the stem ends with a 3x3 max pool with stride 2, MaxPooling2D(3, "
                "strides=2).")
    return None


def _padding_mistake(sub, side):
    conv = conv_steps(sub.steps)[0].op
    pool = next(step.op for step in sub.steps if isinstance(step.op, layers.MaxPooling2D))
    uneven = [what for what, op in (("convolution", conv), ("max pool", pool))
              if op.padding == "same"]
    if uneven:
        return with_fix(f"your stem has keras.applications' shapes but other outputs: with "
                        f"padding='same' and stride 2, Keras pads a {side}x{side} image "
                        f"unevenly (fewer pixels before than after) in your "
                        f"{' and '.join(uneven)}, where keras.applications pads the same "
                        f"on both sides, so every output pixel sees a shifted window. How can "
                        f"you choose the padding yourself?",
                        "layers.ZeroPadding2D(3) before the convolution and "
                        "layers.ZeroPadding2D(1) before the max pool, both with "
                        "padding='valid'.")
    return ("your stem's layers are right but its outputs differ from keras.applications' "
            "stem with the same weights: check the padding before the convolution (3 "
            "pixels on every side) and before the max pool (1 pixel), and what each layer "
            "is applied to.")


def _reference(shape, norm):
    x = keras.Input(shape=shape)
    y = layers.ZeroPadding2D(3)(x)
    y = layers.Conv2D(64, 7, strides=2)(y)
    y = layers.BatchNormalization(epsilon=float(np.float32(norm.epsilon)),
                                  momentum=norm.momentum)(y)
    y = layers.Activation("relu")(y)
    y = layers.ZeroPadding2D(1)(y)
    y = layers.MaxPooling2D(3, strides=2)(y)
    return keras.Model(x, y)
