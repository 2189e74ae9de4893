"""Lesson 2, going further: the basic block of ResNet-18 and ResNet-34.

Two 3x3 convolutions with the same number of filters, BatchNorm after each, a ReLU
between them, then the addition of X and a ReLU: the block that the bottleneck replaced
in the deeper networks. The check reads the block from the graph (``bottleneck``'s
parser: main path, shortcut, what follows the addition), then builds the same block
from Keras layers, gives it the learner's weights and compares the outputs.
"""

import keras
from keras import layers

from resnet_lab.checks.behaviour import copy_bn, copy_conv, random_input, same_outputs
from resnet_lab.checks.bottleneck import batchnorm_mistake, kernel_text, parse_block
from resnet_lab.checks.feedback import all_of, with_fix
from resnet_lab.checks.graph import conv_steps, describe_all, output_mistake
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate
from resnet_lab.weights import randomize_weights

BASIC_CASES = [(8, 2, "b"), (5, 4, "c")]  # (channels = filters, stage, block)
BASIC_BEHAVIOUR_SIZE = (7, 6)


@learner_check(keep_random_state=True)
def check_basic_block(basic_block):
    """Lesson 2, going further: ``basic_block(X, filters, stage, block)``, ResNet-18's
    and ResNet-34's block where the shape does not change."""
    name = "basic_block"
    for filters, stage, letter in BASIC_CASES:
        x, out = _build(basic_block, (None, None, filters), filters, stage, letter)
        block = parse_block(x, out, name)
        mistake = all_of([_main_mistake(block.main, filters), _shortcut_mistake(block),
                          _after_mistake(block)])
        if mistake:
            raise Mistake(mistake)

    filters, stage, letter = BASIC_CASES[0]
    shape = (*BASIC_BEHAVIOUR_SIZE, filters)
    x, out = _build(basic_block, shape, filters, stage, letter)
    learner = keras.Model(x, out)
    randomize_weights(learner, seed=1)
    reference = _reference(shape, filters, parse_block(x, out, name).main)
    if not same_outputs(learner, reference, random_input(shape)):
        raise Mistake("basic_block has the right layers but does not compute "
                      "relu(F(X) + X): check what each layer is applied to and any unusual "
                      "layer settings.")
    print("basic_block: all checks passed (two 3x3 convolutions with BatchNorm, a ReLU "
          "between them, X added, a ReLU; outputs in training and inference mode).")


def _build(fn, shape, filters, stage, block):
    x = keras.Input(shape=shape)
    try:
        out = call_learner(fn, "basic_block", x, filters, stage, block)
    except Failure as failure:
        raise Mistake(translate(failure, f"basic_block(X, {filters}, {stage}, "
                                         f"{block!r})")) from None
    mistake = output_mistake(out, "basic_block")
    if mistake:
        raise Mistake(mistake)
    return x, out


def _is_padding(step):
    return isinstance(step.op, layers.ZeroPadding2D)


def _main_mistake(main, filters):
    convs = conv_steps(main)
    if len(convs) != 2:
        return with_fix(f"your main path has {len(convs)} convolution"
                        f"{'' if len(convs) == 1 else 's'}, but a basic block has two: how "
                        f"many layers deep is each block of ResNet-34 (34 = 2 + 2 x 16)?",
                        "two 3x3 convolutions, each followed by BatchNorm.")
    mistakes = []
    for i, conv in enumerate(convs):
        which = ("first", "second")[i]
        if tuple(conv.op.kernel_size) != (3, 3):
            mistakes.append(f"the {which} convolution should be 3x3, not "
                            f"{kernel_text(conv.op.kernel_size)}: a basic block has no 1x1 "
                            f"convolutions (they are the bottleneck's).")
        if conv.op.filters != filters:
            mistakes.append(f"the {which} convolution should have filters = {filters} "
                            f"filters, not {conv.op.filters}: X is added to its output.")
        if tuple(conv.op.strides) != (1, 1):
            mistakes.append(f"the {which} convolution keeps the size (strides=1), but yours "
                            f"has strides={conv.op.strides[0]}.")
        padded = main.index(conv) > 0 and _is_padding(main[main.index(conv) - 1])
        if conv.op.padding != "same" and not padded:
            mistakes.append(with_fix(f"the {which} convolution shrinks the image: how does "
                                     f"a 3x3 convolution keep the size?",
                                     "padding='same'."))
    kinds = [step.kind for step in main if not _is_padding(step)]
    if kinds != ["conv", "bn", "relu", "conv", "bn"] and not mistakes:
        mistakes.append(f"the main path is a convolution, BatchNorm, a ReLU, a convolution "
                        f"and BatchNorm (the last ReLU comes after the addition), but "
                        f"yours has {describe_all(main)}.")
    return all_of(mistakes) or batchnorm_mistake(main)


def _shortcut_mistake(block):
    if block.shortcut_from_main:
        return "the shortcut is the block's input X, not a tensor of the main path."
    if block.shortcut:
        return (f"where the shape does not change, the shortcut is X itself, but yours "
                f"passes it through {describe_all(block.shortcut)}.")
    return None


def _after_mistake(block):
    kinds = [step.kind for step in block.after]
    if kinds == ["relu"]:
        return None
    if not kinds:
        return with_fix("no ReLU after the addition: the block's output is "
                        "relu(F(X) + X).", "apply a ReLU to the sum.")
    return f"after the addition comes only a ReLU, but yours has {describe_all(block.after)}."


def _reference(shape, filters, main):
    """The basic block from Keras layers, with the learner's weights and settings."""
    convs = [step.op for step in conv_steps(main)]
    norms = [step.op for step in main if step.kind == "bn"]
    x = keras.Input(shape=shape)
    y = x
    for i, (conv, norm) in enumerate(zip(convs, norms, strict=True)):
        copy = layers.Conv2D(filters, 3, padding="same")
        bn = layers.BatchNormalization(epsilon=norm.epsilon, momentum=norm.momentum)
        y = bn(copy(y))
        copy_conv(conv, copy)
        copy_bn(norm, bn)
        y = layers.Activation("relu")(y) if i == 0 else y
    y = layers.Activation("relu")(layers.Add()([y, x]))
    return keras.Model(x, y)
