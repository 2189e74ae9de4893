"""Transfer learning: a pretrained ResNet-50 as the start of a new classifier.

The recipe of Keras' guide "Transfer learning & fine-tuning"
(https://keras.io/guides/transfer_learning/): take the pretrained network without its
classifier (the **base**), freeze it, call it in inference mode, put a new classifier
on top and train only that (**feature extraction**); then unfreeze the last stages and
train on with a much smaller learning rate (**fine-tuning**).

- ``backbone(model)``: a trained classifier without its top (lesson 5's model, say).
- ``imagenet_base(image_size)``: our ResNet-50 with keras.applications' ImageNet
  weights and the preprocessing they need (``ImageNetPreprocessing``) inside it.
- ``transfer_model(base, num_classes)``: the frozen base and a new classifier.
- ``freeze_up_to(base, stage)``: freeze the stem and the stages up to ``stage``.
- ``trainable_table(model)``: what trains and what is frozen, part by part.
- ``labelled_subset(images, labels, per_class)``: a few labelled images per class.

Every base here takes raw pixels in [0, 255] and carries its own preprocessing.
"""

import keras
import numpy as np

from resnet_lab.models import ResNet50
from resnet_lab.summary import format_table, stage_of

STAGES = ("stem", "stage 2", "stage 3", "stage 4", "stage 5")  # ResNet-50, input to output
# Imagenette's classes (data.IMAGENETTE_CLASSES, in the order of their WordNet ids) among
# ImageNet's 1000 outputs, which keras.applications orders by WordNet id too.
IMAGENETTE_IN_IMAGENET = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]


@keras.saving.register_keras_serializable(package="resnet_lab")
class ImageNetPreprocessing(keras.layers.Layer):
    """``keras.applications.resnet.preprocess_input`` as a layer: RGB pixels in [0, 255]
    to BGR with the mean ImageNet pixel subtracted ("caffe" mode), as the ImageNet
    weights of ResNet-50 expect. As a layer it is part of the model and saved with it."""

    def call(self, images):
        return keras.applications.resnet.preprocess_input(
            keras.ops.cast(images, self.compute_dtype))


def imagenet_base(image_size=224):
    """Our ResNet-50 without its top, with ImageNet weights, for raw RGB pixels.

    The weights are keras.applications' (downloaded once, about 95 MB, checked by md5;
    ``WeightsUnavailableError`` says what to do offline). The model's output is the last
    stage's feature map, (image_size / 32) x (image_size / 32) x 2048.
    """
    images = keras.Input(shape=(image_size, image_size, 3), name="images")
    preprocessed = ImageNetPreprocessing(name="imagenet_preprocessing")(images)
    resnet = ResNet50(include_top=False, weights="imagenet", input_tensor=preprocessed)
    return keras.Model(images, resnet.output, name="imagenet_base")


def backbone(model):
    """The pretrained part of a ResNet classifier: from its input to its global pooling.

    For lesson 5's model (raw pixels -> Rescaling -> ResNet-50 -> Dense -> softmax) this
    is the network up to the last stage's feature map, its Rescaling included. The
    layers (and weights) are the classifier's own.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"backbone expects a Keras model (a ResNet classifier); got a "
                         f"{type(model).__name__}.")
    pools = [layer for layer in model.layers
             if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    if len(pools) != 1:
        raise ValueError(f"backbone expects a classifier with one GlobalAveragePooling2D "
                         f"layer before its classifier; {model.name!r} has {len(pools)}. "
                         f"Pass a ResNet built with include_top=True (or use a model "
                         f"built with include_top=False as the base itself).")
    return keras.Model(model.inputs[0], pools[0].input, name=f"{model.name}_base")


def transfer_model(base, num_classes, dropout=0.2):
    """The frozen base and a new classifier on top.

    New classifier: global average pooling, dropout, ``Dense(num_classes)`` with a
    softmax. The base is called with ``training=False``, as Keras' guide does; but
    ``fit`` calls the whole model with ``training=True``, and Keras 3 passes that on to
    the layers of a nested model, overriding it. What keeps the base's BatchNorm layers
    in inference mode is that they are frozen (``freeze_up_to`` keeps them so).
    """
    _check_base(base)
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise ValueError(f"num_classes must be a whole number, 2 or more; got {num_classes!r}.")
    base.trainable = False
    images = keras.Input(shape=base.inputs[0].shape[1:], name="images")
    features = base(images, training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(features)
    pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="head")(pooled)
    return keras.Model(images, outputs, name="transfer")


def freeze_up_to(base, stage):
    """Freeze the base's stem and stages up to and including ``stage``; unfreeze the rest,
    except the BatchNorm layers, which stay frozen everywhere.

    ``stage`` is one of STAGES ("stem", "stage 2", ..., "stage 5"), or None to unfreeze
    every layer but BatchNorm. ``freeze_up_to(base, "stage 4")`` leaves stage 5 to
    train; "stage 5" freezes the whole base. A frozen BatchNorm layer runs in inference
    mode, with the statistics of pretraining, even when ``fit`` calls it with
    ``training=True``. Recompile the model afterwards: Keras reads which weights train
    when it compiles.
    """
    _check_base(base)
    if stage is not None and stage not in STAGES:
        raise ValueError(f"Unknown stage {stage!r}; choose one of {', '.join(STAGES)} (or "
                         f"None to train every layer but BatchNorm).")
    base.trainable = True
    for layer in base.layers:  # every layer, whatever an earlier call left
        layer.trainable = not frozen_by(layer, stage)


def frozen_by(layer, stage):
    """Whether ``freeze_up_to(base, stage)`` freezes ``layer``: every BatchNorm layer, and
    the layers of the stem and of the stages up to and including ``stage``."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return True
    part = stage_of(layer.name)
    last_frozen = -1 if stage is None else STAGES.index(stage)
    return part in STAGES and STAGES.index(part) <= last_frozen


def trainable_table(model):
    """One row per part (stem, stage 2-5, head): parameters, and how many of them train.

    A base nested in ``model`` (as ``transfer_model`` builds it) is read layer by layer;
    the layers outside it are the head.
    """
    parts = {}
    for part, layer in _parts(model):
        row = parts.setdefault(part, [0, 0])
        row[0] += layer.count_params()
        row[1] += sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    order = [*STAGES, "top", "head"]
    rows = [(part, total, trainable, f"{trainable / total:.1%}" if total else "-")
            for part, (total, trainable) in sorted(parts.items(),
                                                   key=lambda item: order.index(item[0]))]
    return format_table(["part", "parameters", "trainable", "share"], rows,
                        total=model.count_params())


def labelled_subset(images, labels, per_class, seed=0):
    """``per_class`` images of each class, chosen at random (the same for the same seed).

    ``labels`` are class indices, one per image. The subsets are nested: the 10 images
    per class chosen with a seed are among the 50 chosen with the same seed.
    Returns (images, labels) in a shuffled order.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be class indices, one number per image; got an array "
                         f"of shape {labels.shape} (for one-hot rows, pass labels.argmax(1)).")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    if not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1:
        raise ValueError(f"per_class must be a positive whole number; got {per_class!r}.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        available = np.flatnonzero(labels == label)
        if len(available) < per_class:
            smallest = min(np.sum(labels == other) for other in np.unique(labels))
            raise ValueError(f"Asked for {per_class} labelled images per class, but class "
                             f"{label} has only {len(available)}: ask for at most {smallest}.")
        chosen.append(rng.permutation(available)[:per_class])
    order = rng.permutation(np.concatenate(chosen))
    return images[order], labels[order]


def _parts(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or not layer.weights:
            continue
        if isinstance(layer, keras.Model):
            for inner in layer.layers:
                if inner.weights:
                    yield stage_of(inner.name), inner
        else:
            part = stage_of(layer.name)
            yield (part if part != "stem" or layer.name in _STEM_NAMES else "head"), layer


_STEM_NAMES = {"conv1", "bn_conv1", "conv1_conv", "conv1_bn"}


def _check_base(base):
    if not isinstance(base, keras.Model):
        raise ValueError(f"the base must be a Keras model (e.g. transfer.backbone(model) or "
                         f"transfer.imagenet_base()); got a {type(base).__name__}.")
    if not any(stage_of(layer.name) == "stage 5" for layer in base.layers):
        raise ValueError(f"{base.name!r} has no ResNet-50 stages (layers named res5a_... or "
                         f"conv5_block1_...): pass a ResNet-50 base.")
