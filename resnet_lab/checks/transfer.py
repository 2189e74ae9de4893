"""Lesson 7: a frozen base and a new classifier, judged by what trains and what it
computes.

The check builds the learner's model on a small base of its own (``small_base``), reads
which weights train and which stay frozen, and compares the model's outputs with a
pooled softmax classifier on the base's features.
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
from resnet_lab.weights import randomize_weights

TRANSFER_CLASSES = 3


@learner_check(keep_random_state=True)
def check_transfer_model(build_transfer_model):
    """Lesson 7: ``build_transfer_model(base, num_classes)`` freezes the base and puts a
    new classifier on it: global average pooling, (dropout,) Dense with a softmax.

    The check builds it on a small base of its own, reads which weights train, and
    compares the outputs with that classifier computed from the base's features.
    """
    name = "build_transfer_model"
    if isinstance(build_transfer_model, keras.Model):
        raise Mistake(f"pass your function itself to the check, check_transfer_model({name}), "
                      f"not the model it returns.")
    base = small_base()
    try:
        model = call_learner(build_transfer_model, name, base, TRANSFER_CLASSES)
    except Failure as failure:
        raise Mistake(translate(failure, f"{name}(base, {TRANSFER_CLASSES})")) from None
    if model is None:
        raise Mistake(f"{name} returned None: did you forget to return the model?")
    if not isinstance(model, keras.Model):
        raise Mistake(f"{name} should return a keras.Model (keras.Model(inputs, outputs)), "
                      f"not a {type(model).__name__}.")
    own = {id(w) for w in model.weights}
    if not all(id(w) in own for w in base.weights):
        raise Mistake("your model does not use the base it was given: call base(...) on the "
                      "model's input; do not build or copy a network of your own.")
    trainable = {id(w) for w in model.trainable_weights}
    if any(id(w) in trainable for w in base.weights):
        raise Mistake(with_fix("the base is not frozen: its weights would change in "
                               "training, and the features learnt on the large dataset "
                               "with them.",
                               "set base.trainable = False before building the model, so "
                               "that training changes only the new classifier."))
    if not trainable:
        raise Mistake("nothing in your model trains: freeze only the base, not the new "
                      "classifier (did you set trainable = False on the whole model?).")

    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    try:
        out = keras.ops.convert_to_numpy(model(images, training=False))
    except Exception as error:  # the learner's model may raise anything
        raise Mistake(translate(Failure(error, []), "your model, called on 4 images of "
                                                    "8x8x3,")) from None
    if out.shape != (4, TRANSFER_CLASSES):
        raise Mistake(f"the model should give one probability per class, shape (batch, "
                      f"{TRANSFER_CLASSES}) for {TRANSFER_CLASSES} classes; it gives "
                      f"{out.shape}.")
    if out.min() < 0 or not np.allclose(out.sum(1), 1, atol=1e-3):
        raise Mistake(with_fix("the outputs are not probabilities (each row should be "
                               "non-negative and sum to 1): which activation makes them "
                               "so?", "end with Dense(num_classes, activation='softmax')."))

    # In training mode too: Dropout acts there, and after the softmax it would zero and
    # rescale probabilities (in inference mode it does nothing, so only this shows it).
    try:
        trained = keras.ops.convert_to_numpy(model(images, training=True))
    except Exception as error:  # the learner's model may raise anything
        raise Mistake(translate(Failure(error, []), "your model, called in training mode "
                                                    "on 4 images of 8x8x3,")) from None
    if trained.min() < 0 or not np.allclose(trained.sum(1), 1, atol=1e-3):
        raise Mistake("in training mode your model's outputs are not probabilities: "
                      "something after the softmax changes them (Dropout belongs before the "
                      "Dense layer, where it drops features, not probabilities).")

    features = keras.ops.convert_to_numpy(base(images, training=False))
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    shape = ("the new classifier should be GlobalAveragePooling2D, then (if you like) "
             "Dropout, then one Dense(num_classes, activation='softmax'), on the output of "
             "the base.")
    if len(dense) != 1:
        raise Mistake(shape)
    kernel = dense[0].kernel.shape
    channels = features.shape[-1]
    if kernel[0] != channels:
        raise Mistake(with_fix(f"your Dense layer sees {kernel[0]} values per image, but "
                               f"the base gives {channels} channels: what turns a feature "
                               f"map into one value per channel?",
                               "pool the base's feature map with GlobalAveragePooling2D "
                               "before the Dense layer."))

    def classified(pooled):
        logits = pooled @ keras.ops.convert_to_numpy(dense[0].kernel)
        if dense[0].bias is not None:
            logits = logits + keras.ops.convert_to_numpy(dense[0].bias)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    if not np.allclose(out, classified(features.mean((1, 2))), atol=1e-4):
        if np.allclose(out, classified(features.max((1, 2))), atol=1e-4):
            raise Mistake("use GlobalAveragePooling2D (each channel's average), not max "
                          "pooling.")
        raise Mistake(shape)
    print("build_transfer_model: all checks passed (the base is frozen; its features are "
          "pooled and classified by a new softmax layer, the only part that trains).")


def small_base():
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
