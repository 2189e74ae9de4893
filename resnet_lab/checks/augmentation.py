"""Lesson 5: the augmentation, judged by what it does to test images.

A random augmentation has no graph to read: the check augments test images and
recovers, image by image, which flip and which shift each one got.
"""

import keras
import numpy as np
from keras import layers

from resnet_lab.checks.feedback import with_fix
from resnet_lab.checks.runner import (
    Failure,
    Mistake,
    call_learner,
    learner_check,
    translate,
)

AUGMENT_SIZE = 32  # test images of 32x32 pixels: 10% is 3.2 pixels
AUGMENT_BATCH = 16  # copies of the test image per call; each gets its own flip and shift
AUGMENT_CALLS = 4
AUGMENT_SEED = 7
MAX_SHIFT = 0.1  # of the height and of the width
MATCH_TOLERANCE = 2.0  # mean absolute difference, on pixel values between 60 and 220
BORDER_TOLERANCE = 0.5  # the same, on the uncovered strip: reflect 0.07, nearest up to 3


@learner_check(keep_random_state=True)
def check_augmentation(make_augmentation):
    """Lesson 5: ``make_augmentation(seed)`` returns random horizontal flips and shifts.

    The check looks at what the augmentation does, not at its layers: it augments test
    images and recovers, image by image, the flip and the shift that were applied.
    """
    images = _test_images()
    augment = _make_augmentation(make_augmentation, AUGMENT_SEED)
    mistake = _inference_mistake(_augment(augment, images, training=False), images)
    if mistake:
        raise Mistake(mistake)
    outs = [_augment(augment, images, training=True) for _ in range(AUGMENT_CALLS)]
    if all(_same(out, images) for out in outs):
        raise Mistake("in training mode your augmentation leaves the images unchanged: it "
                      "should flip and shift them at random.")
    if all(_same(out, outs[0]) for out in outs[1:]):
        raise Mistake(with_fix("your augmentation changes the images the same way at "
                               "every call: what would the network see in the second epoch "
                               "that it had not seen in the first?",
                               "use Keras' Random* layers, which draw new flips and shifts "
                               "at every call."))
    out = np.concatenate(outs)
    if out.min() < 0.5 * images.min():
        raise Mistake(with_fix("the shifted images have black borders, which no real "
                               "photograph has: what could fill the strip a shift uncovers?",
                               "fill it by reflection, RandomTranslation(..., "
                               "fill_mode='reflect')."))

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
        raise Mistake(with_fix("the shifts are larger than 10% of the image: in what unit "
                               "does RandomTranslation take its factors?",
                               "use RandomTranslation(0.1, 0.1), fractions of the height "
                               "and width."))
    if not explained.all():
        raise Mistake(with_fix("your augmentation does more than flip and shift the images "
                               "(a rotation, a zoom, other colours?).",
                               "keep only RandomFlip and RandomTranslation."))
    border = max(_border_error(out[..., 0].mean(1), across, flipped_x, shift_x).max(initial=0),
                 _border_error(out[..., 1].mean(2), down, flipped_y, shift_y).max(initial=0))
    if border > BORDER_TOLERANCE:
        raise Mistake(with_fix("the strip that a shift uncovers should continue the image "
                               "as its mirror image, but yours fills it another way: the "
                               "nearest pixel repeated, or the opposite edge wrapped round.",
                               "RandomTranslation(..., fill_mode='reflect')."))
    if flipped_y.any():
        if not flipped_x.any():
            raise Mistake(with_fix("images are flipped upside down instead of left to "
                                   "right: which of the two flips gives an image the data "
                                   "could contain?",
                                   "use RandomFlip('horizontal'), not 'vertical'."))
        raise Mistake(with_fix("images are also flipped upside down: would an upside-down "
                               "photograph still look like the ones you test on?",
                               "use RandomFlip('horizontal'), not "
                               "'horizontal_and_vertical'."))
    if not flipped_x.any():
        raise Mistake(with_fix("no image is flipped left to right.",
                               "add layers.RandomFlip('horizontal')."))
    if flipped_x.all():
        raise Mistake(with_fix("every image is flipped: a flip applied to every image "
                               "shows the network only mirror images, not more variety.",
                               "RandomFlip('horizontal') flips each image or not, at "
                               "random."))
    moved = [size > 0.25 for size in largest]
    if not any(moved):
        raise Mistake(with_fix("no image is shifted.",
                               "add layers.RandomTranslation(0.1, 0.1, "
                               "fill_mode='reflect')."))
    if not all(moved):
        which = "up and down but not sideways" if moved[1] else "sideways but not up and down"
        raise Mistake(with_fix(f"the images are shifted {which}: which of "
                               f"RandomTranslation's two factors is the height's?",
                               "RandomTranslation(0.1, 0.1) shifts by up to 10% of the "
                               "height and of the width."))
    if min(largest) < 0.6 * bound:
        raise Mistake(with_fix("the shifts are smaller than 10% of the image: in what unit "
                               "does RandomTranslation take its factors?",
                               "use RandomTranslation(0.1, 0.1)."))

    # A seed makes the run reproducible: the same seed, the same images.
    again = _augment(_make_augmentation(make_augmentation, AUGMENT_SEED), images, training=True)
    if not _same(again, outs[0]):
        raise Mistake(with_fix(f"make_augmentation({AUGMENT_SEED}) gives other images "
                               f"every time: where does the seed go?",
                               "pass it to the random layers (seed=seed)."))
    other = _augment(_make_augmentation(make_augmentation, AUGMENT_SEED + 1), images, training=True)
    if _same(other, outs[0]):
        raise Mistake(with_fix("make_augmentation gives the same images whatever the "
                               "seed: is the seed you pass the one you receive?",
                               "pass its seed argument to the random layers, not a number "
                               "of your own."))
    print("make_augmentation: all checks passed (random horizontal flips and shifts of up "
          "to 10%, images unchanged in inference mode, the same seed gives the same "
          "images).")


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


def _border_error(profiles, reference, flipped, shifts):
    """For each profile, the mean absolute difference on the pixels its shift uncovered
    from the reference filled by reflection (d c b a | a b c d); 0 where none was."""
    size = len(reference)
    x = np.arange(size)
    errors = []
    for profile, flip, shift in zip(profiles, flipped, shifts, strict=True):
        ref = reference[::-1] if flip else reference
        source = x - shift
        outside = (source < -0.5) | (source > size - 0.5)
        mirrored = np.where(source < -0.5, -source - 1,
                            np.where(source > size - 0.5, 2 * size - 1 - source, source))
        difference = np.abs(profile - np.interp(mirrored, x, ref))[outside]
        errors.append(difference.mean() if outside.any() else 0.0)
    return np.array(errors)


def _make_augmentation(fn, seed):
    name = "make_augmentation"
    if isinstance(fn, layers.Layer):
        raise Mistake(f"pass your function itself to the check, check_augmentation({name}), "
                      f"not the model it returns.")
    try:
        augment = call_learner(fn, name, seed)
    except Failure as failure:
        raise Mistake(translate(failure, f"{name}({seed})")) from None
    if augment is None:
        raise Mistake(f"{name} returned None: did you forget to return the model?")
    if isinstance(augment, (list, tuple)):
        raise Mistake(f"{name} should return one model, not a {type(augment).__name__} of "
                      f"layers: wrap them in keras.Sequential([...]).")
    if not isinstance(augment, layers.Layer):
        raise Mistake(f"{name} should return a Keras model of preprocessing layers "
                      f"(keras.Sequential([...])), not a {type(augment).__name__}.")
    return augment


def _augment(augment, images, training):
    """The augmented images, as a NumPy array of the input's shape."""
    call = (f"your augmentation, called on {len(images)} images of {AUGMENT_SIZE}x"
            f"{AUGMENT_SIZE}x3 with training={training},")
    try:
        out = augment(images, training=training)
    except Exception as error:  # the learner's layers may raise anything
        raise Mistake(translate(Failure(error, []), call)) from None
    if isinstance(out, (list, tuple, dict)) or out is None:
        raise Mistake(f"your augmentation should return a batch of images, not "
                      f"{'None' if out is None else 'a ' + type(out).__name__}.")
    out = np.asarray(keras.ops.convert_to_numpy(out), dtype="float32")
    if out.shape != images.shape:
        raise Mistake(f"the augmentation must keep the image size: a batch of shape "
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
