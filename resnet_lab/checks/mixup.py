"""Lesson 5, going further: mixup (Zhang et al. 2018), mixing images and their labels.

``mixup(images, labels, alpha, seed)`` returns a batch in which each image is
lam * images[i] + (1 - lam) * images[j] for another image j of the batch, with its
label mixed with the same weight, lam drawn from Beta(alpha, alpha). The check does not
ask how (NumPy or Keras, one lam per batch or per image): it recovers, for every output
image, the two images and the weight that made it, and checks the label against them.
"""

import keras
import numpy as np

from resnet_lab.checks.feedback import with_fix
from resnet_lab.checks.runner import Failure, Mistake, call_learner, learner_check, translate

MIXUP_BATCH, MIXUP_CLASSES, MIXUP_ALPHA = 16, 4, 1.0


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (MIXUP_BATCH, 6, 5, 3)).astype("float32")
    labels = np.eye(MIXUP_CLASSES, dtype="float32")[rng.integers(0, MIXUP_CLASSES,
                                                                 MIXUP_BATCH)]
    return images, labels


@learner_check(keep_random_state=True)
def check_mixup(mixup):
    """Lesson 5, going further: ``mixup(images, labels, alpha, seed)`` returns
    (mixed images, mixed labels), NumPy arrays or tensors of the same shapes."""
    images, labels = _batch()
    first, second, third = (_call(mixup, images, labels, seed=seed) for seed in (1, 2, 3))
    weights = np.concatenate([_recover(images, labels, *out) for out in (first, second, third)])
    if (weights > 1 - 1e-4).all():
        raise Mistake(with_fix("every output image is one of the inputs, unmixed: the "
                               "weight lam should be drawn at random between 0 and 1.",
                               "lam = rng.beta(alpha, alpha)."))
    again = _call(mixup, images, labels, seed=1)
    if not np.allclose(again[0], first[0], atol=1e-6):
        raise Mistake(with_fix("mixup(images, labels, alpha, seed=1) mixes differently at "
                               "every call: where does the seed go?",
                               "draw everything from np.random.default_rng(seed) (or pass "
                               "the seed to Keras' random functions)."))
    if np.allclose(second[0], first[0], atol=1e-6):
        raise Mistake("mixup mixes the same way whatever the seed: use the seed it is given.")
    print("mixup: all checks passed (each image a mix of two of the batch, its label mixed "
          "with the same weight).")


def _call(mixup, images, labels, seed):
    name = "mixup"
    try:
        result = call_learner(mixup, name, images.copy(), labels.copy(), MIXUP_ALPHA, seed)
    except Failure as failure:
        raise Mistake(translate(failure, f"{name}(images, labels, {MIXUP_ALPHA}, "
                                         f"{seed})")) from None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Mistake(f"{name} returns two things, the mixed images and the mixed labels; "
                      f"yours returns {type(result).__name__}.")
    out_images, out_labels = (np.asarray(keras.ops.convert_to_numpy(r), "float32")
                              for r in result)
    if out_images.shape != images.shape or out_labels.shape != labels.shape:
        raise Mistake(f"{name} keeps the shapes: images {images.shape} and labels "
                      f"{labels.shape}; yours returns {out_images.shape} and "
                      f"{out_labels.shape}.")
    return out_images, out_labels


def _recover(images, labels, out_images, out_labels):
    """The mixing weights of the output images (each the larger of its two), or a Mistake.

    Each output image is matched with the pair of input images (j, k) and the weight lam
    for which lam * x_j + (1 - lam) * x_k comes closest to it (j = k: one image, unmixed).
    """
    flat, out = images.reshape(len(images), -1), out_images.reshape(len(images), -1)
    weights = []
    for i in range(len(images)):
        best = None
        for j in range(len(images)):
            for k in range(j, len(images)):
                d = flat[j] - flat[k]
                lam = 1.0 if j == k else float((out[i] - flat[k]) @ d / (d @ d))
                residual = float(np.abs(out[i] - flat[k] - lam * d).max())
                if best is None or residual < best[0]:
                    best = (residual, j, k, lam)
        residual, j, k, lam = best
        if residual > 1e-4:
            raise Mistake(f"output image {i} is not a weighted average of two images of the "
                          f"batch: mixup gives lam * x_j + (1 - lam) * x_k, two images of "
                          f"the same batch mixed, and nothing else.")
        if not -1e-4 <= lam <= 1 + 1e-4:
            raise Mistake(f"output image {i} weighs its two images {lam:.2f} and "
                          f"{1 - lam:.2f}: a weight outside [0, 1] extrapolates instead of "
                          f"mixing (lam comes from a Beta distribution, between 0 and 1).")
        wanted = lam * labels[j] + (1 - lam) * labels[k]
        if not np.allclose(out_labels[i], wanted, atol=1e-4):
            if not np.allclose(labels[j], labels[k]) and any(
                    np.allclose(out_labels[i], labels[n], atol=1e-4) for n in (i, j, k)):
                raise Mistake(with_fix(
                    f"output image {i} is {lam:.2f} of one image and {1 - lam:.2f} of "
                    f"another of another class, but its label is one image's alone: what "
                    f"should the label of a mixed image say?",
                    "mix the labels with the same weights: lam * y_j + (1 - lam) * y_k."))
            raise Mistake(f"output image {i} is {lam:.2f} of image {j} and {1 - lam:.2f} of "
                          f"image {k}, but its label is not mixed with the same weights.")
        weights.append(max(lam, 1 - lam))
    return np.array(weights)
