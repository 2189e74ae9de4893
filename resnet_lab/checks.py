"""Checks for the lessons' exercises: instant feedback in one sentence.

Each ``check_...`` function takes what the learner wrote (their function, or for the
step-by-step exercise of lesson 2 the tensors they built), builds it on small inputs
and compares it with the lesson's design in two ways:

1. **Structure**, read from the Keras graph of the result: which layers, in which
   order, with which settings (kernel sizes, filters, strides, padding, BatchNorm,
   where the ReLUs and the addition sit). A mistake is named in the learner's terms:
   "the stride should be on the first 1x1 convolution, not on the 3x3 one".
2. **Behaviour**: the learner's layers get random weights and BatchNorm statistics,
   resnet_lab's own block gets the same ones, and both must give the same outputs on
   the same random input, in inference and in training mode (with a tolerance, so
   nothing depends on one library version's floats).

On success a check prints one line. On a mistake it raises ``AssertionError`` with
one sentence; an exception raised by the learner's code is translated into one
sentence too, never shown as a Keras traceback.

Lesson 5's check is about a random augmentation, which has no graph to read: it
recovers from the augmented test images which flip and which shift each one got.
Lesson 7's check reads what the learner's transfer model trains and what it leaves
frozen, and compares its outputs with a pooled softmax classifier on the base's features.
Lesson 8's check reads the pre-activation block's graph the same way as the v1 blocks'.

The checks use only Keras 3 (no TensorFlow or JAX calls), so they run under every
backend. They read the functional graph through ``KerasTensor._keras_history`` and
``Operation._inbound_nodes``, which every Keras 3 release has.
"""

import random
import re
import string
import sys

import keras
import numpy as np
from keras import layers

from resnet_lab import augment, blocks, models, transfer
from resnet_lab.weights import randomize_weights

NOT_WRITTEN = (
    "{name} is not written yet: replace '# YOUR CODE HERE' and "
    "'raise NotImplementedError()' with your code."
)


class _Mistake(Exception):
    """A mistake in the learner's code, described in one sentence."""


# ---------------------------------------------------------------------------------
# The public checks, one per exercise.
# ---------------------------------------------------------------------------------


def check_skip_connection(skip_connection):
    """Lesson 1: ``skip_connection(x, fx)`` must return relu(fx + x)."""
    try:
        _check_skip_connection(skip_connection)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    print("skip_connection: all checks passed, it computes relu(F(x) + x).")


IDENTITY_PARTS = {
    1: "First component: correct (1x1 convolution, BatchNorm, ReLU).",
    2: "Second component: correct (3x3 convolution with padding='same', BatchNorm, ReLU).",
    3: "Third component: correct (1x1 convolution and BatchNorm, no ReLU yet).",
    4: "Final step: correct, X is now relu(F(X) + X).",
}


def check_identity_block_part(part, X_input, X, f=3, filters=(64, 64, 256)):
    """Lesson 2, step by step: X after component ``part`` (1, 2, 3) or the final step (4).

    ``X_input`` is the block's input and ``X`` the tensor the learner has built so far.
    """
    if part not in IDENTITY_PARTS:
        raise ValueError(f"part must be 1, 2, 3 or 4 (the final step); got {part!r}.")
    try:
        _check_identity_part(part, X_input, X, f, list(filters))
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    print(IDENTITY_PARTS[part])


def check_identity_block(identity_block):
    """Lesson 2: ``identity_block(X, f, filters, stage, block)``."""
    try:
        _check_block(identity_block, projection=False)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    print("identity_block: all checks passed (layers, shapes, and outputs in training "
          "and inference mode).")


def check_convolutional_block(convolutional_block):
    """Lesson 3: ``convolutional_block(X, f, filters, stage, block, s=2)``."""
    try:
        _check_block(convolutional_block, projection=True)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    print("convolutional_block: all checks passed (main path, projection shortcut, "
          "shapes, and outputs in training and inference mode).")


def check_resnet_stage(resnet_stage):
    """Lesson 4: ``resnet_stage(X, f, filters, stage, blocks, s)``."""
    try:
        _check_resnet_stage(resnet_stage)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    print("resnet_stage: all checks passed (a convolutional block, then identity blocks; "
          "names, shapes and outputs).")


def check_resnet50_stages(resnet50_stages):
    """Lesson 4: ``resnet50_stages(X)`` stacks stages 2 to 5 on the stem's output."""
    try:
        _check_resnet50_stages(resnet50_stages)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    print("resnet50_stages: all checks passed (4 stages, 3 + 4 + 6 + 3 blocks, strides, "
          "filters and names of ResNet-50).")


def check_augmentation(make_augmentation):
    """Lesson 5: ``make_augmentation(seed)`` returns random horizontal flips and shifts.

    The check looks at what the augmentation does, not at its layers: it augments test
    images and recovers, image by image, the flip and the shift that were applied.
    """
    state = random.getstate(), np.random.get_state()
    try:
        _check_augmentation(make_augmentation)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    finally:
        # Unseeded Keras layers draw their seeds from Python's random module: leave it as
        # it was, so that the rest of the lesson computes the same whatever was checked.
        random.setstate(state[0])
        np.random.set_state(state[1])
    print("make_augmentation: all checks passed (random horizontal flips and shifts of up "
          "to 10%, images unchanged in inference mode, the same seed gives the same "
          "images).")


def check_transfer_model(build_transfer_model):
    """Lesson 7: ``build_transfer_model(base, num_classes)`` freezes the base and puts a
    new classifier on it: global average pooling, (dropout,) Dense with a softmax.

    The check builds it on a small base of its own, reads which weights train, and
    compares the outputs with that classifier computed from the base's features.
    """
    state = random.getstate(), np.random.get_state()
    try:
        _check_transfer_model(build_transfer_model)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
    finally:  # new layers draw their seeds: leave the lesson's random state as it was
        random.setstate(state[0])
        np.random.set_state(state[1])
    print("build_transfer_model: all checks passed (the base is frozen; its features are "
          "pooled and classified by a new softmax layer, the only part that trains).")


# ---------------------------------------------------------------------------------
# Reading the Keras graph.
# ---------------------------------------------------------------------------------


class _Step:
    """One operation of the graph, as the checks see it.

    kind: "conv", "bn", "relu", "activation" (another one), "add", "concat",
    "merge" (another multi-input operation) or "other".
    """

    def __init__(self, kind, op, node, output, describe, fused=False):
        self.kind = kind
        self.op = op
        self.node = node
        self.output = output
        self.describe = describe  # words for a message: "a Dropout layer"
        self.fused = fused  # an activation set inside a Conv2D (activation="relu")

    @property
    def inputs(self):
        return list(self.node.input_tensors)


def _history(tensor):
    """(operation, node) that produced ``tensor``; (None, None) if it has none."""
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None, None
    op = history.operation
    return op, op._inbound_nodes[history.node_index]


def _is_keras_tensor(value):
    return isinstance(value, keras.KerasTensor)


def _activation_name(op):
    """'relu', another activation's name, or None if ``op`` is not an activation."""
    if isinstance(op, layers.Activation):
        return getattr(op.activation, "__name__", str(op.activation))
    cls = type(op).__name__
    if cls in ("ReLU", "Relu"):
        plain = (not getattr(op, "negative_slope", 0) and getattr(op, "max_value", None) is None
                 and not getattr(op, "threshold", 0))
        return "relu" if plain else "a leaky or capped ReLU"
    if cls in ("LeakyReLU", "PReLU", "ELU", "Elu", "Softmax", "Sigmoid", "Tanh", "Relu6",
               "Gelu", "Silu", "Selu", "Softplus", "LeakyRelu", "HardSigmoid", "HardSilu"):
        return cls.lower()
    return None


def _steps_of(tensor):
    """The steps that produced ``tensor`` (two for a Conv2D with an activation)."""
    op, node = _history(tensor)
    cls = type(op).__name__
    if isinstance(op, layers.Conv2D):
        conv = _Step("conv", op, node, tensor, "a Conv2D")
        activation = getattr(op.activation, "__name__", "linear")
        if activation == "linear":
            return [conv]
        kind = "relu" if activation == "relu" else "activation"
        return [conv, _Step(kind, op, node, tensor, f"activation='{activation}' inside a Conv2D",
                            fused=True)]
    if isinstance(op, layers.BatchNormalization):
        return [_Step("bn", op, node, tensor, "a BatchNormalization")]
    activation = _activation_name(op)
    if activation == "relu":
        return [_Step("relu", op, node, tensor, "a ReLU")]
    if activation is not None:
        return [_Step("activation", op, node, tensor, f"a {activation} activation")]
    if cls == "Add" and len(node.input_tensors) >= 2:
        return [_Step("add", op, node, tensor, "an addition")]
    if cls == "Concatenate":
        return [_Step("concat", op, node, tensor, "a concatenation")]
    if len(node.input_tensors) >= 2:
        return [_Step("merge", op, node, tensor, f"a {cls}")]
    if isinstance(op, layers.Identity) or (
            isinstance(op, layers.Activation) and _activation_name(op) == "linear"):
        return []
    article = "an" if cls[:1] in "AEIOU" else "a"
    return [_Step("other", op, node, tensor, f"{article} {cls} layer")]


def _linear_chain(tensor, stop):
    """Walk back from ``tensor`` through single-input operations until ``stop``.

    Returns (steps from input to output, the tensor where the walk ended, the tensors
    passed on the way). The walk ends at ``stop``, at a graph input, or at the output
    of an operation with several inputs (an addition, say).
    """
    steps, passed = [], []
    while tensor is not stop:
        op, node = _history(tensor)
        if op is None or isinstance(op, layers.InputLayer) or len(node.input_tensors) != 1:
            break
        steps[:0] = _steps_of(tensor)
        passed.append(tensor)
        tensor = node.input_tensors[0]
    return steps, tensor, passed


class _Subgraph:
    """Every step between ``stops`` (the tensors given to the learner) and ``out``."""

    def __init__(self, out, stops):
        self.steps, self.reached, self.foreign_inputs = [], set(), []
        seen, todo = set(), [out]
        stop_ids = {id(t) for t in stops}
        while todo:
            tensor = todo.pop()
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            if id(tensor) in stop_ids:
                self.reached.add(id(tensor))
                continue
            op, node = _history(tensor)
            if op is None or isinstance(op, layers.InputLayer):
                self.foreign_inputs.append(tensor)
                continue
            self.steps.extend(_steps_of(tensor))
            todo.extend(node.input_tensors)

    def of_kind(self, kind):
        return [step for step in self.steps if step.kind == kind]


def _convs(steps):
    return [step for step in steps if step.kind == "conv"]


def _describe_all(steps):
    names = [step.describe for step in steps]
    return ", ".join(names) if names else "nothing"


# ---------------------------------------------------------------------------------
# Calling the learner's function.
# ---------------------------------------------------------------------------------


class _Failure(Exception):
    """The learner's function raised ``error``; ``local_tensors`` are its tensors then."""

    def __init__(self, error, local_tensors):
        super().__init__(str(error))
        self.error = error
        self.local_tensors = local_tensors


def _references(name):
    """resnet_lab's own code that the exercise ``name`` asks the learner to write: what
    their function must not call."""
    blocks_and_up = [blocks.identity_block, blocks.convolutional_block, models.resnet_stage,
                     models.ResNet50]
    return {
        "identity_block": blocks_and_up,
        "convolutional_block": blocks_and_up,
        "resnet_stage": [models.resnet_stage, models.ResNet50],
        "resnet50_stages": [models.ResNet50],
        "make_augmentation": [augment.RandomCropFlip.__init__, augment.augmentation],
        "build_transfer_model": [transfer.transfer_model],
        "preactivation_block": [blocks.preactivation_block, models.ResNet50V2,
                                models.resnet_v2_stages],
    }.get(name, [])


def _call(fn, name, *args, **kwargs):
    if not callable(fn):
        raise _Mistake(f"pass your function itself to the check, not {type(fn).__name__}.")
    references = {id(ref.__code__): ref for ref in _references(name)}
    used = []

    def watch(frame, event, arg):  # every Python call the learner's function makes
        ref = references.get(id(frame.f_code)) if event == "call" else None
        if ref is not None and ref.__code__ is frame.f_code and not used:
            used.append(ref)

    previous = sys.getprofile()
    sys.setprofile(watch if references else previous)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        if not _raised_by_a_library(error):  # the placeholder, not Keras refusing a value
            raise _Mistake(NOT_WRITTEN.format(name=name)) from None
        raise _Failure(error, _local_tensors(error, fn)) from None
    except Exception as error:  # the learner's code may raise anything
        raise _Failure(error, _local_tensors(error, fn)) from None
    finally:
        sys.setprofile(previous)
        if used:  # whatever happened, copying the answer is the mistake to name
            ref = used[0]
            qualname = ref.__qualname__.removesuffix(".__init__")
            raise _Mistake(f"{name} uses resnet_lab's own {qualname}: the exercise is to "
                           f"write it yourself, from Keras layers.")


LIBRARIES = {"keras", "tensorflow", "jax", "jaxlib", "numpy", "optree", "tree", "resnet_lab"}


def _local_tensors(error, fn):
    """The Keras tensors among the learner's variables when ``fn`` raised ``error``.

    They come from the innermost frame of the learner's own code: the frame of ``fn``
    or of a helper it called, not one inside Keras or another library.
    """
    frames, inside = [], False
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        inside = inside or frame.f_code is getattr(fn, "__code__", None)
        module = frame.f_globals.get("__name__", "")
        if inside and module.split(".")[0] not in LIBRARIES:
            frames.append(frame)
        tb = tb.tb_next
    tensors = []  # (variable name, tensor)
    for name, value in (frames[-1].f_locals.items() if frames else []):
        values = value if isinstance(value, (list, tuple)) else [value]
        tensors.extend((name, v) for v in values if _is_keras_tensor(v))
    return tensors


def _translate(failure, call):
    """One sentence for an exception the learner's code raised."""
    error = failure.error
    text = " ".join(str(error).split())
    if len(text) > 240:
        text = text[:237] + "..."
    if isinstance(error, ValueError) and _raised_by_resnet_lab(error) and text:
        return f"{call} stopped with this error from resnet_lab: {text}"
    kind = type(error).__name__
    return f"{call} raised {kind}: {text}" if text else f"{call} raised {kind}."


def _raised_by_a_library(error):
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__", "").split(".")[0] in LIBRARIES


def _raised_by_resnet_lab(error):
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    return bool(last) and last.startswith("resnet_lab.") and last != __name__


def _output_mistake(out, name):
    if out is None:
        return f"{name} returned None: did you forget to return the result?"
    if isinstance(out, keras.Model):
        return f"{name} should return the output tensor, not a keras.Model."
    if isinstance(out, (list, tuple, dict)):
        return f"{name} should return one tensor, not a {type(out).__name__}."
    if not _is_keras_tensor(out):
        return (f"{name} should return a Keras tensor (the output of its last layer), "
                f"not a {type(out).__name__}.")
    return None


def _graph_mistake(sub, name, argument="X", per_block=False):
    if sub.foreign_inputs or not sub.reached:
        return (f"{name} must build its layers on the {argument} it receives, not on a new "
                f"keras.Input.")
    return _sharing_mistake(sub.steps, name, per_block)


def _sharing_mistake(steps, name, per_block=False):
    ops, names = {}, {}
    for step in steps:
        if step.fused:
            continue
        ops.setdefault(id(step.op), (step, set()))[1].add(id(step.node))
        names.setdefault(step.op.name, set()).add(id(step.op))
    for step, nodes in ops.values():
        if len(nodes) > 1 and step.op.weights:
            return (f"{name} calls the same {type(step.op).__name__} layer '{step.op.name}' "
                    f"twice: create a new layer for every step, or the two steps share "
                    f"their weights.")
    for layer_name, ids in names.items():
        if len(ids) > 1:
            hint = ("give each block of the stage its own letter (a, b, c, ...)" if per_block
                    else "give every layer its own name (or none at all)")
            return f"two layers are both named '{layer_name}': {hint}."
    return None


# ---------------------------------------------------------------------------------
# The bottleneck blocks: main path, shortcut, addition.
# ---------------------------------------------------------------------------------

ROLES = ("the first 1x1 convolution", "the middle convolution", "the last 1x1 convolution")


class _Expect:
    """What a bottleneck block should be: kernel size f, filters, stride, shortcut."""

    def __init__(self, f, filters, s=1, projection=False):
        self.f, self.filters, self.s, self.projection = f, list(filters), s, projection

    @property
    def kernels(self):
        return ((1, 1), (self.f, self.f), (1, 1))


def _kernel_text(kernel):
    return "x".join(str(k) for k in kernel)


def _main_path_mistake(steps, expect, n_convs=3, relu_after_add=None):
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
                        f"({expect.f}x{expect.f} here), not {_kernel_text(kernel)}.")
            which = "first" if i == 0 else "last"
            return (f"the {which} convolution of the main path is a 1x1 convolution: "
                    f"kernel_size=1, not {_kernel_text(kernel)}.")

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

    # Padding of the f x f convolution.
    if n_convs >= 2 and expect.f > 1 and convs[1].op.padding != "same":
        return "the middle convolution must keep the spatial size: padding='same'."

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
        return f"after {ROLES[i]} come {expected}, but yours has {_describe_all(after)}."
    return _batchnorm_mistake(steps)


def _batchnorm_mistake(steps):
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


def _shortcut_mistake(steps, from_main_path, expect):
    """The first mistake on the shortcut: nothing (identity) or 1x1 conv + BN (projection)."""
    if not expect.projection:
        if from_main_path:
            return ("X_shortcut must be the block's input X, saved before the first "
                    "convolution; yours is taken later on the main path.")
        if not steps:
            return None
        if _convs(steps):
            return ("an identity block's shortcut is X itself, with no convolution (the "
                    "projection belongs to the convolutional block).")
        if all(step.kind == "relu" for step in steps):
            return "the shortcut must carry X unchanged: remove the ReLU on the shortcut."
        return (f"the shortcut must carry X unchanged to the addition, but yours passes it "
                f"through {_describe_all(steps)}.")

    if from_main_path:
        return ("the projection shortcut starts from the block's input X, saved before the "
                "first convolution; yours starts later on the main path.")
    F3, s = expect.filters[2], expect.s
    convs = _convs(steps)
    if not convs:
        if any(step.kind == "relu" for step in steps):
            return "no ReLU on the shortcut: the ReLU comes after the addition."
        return ("the shortcut needs a projection: a 1x1 convolution with F3 filters and "
                "stride s, then BatchNorm.")
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
                f"not {_kernel_text(kernel)}.")
    if conv.op.filters != F3:
        return (f"the shortcut's 1x1 convolution needs F3 = filters[2] = {F3} filters, so "
                f"that it can be added to the main path, not {conv.op.filters}.")
    stride = tuple(conv.op.strides)
    if stride != (s, s):
        return (f"the shortcut's 1x1 convolution needs strides=s ({s} here), like the first "
                f"convolution of the main path, not {stride[0]}.")
    kinds = [step.kind for step in after]
    if kinds == ["bn"]:
        return _batchnorm_mistake(after)
    if "relu" in kinds:
        return ("no ReLU on the shortcut: it ends with BatchNorm, and the ReLU comes after "
                "the addition.")
    if "bn" not in kinds:
        return "the shortcut needs BatchNorm after its 1x1 convolution."
    return (f"the shortcut is a 1x1 convolution and BatchNorm, nothing else, but yours also "
            f"has {_describe_all([st for st in after if st.kind != 'bn'])}.")


class _Block:
    """A parsed block: main path, shortcut, and what follows the addition."""

    def __init__(self, x, out, main, shortcut, after, add, shortcut_from_main):
        self.x, self.out, self.add = x, out, add
        self.main, self.shortcut, self.after = main, shortcut, after
        self.shortcut_from_main = shortcut_from_main


def _block_graph(x, out, name):
    """The steps from ``x`` to ``out``, once they are built on ``x`` and join by addition."""
    sub = _Subgraph(out, [x])
    mistake = _graph_mistake(sub, name)
    if mistake:
        raise _Mistake(mistake)
    if sub.of_kind("concat"):
        raise _Mistake("use an addition to join the shortcut, not a concatenation: "
                       "layers.Add() keeps the channels, Concatenate stacks them.")
    return sub


def _parse_block(x, out, name, rerun_hint=""):
    """Split the graph from ``x`` to ``out`` into a block, or raise the first _Mistake."""
    sub = _block_graph(x, out, name)
    adds = sub.of_kind("add")
    if not adds:
        merges = sub.of_kind("merge")
        if merges:
            raise _Mistake(f"join the shortcut with an addition (layers.Add), not "
                           f"{merges[0].describe}.")
        raise _Mistake("the shortcut is never added: finish with "
                       "layers.Add()([X, X_shortcut]) and a ReLU.")
    if len(adds) > 1:
        raise _Mistake(f"the block adds the shortcut once, but yours has {len(adds)} "
                       f"additions{rerun_hint}.")
    add = adds[0]
    operands = add.inputs
    if len(operands) != 2:
        raise _Mistake(f"the addition takes two tensors, the main path and the shortcut, "
                       f"but yours adds {len(operands)}.")
    if operands[0] is operands[1]:
        raise _Mistake("the shortcut is never added: both inputs of your addition are the "
                       "same tensor.")
    after, end, _ = _linear_chain(out, add.output)
    if end is not add.output:
        raise _Mistake(f"after the addition comes only a ReLU, but yours has "
                       f"{_describe_all(after) if after else 'more'}.")
    main, shortcut, from_main = _main_and_shortcut(x, operands)
    return _Block(x, out, main, shortcut, after, add, from_main)


def _main_and_shortcut(x, operands):
    """(main path steps, shortcut steps, whether the shortcut leaves from the main path)
    for the two operands of a block's addition: the main path has more convolutions."""
    chains = []
    for operand in operands:
        steps, start, passed = _linear_chain(operand, x)
        if start is not x:
            raise _Mistake("the main path and the shortcut should each be a plain sequence "
                           "of layers from X to the addition.")
        chains.append((steps, passed))
    chains.sort(key=lambda c: (len(_convs(c[0])), len(c[0])), reverse=True)
    (main, main_tensors), (shortcut, shortcut_tensors) = chains
    from_main = any(t is u for t in shortcut_tensors for u in main_tensors)
    return main, shortcut, from_main


def _block_mistake(block, expect):
    relu_after = bool(block.after) and block.after[0].kind == "relu"
    mistake = _main_path_mistake(block.main, expect, relu_after_add=relu_after)
    if mistake:
        return mistake
    mistake = _shortcut_mistake(block.shortcut, block.shortcut_from_main, expect)
    if mistake:
        return mistake
    kinds = [step.kind for step in block.after]
    if kinds == ["relu"]:
        return None
    if not kinds:
        return "no ReLU after the addition: apply Activation('relu') to the sum."
    if kinds[0] == "activation":
        return f"use a ReLU after the addition, not {block.after[0].describe}."
    return f"after the addition comes only a ReLU, but yours has {_describe_all(block.after)}."


def _partial_block_mistake(x, tensors, expect):
    """After a failed call: the first mistake visible in the learner's variables.

    ``tensors`` are (variable name, tensor) pairs. The longest path from X is taken
    for the main path; variables named like a shortcut are checked as the shortcut.
    """
    chains = []
    for name, tensor in tensors:
        steps, start, passed = _linear_chain(tensor, x)
        if start is x:
            chains.append((steps, passed, tensor, name))
    if not chains:
        return None
    chains.sort(key=lambda c: (len(_convs(c[0])), len(c[0])), reverse=True)
    main, main_tensors, main_end, _ = chains[0]
    if len(_convs(main)) != 3:
        return None
    mistake = _main_path_mistake(main, expect)
    if mistake:
        return mistake
    for steps, passed, tensor, name in chains[1:]:
        if tensor is main_end or not any(word in name.lower() for word in ("short", "skip")):
            continue
        from_main = any(t is u for t in passed for u in main_tensors)
        mistake = _shortcut_mistake(steps, from_main, expect)
        if mistake:
            return mistake
    return None


# ---------------------------------------------------------------------------------
# Behaviour: the learner's layers against resnet_lab's, with the same weights.
# ---------------------------------------------------------------------------------


def _copy_conv(source, target):
    target.kernel.assign(keras.ops.convert_to_numpy(source.kernel))
    bias = (keras.ops.convert_to_numpy(source.bias) if source.use_bias
            else np.zeros(target.bias.shape, "float32"))
    target.bias.assign(bias)


def _copy_bn(source, target):
    for attr, default in (("gamma", 1.0), ("beta", 0.0), ("moving_mean", 0.0),
                          ("moving_variance", 1.0)):
        variable = getattr(source, attr, None)
        value = (np.full(getattr(target, attr).shape, default, "float32") if variable is None
                 else keras.ops.convert_to_numpy(variable))
        getattr(target, attr).assign(value)


def _copy_block(block, reference, stage, letter):
    """Give resnet_lab's block ``stage``+``letter`` the learner's weights, role by role."""
    conv, bn = f"res{stage}{letter}_branch", f"bn{stage}{letter}_branch"
    main_convs = _convs(block.main)
    main_bns = [step for step in block.main if step.kind == "bn"]
    for suffix, c, b in zip(("2a", "2b", "2c"), main_convs, main_bns, strict=True):
        _copy_conv(c.op, reference.get_layer(conv + suffix))
        _copy_bn(b.op, reference.get_layer(bn + suffix))
    if _convs(block.shortcut):
        _copy_conv(_convs(block.shortcut)[0].op, reference.get_layer(conv + "1"))
        shortcut_bn = next(step for step in block.shortcut if step.kind == "bn")
        _copy_bn(shortcut_bn.op, reference.get_layer(bn + "1"))


def _same_outputs(learner, reference, x):
    """Whether the two models agree on ``x``, in inference and in training mode."""
    for training in (False, True):
        a = keras.ops.convert_to_numpy(learner(x, training=training))
        b = keras.ops.convert_to_numpy(reference(x, training=training))
        if a.shape != b.shape:
            return False
        if not np.allclose(a, b, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(b).max()))):
            return False
    return True


def _random_input(shape, seed=0):
    return np.random.default_rng(seed).normal(size=(2, *shape)).astype("float32")


# ---------------------------------------------------------------------------------
# The checks' bodies.
# ---------------------------------------------------------------------------------


def _check_skip_connection(skip_connection):
    name = "skip_connection"
    x = keras.Input(shape=(5, 6, 4))
    fx = layers.Conv2D(4, 3, padding="same", name="F")(x)
    try:
        out = _call(skip_connection, name, x, fx)
    except _Failure as failure:
        raise _Mistake(_translate(failure, "skip_connection(x, fx)")) from None
    mistake = _output_mistake(out, name)
    if mistake:
        raise _Mistake(mistake)
    sub = _Subgraph(out, [x, fx])
    mistake = _graph_mistake(sub, name, argument="x and fx")
    if mistake:
        raise _Mistake(mistake)
    if _convs(sub.steps):
        raise _Mistake("skip_connection receives F(x) already computed (fx): add it to x "
                       "without new convolutions.")
    if sub.of_kind("concat"):
        raise _Mistake("use an addition, not a concatenation: layers.Add() keeps the "
                       "channels of x, Concatenate would stack x and F(x) and double them.")
    adds = sub.of_kind("add")
    if not adds:
        raise _Mistake("the shortcut is never added: add x to fx with layers.Add(), then "
                       "apply a ReLU.")
    if len(adds) > 1 or len(adds[0].inputs) != 2:
        raise _Mistake("add x and fx once, with one addition of two tensors.")
    add = adds[0]
    operands = []
    for operand in add.inputs:
        steps, start, _ = _linear_chain(operand, fx)  # stops at fx, or else at x
        operands.append((start, steps))
    starts = sorted("x" if start is x else "fx" for start, _ in operands)
    if starts == ["fx", "fx"]:
        raise _Mistake("add x to F(x): your addition adds fx to itself.")
    if starts == ["x", "x"]:
        raise _Mistake("add F(x) to x: your addition adds x to itself, fx is never used.")
    for start, steps in operands:
        if steps and start is fx and steps[-1].kind == "relu":
            raise _Mistake("apply the ReLU after the addition, not to F(x) before it.")
        if steps and start is x:
            if all(step.kind == "relu" for step in steps):
                raise _Mistake("x must reach the addition unchanged: no ReLU on the shortcut.")
            raise _Mistake(f"x must reach the addition unchanged, but yours passes it through "
                           f"{_describe_all(steps)}.")
        if steps:
            raise _Mistake(f"add fx itself to x, but yours passes it through "
                           f"{_describe_all(steps)} first.")
    after, end, _ = _linear_chain(out, add.output)
    kinds = [step.kind for step in after]
    if end is not add.output or kinds != ["relu"]:
        if not kinds:
            raise _Mistake("no ReLU after the addition: return relu(x + fx).")
        raise _Mistake(f"after the addition comes only a ReLU, but yours has "
                       f"{_describe_all(after)}.")
    model = keras.Model(x, [fx, out])
    images = _random_input((5, 6, 4))
    f_values, outputs = (keras.ops.convert_to_numpy(t) for t in model(images))
    if not np.allclose(outputs, np.maximum(images + f_values, 0), atol=1e-5):
        raise _Mistake("skip_connection has an addition and a ReLU but does not compute "
                       "relu(x + fx): check what each layer is applied to.")


def _check_identity_part(part, X_input, X, f, filters):
    expect = _Expect(f, filters)
    if not _is_keras_tensor(X_input):
        raise _Mistake("X_input should be the block's input, keras.Input(shape=(56, 56, 256)).")
    if not _is_keras_tensor(X):
        raise _Mistake(f"X should be the output of your last layer (a Keras tensor), not "
                       f"{'None' if X is None else 'a ' + type(X).__name__}.")
    if part == 4:
        block = _parse_block(X_input, X, "the block",
                             rerun_hint=": did you run the final step twice? Run the cells "
                                        "again from the first component on")
        mistake = _block_mistake(block, expect)
        if mistake:
            raise _Mistake(mistake)
        if tuple(X.shape) != tuple(X_input.shape):
            raise _Mistake(f"X should have the shape of X_input, {tuple(X_input.shape)}, "
                           f"but has {tuple(X.shape)}.")
        return
    sub = _Subgraph(X, [X_input])
    if sub.foreign_inputs or not sub.reached:
        raise _Mistake("X must be computed from X_input: the first component starts from "
                       "X_input, each later one from the X of the step before.")
    if sub.of_kind("add") or sub.of_kind("concat") or sub.of_kind("merge"):
        raise _Mistake("no addition yet: the shortcut is added in the final step.")
    steps, start, _ = _linear_chain(X, X_input)
    n = len(_convs(steps))
    if n > part:
        raise _Mistake(f"X has gone through {n} convolutions, but after component {part} it "
                       f"should have gone through {part}: did you run a cell twice? Run the "
                       f"cells again from the first component on.")
    if n < part:
        raise _Mistake(f"X has gone through {n} convolution{'s' if n != 1 else ''}, but after "
                       f"component {part} it should have gone through {part}: run the cells "
                       f"of the earlier components first.")
    mistake = _main_path_mistake(steps, expect, n_convs=part)
    if mistake:
        raise _Mistake(mistake)


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
    try:
        out = _call(fn, name, x, f, filters, stage, block, **kwargs)
    except _Failure as failure:
        out = None
        if None in shape:
            x = keras.Input(shape=(8, 8, shape[-1]))
            try:
                out = _call(fn, name, x, f, filters, stage, block, **kwargs)
            except _Failure:
                pass
        if out is None:
            expect = _Expect(f, filters, s, projection)
            mistake = _partial_block_mistake(first_x, failure.local_tensors, expect)
            raise _Mistake(mistake or _translate(failure, call)) from None
    mistake = _output_mistake(out, name)
    if mistake:
        raise _Mistake(mistake)
    return x, out


def _check_block(fn, projection):
    name = "convolutional_block" if projection else "identity_block"
    for shape, f, filters, stage, letter, s in BLOCK_CASES[projection]:
        x, out = _build_block(fn, name, projection, shape, f, filters, stage, letter, s)
        block = _parse_block(x, out, name)
        mistake = _block_mistake(block, _Expect(f, filters, s, projection))
        if mistake:
            raise _Mistake(mistake)

    # Behaviour, on the first case's arguments and a fixed input size.
    _, f, filters, stage, letter, s = BLOCK_CASES[projection][0]
    shape = BEHAVIOUR_INPUT[projection]
    x, out = _build_block(fn, name, projection, shape, f, filters, stage, letter, s)
    reference_fn = blocks.convolutional_block if projection else blocks.identity_block
    x_ref = keras.Input(shape=shape)
    kwargs = {"s": s} if projection else {}
    reference = keras.Model(x_ref, reference_fn(x_ref, f, filters, stage, letter, **kwargs))
    if tuple(out.shape) != tuple(reference.output.shape):
        raise _Mistake(f"{name} should return a tensor of shape {tuple(reference.output.shape)} "
                       f"for an input of shape {(None, *shape)}, but yours has shape "
                       f"{tuple(out.shape)}.")
    learner = keras.Model(x, out)
    randomize_weights(learner, seed=1)
    _copy_block(_parse_block(x, out, name), reference, stage, letter)
    formula = "relu(F(X) + P(X))" if projection else "relu(F(X) + X)"
    if not _same_outputs(learner, reference, _random_input(shape)):
        raise _Mistake(f"{name} has the right layers but does not compute {formula}: check "
                       f"what each layer is applied to and any unusual layer settings.")


# ---------------------------------------------------------------------------------
# Stages: a convolutional block, then identity blocks.
# ---------------------------------------------------------------------------------


def _parse_chain_of_blocks(x, out, name):
    """The blocks from ``x`` to ``out``, first to last; each ends with add + ReLU."""
    sub = _Subgraph(out, [x])
    mistake = _graph_mistake(sub, name, per_block=True)
    if mistake:
        raise _Mistake(mistake)
    found = []
    tensor = out
    while tensor is not x:
        after, end, _ = _linear_chain(tensor, x)
        op, _ = _history(end)
        if end is x or type(op).__name__ != "Add":
            raise _Mistake(f"{name} should be a chain of blocks, each ending with an addition "
                           f"and a ReLU, but yours has {_describe_all(after)} where a block "
                           f"should end.")
        operands = _steps_of(end)[0].inputs
        if len(operands) != 2:
            raise _Mistake("each block adds two tensors, its main path and its shortcut.")
        walks = []
        for operand in operands:
            _, start, passed = _linear_chain(operand, x)
            walks.append([*passed, start])
        start = next((t for t in walks[1] if any(t is u for u in walks[0])), None)
        if start is None:
            raise _Mistake(f"{name} should be a chain of blocks: each block's main path and "
                           f"shortcut start from the previous block's output.")
        block = _parse_block(start, tensor, name)
        found.append(block)
        tensor = start
    return found[::-1]


def _block_letters(block):
    """(stage, letter) from the names of a block's layers, if they follow res{stage}{letter}_."""
    conv = _convs(block.main)[0].op.name if _convs(block.main) else ""
    match = re.match(r"^res(\d+)([a-z]+)_", conv)
    return (int(match.group(1)), match.group(2)) if match else None


STAGE_CASES = [  # (input shape, f, filters, stage, blocks, s)
    ((None, None, 8), 3, [2, 3, 8], 3, 3, 2),
    ((None, None, 8), 3, [2, 3, 8], 2, 2, 1),
]
STAGE_BEHAVIOUR_INPUT = (9, 9, 5)


def _stage_mistake(found, f, filters, stage, n_blocks, s, name="the stage"):
    if not found:
        return f"{name} has no blocks."
    if _convs(found[0].shortcut) == []:
        return ("a stage starts with a convolutional block (stride s), then identity blocks; "
                "yours starts with an identity block.")
    for i, block in enumerate(found[1:], start=2):
        if _convs(block.shortcut):
            return (f"only the first block of a stage is a convolutional block: block {i} "
                    f"should be an identity block.")
    if len(found) > n_blocks:
        return (f"a stage with blocks={n_blocks} has {n_blocks} blocks in all, the "
                f"convolutional block included, but yours has {len(found)}.")
    if len(found) < n_blocks:
        return (f"a stage with blocks={n_blocks} has {n_blocks} blocks in all, the "
                f"convolutional block included, but yours chains only {len(found)}: each "
                f"block must take the previous block's output.")
    first_stride = tuple(_convs(found[0].shortcut)[0].op.strides)[0]
    if first_stride != s:
        return (f"pass the stage's stride to its convolutional block (s=s): with s={s} your "
                f"convolutional block has stride {first_stride}.")
    for i, block in enumerate(found):
        expect = _Expect(f, filters, s if i == 0 else 1, projection=i == 0)
        mistake = _block_mistake(block, expect)
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
        out = _call(fn, name, x, f, filters, stage, n_blocks, s)
    except _Failure as failure:
        raise _Mistake(_translate(failure, call)) from None
    mistake = _output_mistake(out, name)
    if mistake:
        raise _Mistake(mistake)
    return x, out


def _check_resnet_stage(fn):
    name = "resnet_stage"
    for shape, f, filters, stage, n_blocks, s in STAGE_CASES:
        x, out = _build_stage(fn, name, shape, f, filters, stage, n_blocks, s)
        found = _parse_chain_of_blocks(x, out, name)
        mistake = _stage_mistake(found, f, filters, stage, n_blocks, s)
        if mistake:
            raise _Mistake(mistake)

    _, f, filters, stage, n_blocks, s = STAGE_CASES[0]
    shape = STAGE_BEHAVIOUR_INPUT
    x, out = _build_stage(fn, name, shape, f, filters, stage, n_blocks, s)
    x_ref = keras.Input(shape=shape)
    reference = keras.Model(x_ref, models.resnet_stage(x_ref, f, filters, stage, n_blocks, s))
    if tuple(out.shape) != tuple(reference.output.shape):
        raise _Mistake(f"{name} should return a tensor of shape {tuple(reference.output.shape)} "
                       f"here, but yours has shape {tuple(out.shape)}.")
    learner = keras.Model(x, out)
    randomize_weights(learner, seed=1)
    for i, block in enumerate(_parse_chain_of_blocks(x, out, name)):
        _copy_block(block, reference, stage, string.ascii_lowercase[i])
    if not _same_outputs(learner, reference, _random_input(shape)):
        raise _Mistake(f"{name} has the right blocks but its output differs from resnet_lab's "
                       f"stage with the same weights: check what each block is applied to.")


def _check_resnet50_stages(fn):
    name = "resnet50_stages"
    x = keras.Input(shape=(None, None, 64))
    try:
        out = _call(fn, name, x)
    except _Failure as failure:
        raise _Mistake(_translate(failure, f"{name}(X)")) from None
    mistake = _output_mistake(out, name)
    if mistake:
        raise _Mistake(mistake)
    found = _parse_chain_of_blocks(x, out, name)
    starts = [i for i, block in enumerate(found) if _convs(block.shortcut)]
    if len(starts) != len(models.RESNET50_STAGES) or starts[:1] != [0]:
        raise _Mistake(f"ResNet-50 has {len(models.RESNET50_STAGES)} stages, each starting with "
                       f"a convolutional block, but yours has {len(starts)} convolutional "
                       f"blocks{' and does not start with one' if starts[:1] != [0] else ''}.")
    bounds = starts + [len(found)]
    for i, (stage, filters, n_blocks, s) in enumerate(models.RESNET50_STAGES):
        stage_blocks = found[bounds[i]:bounds[i + 1]]
        if len(stage_blocks) != n_blocks:
            raise _Mistake(f"stage {stage} of ResNet-50 has {n_blocks} blocks, but yours has "
                           f"{len(stage_blocks)}: use the stages of RESNET50_STAGES in order.")
        conv = _convs(stage_blocks[0].main)
        kernel = tuple(conv[1].op.kernel_size) if len(conv) == 3 else None
        if kernel != (3, 3):
            raise _Mistake(f"every block of ResNet-50 has a 3x3 middle convolution (f=3), but "
                           f"stage {stage}'s has {kernel and _kernel_text(kernel)}.")
        mistake = _stage_mistake(stage_blocks, 3, list(filters), stage, n_blocks, s,
                                 name=f"stage {stage}")
        if mistake:
            raise _Mistake(f"stage {stage}: {mistake}")



# ---------------------------------------------------------------------------------
# Lesson 5: the augmentation, judged by what it does to test images.
# ---------------------------------------------------------------------------------

AUGMENT_SIZE = 32  # test images of 32x32 pixels: 10% is 3.2 pixels
AUGMENT_BATCH = 16  # copies of the test image per call; each gets its own flip and shift
AUGMENT_CALLS = 4
AUGMENT_SEED = 7
MAX_SHIFT = 0.1  # of the height and of the width
MATCH_TOLERANCE = 2.0  # mean absolute difference, on pixel values between 60 and 220


def _test_profiles(size=AUGMENT_SIZE):
    """Two lopsided profiles: neither looks like a shifted copy of its mirror image."""
    x = np.arange(size) / size
    across = 60 + 100 * np.exp(-((x - 0.3) / 0.12) ** 2) + 60 * x
    down = 60 + 100 * np.exp(-((x - 0.65) / 0.1) ** 2) + 50 * (1 - x)
    return across.astype("float32"), down.astype("float32")


def _test_images():
    """A batch of one test image whose channel 0 varies only across, channel 1 only down.

    Flips and shifts keep that apart: the rows of channel 0 show the horizontal flip and
    shift, the columns of channel 1 the vertical ones. Anything else (a rotation, a zoom,
    other pixel values) breaks it.
    """
    across, down = _test_profiles()
    image = np.stack([np.broadcast_to(across[None, :], (AUGMENT_SIZE,) * 2),
                      np.broadcast_to(down[:, None], (AUGMENT_SIZE,) * 2),
                      (across[None, :] + down[:, None]) / 2], axis=-1)
    return np.repeat(image[None], AUGMENT_BATCH, axis=0).astype("float32")


def _match_profiles(profiles, reference):
    """For each profile, the flip and shift of ``reference`` that best explain it.

    Shifts are tried every 0.05 pixel, with linear interpolation, comparing only the
    pixels that come from inside the image (whatever fills the borders). Returns
    (mean absolute difference, flipped, shift in pixels), one value per profile.
    """
    size = len(reference)
    x = np.arange(size)
    shifts = np.arange(-0.6 * size, 0.6 * size + 1e-6, 0.05)
    source = x[None, :] - shifts[:, None]
    inside = (source >= 0) & (source <= size - 1)
    enough = inside.sum(1) >= size // 3
    errors = []
    for ref in (reference, reference[::-1]):
        candidates = np.interp(source, x, ref)
        diff = np.abs(profiles[:, None, :] - candidates[None]) * inside[None]
        error = diff.sum(-1) / np.maximum(inside.sum(1), 1)
        errors.append(np.where(enough[None], error, np.inf))
    errors = np.concatenate(errors, axis=1)
    best = errors.argmin(1)
    flipped, index = np.divmod(best, len(shifts))
    return errors[np.arange(len(profiles)), best], flipped.astype(bool), shifts[index]


def _make_augmentation(fn, seed):
    name = "make_augmentation"
    if isinstance(fn, layers.Layer):
        raise _Mistake(f"pass your function itself to the check, check_augmentation({name}), "
                       f"not the model it returns.")
    try:
        augment = _call(fn, name, seed)
    except _Failure as failure:
        raise _Mistake(_translate(failure, f"{name}({seed})")) from None
    if augment is None:
        raise _Mistake(f"{name} returned None: did you forget to return the model?")
    if isinstance(augment, (list, tuple)):
        raise _Mistake(f"{name} should return one model, not a {type(augment).__name__} of "
                       f"layers: wrap them in keras.Sequential([...]).")
    if not isinstance(augment, layers.Layer):
        raise _Mistake(f"{name} should return a Keras model of preprocessing layers "
                       f"(keras.Sequential([...])), not a {type(augment).__name__}.")
    return augment


def _augment(augment, images, training):
    """The augmented images, as a NumPy array of the input's shape."""
    call = (f"your augmentation, called on {len(images)} images of {AUGMENT_SIZE}x"
            f"{AUGMENT_SIZE}x3 with training={training},")
    try:
        out = augment(images, training=training)
    except Exception as error:  # the learner's layers may raise anything
        raise _Mistake(_translate(_Failure(error, []), call)) from None
    if isinstance(out, (list, tuple, dict)) or out is None:
        raise _Mistake(f"your augmentation should return a batch of images, not "
                       f"{'None' if out is None else 'a ' + type(out).__name__}.")
    out = np.asarray(keras.ops.convert_to_numpy(out), dtype="float32")
    if out.shape != images.shape:
        raise _Mistake(f"the augmentation must keep the image size: a batch of shape "
                       f"{images.shape} comes out with shape {out.shape}"
                       f"{' in training mode' if training else ''}.")
    return out


def _same(a, b):
    return np.allclose(a, b, rtol=0, atol=0.01)


def _inference_mistake(out, images):
    if _same(out, images):
        return None
    scale, offset = np.polyfit(images.ravel(), out.ravel(), 1)
    if _same(out, scale * images + offset):
        return ("your augmentation rescales the pixel values: leave them in [0, 255], the "
                "model rescales its input itself.")
    return ("in inference mode the augmentation must leave images unchanged: use Keras' "
            "Random* layers, which only act when training.")


def _check_augmentation(fn):
    images = _test_images()
    augment = _make_augmentation(fn, AUGMENT_SEED)
    mistake = _inference_mistake(_augment(augment, images, training=False), images)
    if mistake:
        raise _Mistake(mistake)
    outs = [_augment(augment, images, training=True) for _ in range(AUGMENT_CALLS)]
    if all(_same(out, images) for out in outs):
        raise _Mistake("in training mode your augmentation leaves the images unchanged: it "
                       "should flip and shift them at random.")
    if all(_same(out, outs[0]) for out in outs[1:]):
        raise _Mistake("your augmentation changes the images the same way at every call: each "
                       "epoch should bring new random flips and shifts (use Keras' Random* "
                       "layers).")
    out = np.concatenate(outs)
    if out.min() < 0.5 * images.min():
        raise _Mistake("the shifted images have black borders: fill them by reflection, "
                       "RandomTranslation(..., fill_mode='reflect').")

    # Channel 0 varies only across the image, channel 1 only down.
    across, down = _test_profiles()
    spread = np.maximum(
        np.abs(out[..., 0] - out[..., 0].mean(1, keepdims=True)).max((1, 2)),
        np.abs(out[..., 1] - out[..., 1].mean(2, keepdims=True)).max((1, 2)))
    error_x, flipped_x, shift_x = _match_profiles(out[..., 0].mean(1), across)
    error_y, flipped_y, shift_y = _match_profiles(out[..., 1].mean(2), down)
    explained = (spread < MATCH_TOLERANCE) & (error_x < MATCH_TOLERANCE) & (
        error_y < MATCH_TOLERANCE)
    bound = MAX_SHIFT * AUGMENT_SIZE
    largest = [np.abs(shift[explained]).max(initial=0) for shift in (shift_x, shift_y)]
    if max(largest) > bound + 0.5:
        raise _Mistake("the shifts are larger than 10% of the image: use "
                       "RandomTranslation(0.1, 0.1), fractions of the height and width.")
    if not explained.all():
        raise _Mistake("your augmentation does more than flip and shift the images (a "
                       "rotation, a zoom, other colours?): keep only RandomFlip and "
                       "RandomTranslation.")
    if flipped_y.any():
        if not flipped_x.any():
            raise _Mistake("images are flipped upside down instead of left to right: use "
                           "RandomFlip('horizontal'), not 'vertical'.")
        raise _Mistake("images are also flipped upside down: use RandomFlip('horizontal'), "
                       "not 'horizontal_and_vertical'.")
    if not flipped_x.any():
        raise _Mistake("no horizontal flips: add layers.RandomFlip('horizontal').")
    if flipped_x.all():
        raise _Mistake("every image is flipped: RandomFlip('horizontal') flips each image or "
                       "not, at random.")
    moved = [size > 0.25 for size in largest]
    if not any(moved):
        raise _Mistake("no shifts: add layers.RandomTranslation(0.1, 0.1, "
                       "fill_mode='reflect').")
    if not all(moved):
        which = "up and down but not sideways" if moved[1] else "sideways but not up and down"
        raise _Mistake(f"the images are shifted {which}: RandomTranslation(0.1, 0.1) shifts "
                       f"by up to 10% of the height and of the width.")
    if min(largest) < 0.6 * bound:
        raise _Mistake("the shifts are smaller than 10% of the image: use "
                       "RandomTranslation(0.1, 0.1).")

    # A seed makes the run reproducible: the same seed, the same images.
    again = _augment(_make_augmentation(fn, AUGMENT_SEED), images, training=True)
    if not _same(again, outs[0]):
        raise _Mistake(f"make_augmentation({AUGMENT_SEED}) gives other images every time: "
                       f"pass the seed to the random layers (seed=seed).")
    other = _augment(_make_augmentation(fn, AUGMENT_SEED + 1), images, training=True)
    if _same(other, outs[0]):
        raise _Mistake("make_augmentation gives the same images whatever the seed: pass its "
                       "seed argument to the random layers, not a number of your own.")


# ---------------------------------------------------------------------------------
# Lesson 7: a frozen base and a new classifier, judged by what trains and what it computes.
# ---------------------------------------------------------------------------------

TRANSFER_CLASSES = 3


def _small_base():
    """A small stand-in for a pretrained base: raw pixels in, a 4x4x10 feature map out."""
    images = keras.Input(shape=(8, 8, 3), name="images")
    x = layers.Rescaling(1 / 127.5, offset=-1)(images)
    x = layers.Conv2D(6, 3, padding="same", name="conv1")(x)
    x = layers.BatchNormalization(name="bn_conv1")(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(10, 3, strides=2, padding="same", name="res5a_branch2a")(x)
    x = layers.BatchNormalization(name="bn5a_branch2a")(x)
    features = layers.Activation("relu", name="res5a_relu")(x)
    base = keras.Model(images, features, name="small_base")
    randomize_weights(base, seed=3)
    return base


def _check_transfer_model(fn):
    name = "build_transfer_model"
    if isinstance(fn, keras.Model):
        raise _Mistake(f"pass your function itself to the check, check_transfer_model({name}), "
                       f"not the model it returns.")
    base = _small_base()
    try:
        model = _call(fn, name, base, TRANSFER_CLASSES)
    except _Failure as failure:
        raise _Mistake(_translate(failure, f"{name}(base, {TRANSFER_CLASSES})")) from None
    if model is None:
        raise _Mistake(f"{name} returned None: did you forget to return the model?")
    if not isinstance(model, keras.Model):
        raise _Mistake(f"{name} should return a keras.Model (keras.Model(inputs, outputs)), "
                       f"not a {type(model).__name__}.")
    own = {id(w) for w in model.weights}
    if not all(id(w) in own for w in base.weights):
        raise _Mistake("your model does not use the base it was given: call base(...) on the "
                       "model's input; do not build or copy a network of your own.")
    trainable = {id(w) for w in model.trainable_weights}
    if any(id(w) in trainable for w in base.weights):
        raise _Mistake("the base is not frozen: set base.trainable = False before building "
                       "the model, so that training changes only the new classifier.")
    if not trainable:
        raise _Mistake("nothing in your model trains: freeze only the base, not the new "
                       "classifier (did you set trainable = False on the whole model?).")

    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    try:
        out = keras.ops.convert_to_numpy(model(images, training=False))
    except Exception as error:  # the learner's model may raise anything
        raise _Mistake(_translate(_Failure(error, []), "your model, called on 4 images of "
                                                       "8x8x3,")) from None
    if out.shape != (4, TRANSFER_CLASSES):
        raise _Mistake(f"the model should give one probability per class, shape (batch, "
                       f"{TRANSFER_CLASSES}) for {TRANSFER_CLASSES} classes; it gives "
                       f"{out.shape}.")
    if out.min() < 0 or not np.allclose(out.sum(1), 1, atol=1e-3):
        raise _Mistake("the outputs are not probabilities: end with Dense(num_classes, "
                       "activation='softmax').")

    features = keras.ops.convert_to_numpy(base(images, training=False))
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    shape = ("the new classifier should be GlobalAveragePooling2D, then (if you like) "
             "Dropout, then one Dense(num_classes, activation='softmax'), on the output of "
             "the base.")
    if len(dense) != 1:
        raise _Mistake(shape)
    kernel = dense[0].kernel.shape
    channels = features.shape[-1]
    if kernel[0] != channels:
        raise _Mistake(f"pool the base's feature map with GlobalAveragePooling2D before the "
                       f"Dense layer: the Dense layer should see the base's {channels} "
                       f"channels, not {kernel[0]} values.")

    def classified(pooled):
        logits = pooled @ keras.ops.convert_to_numpy(dense[0].kernel)
        if dense[0].bias is not None:
            logits = logits + keras.ops.convert_to_numpy(dense[0].bias)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    if not np.allclose(out, classified(features.mean((1, 2))), atol=1e-4):
        if np.allclose(out, classified(features.max((1, 2))), atol=1e-4):
            raise _Mistake("use GlobalAveragePooling2D (each channel's average), not max "
                           "pooling.")
        raise _Mistake(shape)


# ---------------------------------------------------------------------------------
# Lesson 8: the pre-activation bottleneck (ResNet v2).
# ---------------------------------------------------------------------------------

# (input shape, f, filters, stage, block, s, projection): the kinds of block ResNet50V2
# uses (projection with stride 1, identity, identity with stride 2) and one more.
PREACT_CASES = [
    ((None, None, 12), 3, [4, 6, 12], 2, "b", 1, False),
    ((None, None, 8), 3, [4, 4, 16], 3, "a", 1, True),
    ((None, None, 12), 3, [3, 5, 12], 2, "c", 2, False),
    ((None, None, 7), 5, [3, 2, 10], 4, "a", 2, True),
]
PREACT_BEHAVIOUR_SIZE = (9, 8)  # odd and even: a stride of 2 must round the same way


def check_preactivation_block(preactivation_block):
    """Lesson 8: ``preactivation_block(X, f, filters, stage, block, s=1, projection=False)``,
    the bottleneck of ResNet v2 as keras.applications' ResNet50V2 builds it."""
    try:
        _check_preactivation_block(preactivation_block)
    except _Mistake as mistake:
        raise AssertionError(str(mistake)) from None
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
        out = _call(fn, name, x, f, filters, stage, block, s=s, projection=projection)
    except _Failure as failure:
        call = _preact_call_text(f, filters, stage, block, s, projection)
        raise _Mistake(_translate(failure, call)) from None
    mistake = _output_mistake(out, name)
    if mistake:
        raise _Mistake(mistake)
    return x, out


def _preact_parts(x, out):
    """(main path steps, shortcut steps, whether the shortcut leaves from the main path)."""
    sub = _block_graph(x, out, "preactivation_block")
    adds = sub.of_kind("add")
    if len(adds) != 1:
        raise _Mistake("the block adds the shortcut to the main path once, with layers.Add(); "
                       f"yours has {len(adds)} additions.")
    after, end, _ = _linear_chain(out, adds[0].output)
    if after:
        raise _Mistake(f"nothing comes after the addition in a pre-activation block (the "
                       f"next block's BatchNorm and ReLU follow it), but yours has "
                       f"{_describe_all(after)}.")
    return _main_and_shortcut(x, adds[0].inputs)


def _preact_main_mistake(main, f, filters, s):
    convs = _convs(main)
    if main and main[0].kind == "conv":
        return ("a pre-activation block starts with BatchNorm and ReLU, before its first "
                "convolution; yours starts with the convolution, as v1 does.")
    if len(convs) != 3:
        return (f"the main path has three convolutions (1x1, {f}x{f}, 1x1), but yours has "
                f"{len(convs)}.")
    kernels = ((1, 1), (f, f), (1, 1))
    for role, conv, kernel, n in zip(ROLES, convs, kernels, filters, strict=True):
        if tuple(conv.op.kernel_size) != kernel:
            return (f"{role} should have a {_kernel_text(kernel)} kernel, not "
                    f"{_kernel_text(conv.op.kernel_size)}.")
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
                    f"{_describe_all([st for st in segment if not _is_padding(st)])}.")
    mistake = _batchnorm_mistake(main)
    if mistake:
        return mistake
    tail = main[main.index(convs[2]) + 1:]
    if tail:
        return (f"the last 1x1 convolution goes straight to the addition in v2 (the next "
                f"block's pre-activation normalises the sum), but yours adds "
                f"{_describe_all(tail)}.")
    middle = convs[1].op
    if s > 1 and middle.padding == "same":
        return ("pad explicitly before the strided middle convolution: ZeroPadding2D(f // 2) "
                "and padding='valid' (keras.applications' layout); with padding='same' and "
                "stride 2 Keras pads only after the image, which shifts every output pixel.")
    if convs[0].op.use_bias or middle.use_bias:
        return ("the first two convolutions have no bias (use_bias=False): BatchNorm follows "
                "each, and its beta does that job.")
    if not convs[2].op.use_bias:
        return "the last 1x1 convolution keeps its bias: no BatchNorm follows it."
    return None


def _is_padding(step):
    return isinstance(step.op, layers.ZeroPadding2D)


def _preact_shortcut_mistake(shortcut, from_main, F3, s, projection):
    convs = _convs(shortcut)
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
                    f"{_describe_all(extra)}.")
        return None
    if from_main:
        return ("without a projection the shortcut is X itself, not its pre-activation: the "
                "sum must carry X unchanged.")
    if convs:
        return "with projection=False the shortcut has no convolution."
    if s == 1 and shortcut:
        return (f"with s=1 and no projection the shortcut is X itself, but yours passes it "
                f"through {_describe_all(shortcut)}.")
    pools = [step.op for step in shortcut
             if isinstance(step.op, (layers.MaxPooling2D, layers.AveragePooling2D))]
    if any(tuple(pool.pool_size) != (1, 1) for pool in pools):
        return ("keep every s-th pixel of X on the shortcut with MaxPooling2D(1, strides=s) "
                "(keras.applications' v2): a window of more than one pixel mixes "
                "neighbouring pixels, which is ResNet-D's shortcut, not v2's.")
    return None


def _copy_preact(learner, reference, stage, block):
    """Give resnet_lab's preactivation_block the learner's weights, role by role."""
    main, shortcut, _ = _preact_parts(learner.inputs[0], learner.outputs[0])
    convs = _convs(main)
    bns = [step for step in main if step.kind == "bn"]
    conv, bn = f"res{stage}{block}_branch", f"bn{stage}{block}_branch"
    for suffix, c in zip(("2a", "2b", "2c"), convs, strict=True):
        _assign_conv(c.op, reference.get_layer(conv + suffix))
    for name, b in zip((f"bn{stage}{block}_preact", bn + "2a", bn + "2b"), bns, strict=True):
        _copy_bn(b.op, reference.get_layer(name))
    if _convs(shortcut):
        _assign_conv(_convs(shortcut)[0].op, reference.get_layer(conv + "1"))


def _assign_conv(source, target):
    target.kernel.assign(keras.ops.convert_to_numpy(source.kernel))
    if target.use_bias:
        _copy_conv(source, target)


def _check_preactivation_block(fn):
    for shape, f, filters, stage, block, s, projection in PREACT_CASES:
        x, out = _build_preact(fn, shape, f, filters, stage, block, s, projection)
        main, shortcut, from_main = _preact_parts(x, out)
        mistake = (_preact_main_mistake(main, f, filters, s)
                   or _preact_shortcut_mistake(shortcut, from_main, filters[2], s, projection))
        if mistake:
            raise _Mistake(mistake)

    for shape, f, filters, stage, block, s, projection in PREACT_CASES:
        shape = (*PREACT_BEHAVIOUR_SIZE, shape[-1])
        x, out = _build_preact(fn, shape, f, filters, stage, block, s, projection)
        x_ref = keras.Input(shape=shape)
        reference = keras.Model(x_ref, blocks.preactivation_block(
            x_ref, f, filters, stage, block, s=s, projection=projection))
        call = _preact_call_text(f, filters, stage, block, s, projection)
        if tuple(out.shape) != tuple(reference.output.shape):
            raise _Mistake(f"{call} should return a tensor of shape "
                           f"{tuple(reference.output.shape)} for an input of shape "
                           f"{(None, *shape)}, but yours has shape {tuple(out.shape)}.")
        learner = keras.Model(x, out)
        randomize_weights(learner, seed=1)
        _copy_preact(learner, reference, stage, block)
        if not _same_outputs(learner, reference, _random_input(shape)):
            raise _Mistake(f"{call} has the right layers but does not compute X + F(X) "
                           f"(or P(X) + F(X)): check what each layer is applied to, the "
                           f"shortcut's subsampling and any unusual layer settings.")
