"""More of the ResNet family: basic blocks, grouped convolutions, the ResNet-D tweaks.

- ``ResNet18`` and ``ResNet34`` (He et al. 2015, Table 1): two 3x3 convolutions per
  block instead of the 1x1-3x3-1x1 bottleneck.
- ``ResNeXt50_32x4d`` (Xie et al. 2016, "Aggregated Residual Transformations for Deep
  Neural Networks"): the bottleneck's 3x3 convolution split into 32 groups of 4 channels
  (in the first stage), wider in total.
- ``ResNet50D`` (T. He et al. 2018, "Bag of Tricks for Image Classification with
  Convolutional Neural Networks", Fig. 2): a stem of three 3x3 convolutions, the stride
  on the 3x3 convolution, and a projection shortcut that averages 2x2 pixels before its
  1x1 convolution instead of skipping three pixels in four.

They follow torchvision's and timm's definitions (no bias in the convolutions, BatchNorm
after each, explicit padding of k // 2 pixels), so their trainable parameters number
the published figures: exactly torchvision's, and timm's 25.58 million for ResNet-50-D
(both count BatchNorm's moving statistics as buffers, not parameters; Keras'
``count_params`` includes them). keras.applications
has none of them and no Keras weights are published for them: ``weights`` must be None.
"""

import keras
from keras import layers

from resnet_lab.blocks import BN_AXIS, branch_end_batchnorm
from resnet_lab.models import (
    check_model_arguments,
    classifier_top,
    model_input,
    resolve_input_shape,
)

# (filters, blocks) per stage; the first block of stages 3-5 halves the image.
BASIC_STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
WIDTHS = (64, 128, 256, 512)


def _conv_bn(X, filters, kernel, stride, name, groups=1, relu=True, branch_end=False):
    """Padding of kernel // 2 pixels, a convolution without bias, BatchNorm, ReLU.

    ``branch_end``: the BatchNorm ends a residual branch (``blocks.branch_end_batchnorm``).
    """
    if kernel > 1:
        X = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(X)
    X = layers.Conv2D(filters, kernel, strides=stride, groups=groups, use_bias=False,
                      name=f"{name}_conv")(X)
    if branch_end:
        X = branch_end_batchnorm(f"{name}_bn", epsilon=1e-5)(X)
    else:
        X = layers.BatchNormalization(axis=BN_AXIS, epsilon=1e-5, name=f"{name}_bn")(X)
    return layers.Activation("relu", name=f"{name}_relu")(X) if relu else X


def _shortcut(X, filters, stride, name, average=False):
    """X itself, or a 1x1 convolution and BatchNorm where the shape changes; with
    ``average`` (ResNet-D), a 2x2 average pool does the striding instead."""
    if stride == 1 and X.shape[-1] == filters:
        return X
    if average and stride > 1:
        X = layers.AveragePooling2D(stride, strides=stride, padding="same",
                                    name=f"{name}_0_pool")(X)
        stride = 1
    return _conv_bn(X, filters, 1, stride, f"{name}_0", relu=False)


def basic_block(X, filters, stride, name):
    """relu(F(X) + shortcut(X)) with F = 3x3 conv, BN, ReLU, 3x3 conv, BN."""
    Y = _conv_bn(X, filters, 3, stride, f"{name}_1")
    Y = _conv_bn(Y, filters, 3, 1, f"{name}_2", relu=False, branch_end=True)
    Y = layers.Add(name=f"{name}_add")([Y, _shortcut(X, filters, stride, name)])
    return layers.Activation("relu", name=f"{name}_out")(Y)


def bottleneck_block(X, width, filters, stride, name, groups=1, average_shortcut=False):
    """The bottleneck with the stride on the 3x3 convolution (v1.5), ``groups`` groups."""
    Y = _conv_bn(X, width, 1, 1, f"{name}_1")
    Y = _conv_bn(Y, width, 3, stride, f"{name}_2", groups=groups)
    Y = _conv_bn(Y, filters, 1, 1, f"{name}_3", relu=False, branch_end=True)
    shortcut = _shortcut(X, filters, stride, name, average=average_shortcut)
    Y = layers.Add(name=f"{name}_add")([Y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(Y)


def _network(body, stem_deep, include_top, weights, input_tensor, input_shape, pooling,
             classes, classifier_activation, name):
    if weights is not None:
        raise ValueError(f"No Keras weights are published for {name}: use weights=None.")
    check_model_arguments(include_top, weights, pooling, classes)
    input_shape = resolve_input_shape(input_shape, include_top, weights)
    images = model_input(input_tensor, input_shape)
    if stem_deep:  # ResNet-D: three 3x3 convolutions instead of one 7x7
        X = _conv_bn(images, 32, 3, 2, "conv1a")
        X = _conv_bn(X, 32, 3, 1, "conv1b")
        X = _conv_bn(X, 64, 3, 1, "conv1c")
    else:
        X = _conv_bn(images, 64, 7, 2, "conv1")
    X = layers.ZeroPadding2D(1, name="pool1_pad")(X)
    X = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(X)
    X = body(X)
    X = classifier_top(X, include_top, pooling, classes, classifier_activation)
    inputs = images if input_tensor is None else keras.utils.get_source_inputs(input_tensor)
    return keras.Model(inputs, X, name=name)


def _basic_resnet(depth, **arguments):
    def body(X):
        for stage, (filters, blocks) in enumerate(zip(WIDTHS, BASIC_STAGES[depth],
                                                      strict=True), start=2):
            for block in range(blocks):
                stride = 2 if stage > 2 and block == 0 else 1
                X = basic_block(X, filters, stride, f"conv{stage}_block{block + 1}")
        return X

    return _network(body, False, name=f"resnet{depth}", **arguments)


def _bottleneck_resnet(name, widths, groups, deep_stem, average_shortcut, **arguments):
    def body(X):
        for stage, (width, filters, blocks) in enumerate(
                zip(widths, (256, 512, 1024, 2048), (3, 4, 6, 3), strict=True), start=2):
            for block in range(blocks):
                stride = 2 if stage > 2 and block == 0 else 1
                X = bottleneck_block(X, width, filters, stride,
                                     f"conv{stage}_block{block + 1}", groups=groups,
                                     average_shortcut=average_shortcut)
        return X

    return _network(body, deep_stem, name=name, **arguments)


def _arguments(include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation):
    return dict(include_top=include_top, weights=weights, input_tensor=input_tensor,
                input_shape=input_shape, pooling=pooling, classes=classes,
                classifier_activation=classifier_activation)


def ResNet18(include_top=True, weights=None, input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax"):
    """ResNet-18: basic blocks, 2 per stage (torchvision: 11,689,512 parameters)."""
    return _basic_resnet(18, **_arguments(include_top, weights, input_tensor, input_shape,
                                          pooling, classes, classifier_activation))


def ResNet34(include_top=True, weights=None, input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax"):
    """ResNet-34: basic blocks, 3, 4, 6 and 3 per stage (torchvision: 21,797,672)."""
    return _basic_resnet(34, **_arguments(include_top, weights, input_tensor, input_shape,
                                          pooling, classes, classifier_activation))


def ResNeXt50_32x4d(include_top=True, weights=None, input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax"):
    """ResNeXt-50 (32x4d): 32 groups, twice ResNet-50's bottleneck width (torchvision:
    25,028,904 parameters)."""
    return _bottleneck_resnet("resnext50_32x4d", (128, 256, 512, 1024), 32, False, False,
                              **_arguments(include_top, weights, input_tensor, input_shape,
                                           pooling, classes, classifier_activation))


def ResNet50D(include_top=True, weights=None, input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax"):
    """ResNet-50-D: deep stem, stride on the 3x3, average-pool shortcut (timm's resnet50d:
    25.58 million parameters)."""
    return _bottleneck_resnet("resnet50d", (64, 128, 256, 512), 1, True, True,
                              **_arguments(include_top, weights, input_tensor, input_shape,
                                           pooling, classes, classifier_activation))
