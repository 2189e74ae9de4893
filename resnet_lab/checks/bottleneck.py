"""The bottleneck blocks of ResNet v1 read from the graph: main path, shortcut, addition.

``parse_block`` splits a block's graph into its main path, its shortcut and what follows
the addition; ``block_mistake`` names the first thing that differs from the lesson's
design, in the learner's terms. The block checks (lessons 2 and 3), the stage checks
(lesson 4) and the pre-activation check (lesson 8) build on them.
"""

import numpy as np
from keras import layers

from resnet_lab import blocks
from resnet_lab.checks.behaviour import copy_bn, copy_conv
from resnet_lab.checks.feedback import all_of, with_fix
from resnet_lab.checks.graph import (
    Subgraph,
    conv_steps,
    describe_all,
    graph_mistake,
    linear_chain,
)
from resnet_lab.checks.runner import Mistake

ROLES = ("the first 1x1 convolution", "the middle convolution", "the last 1x1 convolution")


class Expect:
    """What a bottleneck block should be: kernel size f, filters, stride, shortcut."""

    def __init__(self, f, filters, s=1, projection=False):
        self.f, self.filters, self.s, self.projection = f, list(filters), s, projection

    @property
    def kernels(self):
        return ((1, 1), (self.f, self.f), (1, 1))


def kernel_text(kernel):
    return "x".join(str(k) for k in kernel)


def main_path_mistake(steps, expect, n_convs=3, relu_after_add=None):
    """The first mistake on a main path (conv, BN, ReLU, conv, BN, ReLU, conv, BN).

    ``n_convs`` < 3 checks the beginning of the path only (lesson 2's components).
    ``relu_after_add``: whether the block has its ReLU after the addition (None when
    unknown); it decides how to describe a ReLU at the end of the main path.
    """
    lead = []
    units = []  # (conv step, steps after it until the next conv)
    for step in steps:
        if step.kind == "conv":
            units.append((step, []))
        elif units:
            units[-1][1].append(step)
        else:
            lead.append(step)
    if lead:
        if lead[0].kind == "bn":
            return ("BatchNorm comes after each convolution, not before: your main path "
                    "starts with BatchNormalization.")
        return (f"the main path starts with the 1x1 convolution, but yours starts with "
                f"{lead[0].describe}.")
    if len(units) != n_convs:
        if n_convs == 3:
            return (f"the main path has three convolutions (1x1, {expect.f}x{expect.f}, 1x1), "
                    f"but yours has {len(units)}.")
        return None  # the caller words it
    convs = [conv for conv, _ in units]

    # Kernel sizes.
    for i, conv in enumerate(convs):
        kernel = tuple(conv.op.kernel_size)
        if kernel != expect.kernels[i]:
            if i == 1:
                return (f"the middle convolution has an f x f kernel: kernel_size=f "
                        f"({expect.f}x{expect.f} here), not {kernel_text(kernel)}.")
            which = "first" if i == 0 else "last"
            return (f"the {which} convolution of the main path is a 1x1 convolution: "
                    f"kernel_size=1, not {kernel_text(kernel)}.")

    # Filters.
    actual = [conv.op.filters for conv in convs]
    wanted = expect.filters[:n_convs]
    if actual != wanted:
        if n_convs == 3 and sorted(actual) == sorted(wanted):
            return (f"the filters are swapped: the three convolutions take F1, F2, F3 = "
                    f"filters[0], filters[1], filters[2] ({wanted}) in that order, but yours "
                    f"have {actual}.")
        i = next(i for i in range(n_convs) if actual[i] != wanted[i])
        return (f"{ROLES[i]} needs F{i + 1} = filters[{i}] = {wanted[i]} filters, "
                f"not {actual[i]}.")

    # Strides.
    strides = [tuple(conv.op.strides) for conv in convs]
    s = (expect.s, expect.s)
    if not expect.projection:
        for i, stride in enumerate(strides):
            if stride != (1, 1):
                return (f"an identity block keeps the height and width, so its convolutions "
                        f"have strides=1, but {ROLES[i]} has strides={stride[0]}.")
    else:
        if n_convs >= 2 and strides[0] == (1, 1) and strides[1] == s != (1, 1):
            return (f"the stride should be on the first 1x1 convolution, not on the "
                    f"{expect.f}x{expect.f} one (that is ResNet v1.5).")
        if n_convs == 3 and strides[2] != (1, 1):
            return "the stride should be on the first 1x1 convolution, not on the last one."
        if strides[0] != s:
            return (f"the first 1x1 convolution needs strides=s ({expect.s} here), "
                    f"not {strides[0][0]}.")
        if n_convs >= 2 and strides[1] != (1, 1):
            return (f"only the first 1x1 convolution has a stride: the middle convolution "
                    f"needs strides=1, not {strides[1][0]}.")

    # Padding of the f x f convolution: padding='same', or ZeroPadding2D(f // 2) before
    # it and padding='valid' (keras.applications' layout), which compute the same.
    pad = units[0][1][-1] if n_convs >= 2 and units[0][1] else None
    if pad is not None and isinstance(pad.op, layers.ZeroPadding2D):
        units[0][1].pop()  # checked here; the BatchNorm and ReLU check skips it
        wanted = expect.f // 2
        if tuple(map(tuple, pad.op.padding)) != ((wanted, wanted), (wanted, wanted)):
            return (f"the ZeroPadding2D before the middle convolution adds f // 2 = {wanted} "
                    f"pixel{'s' if wanted != 1 else ''} on every side, but yours adds "
                    f"{tuple(map(tuple, pad.op.padding))} ((top, bottom), (left, right)).")
        if convs[1].op.padding != "valid":
            return ("you pad explicitly before the middle convolution, so it takes "
                    "padding='valid'; with padding='same' it pads a second time and the "
                    "image grows.")
    elif n_convs >= 2 and expect.f > 1 and convs[1].op.padding != "same":
        return with_fix("the middle convolution shrinks the image, so F(X) and X no "
                        "longer have the same height and width: how does an f x f "
                        "convolution keep the size?",
                        "padding='same' (or ZeroPadding2D(f // 2) before it and "
                        "padding='valid').")

    # BatchNorm and ReLU after each convolution.
    for i, (_, after) in enumerate(units):
        last = i == 2
        kinds = [step.kind for step in after]
        wanted_kinds = ["bn"] if last else ["bn", "relu"]
        if kinds == wanted_kinds:
            continue
        for step in after:
            if step.kind == "activation":
                return f"use a ReLU activation, not {step.describe}."
            if step.kind not in ("bn", "relu"):
                return (f"the main path has only Conv2D, BatchNormalization and ReLU "
                        f"layers: remove the {type(step.op).__name__}.")
        if kinds[:2] == ["relu", "bn"]:
            if after[0].fused:
                return (f"{ROLES[i]} has activation='relu' built in: the ReLU must come "
                        f"after BatchNorm, as its own layer.")
            return (f"BatchNorm comes right after {ROLES[i]}, before the ReLU, but yours "
                    f"has the ReLU first.")
        if "bn" not in kinds:
            return f"{ROLES[i]} needs BatchNorm right after it."
        if kinds.count("bn") > 1:
            return f"{ROLES[i]} needs one BatchNorm after it, not {kinds.count('bn')}."
        if last and kinds == ["bn", "relu"]:
            if relu_after_add is False:
                return "the last ReLU belongs after the addition, not before it."
            return ("no ReLU at the end of the main path: it ends with BatchNorm so that "
                    "F(X) can be negative, and the ReLU comes after the addition.")
        if not last and kinds == ["bn"]:
            return f"the BatchNorm after {ROLES[i]} must be followed by a ReLU."
        if kinds.count("relu") > 1:
            return (f"one ReLU after each BatchNorm is enough, but {ROLES[i]} is followed by "
                    f"{kinds.count('relu')}.")
        expected = "BatchNorm" if last else "BatchNorm and a ReLU"
        return f"after {ROLES[i]} come {expected}, but yours has {describe_all(after)}."
    return batchnorm_mistake(steps)


def batchnorm_mistake(steps):
    for step in steps:
        if step.kind != "bn":
            continue
        axis = step.op.axis
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (3, -1):
            return f"BatchNorm normalises the channels: axis=3 (or -1), not axis={axis}."
        if not np.isclose(step.op.epsilon, blocks.BN_EPSILON, rtol=1e-3):
            return ("BatchNorm needs epsilon=1.001e-5, the value of keras.applications' "
                    f"ResNet50 (yours is {step.op.epsilon:g}; the Keras default is 1e-3).")
        if step.node.arguments.kwargs.get("training") is not None:
            return ("don't pass training= to BatchNorm: Keras gives every layer the model's "
                    "own training flag.")
    return None


def shortcut_mistake(steps, from_main_path, expect):
    """The first mistake on the shortcut: nothing (identity) or 1x1 conv + BN (projection)."""
    if not expect.projection:
        if from_main_path:
            return ("X_shortcut must be the block's input X, saved before the first "
                    "convolution; yours is taken later on the main path.")
        if not steps:
            return None
        if conv_steps(steps):
            return ("an identity block's shortcut is X itself, with no convolution (the "
                    "projection belongs to the convolutional block).")
        if all(step.kind == "relu" for step in steps):
            return "the shortcut must carry X unchanged: remove the ReLU on the shortcut."
        return (f"the shortcut must carry X unchanged to the addition, but yours passes it "
                f"through {describe_all(steps)}.")

    if from_main_path:
        return ("the projection shortcut starts from the block's input X, saved before the "
                "first convolution; yours starts later on the main path.")
    F3, s = expect.filters[2], expect.s
    convs = conv_steps(steps)
    if not convs:
        if any(step.kind == "relu" for step in steps):
            return "no ReLU on the shortcut: the ReLU comes after the addition."
        return with_fix("the shortcut carries X as it is, but here the block changes the "
                        "channels (and with s > 1 the size): how can X be brought to F(X)'s "
                        "shape?",
                        "project it: a 1x1 convolution with F3 filters and stride s, then "
                        "BatchNorm.")
    if len(convs) > 1:
        return f"the shortcut has one 1x1 convolution, but yours has {len(convs)}."
    position = steps.index(convs[0])
    before, conv, after = steps[:position], convs[0], steps[position + 1:]
    if before:
        if before[0].kind == "bn":
            return "the shortcut's BatchNorm comes after its 1x1 convolution, not before it."
        if before[0].kind == "relu":
            return "no ReLU on the shortcut: the ReLU comes after the addition."
        return (f"the shortcut starts with its 1x1 convolution, but yours starts with "
                f"{before[0].describe}.")
    kernel = tuple(conv.op.kernel_size)
    if kernel != (1, 1):
        return (f"the shortcut's convolution is a 1x1 convolution: kernel_size=1, "
                f"not {kernel_text(kernel)}.")
    if conv.op.filters != F3:
        return (f"the shortcut's 1x1 convolution needs F3 = filters[2] = {F3} filters, so "
                f"that it can be added to the main path, not {conv.op.filters}.")
    stride = tuple(conv.op.strides)
    if stride != (s, s):
        return (f"the shortcut's 1x1 convolution needs strides=s ({s} here), like the first "
                f"convolution of the main path, not {stride[0]}.")
    kinds = [step.kind for step in after]
    if kinds == ["bn"]:
        return batchnorm_mistake(after)
    if "relu" in kinds:
        return ("no ReLU on the shortcut: it ends with BatchNorm, and the ReLU comes after "
                "the addition.")
    if "bn" not in kinds:
        return "the shortcut needs BatchNorm after its 1x1 convolution."
    return (f"the shortcut is a 1x1 convolution and BatchNorm, nothing else, but yours also "
            f"has {describe_all([st for st in after if st.kind != 'bn'])}.")


class Block:
    """A parsed block: main path, shortcut, and what follows the addition."""

    def __init__(self, x, out, main, shortcut, after, add, shortcut_from_main):
        self.x, self.out, self.add = x, out, add
        self.main, self.shortcut, self.after = main, shortcut, after
        self.shortcut_from_main = shortcut_from_main


def block_graph(x, out, name):
    """The steps from ``x`` to ``out``, once they are built on ``x`` and join by addition."""
    sub = Subgraph(out, [x])
    mistake = graph_mistake(sub, name)
    if mistake:
        raise Mistake(mistake)
    if sub.of_kind("concat"):
        raise Mistake(with_fix("your block concatenates the shortcut to the main path, so "
                               "its output has the channels of both: what does "
                               "concatenation do to the channels, and what does a residual "
                               "block compute from F(X) and X?",
                               "join them with layers.Add(), which keeps the channels "
                               "(Concatenate stacks them)."))
    return sub


def parse_block(x, out, name, rerun_hint=""):
    """Split the graph from ``x`` to ``out`` into a block, or raise the first Mistake."""
    sub = block_graph(x, out, name)
    adds = sub.of_kind("add")
    if not adds:
        merges = sub.of_kind("merge")
        if merges:
            raise Mistake(with_fix(f"your block combines the main path and the shortcut "
                                   f"with {merges[0].describe}: what does a residual block "
                                   f"compute from F(X) and X?",
                                   "join them with an addition, layers.Add()."))
        raise Mistake(with_fix("the shortcut is never added: where does X come back into "
                               "the block's output?",
                               "finish with layers.Add()([X, X_shortcut]) and a ReLU."))
    if len(adds) > 1:
        raise Mistake(f"the block adds the shortcut once, but yours has {len(adds)} "
                      f"additions{rerun_hint}.")
    add = adds[0]
    operands = add.inputs
    if len(operands) != 2:
        raise Mistake(f"the addition takes two tensors, the main path and the shortcut, "
                      f"but yours adds {len(operands)}.")
    if operands[0] is operands[1]:
        raise Mistake("the shortcut is never added: both inputs of your addition are the "
                      "same tensor.")
    after, end, _ = linear_chain(out, add.output)
    if end is not add.output:
        raise Mistake(f"after the addition comes only a ReLU, but yours has "
                      f"{describe_all(after) if after else 'more'}.")
    main, shortcut, from_main = main_and_shortcut(x, operands)
    return Block(x, out, main, shortcut, after, add, from_main)


def main_and_shortcut(x, operands):
    """(main path steps, shortcut steps, whether the shortcut leaves from the main path)
    for the two operands of a block's addition: the main path has more convolutions."""
    chains = []
    for operand in operands:
        steps, start, passed = linear_chain(operand, x)
        if start is not x:
            raise Mistake("the main path and the shortcut should each be a plain sequence "
                          "of layers from X to the addition.")
        chains.append((steps, passed))
    chains.sort(key=lambda c: (len(conv_steps(c[0])), len(c[0])), reverse=True)
    (main, main_tensors), (shortcut, shortcut_tensors) = chains
    from_main = any(t is u for t in shortcut_tensors for u in main_tensors)
    return main, shortcut, from_main


def block_mistake(block, expect):
    """Every mistake of the block: on its main path, its shortcut, after its addition."""
    relu_after = bool(block.after) and block.after[0].kind == "relu"
    main = main_path_mistake(block.main, expect, relu_after_add=relu_after)
    # A ReLU moved from after the addition to the main path's end is one mistake, named
    # by the main path's check; otherwise what follows the addition is judged on its own.
    moved = bool(main) and not block.after and bool(block.main) and (
        block.main[-1].kind == "relu")
    return all_of([main,
                   shortcut_mistake(block.shortcut, block.shortcut_from_main, expect),
                   None if moved else _after_mistake(block)])


def _after_mistake(block):
    kinds = [step.kind for step in block.after]
    if kinds == ["relu"]:
        return None
    if not kinds:
        return with_fix("no ReLU after the addition: the block's output is relu(F(X) + X), "
                        "not the sum itself.", "apply Activation('relu') to the sum.")
    if kinds[0] == "activation":
        return f"use a ReLU after the addition, not {block.after[0].describe}."
    return f"after the addition comes only a ReLU, but yours has {describe_all(block.after)}."


def copy_block(block, reference, stage, letter):
    """Give resnet_lab's block ``stage``+``letter`` the learner's weights, role by role."""
    conv, bn = f"res{stage}{letter}_branch", f"bn{stage}{letter}_branch"
    main_convs = conv_steps(block.main)
    main_bns = [step for step in block.main if step.kind == "bn"]
    for suffix, c, b in zip(("2a", "2b", "2c"), main_convs, main_bns, strict=True):
        copy_conv(c.op, reference.get_layer(conv + suffix))
        copy_bn(b.op, reference.get_layer(bn + suffix))
    if conv_steps(block.shortcut):
        copy_conv(conv_steps(block.shortcut)[0].op, reference.get_layer(conv + "1"))
        shortcut_bn = next(step for step in block.shortcut if step.kind == "bn")
        copy_bn(shortcut_bn.op, reference.get_layer(bn + "1"))
