"""ResNet-50 and its deeper twins, assembled from the identity and convolutional blocks.

``ResNet50`` has the signature and semantics of ``keras.applications.ResNet50``
and builds the same network (ResNet v1: the stride on the first 1x1 convolution),
layer for layer; only the layer names differ, and ``resnet_lab.transfer_weights``
maps between the two naming schemes. ``ResNet101`` and ``ResNet152`` do the same for
keras.applications' models of those names (more blocks in stages 3 and 4), and
``ResNet50V2``, ``ResNet101V2`` and ``ResNet152V2`` for the pre-activation models
(``preactivation_block``).
"""

import os
import string

import keras
from keras import layers

from resnet_lab import registry
from resnet_lab.blocks import (
    BN_AXIS,
    BN_EPSILON,
    branch_end_batchnorm,
    convolutional_block,
    identity_block,
    preactivation_block,
)

# (stage, filters [F1, F2, F3], number of blocks, stride of the first block)
RESNET50_STAGES = (
    (2, (64, 64, 256), 3, 1),
    (3, (128, 128, 512), 4, 2),
    (4, (256, 256, 1024), 6, 2),
    (5, (512, 512, 2048), 3, 2),
)
DEFAULT_INPUT_SHAPE = (224, 224, 3)


def resnet_stage(X, f, filters, stage, blocks, s):
    """One stage: a convolutional block (stride s) followed by identity blocks.

    The convolutional block changes the shape once; the identity blocks that follow
    keep it, so only the first block of a stage needs a projection shortcut.
    """
    letters = string.ascii_lowercase
    X = convolutional_block(X, f, filters, stage, letters[0], s=s)
    for i in range(1, blocks):
        X = identity_block(X, f, filters, stage, letters[i])
    return X


def ResNet50(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet50",
):
    """ResNet-50 v1, built from ``identity_block`` and ``convolutional_block``.

    Arguments follow ``keras.applications.ResNet50``:
        include_top: whether to end with global average pooling and a Dense classifier.
        weights: None (random initialisation), "imagenet" (download keras.applications'
            published ImageNet weights, checked by their md5), or the path of a weight
            file (ours, or keras.applications' legacy HDF5 file) to load.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: (height, width, channels); each side at least 32. Defaults to
            (224, 224, 3) with the top, (None, None, 3) without it.
        pooling: with include_top=False, None (4D output), "avg" or "max".
        classes: number of classes of the classifier (1000 for "imagenet").
        classifier_activation: activation of the classifier, e.g. "softmax" or None.

    Returns:
        A ``keras.Model``. It expects images preprocessed like keras.applications'
        ResNet50 (``keras.applications.resnet.preprocess_input``, "caffe" mode).
    """
    check_model_arguments(include_top, weights, pooling, classes)
    input_shape = resolve_input_shape(input_shape, include_top, weights)
    img_input = model_input(input_tensor, input_shape)

    # Stem: a 7x7 stride-2 convolution and a 3x3 stride-2 max pool (224 -> 56).
    X = layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
    X = layers.Conv2D(64, 7, strides=2, name="conv1")(X)
    X = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name="bn_conv1")(X)
    X = layers.Activation("relu", name="conv1_relu")(X)
    X = layers.ZeroPadding2D(1, name="pool1_pad")(X)
    X = layers.MaxPooling2D(3, strides=2, name="pool1")(X)

    # Stages 2-5: 3, 4, 6 and 3 bottleneck blocks (56 -> 56 -> 28 -> 14 -> 7).
    for stage, filters, blocks, s in RESNET50_STAGES:
        X = resnet_stage(X, 3, list(filters), stage, blocks, s)

    # Global average pooling and the classifier (or the pooling alone, or nothing).
    X = classifier_top(X, include_top, pooling, classes, classifier_activation)
    inputs = img_input if input_tensor is None else keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, X, name=name)
    load_weights_argument(model, weights, include_top, weights_name="resnet50")
    return model


def check_model_arguments(include_top, weights, pooling, classes):
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "resnet_lab builds channels-last models (BatchNorm on axis 3), but Keras is "
            "set to 'channels_first'. Call keras.config.set_image_data_format("
            "'channels_last') first."
        )
    if not (weights in (None, "imagenet") or _is_existing_path(weights)):
        raise ValueError(
            f"weights must be None (random initialisation), 'imagenet', or the path of "
            f"an existing weight file; got {weights!r}."
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            f"The ImageNet classifier has 1000 classes, but classes={classes}. To train "
            f"a new classifier on ImageNet features, pass include_top=False (and "
            f"pooling='avg') and add your own Dense({classes}) layer."
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'; got {pooling!r}.")
    if include_top and (not isinstance(classes, int) or isinstance(classes, bool) or classes < 1):
        raise ValueError(f"classes must be a positive integer; got {classes!r}.")


def _is_existing_path(weights):
    return isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)


def resolve_input_shape(input_shape, include_top, weights):
    """keras.applications' rules for input_shape, with errors that say what to do."""
    if weights == "imagenet" and include_top:
        if input_shape is not None and tuple(input_shape) != DEFAULT_INPUT_SHAPE:
            raise ValueError(
                f"The ImageNet classifier expects input_shape={DEFAULT_INPUT_SHAPE}; got "
                f"{tuple(input_shape)}. For other sizes use include_top=False."
            )
        return DEFAULT_INPUT_SHAPE
    if input_shape is None:
        return DEFAULT_INPUT_SHAPE if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), e.g. (224, 224, 3); got "
            f"{input_shape}."
        )
    height, width, channels = input_shape
    if weights == "imagenet" and channels != 3:
        raise ValueError(
            f"ImageNet weights expect 3 input channels (RGB); got input_shape={input_shape}."
        )
    smallest = registry.IMAGENET.min_image_size
    for side in (height, width):
        if side is not None and side < smallest:
            raise ValueError(
                f"A ResNet halves the image five times, so height and width must be at "
                f"least {smallest}; got input_shape={input_shape}. Resize the "
                f"images (e.g. keras.layers.Resizing) to {smallest}x{smallest} "
                f"or more."
            )
    if include_top and None in input_shape:
        raise ValueError(
            f"With include_top=True the input needs a fixed size; got input_shape="
            f"{input_shape}. Give height and width, or use include_top=False."
        )
    return input_shape


# --- The deeper twins: ResNet-101 and -152 (v1), ResNet-50/101/152 V2 ---------------

# Blocks per stage (He et al. 2015, Table 1), the same for v1 and v2.
STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
STAGE_FILTERS = ((64, 64, 256), (128, 128, 512), (256, 256, 1024), (512, 512, 2048))


def block_names(blocks, numbered=False):
    """The blocks' names within a stage: 'a', 'b', 'c', ... or, numbered, 'a', 'b1', 'b2', ...

    The original ResNet-101 and ResNet-152 release numbers the blocks of its long
    stages (``res4b22_branch2a`` is the 23rd block of stage 4); there are not letters
    enough for ResNet-152's 36.
    """
    if numbered:
        return ["a", *(f"b{i}" for i in range(1, blocks))]
    return list(string.ascii_lowercase[:blocks])


def resnet_v1_stages(X, depth):
    """Stages 2-5 of ResNet-50, -101 or -152 v1: a convolutional block, then identity blocks."""
    for stage, filters, blocks in zip((2, 3, 4, 5), STAGE_FILTERS, STAGE_BLOCKS[depth],
                                      strict=True):
        names = block_names(blocks, numbered=depth > 50 and blocks > 3)
        X = convolutional_block(X, 3, list(filters), stage, names[0], s=1 if stage == 2 else 2)
        for name in names[1:]:
            X = identity_block(X, 3, list(filters), stage, name)
    return X


def resnet_v2_stages(X, depth):
    """Stages 2-5 of ResNet-50, -101 or -152 v2, laid out as keras.applications' (TF-slim's).

    Each stage starts with a projection block (stride 1) and ends with the block that
    halves the image (stride 2), except stage 5, which keeps its size: v1 halves at the
    start of stages 3-5, v2 at the end of stages 2-4, the same three halvings.
    """
    for stage, filters, blocks in zip((2, 3, 4, 5), STAGE_FILTERS, STAGE_BLOCKS[depth],
                                      strict=True):
        names = block_names(blocks, numbered=depth > 50 and blocks > 3)
        for i, name in enumerate(names):
            s = 2 if stage < 5 and i == len(names) - 1 else 1
            X = preactivation_block(X, 3, list(filters), stage, name, s=s, projection=i == 0)
    return X


def ResNet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet101"):
    """ResNet-101 v1: ResNet-50 with 23 blocks in stage 4 instead of 6.

    The twin of ``keras.applications.ResNet101``; arguments as ``ResNet50``.
    """
    return _deep_resnet(101, 1, include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation, name)


def ResNet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name="resnet152"):
    """ResNet-152 v1: 3, 8, 36 and 3 blocks in stages 2-5.

    The twin of ``keras.applications.ResNet152``; arguments as ``ResNet50``.
    """
    return _deep_resnet(152, 1, include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation, name)


def ResNet50V2(include_top=True, weights=None, input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """ResNet-50 v2: pre-activation blocks, a BatchNorm and ReLU after the last stage.

    The twin of ``keras.applications.ResNet50V2``; arguments as ``ResNet50``. Its
    ImageNet weights expect ``keras.applications.resnet_v2.preprocess_input`` (pixels
    scaled to [-1, 1]), not ResNet50's "caffe" preprocessing.
    """
    return _deep_resnet(50, 2, include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation, name)


def ResNet101V2(include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet101v2"):
    """ResNet-101 v2, the twin of ``keras.applications.ResNet101V2`` (see ``ResNet50V2``)."""
    return _deep_resnet(101, 2, include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation, name)


def ResNet152V2(include_top=True, weights=None, input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet152v2"):
    """ResNet-152 v2, the twin of ``keras.applications.ResNet152V2`` (see ``ResNet50V2``)."""
    return _deep_resnet(152, 2, include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation, name)


def _deep_resnet(depth, version, include_top, weights, input_tensor, input_shape, pooling,
                 classes, classifier_activation, name):
    """The steps ``ResNet50`` spells out (as lesson 4 shows it), for any depth and version."""
    check_model_arguments(include_top, weights, pooling, classes)
    input_shape = resolve_input_shape(input_shape, include_top, weights)
    img_input = model_input(input_tensor, input_shape)

    # Stem. v2 has no BatchNorm and ReLU here: the first block's pre-activation does that.
    X = layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
    X = layers.Conv2D(64, 7, strides=2, name="conv1")(X)
    if version == 1:
        X = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name="bn_conv1")(X)
        X = layers.Activation("relu", name="conv1_relu")(X)
    X = layers.ZeroPadding2D(1, name="pool1_pad")(X)
    X = layers.MaxPooling2D(3, strides=2, name="pool1")(X)

    if version == 1:
        X = resnet_v1_stages(X, depth)
    else:  # the sum of the last block still needs its BatchNorm and ReLU
        X = resnet_v2_stages(X, depth)
        X = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name="post_bn")(X)
        X = layers.Activation("relu", name="post_relu")(X)

    X = classifier_top(X, include_top, pooling, classes, classifier_activation)
    inputs = img_input if input_tensor is None else keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, X, name=name)
    load_weights_argument(model, weights, include_top,
                          weights_name=f"resnet{depth}" + ("v2" if version == 2 else ""))
    return model


def model_input(input_tensor, input_shape):
    """keras.applications' input rules: a new Input, or the given tensor as the input."""
    if input_tensor is None:
        return keras.Input(shape=input_shape)
    if keras.backend.is_keras_tensor(input_tensor):
        return input_tensor
    return keras.Input(tensor=input_tensor, shape=input_shape)


def classifier_top(X, include_top, pooling=None, classes=1000, classifier_activation="softmax"):
    """Global average pooling and a Dense classifier, or the pooling alone, or nothing."""
    if include_top:
        X = layers.GlobalAveragePooling2D(name="avg_pool")(X)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(X)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(X)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(X)
    return X


def load_weights_argument(model, weights, include_top, weights_name):
    """Load what the ``weights`` argument names: nothing, "imagenet", or a file."""
    from resnet_lab.weights import load_imagenet_weights, load_weights_file

    if weights == "imagenet":
        load_imagenet_weights(model, include_top=include_top, weights_name=weights_name)
    elif weights is not None:
        load_weights_file(model, weights)


# --- CIFAR-style ResNets (He et al. 2016, section 4.2) and their plain twins -----------



def cifar_resnet(depth=20, classes=10, input_shape=(32, 32, 3), residual=True,
                 classifier_activation="softmax", name=None):
    """ResNet-20/32/44/56/110 for 32x32 images, or with residual=False its plain twin.

    3x3 convolution with 16 filters, then three stages of n = (depth - 2) / 6 basic
    blocks (two 3x3 convolutions) with 16, 32 and 64 filters, the last two starting
    with stride 2; global average pooling and a Dense classifier. Where a shortcut
    changes shape it subsamples and pads the new channels with zeros (the paper's
    option A), so the residual and plain networks have the same parameters.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 20, 32, 44, 56, 110, ...); got {depth!r}.")
    smallest = registry.CIFAR.min_image_size
    if any(side is not None and side < smallest for side in input_shape[:2]):
        raise ValueError(f"CIFAR-style networks halve the image twice, so height and width "
                         f"must be at least {smallest}; got input_shape="
                         f"{input_shape}.")
    blocks = (depth - 2) // 6
    inputs = keras.Input(shape=input_shape)
    X = layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv1")(inputs)
    X = layers.BatchNormalization(axis=BN_AXIS, name="bn_conv1")(X)
    X = layers.Activation("relu", name="conv1_relu")(X)
    for stage, width in enumerate((16, 32, 64), start=1):
        for block in range(blocks):
            s = 2 if stage > 1 and block == 0 else 1
            X = basic_block(X, width, s, f"s{stage}b{block + 1}", residual)
    X = layers.GlobalAveragePooling2D(name="avg_pool")(X)
    X = layers.Dense(classes, activation=classifier_activation, name="predictions")(X)
    kind = "resnet" if residual else "plain"
    return keras.Model(inputs, X, name=name or f"{kind}{depth}")


def basic_block(X, width, s, name, residual=True):
    """Two 3x3 convolutions with BatchNorm; with ``residual``, X is added before the last ReLU.

    The convolution path is the same either way: ``residual=False`` only leaves out
    the addition, which makes the block of a plain network (whose last BatchNorm then
    ends no branch, so it never starts at 0).
    """
    shortcut = X
    Y = layers.Conv2D(width, 3, strides=s, padding="same", use_bias=False,
                      name=f"{name}_conv1")(X)
    Y = layers.BatchNormalization(axis=BN_AXIS, name=f"{name}_bn1")(Y)
    Y = layers.Activation("relu", name=f"{name}_relu1")(Y)
    Y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv2")(Y)
    if residual:  # the BatchNorm ends a residual branch: it may start at 0 (lesson 5)
        Y = branch_end_batchnorm(f"{name}_bn2", epsilon=1e-3)(Y)
        if s != 1 or shortcut.shape[-1] != width:
            shortcut = pad_shortcut(shortcut, width, s, name)
        Y = layers.Add(name=f"{name}_add")([Y, shortcut])
    else:
        Y = layers.BatchNormalization(axis=BN_AXIS, name=f"{name}_bn2")(Y)
    return layers.Activation("relu", name=f"{name}_out")(Y)


def pad_shortcut(X, width, s, name):
    """Option A: keep every s-th pixel, then pad the new channels with zeros."""
    height, breadth, channels = X.shape[1:]
    X = layers.MaxPooling2D(1, strides=s, name=f"{name}_subsample")(X)
    extra = width - channels
    X = layers.Reshape((-(-height // s), -(-breadth // s), channels, 1),
                       name=f"{name}_to_3d")(X)
    X = layers.ZeroPadding3D(((0, 0), (0, 0), (extra // 2, extra - extra // 2)),
                             name=f"{name}_pad")(X)
    return layers.Reshape((-(-height // s), -(-breadth // s), width), name=f"{name}_to_2d")(X)
