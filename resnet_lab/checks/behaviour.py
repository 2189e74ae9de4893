"""Behaviour: the learner's layers against resnet_lab's, with the same weights.

The learner's layers get random weights and BatchNorm statistics, resnet_lab's own
block gets the same ones, and both must give the same outputs on the same random
input, in inference and in training mode (with a tolerance, so that nothing depends on
one library version's floats).
"""

import keras
import numpy as np


def copy_conv(source, target):
    target.kernel.assign(keras.ops.convert_to_numpy(source.kernel))
    bias = (keras.ops.convert_to_numpy(source.bias) if source.use_bias
            else np.zeros(target.bias.shape, "float32"))
    target.bias.assign(bias)


def copy_bn(source, target):
    for attr, default in (("gamma", 1.0), ("beta", 0.0), ("moving_mean", 0.0),
                          ("moving_variance", 1.0)):
        variable = getattr(source, attr, None)
        value = (np.full(getattr(target, attr).shape, default, "float32") if variable is None
                 else keras.ops.convert_to_numpy(variable))
        getattr(target, attr).assign(value)


def same_outputs(learner, reference, x):
    """Whether the two models agree on ``x``, in inference and in training mode."""
    for training in (False, True):
        a = keras.ops.convert_to_numpy(learner(x, training=training))
        b = keras.ops.convert_to_numpy(reference(x, training=training))
        if a.shape != b.shape:
            return False
        if not np.allclose(a, b, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(b).max()))):
            return False
    return True


def random_input(shape, seed=0):
    return np.random.default_rng(seed).normal(size=(2, *shape)).astype("float32")
