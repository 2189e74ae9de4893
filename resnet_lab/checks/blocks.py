"""Lessons 2 and 3: the identity block (step by step, then whole) and the convolutional
block.

Each check builds the learner's block on small inputs, reads its layers from the graph
(``bottleneck``) and then compares its outputs with resnet_lab's own block given the same
weights (``behaviour``).
"""

import keras

from resnet_lab import blocks
from resnet_lab.checks.behaviour import random_input, same_outputs
from resnet_lab.checks.bottleneck import (
    Expect,
    block_mistake,
    copy_block,
    main_path_mistake,
    parse_block,
    shortcut_mistake,
)
from resnet_lab.checks.graph import (
    Subgraph,
    conv_steps,
    is_keras_tensor,
    linear_chain,
    output_mistake,
    unused_mistake,
)
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate
from resnet_lab.weights import randomize_weights

IDENTITY_PARTS = {
    1: "First component: correct (1x1 convolution, BatchNorm, ReLU).",
    2: "Second component: correct (3x3 convolution with padding='same', BatchNorm, ReLU).",
    3: "Third component: correct (1x1 convolution and BatchNorm, no ReLU yet).",
    4: "Final step: correct, X is now relu(F(X) + X).",
}


@learner_check
def check_identity_block_part(part, X_input, X, f=3, filters=(64, 64, 256)):
    """Lesson 2, step by step: X after component ``part`` (1, 2, 3) or the final step (4).

    ``X_input`` is the block's input and ``X`` the tensor the learner has built so far.
    """
    if part not in IDENTITY_PARTS:
        raise ValueError(f"part must be 1, 2, 3 or 4 (the final step); got {part!r}.")
    _check_identity_part(part, X_input, X, f, list(filters))
    print(IDENTITY_PARTS[part])


@learner_check
def check_identity_block(identity_block):
    """Lesson 2: ``identity_block(X, f, filters, stage, block)``."""
    _check_block(identity_block, projection=False)
    print("identity_block: all checks passed (layers, shapes, and outputs in training "
          "and inference mode).")


@learner_check
def check_convolutional_block(convolutional_block):
    """Lesson 3: ``convolutional_block(X, f, filters, stage, block, s=2)``."""
    _check_block(convolutional_block, projection=True)
    print("convolutional_block: all checks passed (main path, projection shortcut, "
          "shapes, and outputs in training and inference mode).")


def _check_identity_part(part, X_input, X, f, filters):
    expect = Expect(f, filters)
    if not is_keras_tensor(X_input):
        raise Mistake("X_input should be the block's input, keras.Input(shape=(56, 56, 256)).")
    if not is_keras_tensor(X):
        raise Mistake(f"X should be the output of your last layer (a Keras tensor), not "
                      f"{'None' if X is None else 'a ' + type(X).__name__}.")
    if part == 4:
        block = parse_block(X_input, X, "the block",
                            rerun_hint=": did you run the final step twice? Run the cells "
                                       "again from the first component on")
        mistake = block_mistake(block, expect)
        if mistake:
            raise Mistake(mistake)
        if tuple(X.shape) != tuple(X_input.shape):
            raise Mistake(f"X should have the shape of X_input, {tuple(X_input.shape)}, "
                          f"but has {tuple(X.shape)}.")
        return
    sub = Subgraph(X, [X_input])
    if sub.foreign_inputs or not sub.reached:
        raise Mistake("X must be computed from X_input: the first component starts from "
                      "X_input, each later one from the X of the step before.")
    if sub.of_kind("add") or sub.of_kind("concat") or sub.of_kind("merge"):
        raise Mistake("no addition yet: the shortcut is added in the final step.")
    steps, start, _ = linear_chain(X, X_input)
    n = len(conv_steps(steps))
    if n > part:
        raise Mistake(f"X has gone through {n} convolutions, but after component {part} it "
                      f"should have gone through {part}: did you run a cell twice? Run the "
                      f"cells again from the first component on.")
    if n < part:
        raise Mistake(f"X has gone through {n} convolution{'s' if n != 1 else ''}, but after "
                      f"component {part} it should have gone through {part}: run the cells "
                      f"of the earlier components first.")
    mistake = main_path_mistake(steps, expect, n_convs=part)
    if mistake:
        raise Mistake(mistake)


def _partial_block_mistake(x, tensors, expect):
    """After a failed call: the first mistake visible in the learner's variables.

    ``tensors`` are (variable name, tensor) pairs. The longest path from X is taken
    for the main path; variables named like a shortcut are checked as the shortcut.
    """
    chains = []
    for name, tensor in tensors:
        steps, start, passed = linear_chain(tensor, x)
        if start is x:
            chains.append((steps, passed, tensor, name))
    if not chains:
        return None
    chains.sort(key=lambda c: (len(conv_steps(c[0])), len(c[0])), reverse=True)
    main, main_tensors, main_end, _ = chains[0]
    if len(conv_steps(main)) != 3:
        return None
    mistake = main_path_mistake(main, expect)
    if mistake:
        return mistake
    for steps, passed, tensor, name in chains[1:]:
        if tensor is main_end or not any(word in name.lower() for word in ("short", "skip")):
            continue
        from_main = any(t is u for t in passed for u in main_tensors)
        mistake = shortcut_mistake(steps, from_main, expect)
        if mistake:
            return mistake
    return None


BLOCK_CASES = {
    # (input shape for the structure, f, filters, stage, block, s): the first call reads
    # the layers; the second, with other arguments, catches values written in by hand.
    False: [((None, None, 12), 3, [4, 6, 12], 2, "b", 1),
            ((None, None, 7), 5, [3, 2, 7], 4, "c", 1)],
    True: [((None, None, 12), 3, [4, 6, 12], 3, "a", 2),
           ((None, None, 7), 5, [3, 2, 7], 2, "a", 1)],
}
BEHAVIOUR_INPUT = {False: (7, 6, 12), True: (9, 8, 5)}  # odd sizes: strides round up


def _block_call_text(name, f, filters, stage, block, s, projection):
    args = f"X, {f}, {filters}, {stage}, {block!r}"
    return f"{name}({args}, s={s})" if projection else f"{name}({args})"


def _build_block(fn, name, projection, shape, f, filters, stage, block, s):
    """Call the learner's block on keras.Input(shape); return (input, output).

    An unknown height and width let a block with mismatched sizes build, so that its
    layers can be read; if the block needs known sizes, it is built again with them.
    """
    kwargs = {"s": s} if projection else {}
    call = _block_call_text(name, f, filters, stage, block, s, projection)
    x = first_x = keras.Input(shape=shape)
    tensors = []
    try:
        out = call_learner(fn, name, x, f, filters, stage, block, local_tensors=tensors,
                           **kwargs)
    except Failure as failure:
        out = None
        if None in shape:
            x = keras.Input(shape=(8, 8, shape[-1]))
            try:
                out = call_learner(fn, name, x, f, filters, stage, block,
                                   local_tensors=tensors, **kwargs)
            except Failure:
                pass
        if out is None:
            expect = Expect(f, filters, s, projection)
            mistake = _partial_block_mistake(first_x, failure.local_tensors, expect)
            raise Mistake(mistake or translate(failure, call)) from None
    mistake = output_mistake(out, name)
    if mistake:
        raise Mistake(mistake)
    return x, out, tensors


def _check_block(fn, projection):
    name = "convolutional_block" if projection else "identity_block"
    for shape, f, filters, stage, letter, s in BLOCK_CASES[projection]:
        x, out, tensors = _build_block(fn, name, projection, shape, f, filters, stage,
                                       letter, s)
        try:
            mistake = block_mistake(parse_block(x, out, name),
                                    Expect(f, filters, s, projection))
        except Mistake as error:
            mistake = str(error)
        if mistake:  # a tensor computed and left out explains it better, if there is one
            raise Mistake(unused_mistake(name, [x], out, tensors) or mistake)

    # Behaviour, on the first case's arguments and a fixed input size.
    _, f, filters, stage, letter, s = BLOCK_CASES[projection][0]
    shape = BEHAVIOUR_INPUT[projection]
    x, out, _ = _build_block(fn, name, projection, shape, f, filters, stage, letter, s)
    reference_fn = blocks.convolutional_block if projection else blocks.identity_block
    x_ref = keras.Input(shape=shape)
    kwargs = {"s": s} if projection else {}
    reference = keras.Model(x_ref, reference_fn(x_ref, f, filters, stage, letter, **kwargs))
    if tuple(out.shape) != tuple(reference.output.shape):
        raise Mistake(f"{name} should return a tensor of shape {tuple(reference.output.shape)} "
                      f"for an input of shape {(None, *shape)}, but yours has shape "
                      f"{tuple(out.shape)}.")
    learner = keras.Model(x, out)
    randomize_weights(learner, seed=1)
    copy_block(parse_block(x, out, name), reference, stage, letter)
    formula = "relu(F(X) + P(X))" if projection else "relu(F(X) + X)"
    if not same_outputs(learner, reference, random_input(shape)):
        raise Mistake(f"{name} has the right layers but does not compute {formula}: check "
                      f"what each layer is applied to and any unusual layer settings.")
