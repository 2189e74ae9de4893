"""Lesson 4: a stage (a convolutional block, then identity blocks) and the four stages
of ResNet-50.

The stage's graph is split into its blocks from the output back, each block is read like
the block checks read it (``bottleneck``), and a stage's outputs are compared with
resnet_lab's ``resnet_stage`` given the same weights.
"""

import contextlib
import inspect
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
from resnet_lab.checks.feedback import all_of, with_fix
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
    """Lesson 4: ``resnet50_stages(X)`` stacks stages 2 to 5 on the stem's output.

    The learner's ``resnet_stage`` (exercise 4.1), where ``resnet50_stages`` calls it, is
    replaced by the course's for this check, and its calls are recorded: a mistake in
    4.1 is 4.1's check's business, and the calls show what 4.2 asked of each stage.
    """
    name = "resnet50_stages"
    x = keras.Input(shape=(None, None, 64))
    calls = []
    try:
        with _course_stage_in_place_of_theirs(resnet50_stages, calls):
            out = call_learner(resnet50_stages, name, x)
    except Failure as failure:
        raise Mistake(translate(failure, f"{name}(X)")) from None
    mistake = output_mistake(out, name)
    if mistake:
        raise Mistake(mistake)
    if calls:
        mistake = _stage_calls_mistake(calls, x)
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
          "filters and names of ResNet-50)." + (
              " It was built with the course's resnet_stage in place of yours: exercise "
              "4.1's check is the one that judges yours." if calls else ""))


STAGE_ARGUMENTS = ("X", "f", "filters", "stage", "blocks", "s")


@contextlib.contextmanager
def _course_stage_in_place_of_theirs(fn, calls):
    """While in the block, the name ``resnet_stage`` in ``fn``'s module is a function
    that records its arguments (by position in the learner's own signature) in
    ``calls`` and builds the course's stage with them."""
    namespace = getattr(fn, "__globals__", {})
    theirs = namespace.get("resnet_stage")
    if not callable(theirs):
        yield
        return
    try:
        signature = inspect.signature(theirs)
    except (TypeError, ValueError):
        yield
        return

    def recorded(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return theirs(*args, **kwargs)  # their own error, in their own words
        bound.apply_defaults()
        values = list(bound.arguments.values())[:len(STAGE_ARGUMENTS)]
        call = dict(zip(STAGE_ARGUMENTS, values, strict=False))
        if len(call) < len(STAGE_ARGUMENTS):
            return theirs(*args, **kwargs)
        call["out"] = models.resnet_stage(*values)
        calls.append(call)
        return call["out"]

    namespace["resnet_stage"] = recorded
    try:
        yield
    finally:
        namespace["resnet_stage"] = theirs


def _stage_calls_mistake(calls, x):
    """Every mistake in the arguments of the learner's calls of resnet_stage."""
    expected = models.RESNET50_STAGES
    if len(calls) != len(expected):
        return (f"ResNet-50 has {len(expected)} stages, one resnet_stage each, but your "
                f"resnet50_stages calls resnet_stage {len(calls)} "
                f"time{'' if len(calls) == 1 else 's'}.")
    mistakes = []
    swapped = [(call["stage"], call["blocks"]) == (n_blocks, stage) != (stage, n_blocks)
               for call, (stage, _, n_blocks, _) in zip(calls, expected, strict=True)]
    if any(swapped):  # one mistake, however many calls it spoils
        stage, _, n_blocks, _ = expected[swapped.index(True)]
        mistakes.append(with_fix(
            f"your resnet50_stages passes the number of blocks where resnet_stage takes the "
            f"stage number, and the stage number where it takes the number of blocks (stage "
            f"{stage} with {n_blocks} blocks becomes stage {n_blocks} with {stage}): in what "
            f"order does resnet_stage take its arguments?",
            "resnet_stage(X, f, filters, stage, blocks, s): the stage number first."))
    previous = x
    for call, (stage, filters, n_blocks, s), swap in zip(calls, expected, swapped, strict=True):
        got = {key: call[key] for key in ("f", "stage", "blocks", "s")}
        if call["X"] is not previous:
            mistakes.append(f"stage {stage} should work on the output of "
                            f"{'the stage before' if previous is not x else 'the stem, X'}, "
                            f"but yours takes another tensor.")
        previous = call["out"]
        if swap:
            got["stage"], got["blocks"] = stage, n_blocks
        if got["stage"] != stage:
            mistakes.append(f"the stage after stage {stage - 1} is stage {stage}, but your "
                            f"call passes stage={got['stage']!r}.")
        if got["blocks"] != n_blocks:
            mistakes.append(f"stage {stage} of ResNet-50 has {n_blocks} blocks, but your "
                            f"call asks for {got['blocks']!r}.")
        if got["f"] != 3:
            mistakes.append(f"every block of ResNet-50 has a 3x3 middle convolution (f=3), "
                            f"but your call for stage {stage} passes f={got['f']!r}.")
        if list(call["filters"]) != list(filters):
            mistakes.append(f"stage {stage} has the filters {list(filters)}, but your call "
                            f"passes {call['filters']!r}.")
        if got["s"] != s:
            why = " (stage 2 keeps the size: the stem's max pool has halved it)" if s == 1 else ""
            mistakes.append(f"stage {stage} starts with stride {s}{why}, but your call "
                            f"passes s={got['s']!r}.")
    return all_of(mistakes)


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
