"""Lesson 3, going further: the paper's option A, a shortcut without weights.

Where the shape changes, option A keeps every s-th pixel of X and pads the new channels
with zeros (He et al. 2015, section 3.3; the CIFAR networks of lesson 6 use it). There
is no graph to compare with one right answer here (slicing, pooling with a 1x1 window,
``keras.ops.pad`` or ZeroPadding3D all do it), so the check judges what comes out: no
weights, the shape, and the values on a random input, wherever the zeros are put.
"""

import keras
import numpy as np

from resnet_lab.checks.feedback import with_fix
from resnet_lab.checks.graph import output_mistake
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate

OPTION_A_CASES = [((9, 8, 3), 8, 2), ((7, 7, 4), 10, 2), ((6, 5, 4), 4, 1), ((6, 6, 2), 6, 3)]


@learner_check(keep_random_state=True)
def check_option_a_shortcut(option_a_shortcut):
    """Lesson 3, going further: ``option_a_shortcut(X, channels, s)``."""
    name = "option_a_shortcut"
    rng = np.random.default_rng(0)
    for shape, channels, s in OPTION_A_CASES:
        call = f"{name}(X, {channels}, {s}) on X of shape {(None, *shape)}"
        x = keras.Input(shape=shape)
        try:
            out = call_learner(option_a_shortcut, name, x, channels, s)
        except Failure as failure:
            raise Mistake(translate(failure, f"{name}(X, {channels}, {s})")) from None
        mistake = output_mistake(out, name)
        if mistake:
            raise Mistake(mistake)
        model = keras.Model(x, out)
        if model.count_params():
            raise Mistake(with_fix(f"your shortcut has {model.count_params()} weights, but "
                                   f"option A has none: that is what makes it free. How can "
                                   f"X be brought to {channels} channels and 1/{s} of the "
                                   f"size without learning anything?",
                                   "keep every s-th pixel (X[:, ::s, ::s, :] or "
                                   "MaxPooling2D(1, strides=s)) and pad the new channels "
                                   "with zeros."))
        wanted = (-(-shape[0] // s), -(-shape[1] // s), channels)
        if tuple(out.shape[1:]) != wanted:
            raise Mistake(f"{call} should return shape {(None, *wanted)}, but yours "
                          f"returns {tuple(out.shape)}.")
        images = rng.normal(size=(2, *shape)).astype("float32")
        got = keras.ops.convert_to_numpy(model(images))
        mistake = _values_mistake(images, got, channels, s)
        if mistake:
            raise Mistake(f"with s={s}: {mistake}")
    print("option_a_shortcut: all checks passed (no weights; every s-th pixel kept, the "
          "new channels zero; shapes for s = 1, 2, 3 and odd sizes).")


def _placed(got, kept):
    """Whether ``got`` is ``kept`` with zero channels before and after it."""
    c = kept.shape[-1]
    for start in range(got.shape[-1] - c + 1):
        rest = np.delete(got, np.s_[start:start + c], axis=-1)
        if np.allclose(got[..., start:start + c], kept, atol=1e-5) and not np.abs(rest).any():
            return True
    return False


def _values_mistake(images, got, channels, s):
    kept = images[:, ::s, ::s, :]
    if _placed(got, kept):
        return None
    c = images.shape[-1]
    if s > 1:
        h, w = kept.shape[1:3]
        padded = np.pad(images, ((0, 0), (0, h * s - images.shape[1]),
                                 (0, w * s - images.shape[2]), (0, 0)), constant_values=np.nan)
        windows = padded.reshape(len(images), h, s, w, s, c)
        if any(_placed(got, reduce(windows, axis=(2, 4))) for reduce in (np.nanmean, np.nanmax)):
            return ("your shortcut pools each s x s window: option A keeps one pixel of "
                    "each window (the top-left, as a strided 1x1 convolution would), and "
                    "averaging is ResNet-D's idea (lesson 8).")
    for start in range(got.shape[-1] - c + 1):
        if np.allclose(got[..., start:start + c], kept, atol=1e-5):
            return (f"the {channels - c} new channels should be zeros, with X's {c} "
                    f"channels unchanged and in order beside them.")
    return ("the shortcut's values are not X's every s-th pixel: option A copies X's "
            "channels at those pixels unchanged and adds channels of zeros.")
