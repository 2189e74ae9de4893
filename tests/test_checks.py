"""The exercise checks: right answers pass, typical wrong ones get the intended sentence.

Each wrong implementation below is what a learner might write: the reference block
(or augmentation) with one mistake. Each must fail with exactly the message listed, so the catalogue
doubles as the documentation of what the checks say.
"""

import itertools
import os
import pathlib
import random
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers

import resnet_lab
from resnet_lab import blocks, checks, data, models
from resnet_lab.checks import feedback, runner


@pytest.fixture(autouse=True)
def exact_fixes_at_once(monkeypatch):
    """The catalogue below lists each message as a learner reads it when the mistake
    comes back: its symptom and its exact fix (see test_feedback_comes_in_two_steps)."""
    monkeypatch.setenv(feedback.EXPLAIN_ENV, "1")


def typed_in(fn):
    """``fn`` as if the learner had typed its code in: a new function with its own code
    object. The checks refuse resnet_lab's functions themselves (see
    test_the_packages_own_answer_is_refused); a copy of their code is judged like any
    other answer."""
    import types

    copy = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__,
                              fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


# ---------------------------------------------------------------------------------
# A learner's bottleneck block: correct, unless `wrong` names a mistake; `variant`
# names a different but correct way to write it.
# ---------------------------------------------------------------------------------


def learner_block(X, f, filters, s=1, projection=False, wrong=None, variant=None):
    F1, F2, F3 = filters
    names = itertools.count()

    def name():
        return f"my_layer_{next(names)}" if variant == "other layer names" else None

    def conv(n, kernel, strides=1, padding="valid", activation=None, dilation=1):
        if variant == "padding='same' on the 1x1 convolutions" and kernel == 1:
            padding = "same"
        if variant == "kernel sizes as tuples":
            kernel = (kernel, kernel)
        initializer = "he_normal" if variant == "another initializer" else "glorot_uniform"
        return layers.Conv2D(n, kernel, strides=strides, padding=padding, activation=activation,
                             dilation_rate=dilation, kernel_initializer=initializer,
                             use_bias=variant != "no bias", name=name())

    def bn(t, **call_kwargs):
        epsilon = 1e-3 if wrong == "default BatchNorm epsilon" else 1.001e-5
        axis = {"BatchNorm on axis 1": 1}.get(wrong, -1 if variant == "axis=-1" else 3)
        return layers.BatchNormalization(axis=axis, epsilon=epsilon, name=name())(
            t, **call_kwargs)

    shared_relu = layers.Activation("relu")

    def relu(t):
        if variant == "layers.ReLU()":
            return layers.ReLU(name=name())(t)
        if variant == "keras.activations.relu":
            return keras.activations.relu(t)
        if variant == "one Activation layer used for every ReLU":
            return shared_relu(t)
        return layers.Activation("relu", name=name())(t)

    n1, n2, n3 = {"F1 and F3 swapped": (F3, F2, F1),
                  "F1 and F2 swapped": (F2, F1, F3)}.get(wrong, (F1, F2, F3))
    s1, s2, s3 = {"stride on the 3x3": (1, s, 1), "stride on the last 1x1": (1, 1, s),
                  "no stride on the main path": (1, 1, 1),
                  "stride 2 written in": (2, 1, 1)}.get(wrong, (s, 1, 1))
    X_shortcut = X

    # First component.
    if wrong == "BatchNorm before the first convolution":
        X = bn(X)
    k1 = 3 if wrong == "3x3 kernel on the first 1x1" else 1
    X = conv(n1, k1, strides=s1,
             activation="relu" if wrong == "activation='relu' inside the conv" else None)(X)
    if wrong == "ReLU before BatchNorm":
        X = bn(relu(X))
    elif wrong == "activation='relu' inside the conv":
        X = bn(X)  # the ReLU came with the convolution
    elif wrong == "BatchNorm before the first convolution":
        X = relu(X)  # its BatchNorm came before the convolution
    elif wrong == "training=True on BatchNorm":
        X = relu(bn(X, training=True))
    else:
        X = relu(bn(X))
    if wrong == "shortcut taken after the first component":
        X_shortcut = X

    # Second component.
    k2 = 3 if wrong == "kernel size 3 written in" else f
    padding = "valid" if wrong == "padding='valid' on the middle convolution" else "same"
    if variant == "ZeroPadding2D(f // 2) and padding='valid'":
        X, padding = layers.ZeroPadding2D(f // 2, name=name())(X), "valid"
    elif wrong == "ZeroPadding2D and padding='same'":
        X = layers.ZeroPadding2D(f // 2)(X)
    elif wrong == "ZeroPadding2D of the wrong size":
        X, padding = layers.ZeroPadding2D(f // 2 + 1)(X), "valid"
    X = conv(n2, k2, strides=s2, padding=padding,
             dilation=2 if wrong == "dilated middle convolution" else 1)(X)
    if wrong == "no BatchNorm after the middle convolution":
        X = relu(X)
    elif wrong == "no ReLU after the middle BatchNorm":
        X = bn(X)
    elif wrong == "sigmoid instead of ReLU":
        X = layers.Activation("sigmoid")(bn(X))
    elif wrong == "leaky ReLU after the middle BatchNorm":
        X = layers.ReLU(negative_slope=0.1)(bn(X))
    elif wrong == "Dropout on the main path":
        X = relu(layers.Dropout(0.5)(bn(X)))
    else:
        X = relu(bn(X))

    # Third component.
    X = conv(n3, 3 if wrong == "3x3 kernel on the last 1x1" else 1, strides=s3)(X)
    X = bn(X)
    if wrong in ("ReLU before the addition instead of after", "extra ReLU before the addition"):
        X = relu(X)

    # Shortcut.
    if projection and wrong != "missing projection":
        if wrong == "BatchNorm before the shortcut convolution":
            X_shortcut = bn(X_shortcut)
        X_shortcut = conv(F1 if wrong == "shortcut with F1 filters" else F3,
                          3 if wrong == "3x3 shortcut convolution" else 1,
                          strides=1 if wrong == "no stride on the shortcut" else
                          2 if wrong == "stride 2 written in" else s,
                          padding="same")(X_shortcut)
        if wrong != "shortcut without BatchNorm" and \
                wrong != "BatchNorm before the shortcut convolution":
            X_shortcut = bn(X_shortcut)
    if wrong == "ReLU on the shortcut":
        X_shortcut = relu(X_shortcut)

    # The skip connection.
    if wrong == "no addition":
        return relu(X)
    if wrong == "concatenation instead of addition":
        X = layers.Concatenate()([X, X_shortcut])
    elif variant == "X + X_shortcut":
        X = X + X_shortcut
    elif variant == "addition operands swapped":
        X = layers.Add()([X_shortcut, X])
    elif wrong == "main path added to itself":
        X = layers.Add()([X, X])
    elif wrong in ("Multiply", "Average", "Subtract"):
        X = getattr(layers, wrong)()([X, X_shortcut])
    else:
        X = layers.Add()([X, X_shortcut])
    if wrong == "BatchNorm after the addition":
        X = bn(X)
    if wrong in ("no ReLU after the addition", "ReLU before the addition instead of after"):
        return X
    return relu(X)


def identity(wrong=None, variant=None):
    def identity_block(X, f, filters, stage, block):
        return learner_block(X, f, filters, 1, False, wrong, variant)
    return identity_block


def convolutional(wrong=None, variant=None):
    def convolutional_block(X, f, filters, stage, block, s=2):
        return learner_block(X, f, filters, s, True, wrong, variant)
    return convolutional_block


CORRECT_VARIANTS = [
    "addition operands swapped", "X + X_shortcut", "layers.ReLU()", "keras.activations.relu",
    "one Activation layer used for every ReLU", "another initializer", "other layer names",
    "no bias", "padding='same' on the 1x1 convolutions", "kernel sizes as tuples", "axis=-1",
    "ZeroPadding2D(f // 2) and padding='valid'",
]


def test_the_reference_blocks_pass(capsys):
    checks.check_identity_block(typed_in(blocks.identity_block))
    checks.check_convolutional_block(typed_in(blocks.convolutional_block))
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "identity_block: all checks passed (layers, shapes, and outputs in training and "
        "inference mode).",
        "convolutional_block: all checks passed (main path, projection shortcut, shapes, "
        "and outputs in training and inference mode).",
    ]


@pytest.mark.parametrize("variant", CORRECT_VARIANTS)
def test_correct_variants_of_the_blocks_pass(variant):
    checks.check_identity_block(identity(variant=variant))
    checks.check_convolutional_block(convolutional(variant=variant))


IDENTITY_MISTAKES = {
    "no addition":
        "the shortcut is never added: where does X come back into the block's output? "
        "Exact fix: finish with layers.Add()([X, X_shortcut]) and a ReLU.",
    "no ReLU after the addition":
        "no ReLU after the addition: the block's output is relu(F(X) + X), not the sum "
        "itself. Exact fix: apply Activation('relu') to the sum.",
    "ReLU before the addition instead of after":
        "the last ReLU belongs after the addition, not before it.",
    "extra ReLU before the addition":
        "no ReLU at the end of the main path: it ends with BatchNorm so that F(X) can be "
        "negative, and the ReLU comes after the addition.",
    "concatenation instead of addition":
        "your block concatenates the shortcut to the main path, so its output has the "
        "channels of both: what does concatenation do to the channels, and what does a "
        "residual block compute from F(X) and X? Exact fix: join them with "
        "layers.Add(), which keeps the channels (Concatenate stacks them).",
    "ReLU on the shortcut":
        "the shortcut must carry X unchanged: remove the ReLU on the shortcut.",
    "shortcut taken after the first component":
        "X_shortcut must be the block's input X, saved before the first convolution; yours "
        "is taken later on the main path.",
    "main path added to itself":
        "the shortcut is never added: both inputs of your addition are the same tensor.",
    **{wrong: f"your block combines the main path and the shortcut with a {wrong}: what "
              f"does a residual block compute from F(X) and X? Exact fix: join them with an "
              f"addition, layers.Add()." for wrong in ("Multiply", "Average", "Subtract")},
    "padding='valid' on the middle convolution":
        "the middle convolution shrinks the image, so F(X) and X no longer have the "
        "same height and width: how does an f x f convolution keep the size? Exact "
        "fix: padding='same' (or ZeroPadding2D(f // 2) before it and padding='valid').",
    "leaky ReLU after the middle BatchNorm":
        "use a ReLU activation, not a leaky or capped ReLU activation.",
    "ZeroPadding2D and padding='same'":
        "you pad explicitly before the middle convolution, so it takes padding='valid'; with "
        "padding='same' it pads a second time and the image grows.",
    "ZeroPadding2D of the wrong size":
        "the ZeroPadding2D before the middle convolution adds f // 2 = 1 pixel on every "
        "side, but yours adds ((2, 2), (2, 2)) ((top, bottom), (left, right)).",
    "3x3 kernel on the first 1x1":
        "the first convolution of the main path is a 1x1 convolution: kernel_size=1, not 3x3.",
    "3x3 kernel on the last 1x1":
        "the last convolution of the main path is a 1x1 convolution: kernel_size=1, not 3x3.",
    "kernel size 3 written in":
        "the middle convolution has an f x f kernel: kernel_size=f (5x5 here), not 3x3.",
    "ReLU before BatchNorm":
        "BatchNorm comes right after the first 1x1 convolution, before the ReLU, but yours "
        "has the ReLU first.",
    "activation='relu' inside the conv":
        "the first 1x1 convolution has activation='relu' built in: the ReLU must come after "
        "BatchNorm, as its own layer.",
    "BatchNorm before the first convolution":
        "BatchNorm comes after each convolution, not before: your main path starts with "
        "BatchNormalization.",
    "no BatchNorm after the middle convolution":
        "the middle convolution needs BatchNorm right after it.",
    "no ReLU after the middle BatchNorm":
        "the BatchNorm after the middle convolution must be followed by a ReLU.",
    "sigmoid instead of ReLU": "use a ReLU activation, not a sigmoid activation.",
    "Dropout on the main path":
        "the main path has only Conv2D, BatchNormalization and ReLU layers: remove the "
        "Dropout.",
    "F1 and F2 swapped":
        "the filters are swapped: the three convolutions take F1, F2, F3 = filters[0], "
        "filters[1], filters[2] ([4, 6, 12]) in that order, but yours have [6, 4, 12].",
    "F1 and F3 swapped":  # the addition fails: the check reads the learner's variables
        "the filters are swapped: the three convolutions take F1, F2, F3 = filters[0], "
        "filters[1], filters[2] ([4, 6, 12]) in that order, but yours have [12, 6, 4].",
    "default BatchNorm epsilon":
        "BatchNorm needs epsilon=1.001e-5, the value of keras.applications' ResNet50 (yours "
        "is 0.001; the Keras default is 1e-3).",
    "BatchNorm on axis 1": "BatchNorm normalises the channels: axis=3 (or -1), not axis=1.",
    "training=True on BatchNorm":
        "don't pass training= to BatchNorm: Keras gives every layer the model's own "
        "training flag.",
    "BatchNorm after the addition":
        "after the addition comes only a ReLU, but yours has a BatchNormalization, a ReLU.",
    # The right layers in the right order, but not the same function: only the
    # comparison of outputs with resnet_lab's block (same weights) can tell.
    "dilated middle convolution":
        "identity_block has the right layers but does not compute relu(F(X) + X): check "
        "what each layer is applied to and any unusual layer settings.",
}

CONVOLUTIONAL_MISTAKES = {
    "stride on the 3x3":
        "the stride should be on the first 1x1 convolution, not on the 3x3 one (that is "
        "ResNet v1.5).",
    "stride on the last 1x1":
        "the stride should be on the first 1x1 convolution, not on the last one.",
    "no stride on the main path": "the first 1x1 convolution needs strides=s (2 here), not 1.",
    "stride 2 written in":
        "2 mistakes: (1) the first 1x1 convolution needs strides=s "
        "(1 here), not 2. (2) the shortcut's 1x1 convolution needs "
        "strides=s (1 here), like the first convolution of the main "
        "path, not 2.",
    "missing projection":
        "the shortcut carries X as it is, but here the block changes the channels (and "
        "with s > 1 the size): how can X be brought to F(X)'s shape? Exact fix: "
        "project it: a 1x1 convolution with F3 filters and stride s, then BatchNorm.",
    "shortcut without BatchNorm": "the shortcut needs BatchNorm after its 1x1 convolution.",
    "BatchNorm before the shortcut convolution":
        "the shortcut's BatchNorm comes after its 1x1 convolution, not before it.",
    "ReLU on the shortcut":
        "no ReLU on the shortcut: it ends with BatchNorm, and the ReLU comes after the "
        "addition.",
    "3x3 shortcut convolution":
        "the shortcut's convolution is a 1x1 convolution: kernel_size=1, not 3x3.",
    "no stride on the shortcut":
        "the shortcut's 1x1 convolution needs strides=s (2 here), like the first convolution "
        "of the main path, not 1.",
    "shortcut with F1 filters":  # the addition fails: the check reads the learner's variables
        "the shortcut's 1x1 convolution needs F3 = filters[2] = 12 filters, so that it can "
        "be added to the main path, not 4.",
    "shortcut taken after the first component":
        "the projection shortcut starts from the block's input X, saved before the first "
        "convolution; yours starts later on the main path.",
    "no ReLU after the addition":
        "no ReLU after the addition: the block's output is relu(F(X) + X), not the sum "
        "itself. Exact fix: apply Activation('relu') to the sum.",
    "concatenation instead of addition":
        "your block concatenates the shortcut to the main path, so its output has the "
        "channels of both: what does concatenation do to the channels, and what does a "
        "residual block compute from F(X) and X? Exact fix: join them with "
        "layers.Add(), which keeps the channels (Concatenate stacks them).",
    "padding='valid' on the middle convolution":
        "the middle convolution shrinks the image, so F(X) and X no longer have the "
        "same height and width: how does an f x f convolution keep the size? Exact "
        "fix: padding='same' (or ZeroPadding2D(f // 2) before it and padding='valid').",
    "F1 and F2 swapped":
        "the filters are swapped: the three convolutions take F1, F2, F3 = filters[0], "
        "filters[1], filters[2] ([4, 6, 12]) in that order, but yours have [6, 4, 12].",
}


@pytest.mark.parametrize("wrong, message", IDENTITY_MISTAKES.items(),
                         ids=list(IDENTITY_MISTAKES))
def test_identity_block_mistakes_are_named(wrong, message):
    with pytest.raises(AssertionError) as info:
        checks.check_identity_block(identity(wrong))
    assert str(info.value) == message


@pytest.mark.parametrize("wrong, message", CONVOLUTIONAL_MISTAKES.items(),
                         ids=list(CONVOLUTIONAL_MISTAKES))
def test_convolutional_block_mistakes_are_named(wrong, message):
    with pytest.raises(AssertionError) as info:
        checks.check_convolutional_block(convolutional(wrong))
    assert str(info.value) == message


def test_the_catalogue_covers_the_mistakes_the_course_warns_about():
    named = set(IDENTITY_MISTAKES) | set(CONVOLUTIONAL_MISTAKES)
    assert {"no addition", "no ReLU after the addition", "stride on the 3x3",
            "shortcut without BatchNorm", "padding='valid' on the middle convolution",
            "3x3 kernel on the first 1x1", "ReLU before BatchNorm", "F1 and F2 swapped",
            "missing projection", "concatenation instead of addition",
            "ReLU on the shortcut"} <= named
    assert len(named) >= 10


# ---------------------------------------------------------------------------------
# What the learner's code does besides building a block: errors, None, a new Input.
# ---------------------------------------------------------------------------------


def not_written(X, f, filters, stage, block):
    # YOUR CODE HERE
    raise NotImplementedError()


def returns_nothing(X, f, filters, stage, block):
    typed_in(blocks.identity_block)(X, f, filters, stage, block)


def new_input(X, f, filters, stage, block):
    return typed_in(blocks.identity_block)(keras.Input(shape=(8, 8, filters[2])), f, filters,
                                          stage, block)


def typo(X, f, filters, stage, block):
    F1, F2, F3 = filters
    return layers.Conv2D(F4, 1)(X)  # noqa: F821 - the learner's typo


def twice_the_same_name(X, f, filters, stage, block):
    X = layers.Conv2D(filters[0], 1, name="conv")(X)
    X = layers.Activation("relu")(layers.BatchNormalization(epsilon=1.001e-5)(X))
    return layers.Conv2D(filters[1], f, padding="same", name="conv")(X)


def _main_path(X, f, filters, s=1):
    for i, (n, kernel) in enumerate(zip(filters, (1, f, 1), strict=True)):
        X = layers.Conv2D(n, kernel, strides=s if i == 0 else 1, padding="same")(X)
        X = layers.BatchNormalization(epsilon=1.001e-5)(X)
        X = layers.Activation("relu")(X) if i < 2 else X
    return X


def returns_too_early(X, f, filters, stage, block):
    X_shortcut = X
    X = _main_path(X, f, filters)
    X = layers.Add()([X, X_shortcut])
    output = layers.Activation("relu")(X)  # noqa: F841 - the learner's mistake
    return X


def projection_left_out(X, f, filters, stage, block, s=2):
    X_shortcut = layers.Conv2D(filters[2], 1, strides=s)(X)
    X_shortcut = layers.BatchNormalization(epsilon=1.001e-5)(X_shortcut)
    X_input = X
    X = _main_path(X, f, filters, s)
    X = layers.Add()([X, X_input])
    return layers.Activation("relu")(X)


def skip_returned_before_the_relu(x, fx):
    total = layers.Add()([x, fx])
    result = layers.Activation("relu")(total)  # noqa: F841 - the learner's mistake
    return total


def test_a_result_computed_but_not_returned_is_named():
    with pytest.raises(AssertionError) as info:
        checks.check_skip_connection(skip_returned_before_the_relu)
    assert str(info.value) == (
        "skip_connection returns total but goes on to compute result from it: is what you "
        "return the result of your last step? Exact fix: return result.")
    with pytest.raises(AssertionError) as info:
        checks.check_identity_block(returns_too_early)
    assert str(info.value) == (
        "identity_block returns X but goes on to compute output from it: is what you "
        "return the result of your last step? Exact fix: return output.")
    with pytest.raises(AssertionError) as info:
        checks.check_convolutional_block(projection_left_out)
    assert str(info.value) == (
        "convolutional_block computes X_shortcut but never uses it: X_shortcut does not "
        "reach the tensor your function returns. Where did you mean to use it?")


@pytest.mark.parametrize("fn, message", [
    (not_written, "identity_block is not written yet: replace '# YOUR CODE HERE' and "
                  "'raise NotImplementedError()' with your code."),
    (returns_nothing, "identity_block returned None: did you forget to return the result?"),
    (new_input, "identity_block must build its layers on the X it receives, not on a new "
                "keras.Input."),
    (typo, "identity_block(X, 3, [4, 6, 12], 2, 'b') raised NameError: name 'F4' is not "
           "defined"),
    (twice_the_same_name, "two layers are both named 'conv': give every layer its own name "
                          "(or none at all)."),
], ids=["not written", "returns None", "new Input", "typo", "same name twice"])
def test_errors_in_the_learners_code_become_one_sentence(fn, message):
    with pytest.raises(AssertionError) as info:
        checks.check_identity_block(fn)
    assert str(info.value) == message
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ---------------------------------------------------------------------------------
# Lesson 1: the skip connection.
# ---------------------------------------------------------------------------------


def skip(wrong=None, variant=None):
    def skip_connection(x, fx):
        relu = layers.ReLU() if variant == "layers.ReLU()" else layers.Activation("relu")
        if wrong == "no addition":
            return relu(fx)
        if wrong == "concatenation":
            return relu(layers.Concatenate()([x, fx]))
        if wrong == "ReLU on F(x) before the addition":
            return layers.Add()([x, relu(fx)])
        if wrong == "ReLU on the shortcut":
            return relu(layers.Add()([relu(x), fx]))
        if wrong == "no ReLU":
            return layers.Add()([x, fx])
        if wrong == "F(x) added to itself":
            return relu(layers.Add()([fx, fx]))
        if wrong == "a new convolution":
            return relu(layers.Add()([x, layers.Conv2D(4, 3, padding="same")(x)]))
        if variant == "x + fx":
            return keras.ops.relu(x + fx)
        operands = [fx, x] if variant == "operands swapped" else [x, fx]
        return relu(layers.Add()(operands))
    return skip_connection


@pytest.mark.parametrize("variant", [None, "layers.ReLU()", "x + fx", "operands swapped"])
def test_correct_skip_connections_pass(variant, capsys):
    checks.check_skip_connection(skip(variant=variant))
    assert capsys.readouterr().out == (
        "skip_connection: all checks passed, it computes relu(F(x) + x).\n")


SKIP_MISTAKES = {
    "no addition":
        "the shortcut is never added: where does x come back in relu(F(x) + x)? Exact "
        "fix: add x to fx with layers.Add(), then apply a ReLU.",
    "concatenation":
        "your skip connection concatenates x and F(x), so its output has twice the "
        "channels of x: what does concatenation do to the channels, and what does the "
        "skip connection add? Exact fix: use layers.Add(), which keeps the channels of "
        "x (Concatenate stacks x and F(x)).",
    "ReLU on F(x) before the addition":
        "apply the ReLU after the addition, not to F(x) before it.",
    "ReLU on the shortcut": "x must reach the addition unchanged: no ReLU on the shortcut.",
    "no ReLU":
        "no ReLU after the addition: the block computes relu(F(x) + x), not "
        "F(x) + x. Exact fix: apply layers.Activation('relu') to the sum and "
        "return that.",
    "F(x) added to itself": "add x to F(x): your addition adds fx to itself.",
    "a new convolution":
        "skip_connection receives F(x) already computed, as fx, but yours convolves "
        "again: what is left to do once F(x) exists? Exact fix: add fx to x, with no "
        "new convolution.",
}


@pytest.mark.parametrize("wrong, message", SKIP_MISTAKES.items(), ids=list(SKIP_MISTAKES))
def test_skip_connection_mistakes_are_named(wrong, message):
    with pytest.raises(AssertionError) as info:
        checks.check_skip_connection(skip(wrong))
    assert str(info.value) == message


def test_feedback_comes_in_two_steps(monkeypatch):
    """The symptom first; the exact fix when the same mistake comes back, or on request."""
    monkeypatch.delenv(feedback.EXPLAIN_ENV)
    monkeypatch.setattr(feedback, "_told", set())

    def told(wrong, **kwargs):
        with pytest.raises(AssertionError) as info:
            checks.check_skip_connection(skip(wrong), **kwargs)
        return str(info.value)

    symptom = ("your skip connection concatenates x and F(x), so its output has twice the "
               "channels of x: what does concatenation do to the channels, and what does "
               "the skip connection add?")
    fix = ("Exact fix: use layers.Add(), which keeps the channels of x (Concatenate stacks "
           "x and F(x)).")
    assert told("concatenation") == (
        f"{symptom} (If the same mistake comes back, the check shows the exact fix; "
        f"explain=True shows it now.)")
    assert told("concatenation") == f"{symptom} {fix}"  # the same mistake again
    assert "Exact fix" not in told("no addition")  # another mistake: its symptom first
    assert told("no addition", explain=True).endswith(
        "Exact fix: add x to fx with layers.Add(), then apply a ReLU.")
    # A mistake with no exact call to give away reads the same every time.
    once = told("ReLU on the shortcut")
    assert once == told("ReLU on the shortcut") == (
        "x must reach the addition unchanged: no ReLU on the shortcut.")


# ---------------------------------------------------------------------------------
# Lesson 2, step by step: the parts of the identity block.
# ---------------------------------------------------------------------------------


def build_parts(upto, wrong=None, repeat=None):
    """Lesson 2's cells, run in order up to component `upto` (4: the final step)."""
    X_input = keras.Input(shape=(56, 56, 256))
    X_shortcut, X = X_input, X_input
    for part in range(1, upto + 1):
        for _ in range(2 if part == repeat else 1):
            if part == 1:
                X = layers.Conv2D(64, 3 if wrong == "3x3 kernel" else 1)(X)
                X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)
                X = layers.Activation("relu")(X)
            elif part == 2:
                padding = "valid" if wrong == "padding='valid'" else "same"
                X = layers.Conv2D(64, 3, padding=padding)(X)
                X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)
                X = layers.Activation("relu")(X)
            elif part == 3:
                X = layers.Conv2D(256, 1)(X)
                X = layers.BatchNormalization(axis=3, epsilon=1.001e-5)(X)
                if wrong == "ReLU in the third component":
                    X = layers.Activation("relu")(X)
            else:
                X = layers.Add()([X, X_shortcut])
                if wrong != "no final ReLU":
                    X = layers.Activation("relu")(X)
    return X_input, X


@pytest.mark.parametrize("part", [1, 2, 3, 4])
def test_each_part_of_the_identity_block_passes_when_right(part, capsys):
    checks.check_identity_block_part(part, *build_parts(part))
    assert capsys.readouterr().out == checks.IDENTITY_PARTS[part] + "\n"


@pytest.mark.parametrize("part, wrong, repeat, message", [
    (1, "3x3 kernel", None,
     "the first convolution of the main path is a 1x1 convolution: kernel_size=1, not 3x3."),
    (2, "padding='valid'", None,
     "the middle convolution shrinks the image, so F(X) and X no longer have the same "
     "height and width: how does an f x f convolution keep the size? Exact fix: "
     "padding='same' (or ZeroPadding2D(f // 2) before it and padding='valid')."),
    (3, "ReLU in the third component", None,
     "no ReLU at the end of the main path: it ends with BatchNorm so that F(X) can be "
     "negative, and the ReLU comes after the addition."),
    (4, "no final ReLU", None,
     "no ReLU after the addition: the block's output is relu(F(X) + X), not the sum "
     "itself. Exact fix: apply Activation('relu') to the sum."),
    (2, None, 2,
     "X has gone through 3 convolutions, but after component 2 it should have gone through "
     "2: did you run a cell twice? Run the cells again from the first component on."),
    (4, None, 4,
     "the block adds the shortcut once, but yours has 2 additions: did you run the final "
     "step twice? Run the cells again from the first component on."),
], ids=["kernel", "padding", "relu", "final relu", "cell run twice", "final step twice"])
def test_identity_block_part_mistakes_are_named(part, wrong, repeat, message):
    with pytest.raises(AssertionError) as info:
        checks.check_identity_block_part(part, *build_parts(part, wrong, repeat))
    assert str(info.value) == message


def test_a_part_checked_before_the_earlier_parts_ran_says_so():
    X_input, X = build_parts(1)
    with pytest.raises(AssertionError, match="run the cells of the earlier components first"):
        checks.check_identity_block_part(3, X_input, X)


# ---------------------------------------------------------------------------------
# Lesson 4: a stage, and the four stages of ResNet-50.
# ---------------------------------------------------------------------------------


def stage(wrong=None):
    def resnet_stage(X, f, filters, stage, blocks_, s):
        letters = "abcdefgh"
        f = 3 if wrong == "f written in as 3" else f
        first = blocks.identity_block if wrong == "identity block first" else \
            blocks.convolutional_block
        kwargs = {} if wrong in ("stride not passed", "identity block first") else {"s": s}
        start = X
        X = first(X, f, filters, stage, "a", **kwargs)
        count = blocks_ + 1 if wrong == "one block too many" else blocks_
        for i in range(1, count):
            letter = letters[i + 1] if wrong == "letters off by one" else letters[i]
            if wrong == "every block a convolutional block":
                X = blocks.convolutional_block(X, f, filters, stage, letter, s=1)
            elif wrong == "same letter for every block":
                X = blocks.identity_block(X, f, filters, stage, "b")
            elif wrong == "blocks not chained":
                blocks.identity_block(start, f, filters, stage, letter)
            else:
                X = blocks.identity_block(X, f, filters, stage + (wrong == "stage + 1"), letter)
        return X
    return resnet_stage


def test_the_reference_stage_passes():
    checks.check_resnet_stage(typed_in(models.resnet_stage))
    checks.check_resnet_stage(stage())


@pytest.mark.parametrize("wrong, message", [
    ("identity block first",
     "a stage starts with a convolutional block (stride s), then identity blocks; yours "
     "starts with an identity block."),
    ("every block a convolutional block",
     "only the first block of a stage is a convolutional block: block 2 should be an "
     "identity block."),
    ("one block too many",
     "a stage with blocks=3 has 3 blocks in all, the convolutional block included, but "
     "yours has 4."),
    ("stride not passed",
     "pass the stage's stride to its convolutional block (s=s): with s=1 your convolutional "
     "block has stride 2."),
    ("same letter for every block",
     "two layers are both named 'res3b_relu': give each block of the stage its own "
     "letter (a, b, c, ...)."),
    ("letters off by one",
     "block 2 of the stage should be lettered 'b' (layers named res3b_...), but yours is "
     "lettered 'c'."),
    ("stage + 1",
     "pass the stage number to the blocks: the layers of stage 3 are named res3..., but "
     "yours are named res4...."),
    ("f written in as 3",
     "pass the stage's f to every block: with f=5 the middle convolutions are 5x5, but "
     "block 1 of yours has 3x3."),
], ids=lambda v: v if len(v) < 40 else "")
def test_resnet_stage_mistakes_are_named(wrong, message):
    with pytest.raises(AssertionError) as info:
        checks.check_resnet_stage(stage(wrong))
    assert str(info.value) == message


def test_a_stage_whose_blocks_are_not_chained_is_caught():
    with pytest.raises(AssertionError) as info:
        checks.check_resnet_stage(stage("blocks not chained"))
    assert str(info.value) == (
        "a stage with blocks=3 has 3 blocks in all, the convolutional block included, but "
        "yours chains only 1: each block must take the previous block's output.")


def resnet50_stages(X, wrong=None):
    for stage_, filters, n_blocks, s in models.RESNET50_STAGES:
        if wrong == "stage 4 with 5 blocks" and stage_ == 4:
            n_blocks = 5
        if wrong == "stage 2 only" and stage_ > 2:
            break
        X = models.resnet_stage(X, 3, list(filters), stage_, n_blocks, s)
    return X


def test_resnet50_stages_pass_and_a_missing_block_is_named():
    checks.check_resnet50_stages(resnet50_stages)
    with pytest.raises(AssertionError) as info:
        checks.check_resnet50_stages(lambda X: resnet50_stages(X, "stage 4 with 5 blocks"))
    assert str(info.value) == (
        "stage 4 of ResNet-50 has 6 blocks, but yours has 5: use the stages of "
        "RESNET50_STAGES in order.")
    with pytest.raises(AssertionError) as info:
        checks.check_resnet50_stages(lambda X: resnet50_stages(X, "stage 2 only"))
    assert str(info.value) == (
        "ResNet-50 has 4 stages, each starting with a convolutional block, but yours has 1 "
        "convolutional block.")


NOTEBOOK_4 = """
def resnet_stage(X, f, filters, stage, blocks, s):
    letters = string.ascii_lowercase
    X = convolutional_block(X, f, filters, stage, letters[0]{stride})
    for i in range(1, blocks):
        X = identity_block(X, f, filters, stage, letters[i])
    return X


def resnet50_stages(X):
    for stage, filters, blocks, s in RESNET50_STAGES:
        X = resnet_stage(X, 3, list(filters), {arguments})
    return X
"""


def notebook_4(stride=", s=s", arguments="stage, blocks, s"):
    """Exercises 4.1 and 4.2 as a learner writes them, in one namespace like a notebook's."""
    import string

    namespace = {"string": string, "RESNET50_STAGES": models.RESNET50_STAGES,
                 "convolutional_block": blocks.convolutional_block,
                 "identity_block": blocks.identity_block}
    exec(NOTEBOOK_4.format(stride=stride, arguments=arguments), namespace)
    return namespace


def test_resnet50_stages_is_judged_on_its_own_not_on_the_learners_stage(capsys):
    notebook = notebook_4(stride="")  # 4.1 wrong: the stage's stride is never passed on
    theirs = notebook["resnet_stage"]
    with pytest.raises(AssertionError, match="pass the stage's stride"):
        checks.check_resnet_stage(theirs)
    checks.check_resnet50_stages(notebook["resnet50_stages"])  # 4.2 right: it passes
    assert "resnet50_stages: all checks passed" in capsys.readouterr().out
    assert notebook["resnet_stage"] is theirs  # the learner's function is put back


@pytest.mark.parametrize("arguments, message", [
    ("blocks, stage, s",
     "your resnet50_stages passes the number of blocks where resnet_stage takes the stage "
     "number, and the stage number where it takes the number of blocks (stage 2 with 3 "
     "blocks becomes stage 3 with 2): in what order does resnet_stage take its arguments? "
     "Exact fix: resnet_stage(X, f, filters, stage, blocks, s): the stage number first."),
    ("stage, blocks, 2",
     "stage 2 starts with stride 1 (stage 2 keeps the size: the stem's max pool has halved "
     "it), but your call passes s=2."),
    ("stage, 3, s",
     "2 mistakes: (1) stage 3 of ResNet-50 has 4 blocks, but your call asks for 3. (2) "
     "stage 4 of ResNet-50 has 6 blocks, but your call asks for 3."),
], ids=["stage and blocks swapped", "stride 2 written in", "3 blocks written in"])
def test_resnet50_stages_arguments_are_named(arguments, message):
    with pytest.raises(AssertionError) as info:
        checks.check_resnet50_stages(notebook_4(arguments=arguments)["resnet50_stages"])
    assert str(info.value) == message


# ---------------------------------------------------------------------------------
# Every backend.
# ---------------------------------------------------------------------------------


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="runs this file again from the TensorFlow run only")
def test_the_checks_work_under_the_jax_backend():
    """The reference blocks and augmentation pass, and a mistake is read from the learner's
    variables.

    A subset: under JAX every new weight shape costs a compilation, and the structure
    checks read the same Keras graph under every backend.
    """
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    subset = ("reference_blocks or (correct_skip and None) or (identity and F1 and F3) or "
              "packages_augmentation")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         str(pathlib.Path(__file__)), "-k", subset],
        env=env, capture_output=True, text=True, timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "backend jax" in result.stdout, result.stdout[:500]
    # Exit code 0 means tests were collected and none failed (no test at all is 5).
    assert " passed" in summary and "skipped" not in summary, summary


# ---------------------------------------------------------------------------------
# Lesson 5: the augmentation, judged by what it does to images.
# ---------------------------------------------------------------------------------


class FlipEveryImageWhenTraining(layers.Layer):
    """Not random: the same flip of every image at every call."""

    def call(self, images, training=False):
        return keras.ops.flip(images, axis=2) if training else images


def augmentation(wrong=None, variant=None):
    def make_augmentation(seed):
        flip_seed, shift_seed = {"no seeds": (None, None), "seeds of its own": (1, 2)}.get(
            wrong, (seed, seed if variant == "one seed for both layers" else seed + 1))
        mode = {"vertical flips too": "horizontal_and_vertical",
                "vertical instead of horizontal": "vertical"}.get(wrong, "horizontal")
        factors = {"shifts of 20%": (0.2, 0.2), "shifts of 5%": (0.05, 0.05),
                   "no sideways shifts": (0.1, 0.0), "no shifts up and down": (0.0, 0.1)}.get(
            wrong, ((-0.1, 0.1), (-0.1, 0.1)) if variant == "factors as ranges" else (0.1, 0.1))
        fill = {"constant fill": "constant", "nearest fill": "nearest",
                "wrap fill": "wrap"}.get(wrong, "reflect")
        flip = layers.RandomFlip(mode, seed=flip_seed)
        shift = (layers.RandomTranslation(*factors, seed=shift_seed)
                 if variant == "default fill mode" else
                 layers.RandomTranslation(*factors, fill_mode=fill, seed=shift_seed))
        steps = {"no flips": [shift], "no shifts": [flip],
                 "a rotation too": [flip, shift, layers.RandomRotation(0.05, seed=seed)],
                 "a zoom too": [flip, shift, layers.RandomZoom(0.1, seed=seed)],
                 "a contrast change too": [flip, shift, layers.RandomContrast(0.2, seed=seed)],
                 "rescaled to [0, 1]": [layers.Rescaling(1 / 255), flip, shift],
                 "a random crop": [layers.RandomCrop(28, 28, seed=seed), flip, shift],
                 "a flip in a Lambda": [layers.Lambda(lambda x: keras.ops.flip(x, axis=2)), shift],
                 "every image flipped": [FlipEveryImageWhenTraining(), shift],
                 "the same change at every call": [FlipEveryImageWhenTraining()],
                 }.get(wrong, [shift, flip] if variant == "shift before flip" else [flip, shift])
        if wrong == "a list of layers":
            return steps
        if variant == "layers.Pipeline":
            return layers.Pipeline(steps)
        if variant == "keras.Input first":
            return keras.Sequential([keras.Input(shape=(None, None, 3)), *steps])
        return keras.Sequential(steps)
    return make_augmentation


AUGMENTATION_PASSED = (
    "make_augmentation: all checks passed (random horizontal flips and shifts of up to 10%, "
    "images unchanged in inference mode, the same seed gives the same images).\n")


@pytest.mark.parametrize("variant", [None, "shift before flip", "layers.Pipeline",
                                     "factors as ranges", "default fill mode",
                                     "one seed for both layers", "keras.Input first"])
def test_correct_augmentations_pass(variant, capsys):
    checks.check_augmentation(augmentation(variant=variant))
    assert capsys.readouterr().out == AUGMENTATION_PASSED


def test_the_packages_augmentation_passes_the_same_behavioural_check(capsys, monkeypatch):
    monkeypatch.setattr(runner, "references", lambda name: [])  # judged as an answer
    checks.check_augmentation(data.augmentation)
    assert capsys.readouterr().out == AUGMENTATION_PASSED


def _wrapped_identity_block(X, f, filters, stage, block):
    return blocks.identity_block(X, f, filters, stage, block)


def _convolutional_block_as_a_stage(X, f, filters, stage, block, s=2):
    return models.resnet_stage(X, f, filters, stage, 1, s)


def _wrapped_stage(X, f, filters, stage, blocks_, s):
    return models.resnet_stage(X, f, filters, stage, blocks_, s)


def _identity_block_from_the_family(X, f, filters, stage, block):
    from resnet_lab import family

    return family.bottleneck_block(X, filters[0], filters[2], 1, f"res{stage}{block}")


def _stages_from_the_v1_builder(X):
    return models.resnet_v1_stages(X, 50)


def _stages_from_keras_applications_twin(X):
    model = models.ResNet50(include_top=False, input_shape=(64, 64, 3))
    return model.get_layer("conv5_block3_out").output


def _augmentation_from_the_package(seed):
    from resnet_lab.augment import RandomCropFlip

    return RandomCropFlip(scale=(1.0, 1.0), shift=0.1, seed=seed)


COPIED = "the exercise is to write it yourself, from Keras layers."
CHEATS = [
    (checks.check_identity_block, blocks.identity_block,
     f"identity_block uses resnet_lab's own identity_block: {COPIED}"),
    (checks.check_identity_block, _wrapped_identity_block,
     f"identity_block uses resnet_lab's own identity_block: {COPIED}"),
    (checks.check_convolutional_block, resnet_lab.convolutional_block,
     f"convolutional_block uses resnet_lab's own convolutional_block: {COPIED}"),
    (checks.check_convolutional_block, _convolutional_block_as_a_stage,
     f"convolutional_block uses resnet_lab's own resnet_stage: {COPIED}"),
    (checks.check_resnet_stage, _wrapped_stage,
     f"resnet_stage uses resnet_lab's own resnet_stage: {COPIED}"),
    (checks.check_resnet50_stages, _stages_from_keras_applications_twin,
     f"resnet50_stages uses resnet_lab's own ResNet50: {COPIED}"),
    (checks.check_resnet50_stages, _stages_from_the_v1_builder,
     f"resnet50_stages uses resnet_lab's own resnet_v1_stages: {COPIED}"),
    (checks.check_identity_block, _identity_block_from_the_family,
     f"identity_block uses resnet_lab's own bottleneck_block: {COPIED}"),
    (checks.check_augmentation, data.augmentation,
     f"make_augmentation uses resnet_lab's own augmentation: {COPIED}"),
    (checks.check_augmentation, _augmentation_from_the_package,
     f"make_augmentation uses resnet_lab's own RandomCropFlip: {COPIED}"),
]


@pytest.mark.parametrize("check, answer, message", CHEATS,
                         ids=[f"{check.__name__}-{answer.__name__}" for check, answer, _ in CHEATS])
def test_the_packages_own_answer_is_refused(check, answer, message):
    with pytest.raises(AssertionError) as info:
        check(answer)
    assert str(info.value) == message


AUGMENTATION_MISTAKES = {
    "no flips":
        "no image is flipped left to right. Exact fix: add "
        "layers.RandomFlip('horizontal').",
    "vertical flips too":
        "images are also flipped upside down: would an upside-down photograph still "
        "look like the ones you test on? Exact fix: use RandomFlip('horizontal'), not "
        "'horizontal_and_vertical'.",
    "vertical instead of horizontal":
        "images are flipped upside down instead of left to right: which of the two "
        "flips gives an image the data could contain? Exact fix: use "
        "RandomFlip('horizontal'), not 'vertical'.",
    "no shifts":
        "no image is shifted. Exact fix: add layers.RandomTranslation(0.1, "
        "0.1, fill_mode='reflect').",
    "shifts of 20%":
        "the shifts are larger than 10% of the image: in what unit does "
        "RandomTranslation take its factors? Exact fix: use RandomTranslation(0.1, "
        "0.1), fractions of the height and width.",
    "shifts of 5%":
        "the shifts are smaller than 10% of the image: in what unit does "
        "RandomTranslation take its factors? Exact fix: use RandomTranslation(0.1, "
        "0.1).",
    "no sideways shifts":
        "the images are shifted up and down but not sideways: which of "
        "RandomTranslation's two factors is the height's? Exact fix: "
        "RandomTranslation(0.1, 0.1) shifts by up to 10% of the height and of the "
        "width.",
    "no shifts up and down":
        "the images are shifted sideways but not up and down: which of "
        "RandomTranslation's two factors is the height's? Exact fix: "
        "RandomTranslation(0.1, 0.1) shifts by up to 10% of the height and of the "
        "width.",
    "constant fill":
        "the shifted images have black borders, which no real photograph has: what "
        "could fill the strip a shift uncovers? Exact fix: fill it by reflection, "
        "RandomTranslation(..., fill_mode='reflect').",
    "nearest fill":
        "the strip that a shift uncovers should continue the image as its mirror "
        "image, but yours fills it another way: the nearest pixel repeated, or the "
        "opposite edge wrapped round. Exact fix: RandomTranslation(..., "
        "fill_mode='reflect').",
    "wrap fill":
        "the strip that a shift uncovers should continue the image as its mirror "
        "image, but yours fills it another way: the nearest pixel repeated, or the "
        "opposite edge wrapped round. Exact fix: RandomTranslation(..., "
        "fill_mode='reflect').",
    "a rotation too":
        "your augmentation does more than flip and shift the images (a rotation, a "
        "zoom, other colours?). Exact fix: keep only RandomFlip and RandomTranslation.",
    "a zoom too":
        "your augmentation does more than flip and shift the images (a rotation, a "
        "zoom, other colours?). Exact fix: keep only RandomFlip and RandomTranslation.",
    "a contrast change too":
        "your augmentation does more than flip and shift the images (a rotation, a "
        "zoom, other colours?). Exact fix: keep only RandomFlip and RandomTranslation.",
    "rescaled to [0, 1]":
        "your augmentation rescales the pixel values: leave them in [0, 255], the model "
        "rescales its input itself.",
    "a random crop":
        "the augmentation must keep the image size: a batch of shape (16, 32, 32, 3) comes "
        "out with shape (16, 28, 28, 3) in training mode.",
    "a flip in a Lambda":
        "in inference mode the augmentation must leave images unchanged: use Keras' Random* "
        "layers, which only act when training.",
    "every image flipped":
        "every image is flipped: a flip applied to every image shows the network only "
        "mirror images, not more variety. Exact fix: RandomFlip('horizontal') flips "
        "each image or not, at random.",
    "the same change at every call":
        "your augmentation changes the images the same way at every call: what would "
        "the network see in the second epoch that it had not seen in the first? Exact "
        "fix: use Keras' Random* layers, which draw new flips and shifts at every "
        "call.",
    "no seeds":
        "make_augmentation(7) gives other images every time: where does the seed go? "
        "Exact fix: pass it to the random layers (seed=seed).",
    "seeds of its own":
        "make_augmentation gives the same images whatever the seed: is the seed you "
        "pass the one you receive? Exact fix: pass its seed argument to the random "
        "layers, not a number of your own.",
    "a list of layers":
        "make_augmentation should return one model, not a list of layers: wrap them in "
        "keras.Sequential([...]).",
}


@pytest.mark.parametrize("wrong, message", AUGMENTATION_MISTAKES.items(),
                         ids=list(AUGMENTATION_MISTAKES))
def test_augmentation_mistakes_are_named(wrong, message):
    with pytest.raises(AssertionError) as info:
        checks.check_augmentation(augmentation(wrong))
    assert str(info.value) == message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def augmentation_not_written(seed):
    # YOUR CODE HERE
    raise NotImplementedError()


def augmentation_with_a_typo(seed):
    return keras.Sequential([layers.RandomFlip("horizontal", seed=seed),
                             layers.RandomTranslation(0.1, 0.1, fill_mode="reflected")])


@pytest.mark.parametrize("fn, message", [
    (augmentation_not_written,
     "make_augmentation is not written yet: replace '# YOUR CODE HERE' and "
     "'raise NotImplementedError()' with your code."),
    (lambda seed: None,
     "make_augmentation returned None: did you forget to return the model?"),
    (augmentation()(0),
     "pass your function itself to the check, check_augmentation(make_augmentation), not "
     "the model it returns."),
], ids=["not written", "returns None", "the model instead of the function"])
def test_errors_in_the_learners_augmentation_become_one_sentence(fn, message):
    with pytest.raises(AssertionError) as info:
        checks.check_augmentation(fn)
    assert str(info.value) == message


def test_a_value_keras_refuses_is_not_taken_for_the_placeholder():
    """Keras raises NotImplementedError for an unknown fill_mode; its wording varies."""
    with pytest.raises(AssertionError) as info:
        checks.check_augmentation(augmentation_with_a_typo)
    assert str(info.value).startswith("make_augmentation(7) raised NotImplementedError: ")
    assert "reflected" in str(info.value) and "\n" not in str(info.value)


def test_the_augmentation_check_leaves_the_global_random_state_alone():
    keras.utils.set_random_seed(0)
    expected = (random.random(), np.random.random())
    keras.utils.set_random_seed(0)
    with pytest.raises(AssertionError):
        checks.check_augmentation(augmentation("no seeds"))  # its layers draw their seeds
    assert (random.random(), np.random.random()) == expected


# ---------------------------------------------------------------------------------
# Lesson 7: a frozen base and a new classifier.
# ---------------------------------------------------------------------------------


def transfer_model(wrong=None):
    def build_transfer_model(base, num_classes):
        if wrong != "base not frozen":
            base.trainable = False
        images = keras.Input(shape=base.input.shape[1:])
        features = base(images, training=False)
        pooled = {"flatten": layers.Flatten(),
                  "max pooling": layers.GlobalMaxPooling2D()}.get(
            wrong, layers.GlobalAveragePooling2D())(features)
        if wrong == "hidden layer":
            pooled = layers.Dense(8, activation="relu")(pooled)
        if wrong != "Dropout after the softmax":
            pooled = layers.Dropout(0.2)(pooled)
        activation = None if wrong == "no softmax" else "softmax"
        units = 2 if wrong == "two classes" else num_classes
        outputs = layers.Dense(units, activation=activation)(pooled)
        if wrong == "Dropout after the softmax":
            outputs = layers.Dropout(0.2)(outputs)
        model = keras.Model(images, outputs)
        if wrong == "everything frozen":
            model.trainable = False
        if wrong == "a copy of the base":
            return keras.Model(images, keras.models.clone_model(base)(images))
        return None if wrong == "no return" else model

    return build_transfer_model


def test_a_correct_transfer_model_passes(capsys):
    checks.check_transfer_model(transfer_model())
    assert capsys.readouterr().out.startswith("build_transfer_model: all checks passed")


@pytest.mark.parametrize("wrong, message", [
    ("base not frozen", "the base is not frozen: its weights would change in training"),
    ("everything frozen", "nothing in your model trains"),
    ("flatten", "your Dense layer sees 160 values per image, but the base gives 10 "
                "channels: what turns a feature map into one value per channel"),
    ("max pooling", r"use GlobalAveragePooling2D \(each channel's average\), not max pooling"),
    ("no softmax", "the outputs are not probabilities"),
    ("two classes", r"shape \(batch, 3\) for 3 classes; it gives \(4, 2\)"),
    ("hidden layer", "the new classifier should be GlobalAveragePooling2D, then"),
    ("a copy of the base", "your model does not use the base it was given"),
    ("no return", "build_transfer_model returned None"),
    ("Dropout after the softmax", "in training mode your model's outputs are not "
                                  "probabilities: something after the softmax changes them"),
])
def test_transfer_model_mistakes_are_named(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_transfer_model(transfer_model(wrong))


# ---------------------------------------------------------------------------------
# Lesson 8: the pre-activation bottleneck.
# ---------------------------------------------------------------------------------

def preact_block(wrong=None):
    """A learner's preactivation_block: right, or with the one mistake ``wrong``."""

    def preactivation_block(X, f, filters, stage, block, s=1, projection=False):
        F1, F2, F3 = filters
        bn = dict(axis=3, epsilon=1e-3 if wrong == "default epsilon" else 1.001e-5)
        preact = layers.BatchNormalization(**bn)(X)
        preact = layers.Activation("relu")(preact)
        if projection:
            source = X if wrong == "projection of X" else preact
            if wrong == "second preact":
                source = layers.Activation("relu")(layers.BatchNormalization(**bn)(X))
            shortcut = layers.Conv2D(F3, 1, strides=s, use_bias=wrong != "projection bias")(
                source)
            if wrong == "bn on projection":
                shortcut = layers.BatchNormalization(**bn)(shortcut)
        elif s > 1:
            window = 2 if wrong == "2x2 pool" else 1
            shortcut = layers.MaxPooling2D(window, strides=s, padding="same")(X)
        else:
            shortcut = preact if wrong == "shortcut of preact" else X
        first = s if wrong == "stride on first" else 1
        middle = 1 if wrong == "stride on first" else s
        start = X if wrong == "v1 order" else preact
        Y = layers.Conv2D(F1, 1, strides=first, use_bias=wrong == "bias")(start)
        Y = layers.BatchNormalization(**bn)(Y)
        Y = layers.Activation("relu")(Y)
        if wrong == "same padding":
            Y = layers.Conv2D(F2, f, strides=middle, padding="same", use_bias=False)(Y)
        else:
            Y = layers.ZeroPadding2D(f // 2)(Y)
            Y = layers.Conv2D(F2, f, strides=middle, use_bias=False)(Y)
        Y = layers.BatchNormalization(**bn)(Y)
        Y = layers.Activation("relu")(Y)
        Y = layers.Conv2D(F3, 1)(Y)
        if wrong == "bn after last":
            Y = layers.BatchNormalization(**bn)(Y)
        out = layers.Add()([Y, shortcut])
        if wrong == "relu after add":
            out = layers.Activation("relu")(out)
        return None if wrong == "no return" else out

    return preactivation_block


def test_a_correct_preactivation_block_passes_and_the_packages_own_is_refused(capsys):
    checks.check_preactivation_block(preact_block())
    assert capsys.readouterr().out.startswith("preactivation_block: all checks passed")
    checks.check_preactivation_block(typed_in(blocks.preactivation_block))
    with pytest.raises(AssertionError, match="uses resnet_lab's own preactivation_block"):
        checks.check_preactivation_block(blocks.preactivation_block)


@pytest.mark.parametrize("wrong, message", [
    ("relu after add", "nothing comes after the addition in a pre-activation block"),
    ("v1 order", "starts with BatchNorm and ReLU, before its first convolution"),
    ("stride on first", "the stride sits on the middle convolution in v2"),
    ("same padding", "pad explicitly before the strided middle convolution"),
    ("bn after last", "the last 1x1 convolution goes straight to the addition"),
    ("bias", r"the first two convolutions have no bias \(use_bias=False\)"),
    ("default epsilon", "BatchNorm needs epsilon=1.001e-5"),
    ("projection of X", "the projection shortcut takes the pre-activation"),
    ("bn on projection", "the projection goes straight to the addition in v2"),
    ("shortcut of preact", "without a projection the shortcut is X itself"),
    ("projection bias", "the projection keeps its bias"),
    ("second preact", "the projection shares the main path's pre-activation"),
    ("2x2 pool", "your shortcut pools over a window of more than one pixel, which mixes "
                 "neighbouring pixels: that is ResNet-D's shortcut"),
    ("no return", "preactivation_block returned None"),
])
def test_preactivation_block_mistakes_are_named(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_preactivation_block(preact_block(wrong))


# ---------------------------------------------------------------------------------
# Lesson 9: counting paths.
# ---------------------------------------------------------------------------------

def test_path_counts_by_formula_by_enumeration_or_as_an_array_pass(capsys):
    from math import comb

    checks.check_path_counts(lambda n: [comb(n, k) for k in range(n + 1)])
    checks.check_path_counts(lambda n: np.array([comb(n, k) for k in range(n + 1)], float))

    def by_pascal(n):  # another correct route: each block doubles the paths
        counts = [1]
        for _ in range(n):
            counts = [a + b for a, b in zip([0, *counts], [*counts, 0], strict=True)]
        return counts
    checks.check_path_counts(by_pascal)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["path_counts: all checks passed (every path enumerated for n up to "
                       "12, and the 2^27 paths of ResNet-56's 27 blocks)."] * 3


def _not_written(n):
    raise NotImplementedError()


@pytest.mark.parametrize("answer, message", [
    (lambda n: [1] * (n + 1),
     "at each block a path either passes it or skips it, so 2 blocks make 2^2 = 4 paths, "
     "but your counts for n = 2 add up to 3."),
    (lambda n: [1] * n,
     "a path through 0 blocks passes anything from none to all of them: path_counts(0) has "
     "one count for each k from 0 to 0, 1 in all, but yours has 0."),
    (lambda n: [2**n / (n + 1)] * (n + 1),
     "a count of paths is a whole number, but path_counts(2) contains 1.3333333333333333."),
    (lambda n: 2**n, "path_counts(n) returns one count per path length, a list of n + 1 "
                     "numbers; path_counts(0) returned int."),
    (lambda n: [1, *([0] * (n - 1)), 2**n - 1] if n > 1 else [1] * (n + 1) if n == 0 else [1, 1],
     "for n = 2, 2 paths pass exactly 1 of the blocks, but yours says 0: in how many ways "
     "can a path choose which 1 of the 2 blocks it passes?"),
    (_not_written, "path_counts is not written yet: replace '# YOUR CODE HERE' and "
                   "'raise NotImplementedError()' with your code."),
], ids=["all ones", "one count short", "fractions", "the total", "ends only", "placeholder"])
def test_path_count_mistakes_are_named(answer, message):
    with pytest.raises(AssertionError) as info:
        checks.check_path_counts(answer)
    assert str(info.value) == message
