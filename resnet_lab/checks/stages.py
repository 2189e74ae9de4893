"""Lesson 4: a stage (a convolutional block, then identity blocks) and the four stages
of ResNet-50.

The stage's graph is split into its blocks from the output back, each block is read like
the block checks read it (``bottleneck``), and a stage's outputs are compared with
resnet_lab's ``resnet_stage`` given the same weights.
"""

import re
import string

import keras

from resnet_lab import models
from resnet_lab.checks.behaviour import random_input, same_outputs
from resnet_lab.checks.bottleneck import (
    Expect,
    block_mistake,
    copy_block,
    kernel_text,
    parse_block,
)
from resnet_lab.checks.graph import (
    Subgraph,
    conv_steps,
    describe_all,
    graph_mistake,
    keras_history,
    linear_chain,
    output_mistake,
    steps_of,
)
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate
from resnet_lab.weights import randomize_weights

STAGE_CASES = [  # (input shape, f, filters, stage, blocks, s)
    ((None, None, 8), 3, [2, 3, 8], 3, 3, 2),
    ((None, None, 8), 5, [2, 3, 8], 2, 2, 1),  # another f: a stage must pass its own on
]
STAGE_BEHAVIOUR_INPUT = (9, 9, 5)


@learner_check
def check_resnet_stage(resnet_stage):
    """Lesson 4: ``resnet_stage(X, f, filters, stage, blocks, s)``."""
    name = "resnet_stage"
    for shape, f, filters, stage, n_blocks, s in STAGE_CASES:
        x, out = _build_stage(resnet_stage, name, shape, f, filters, stage, n_blocks, s)
        found = _parse_chain_of_blocks(x, out, name)
        mistake = _stage_mistake(found, f, filters, stage, n_blocks, s)
        if mistake:
            raise Mistake(mistake)

    _, f, filters, stage, n_blocks, s = STAGE_CASES[0]
    shape = STAGE_BEHAVIOUR_INPUT
    x, out = _build_stage(resnet_stage, name, shape, f, filters, stage, n_blocks, s)
    x_ref = keras.Input(shape=shape)
    reference = keras.Model(x_ref, models.resnet_stage(x_ref, f, filters, stage, n_blocks, s))
    if tuple(out.shape) != tuple(reference.output.shape):
        raise Mistake(f"{name} should return a tensor of shape {tuple(reference.output.shape)} "
                      f"here, but yours has shape {tuple(out.shape)}.")
    learner = keras.Model(x, out)
    randomize_weights(learner, seed=1)
    for i, block in enumerate(_parse_chain_of_blocks(x, out, name)):
        copy_block(block, reference, stage, string.ascii_lowercase[i])
    if not same_outputs(learner, reference, random_input(shape)):
        raise Mistake(f"{name} has the right blocks but its output differs from resnet_lab's "
                      f"stage with the same weights: check what each block is applied to.")
    print("resnet_stage: all checks passed (a convolutional block, then identity blocks; "
          "names, shapes and outputs).")


@learner_check
def check_resnet50_stages(resnet50_stages):
    """Lesson 4: ``resnet50_stages(X)`` stacks stages 2 to 5 on the stem's output."""
    name = "resnet50_stages"
    x = keras.Input(shape=(None, None, 64))
    try:
        out = call_learner(resnet50_stages, name, x)
    except Failure as failure:
        raise Mistake(translate(failure, f"{name}(X)")) from None
    mistake = output_mistake(out, name)
    if mistake:
        raise Mistake(mistake)
    found = _parse_chain_of_blocks(x, out, name)
    starts = [i for i, block in enumerate(found) if conv_steps(block.shortcut)]
    if len(starts) != len(models.RESNET50_STAGES) or starts[:1] != [0]:
        raise Mistake(f"ResNet-50 has {len(models.RESNET50_STAGES)} stages, each starting with "
                      f"a convolutional block, but yours has {len(starts)} convolutional "
                      f"block{'' if len(starts) == 1 else 's'}"
                      f"{' and does not start with one' if starts[:1] != [0] else ''}.")
    bounds = starts + [len(found)]
    for i, (stage, filters, n_blocks, s) in enumerate(models.RESNET50_STAGES):
        stage_blocks = found[bounds[i]:bounds[i + 1]]
        if len(stage_blocks) != n_blocks:
            raise Mistake(f"stage {stage} of ResNet-50 has {n_blocks} blocks, but yours has "
                          f"{len(stage_blocks)}: use the stages of RESNET50_STAGES in order.")
        conv = conv_steps(stage_blocks[0].main)
        kernel = tuple(conv[1].op.kernel_size) if len(conv) == 3 else None
        if kernel != (3, 3):
            raise Mistake(f"every block of ResNet-50 has a 3x3 middle convolution (f=3), but "
                          f"stage {stage}'s has {kernel and kernel_text(kernel)}.")
        mistake = _stage_mistake(stage_blocks, 3, list(filters), stage, n_blocks, s,
                                 name=f"stage {stage}")
        if mistake:
            raise Mistake(f"stage {stage}: {mistake}")
    print("resnet50_stages: all checks passed (4 stages, 3 + 4 + 6 + 3 blocks, strides, "
          "filters and names of ResNet-50).")


def _parse_chain_of_blocks(x, out, name):
    """The blocks from ``x`` to ``out``, first to last; each ends with add + ReLU."""
    sub = Subgraph(out, [x])
    mistake = graph_mistake(sub, name, per_block=True)
    if mistake:
        raise Mistake(mistake)
    found = []
    tensor = out
    while tensor is not x:
        after, end, _ = linear_chain(tensor, x)
        op, _ = keras_history(end)
        if end is x or type(op).__name__ != "Add":
            raise Mistake(f"{name} should be a chain of blocks, each ending with an addition "
                          f"and a ReLU, but yours has {describe_all(after)} where a block "
                          f"should end.")
        operands = steps_of(end)[0].inputs
        if len(operands) != 2:
            raise Mistake("each block adds two tensors, its main path and its shortcut.")
        walks = []
        for operand in operands:
            _, start, passed = linear_chain(operand, x)
            walks.append([*passed, start])
        start = next((t for t in walks[1] if any(t is u for u in walks[0])), None)
        if start is None:
            raise Mistake(f"{name} should be a chain of blocks: each block's main path and "
                          f"shortcut start from the previous block's output.")
        block = parse_block(start, tensor, name)
        found.append(block)
        tensor = start
    return found[::-1]


def _block_letters(block):
    """(stage, letter) from the names of a block's layers, if they follow res{stage}{letter}_."""
    conv = conv_steps(block.main)[0].op.name if conv_steps(block.main) else ""
    match = re.match(r"^res(\d+)([a-z]+)_", conv)
    return (int(match.group(1)), match.group(2)) if match else None


def _stage_mistake(found, f, filters, stage, n_blocks, s, name="the stage"):
    if not found:
        return f"{name} has no blocks."
    if conv_steps(found[0].shortcut) == []:
        return ("a stage starts with a convolutional block (stride s), then identity blocks; "
                "yours starts with an identity block.")
    for i, block in enumerate(found[1:], start=2):
        if conv_steps(block.shortcut):
            return (f"only the first block of a stage is a convolutional block: block {i} "
                    f"should be an identity block.")
    if len(found) > n_blocks:
        return (f"a stage with blocks={n_blocks} has {n_blocks} blocks in all, the "
                f"convolutional block included, but yours has {len(found)}.")
    if len(found) < n_blocks:
        return (f"a stage with blocks={n_blocks} has {n_blocks} blocks in all, the "
                f"convolutional block included, but yours chains only {len(found)}: each "
                f"block must take the previous block's output.")
    first_stride = tuple(conv_steps(found[0].shortcut)[0].op.strides)[0]
    if first_stride != s:
        return (f"pass the stage's stride to its convolutional block (s=s): with s={s} your "
                f"convolutional block has stride {first_stride}.")
    for i, block in enumerate(found):
        middle = conv_steps(block.main)[1:2]
        if middle and tuple(middle[0].op.kernel_size) != (f, f):
            return (f"pass the stage's f to every block: with f={f} the middle convolutions "
                    f"are {f}x{f}, but block {i + 1} of yours has "
                    f"{kernel_text(middle[0].op.kernel_size)}.")
    for i, block in enumerate(found):
        expect = Expect(f, filters, s if i == 0 else 1, projection=i == 0)
        mistake = block_mistake(block, expect)
        if mistake:
            return f"in block {i + 1} of the stage, {mistake}"
    names = [_block_letters(block) for block in found]
    if all(names):
        letters = string.ascii_lowercase
        for i, (got_stage, letter) in enumerate(names):
            if got_stage != stage:
                return (f"pass the stage number to the blocks: the layers of stage {stage} are "
                        f"named res{stage}..., but yours are named res{got_stage}....")
            if letter != letters[i]:
                return (f"block {i + 1} of the stage should be lettered '{letters[i]}' (layers "
                        f"named res{stage}{letters[i]}_...), but yours is lettered '{letter}'.")
    return None


def _build_stage(fn, name, shape, f, filters, stage, n_blocks, s):
    x = keras.Input(shape=shape)
    call = f"{name}(X, {f}, {filters}, {stage}, {n_blocks}, {s})"
    try:
        out = call_learner(fn, name, x, f, filters, stage, n_blocks, s)
    except Failure as failure:
        raise Mistake(translate(failure, call)) from None
    mistake = output_mistake(out, name)
    if mistake:
        raise Mistake(mistake)
    return x, out
