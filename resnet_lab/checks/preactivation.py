"""Lesson 8: the pre-activation bottleneck of ResNet v2, as keras.applications'
ResNet50V2 builds it.

The block's graph is read the same way as the v1 blocks' (``bottleneck``), then its
outputs are compared with resnet_lab's ``preactivation_block`` given the same weights.
"""

import keras
from keras import layers

from resnet_lab import blocks
from resnet_lab.checks.behaviour import copy_bn, copy_conv, random_input, same_outputs
from resnet_lab.checks.bottleneck import (
    ROLES,
    batchnorm_mistake,
    block_graph,
    kernel_text,
    main_and_shortcut,
)
from resnet_lab.checks.feedback import all_of, with_fix
from resnet_lab.checks.graph import conv_steps, describe_all, linear_chain, output_mistake
from resnet_lab.checks.runner import (
    Failure,
    Mistake,
    call_learner,
    learner_check,
    translate,
)
from resnet_lab.weights import randomize_weights

# (input shape, f, filters, stage, block, s, projection): the kinds of block ResNet50V2
# uses (projection with stride 1, identity, identity with stride 2) and one more.
PREACT_CASES = [
    ((None, None, 12), 3, [4, 6, 12], 2, "b", 1, False),
    ((None, None, 8), 3, [4, 4, 16], 3, "a", 1, True),
    ((None, None, 12), 3, [3, 5, 12], 2, "c", 2, False),
    ((None, None, 7), 5, [3, 2, 10], 4, "a", 2, True),
]
PREACT_BEHAVIOUR_SIZE = (9, 8)  # odd and even: a stride of 2 must round the same way


@learner_check
def check_preactivation_block(preactivation_block):
    """Lesson 8: ``preactivation_block(X, f, filters, stage, block, s=1, projection=False)``,
    the bottleneck of ResNet v2 as keras.applications' ResNet50V2 builds it."""
    for shape, f, filters, stage, block, s, projection in PREACT_CASES:
        x, out = _build_preact(preactivation_block, shape, f, filters, stage, block, s, projection)
        main, shortcut, from_main = _preact_parts(x, out)
        mistake = all_of([_preact_main_mistake(main, f, filters, s),
                          _preact_shortcut_mistake(shortcut, from_main, filters[2], s,
                                                   projection)])
        if mistake:
            raise Mistake(mistake)

    for shape, f, filters, stage, block, s, projection in PREACT_CASES:
        shape = (*PREACT_BEHAVIOUR_SIZE, shape[-1])
        x, out = _build_preact(preactivation_block, shape, f, filters, stage, block, s, projection)
        x_ref = keras.Input(shape=shape)
        reference = keras.Model(x_ref, blocks.preactivation_block(
            x_ref, f, filters, stage, block, s=s, projection=projection))
        call = _preact_call_text(f, filters, stage, block, s, projection)
        if tuple(out.shape) != tuple(reference.output.shape):
            raise Mistake(f"{call} should return a tensor of shape "
                          f"{tuple(reference.output.shape)} for an input of shape "
                          f"{(None, *shape)}, but yours has shape {tuple(out.shape)}.")
        learner = keras.Model(x, out)
        randomize_weights(learner, seed=1)
        _copy_preact(learner, reference, stage, block)
        if not same_outputs(learner, reference, random_input(shape)):
            raise Mistake(f"{call} has the right layers but does not compute X + F(X) "
                          f"(or P(X) + F(X)): check what each layer is applied to, the "
                          f"shortcut's subsampling and any unusual layer settings.")
    print("preactivation_block: all checks passed (BatchNorm and ReLU before each "
          "convolution, the stride on the fxf convolution, the three kinds of shortcut, "
          "nothing after the addition, and outputs in training and inference mode).")


def _preact_call_text(f, filters, stage, block, s, projection):
    return (f"preactivation_block(X, {f}, {filters}, {stage}, {block!r}, s={s}, "
            f"projection={projection})")


def _build_preact(fn, shape, f, filters, stage, block, s, projection):
    name = "preactivation_block"
    x = keras.Input(shape=shape)
    try:
        out = call_learner(fn, name, x, f, filters, stage, block, s=s, projection=projection)
    except Failure as failure:
        call = _preact_call_text(f, filters, stage, block, s, projection)
        raise Mistake(translate(failure, call)) from None
    mistake = output_mistake(out, name)
    if mistake:
        raise Mistake(mistake)
    return x, out


def _preact_parts(x, out):
    """(main path steps, shortcut steps, whether the shortcut leaves from the main path)."""
    sub = block_graph(x, out, "preactivation_block")
    adds = sub.of_kind("add")
    if len(adds) != 1:
        raise Mistake("the block adds the shortcut to the main path once, with layers.Add(); "
                      f"yours has {len(adds)} additions.")
    after, end, _ = linear_chain(out, adds[0].output)
    if after:
        raise Mistake(f"nothing comes after the addition in a pre-activation block (the "
                      f"next block's BatchNorm and ReLU follow it), but yours has "
                      f"{describe_all(after)}.")
    return main_and_shortcut(x, adds[0].inputs)


def _preact_main_mistake(main, f, filters, s):
    convs = conv_steps(main)
    if main and main[0].kind == "conv":
        return ("a pre-activation block starts with BatchNorm and ReLU, before its first "
                "convolution; yours starts with the convolution, as v1 does.")
    if len(convs) != 3:
        return (f"the main path has three convolutions (1x1, {f}x{f}, 1x1), but yours has "
                f"{len(convs)}.")
    kernels = ((1, 1), (f, f), (1, 1))
    for role, conv, kernel, n in zip(ROLES, convs, kernels, filters, strict=True):
        if tuple(conv.op.kernel_size) != kernel:
            return (f"{role} should have a {kernel_text(kernel)} kernel, not "
                    f"{kernel_text(conv.op.kernel_size)}.")
        if conv.op.filters != n:
            return f"{role} should have {n} filters (from filters), not {conv.op.filters}."
    strides = [tuple(conv.op.strides) for conv in convs]
    if s > 1 and strides[0] == (s, s):
        return ("the stride sits on the middle convolution in v2 (as in keras.applications' "
                "ResNet50V2), not on the first 1x1 convolution.")
    if strides != [(1, 1), (s, s), (1, 1)]:
        return (f"only the middle convolution has a stride, s ({s} here); yours has strides "
                f"{[st[0] for st in strides]}.")
    # Between the convolutions: BatchNorm then ReLU (and, before the middle one, padding).
    start = main.index(convs[0])
    segments = [main[:start], main[start + 1:main.index(convs[1])],
                main[main.index(convs[1]) + 1:main.index(convs[2])]]
    for role, segment in zip(ROLES, segments, strict=True):
        kinds = [step.kind for step in segment if not _is_padding(step)]
        if kinds != ["bn", "relu"]:
            return (f"{role} should be preceded by BatchNorm and then a ReLU (the "
                    f"pre-activation), but yours is preceded by "
                    f"{describe_all([st for st in segment if not _is_padding(st)])}.")
    mistake = batchnorm_mistake(main)
    if mistake:
        return mistake
    tail = main[main.index(convs[2]) + 1:]
    if tail:
        return (f"the last 1x1 convolution goes straight to the addition in v2 (the next "
                f"block's pre-activation normalises the sum), but yours adds "
                f"{describe_all(tail)}.")
    middle = convs[1].op
    if s > 1 and middle.padding == "same":
        return with_fix("with padding='same' and stride 2 Keras pads only after the image, "
                        "which shifts every output pixel against keras.applications' "
                        "layout: how else can the image be padded?",
                        "pad explicitly before the strided middle convolution, "
                        "ZeroPadding2D(f // 2), and give it padding='valid'.")
    if convs[0].op.use_bias or middle.use_bias:
        return ("the first two convolutions have no bias (use_bias=False): BatchNorm follows "
                "each, and its beta does that job.")
    if not convs[2].op.use_bias:
        return "the last 1x1 convolution keeps its bias: no BatchNorm follows it."
    return None


def _is_padding(step):
    return isinstance(step.op, layers.ZeroPadding2D)


def _preact_shortcut_mistake(shortcut, from_main, F3, s, projection):
    convs = conv_steps(shortcut)
    if projection:
        if len(convs) != 1:
            return ("with projection=True the shortcut is one 1x1 convolution with F3 "
                    "filters and stride s.")
        if not from_main:
            if shortcut.index(convs[0]) > 0:
                return ("the projection shares the main path's pre-activation: apply it to "
                        "the same BatchNorm and ReLU output, not to a second BatchNorm and "
                        "ReLU of X.")
            return ("the projection shortcut takes the pre-activation (BatchNorm and ReLU of "
                    "X, shared with the main path), not X itself.")
        conv = convs[0].op
        if tuple(conv.kernel_size) != (1, 1) or conv.filters != F3 or tuple(conv.strides) != (
                s, s):
            return (f"the projection is a 1x1 convolution with F3 = {F3} filters and stride "
                    f"s = {s}.")
        if not conv.use_bias:
            return ("the projection keeps its bias (no BatchNorm follows it), as in "
                    "keras.applications' ResNet50V2.")
        extra = [step for step in shortcut if step.kind != "conv"
                 and shortcut.index(step) > shortcut.index(convs[0])]
        if extra:
            return (f"the projection goes straight to the addition in v2, but yours adds "
                    f"{describe_all(extra)}.")
        return None
    if from_main:
        return ("without a projection the shortcut is X itself, not its pre-activation: the "
                "sum must carry X unchanged.")
    if convs:
        return "with projection=False the shortcut has no convolution."
    if s == 1 and shortcut:
        return (f"with s=1 and no projection the shortcut is X itself, but yours passes it "
                f"through {describe_all(shortcut)}.")
    pools = [step.op for step in shortcut
             if isinstance(step.op, (layers.MaxPooling2D, layers.AveragePooling2D))]
    if any(tuple(pool.pool_size) != (1, 1) for pool in pools):
        return with_fix("your shortcut pools over a window of more than one pixel, which "
                        "mixes neighbouring pixels: that is ResNet-D's shortcut, not "
                        "v2's, which keeps every s-th pixel.",
                        "MaxPooling2D(1, strides=s), as keras.applications' v2.")
    return None


def _copy_preact(learner, reference, stage, block):
    """Give resnet_lab's preactivation_block the learner's weights, role by role."""
    main, shortcut, _ = _preact_parts(learner.inputs[0], learner.outputs[0])
    convs = conv_steps(main)
    bns = [step for step in main if step.kind == "bn"]
    conv, bn = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
    for suffix, c in zip(("2a", "2b", "2c"), convs, strict=True):
        _assign_conv(c.op, reference.get_layer(conv + suffix))
    for name, b in zip((f"bn{stage}{block}_preact", bn + "2a", bn + "2b"), bns, strict=True):
        copy_bn(b.op, reference.get_layer(name))
    if conv_steps(shortcut):
        _assign_conv(conv_steps(shortcut)[0].op, reference.get_layer(conv + "1"))


def _assign_conv(source, target):
    target.kernel.assign(keras.ops.convert_to_numpy(source.kernel))
    if target.use_bias:
        copy_conv(source, target)
