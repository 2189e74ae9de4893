"""Lesson 1: the skip connection, ``skip_connection(x, fx)``, must return relu(fx + x)."""

import keras
import numpy as np
from keras import layers

from resnet_lab.checks.behaviour import random_input
from resnet_lab.checks.feedback import with_fix
from resnet_lab.checks.graph import (
    Subgraph,
    conv_steps,
    describe_all,
    graph_mistake,
    linear_chain,
    output_mistake,
    unused_mistake,
)
from resnet_lab.checks.runner import (
    Failure,
    Mistake,
    call_learner,
    learner_check,
    translate,
)


@learner_check
def check_skip_connection(skip_connection):
    """Lesson 1: ``skip_connection(x, fx)`` must return relu(fx + x)."""
    name = "skip_connection"
    x = keras.Input(shape=(5, 6, 4))
    fx = layers.Conv2D(4, 3, padding="same", name="F")(x)
    tensors = []
    try:
        out = call_learner(skip_connection, name, x, fx, local_tensors=tensors)
    except Failure as failure:
        raise Mistake(translate(failure, "skip_connection(x, fx)")) from None
    mistake = output_mistake(out, name)
    if mistake:
        raise Mistake(mistake)
    try:
        _check_skip(x, fx, out, name)
    except Mistake as error:  # a tensor computed and left out explains it better
        raise Mistake(unused_mistake(name, [x, fx], out, tensors) or str(error)) from None
    print("skip_connection: all checks passed, it computes relu(F(x) + x).")


def _check_skip(x, fx, out, name):
    sub = Subgraph(out, [x, fx])
    mistake = graph_mistake(sub, name, argument="x and fx")
    if mistake:
        raise Mistake(mistake)
    if conv_steps(sub.steps):
        raise Mistake(with_fix("skip_connection receives F(x) already computed, as fx, "
                               "but yours convolves again: what is left to do once F(x) "
                               "exists?", "add fx to x, with no new convolution."))
    if sub.of_kind("concat"):
        raise Mistake(with_fix("your skip connection concatenates x and F(x), so its "
                               "output has twice the channels of x: what does concatenation "
                               "do to the channels, and what does the skip connection add?",
                               "use layers.Add(), which keeps the channels of x "
                               "(Concatenate stacks x and F(x))."))
    adds = sub.of_kind("add")
    if not adds:
        raise Mistake(with_fix("the shortcut is never added: where does x come back in "
                               "relu(F(x) + x)?",
                               "add x to fx with layers.Add(), then apply a ReLU."))
    if len(adds) > 1 or len(adds[0].inputs) != 2:
        raise Mistake("add x and fx once, with one addition of two tensors.")
    add = adds[0]
    operands = []
    for operand in add.inputs:
        steps, start, _ = linear_chain(operand, fx)  # stops at fx, or else at x
        operands.append((start, steps))
    starts = sorted("x" if start is x else "fx" for start, _ in operands)
    if starts == ["fx", "fx"]:
        raise Mistake("add x to F(x): your addition adds fx to itself.")
    if starts == ["x", "x"]:
        raise Mistake("add F(x) to x: your addition adds x to itself, fx is never used.")
    for start, steps in operands:
        if steps and start is fx and steps[-1].kind == "relu":
            raise Mistake("apply the ReLU after the addition, not to F(x) before it.")
        if steps and start is x:
            if all(step.kind == "relu" for step in steps):
                raise Mistake("x must reach the addition unchanged: no ReLU on the shortcut.")
            raise Mistake(f"x must reach the addition unchanged, but yours passes it through "
                          f"{describe_all(steps)}.")
        if steps:
            raise Mistake(f"add fx itself to x, but yours passes it through "
                          f"{describe_all(steps)} first.")
    after, end, _ = linear_chain(out, add.output)
    kinds = [step.kind for step in after]
    if end is not add.output or kinds != ["relu"]:
        if not kinds:
            raise Mistake(with_fix("no ReLU after the addition: the block computes "
                                   "relu(F(x) + x), not F(x) + x.",
                                   "apply layers.Activation('relu') to the sum and return "
                                   "that."))
        raise Mistake(f"after the addition comes only a ReLU, but yours has "
                      f"{describe_all(after)}.")
    model = keras.Model(x, [fx, out])
    images = random_input((5, 6, 4))
    f_values, outputs = (keras.ops.convert_to_numpy(t) for t in model(images))
    if not np.allclose(outputs, np.maximum(images + f_values, 0), atol=1e-5):
        raise Mistake("skip_connection has an addition and a ReLU but does not compute "
                      "relu(x + fx): check what each layer is applied to.")


PROJECTED_CASES = [(4, 4), (4, 8), (6, 3)]  # (channels of x, channels of F(x))


@learner_check(keep_random_state=True)
def check_projected_skip(projected_skip):
    """Lesson 1, going further: ``projected_skip(x, fx)``, relu(F(x) + x) where the
    channels agree, relu(F(x) + W x) with W a 1x1 convolution where they do not."""
    name = "projected_skip"
    rng = np.random.default_rng(0)
    for c_in, c_out in PROJECTED_CASES:
        x = keras.Input(shape=(5, 6, c_in))
        fx = layers.Conv2D(c_out, 3, padding="same", name="F")(x)
        call = f"{name}(x, fx) with x of {c_in} channels and F(x) of {c_out}"
        try:
            out = call_learner(projected_skip, name, x, fx)
        except Failure as failure:
            if c_in != c_out and "shape" in str(failure.error).lower():
                raise Mistake(with_fix(
                    f"{call}: x and F(x) cannot be added, their channels differ. What maps x "
                    f"to {c_out} channels, pixel by pixel, so that the sum exists?",
                    "a 1x1 convolution of x with fx.shape[-1] filters, "
                    "layers.Conv2D(fx.shape[-1], 1)(x).")) from None
            raise Mistake(translate(failure, f"{name}(x, fx)")) from None
        mistake = output_mistake(out, name) or graph_mistake(Subgraph(out, [x, fx]), name,
                                                             argument="x and fx")
        if mistake:
            raise Mistake(mistake)
        mistake = _projected_mistake(x, fx, out, c_in, c_out, rng)
        if mistake:
            raise Mistake(f"{call}: {mistake}")
    print("projected_skip: all checks passed (x itself where the channels agree, a 1x1 "
          "projection where they do not; relu of the sum).")


def _projected_mistake(x, fx, out, c_in, c_out, rng):
    sub = Subgraph(out, [x, fx])
    convs = [step.op for step in conv_steps(sub.steps)]
    if c_in == c_out and convs:
        return ("the shapes agree, so x itself is added: a projection here is learnt for "
                "nothing (that is the paper's option C, lesson 3).")
    if c_in != c_out:
        if len(convs) != 1:
            return (f"one convolution brings x to F(x)'s channels, but yours has "
                    f"{len(convs)}.")
        kernel = tuple(convs[0].kernel_size)
        if kernel != (1, 1):
            return (f"a 1x1 convolution changes the channels and nothing else; yours is "
                    f"{'x'.join(map(str, kernel))}, which also mixes neighbouring pixels.")
    model = keras.Model(x, [fx, out])
    images = rng.normal(size=(2, 5, 6, c_in)).astype("float32")
    f_values, outputs = (keras.ops.convert_to_numpy(t) for t in model(images))
    shortcut = images
    if convs:
        conv = convs[0]
        shortcut = images @ keras.ops.convert_to_numpy(conv.kernel)[0, 0]
        if conv.use_bias:
            shortcut = shortcut + keras.ops.convert_to_numpy(conv.bias)
        if tuple(conv.strides) != (1, 1):
            return "the projection keeps the size: strides=1."
    total = f_values + shortcut
    if np.allclose(outputs, np.maximum(total, 0), atol=1e-4):
        return None
    if np.allclose(outputs, total, atol=1e-4):
        return with_fix("no ReLU after the addition.", "apply a ReLU to the sum.")
    return ("the output is not relu(F(x) + x), with x projected where the channels differ: "
            "check what each layer is applied to.")
