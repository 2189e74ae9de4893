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
