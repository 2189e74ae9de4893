"""Running the learner's code, and telling the learner's mistakes from the checks' own.

A check calls the learner's function with ``call_learner``: an exception raised by the
learner's code comes back as a ``Failure`` (with the Keras tensors among the learner's
variables at that moment), and ``translate`` words it in one sentence; a function left
as the exercise's placeholder, or one that calls resnet_lab's own answer, is a
``Mistake`` right away. A ``Mistake`` is one sentence for the learner, and
``learner_check`` turns it into the ``AssertionError`` the learner sees.
"""

import functools
import linecache
import random
import sys

import numpy as np

from resnet_lab import augment, blocks, family, models, transfer
from resnet_lab.checks.feedback import feedback
from resnet_lab.checks.graph import is_keras_tensor

NOT_WRITTEN = (
    "{name} is not written yet: replace '# YOUR CODE HERE' and "
    "'raise NotImplementedError()' with your code."
)


class Mistake(Exception):
    """A mistake in the learner's code, described in one sentence (or two steps, see
    ``with_fix``)."""


def learner_check(check=None, *, keep_random_state=False):
    """Make ``check`` one of the checks learners call.

    A ``Mistake`` that ``check`` raises reaches the learner as an ``AssertionError``
    with its one sentence, and without the checks' own traceback (a two-step mistake,
    ``with_fix``, shows its symptom first and its exact fix when it comes back, or at
    once when the learner calls the check with ``explain=True``); anything else, a
    wrong argument to the check itself say, passes through unchanged. ``check`` prints
    its own line when everything passed.

    With ``keep_random_state=True`` the check leaves Python's and NumPy's random state
    as it found them, whether it passes or not: unseeded Keras layers draw their seeds
    from Python's random module, and this way the rest of the lesson computes the same
    whatever was checked. Use it as ``@learner_check`` or
    ``@learner_check(keep_random_state=True)``.
    """
    if check is None:
        return functools.partial(learner_check, keep_random_state=keep_random_state)

    @functools.wraps(check)
    def checked(*args, explain=False, **kwargs):
        __tracebackhide__ = True  # IPython and pytest leave this frame out of tracebacks
        state = (random.getstate(), np.random.get_state()) if keep_random_state else None
        try:
            return check(*args, **kwargs)
        except Mistake as mistake:
            _fail(feedback(check.__name__, str(mistake), explain))
        finally:
            if state is not None:
                random.setstate(state[0])
                np.random.set_state(state[1])

    return checked


# The learner's traceback ends in this two-line function, compiled under a name that is
# no path: after their own cell it shows "<resnet_lab check>" and the sentence, never a
# file of the machine that ran the check (a grader's, in feedback).
_FAIL_SOURCE = "def fail(message):\n    raise AssertionError(message) from None\n"
linecache.cache["<resnet_lab check>"] = (len(_FAIL_SOURCE), None,
                                         _FAIL_SOURCE.splitlines(True), "<resnet_lab check>")
_namespace = {}
exec(compile(_FAIL_SOURCE, "<resnet_lab check>", "exec"), _namespace)
_fail = _namespace["fail"]


class Failure(Exception):
    """The learner's function raised ``error``; ``local_tensors`` are its tensors then."""

    def __init__(self, error, local_tensors):
        super().__init__(str(error))
        self.error = error
        self.local_tensors = local_tensors


def references(name):
    """resnet_lab's own code that the exercise ``name`` asks the learner to write: what
    their function must not call."""
    networks = [models.resnet_v1_stages, models.ResNet50, models.ResNet101, models.ResNet152]
    stages_and_up = [models.resnet_stage, *networks]
    blocks_and_up = [blocks.identity_block, blocks.convolutional_block,
                     family.bottleneck_block, *stages_and_up]
    return {
        "identity_block": blocks_and_up,
        "convolutional_block": blocks_and_up,
        "resnet_stage": stages_and_up,
        "resnet50_stages": networks,  # built from the learner's own resnet_stage
        "make_augmentation": [augment.RandomCropFlip.__init__, augment.augmentation],
        "build_transfer_model": [transfer.transfer_model],
        "basic_block": [family.basic_block, models.basic_block, family.ResNet18,
                        family.ResNet34, models.cifar_resnet],
        "option_a_shortcut": [models.pad_shortcut, models.basic_block, models.cifar_resnet],
        "freeze_up_to": [transfer.freeze_up_to],
        "stem": networks,
        "preactivation_block": [blocks.preactivation_block, models.ResNet50V2,
                                models.ResNet101V2, models.ResNet152V2,
                                models.resnet_v2_stages],
    }.get(name, [])


def call_learner(fn, name, *args, local_tensors=None, **kwargs):
    """``fn(*args, **kwargs)``. With a list as ``local_tensors``, it receives the
    (variable name, tensor) pairs of the Keras tensors among ``fn``'s local variables
    when it returned: what the learner computed, whether or not it was returned."""
    if not callable(fn):
        raise Mistake(f"pass your function itself to the check, not {type(fn).__name__}.")
    watched = {id(ref.__code__): ref for ref in references(name)}
    used = []
    code = getattr(fn, "__code__", None)

    def watch(frame, event, arg):  # every Python call the learner's function makes
        ref = watched.get(id(frame.f_code)) if event == "call" else None
        if ref is not None and ref.__code__ is frame.f_code and not used:
            used.append(ref)
        if event == "return" and frame.f_code is code and local_tensors is not None:
            local_tensors[:] = _tensors_among(frame.f_locals)

    previous = sys.getprofile()
    sys.setprofile(watch if watched or local_tensors is not None else previous)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        if not _raised_by_a_library(error):  # the placeholder, not Keras refusing a value
            raise Mistake(NOT_WRITTEN.format(name=name)) from None
        raise Failure(error, _local_tensors(error, fn)) from None
    except Exception as error:  # the learner's code may raise anything
        raise Failure(error, _local_tensors(error, fn)) from None
    finally:
        sys.setprofile(previous)
        if used:  # whatever happened, copying the answer is the mistake to name
            ref = used[0]
            qualname = ref.__qualname__.removesuffix(".__init__")
            raise Mistake(f"{name} uses resnet_lab's own {qualname}: the exercise is to "
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
    return _tensors_among(frames[-1].f_locals if frames else {})


def _tensors_among(variables):
    tensors = []  # (variable name, tensor)
    for name, value in variables.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        tensors.extend((name, v) for v in values if is_keras_tensor(v))
    return tensors


def translate(failure, call):
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
    return (bool(last) and last.startswith("resnet_lab.") and last != __package__
            and not last.startswith(__package__ + "."))
