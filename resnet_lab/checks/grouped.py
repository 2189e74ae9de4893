"""Lesson 8, going further: a grouped convolution built from ordinary ones.

ResNeXt's 3x3 convolution splits its input channels into ``groups`` slices, convolves
each slice with its own filters and concatenates the results: ``groups`` times fewer
weights and multiply-adds than one convolution over all the channels. The learner
builds it from ``Conv2D`` layers without ``groups=``; the check counts the weights and
compares the outputs with Keras' own ``Conv2D(groups=...)`` given the same weights.
"""

import keras
import numpy as np
from keras import layers

from resnet_lab.checks.behaviour import random_input
from resnet_lab.checks.feedback import with_fix
from resnet_lab.checks.graph import Subgraph, conv_steps, linear_chain, output_mistake
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate

GROUPED_CASES = [(8, 12, 4), (6, 6, 3), (4, 8, 1), (16, 32, 8)]  # (input channels, filters, groups)


@learner_check(keep_random_state=True)
def check_grouped_conv(grouped_conv):
    """Lesson 8, going further: ``grouped_conv(X, filters, groups)``, a 3x3 convolution
    with stride 1 and padding 'same' in ``groups`` groups."""
    name = "grouped_conv"
    for channels, filters, groups in GROUPED_CASES:
        call = f"{name}(X, {filters}, {groups}) on X with {channels} channels"
        x = keras.Input(shape=(7, 6, channels))
        try:
            out = call_learner(grouped_conv, name, x, filters, groups)
        except Failure as failure:
            raise Mistake(translate(failure, f"{name}(X, {filters}, {groups})")) from None
        mistake = output_mistake(out, name)
        if mistake:
            raise Mistake(mistake)
        if tuple(out.shape[1:]) != (7, 6, filters):
            raise Mistake(f"{call} should return shape (None, 7, 6, {filters}), but yours "
                          f"returns {tuple(out.shape)}.")
        convs = _convs_in_group_order(x, out)
        if any(getattr(conv, "groups", 1) != 1 for conv in convs):
            raise Mistake(with_fix("your grouped_conv uses Conv2D's own groups= argument: "
                                   "the exercise is to build what it does from ordinary "
                                   "convolutions. What does each group see of the input?",
                                   "slice the channels into groups (X[..., a:b]), convolve "
                                   "each slice with filters // groups filters, concatenate "
                                   "the results."))
        mistake = _weights_mistake(convs, channels, filters, groups)
        if mistake:
            raise Mistake(f"{call}: {mistake}")
        learner = keras.Model(x, out)
        reference = _reference(convs, channels, filters, groups)
        # One call each, in inference mode: no layer here behaves differently in
        # training, and each further call of Keras' grouped convolution under
        # TensorFlow retraces it (with a warning printed in the learner's notebook).
        images = random_input((7, 6, channels))
        got = keras.ops.convert_to_numpy(learner(images))
        want = keras.ops.convert_to_numpy(reference(images))
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max()))):
            raise Mistake(f"{call}: your layers have the weights of a grouped convolution, "
                          f"but do not compute one: group i's filters should see input "
                          f"channels i * {channels // groups} to (i + 1) * "
                          f"{channels // groups} - 1 only, and their outputs come in the "
                          f"order of the groups.")
    print("grouped_conv: all checks passed (groups x fewer weights than one convolution "
          "over all channels; the outputs of Conv2D(groups=...) with the same weights).")


def _convs_in_group_order(x, out):
    """The convolutions of the learner's graph, in the order their outputs are joined."""
    sub = Subgraph(out, [x])
    joins = sub.of_kind("concat")
    if not joins:
        return [step.op for step in conv_steps(sub.steps)]
    convs = []
    for tensor in joins[0].inputs:
        steps, _, _ = linear_chain(tensor, x)
        convs.extend(step.op for step in conv_steps(steps))
    return convs


def _weights_mistake(convs, channels, filters, groups):
    per_group = channels // groups
    dense = 9 * channels * filters
    wanted = 9 * per_group * filters
    kernels = sum(int(np.prod(conv.kernel.shape)) for conv in convs)
    if not convs:
        return "no convolution at all."
    if any(tuple(conv.kernel_size) != (3, 3) for conv in convs):
        return "every group's convolution is 3x3."
    if kernels != wanted:
        return with_fix(f"your convolutions have {kernels:,} kernel weights, but a grouped "
                        f"3x3 convolution from {channels} to {filters} channels in {groups} "
                        f"groups has {wanted:,} (one over all channels has {dense:,}): how "
                        f"many input channels does each group's filter see, and how many "
                        f"filters does each group get?",
                        f"{groups} convolutions, each from {per_group} channels to "
                        f"{filters // groups} filters.")
    if len(convs) != groups:
        return f"{groups} groups make {groups} convolutions, but yours has {len(convs)}."
    shape = (3, 3, per_group, filters // groups)
    if any(tuple(conv.kernel.shape) != shape for conv in convs):
        return (f"each group's convolution goes from {per_group} channels to "
                f"{filters // groups} filters (a kernel of shape {shape}), but yours have "
                f"{', '.join(str(tuple(conv.kernel.shape)) for conv in convs)}.")
    if any(tuple(conv.strides) != (1, 1) or conv.padding != "same" for conv in convs):
        return "each group's convolution keeps the size: strides=1 and padding='same'."
    return None


def _reference(convs, channels, filters, groups):
    x = keras.Input(shape=(7, 6, channels))
    conv = layers.Conv2D(filters, 3, padding="same", groups=groups)
    model = keras.Model(x, conv(x))
    per_group = filters // groups
    kernel = np.concatenate([keras.ops.convert_to_numpy(c.kernel) for c in convs], axis=-1)
    bias = np.concatenate([keras.ops.convert_to_numpy(c.bias) if c.use_bias
                           else np.zeros(per_group, "float32") for c in convs])
    conv.kernel.assign(kernel)
    conv.bias.assign(bias)
    return model
