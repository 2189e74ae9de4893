"""The two building blocks of ResNet-50: the identity block and the convolutional block.

Both are plain Keras 3 functions in the functional style: they take a tensor and
return a tensor, adding named layers to the graph on the way. The layer names follow
the original ResNet release (``res2a_branch2a`` is stage 2, block a, main path, first
convolution; ``bn2a_branch2a`` its BatchNorm; ``res2a_branch1`` the projection
shortcut), so a layer's name says where it sits in the network.

Every BatchNormalization uses ``epsilon=1.001e-5`` like keras.applications' ResNet50
(the Keras default is 1e-3), so weights move between the two models unchanged.

The BatchNorm that ends a residual branch is made by ``branch_end_batchnorm``: an
ordinary BatchNormalization whose scale starts at 1, or at 0 inside
``with zero_init_residual():``, which the training recipe uses (lesson 5) so that
every block starts as its shortcut. Each block says which of its layers that is, where
it builds it.
"""

import contextlib
import contextvars

from keras import layers

BN_AXIS = 3  # channels last: (batch, height, width, channels)
BN_EPSILON = 1.001e-5

_ZERO_INIT = contextvars.ContextVar("zero_init_residual", default=False)


@contextlib.contextmanager
def zero_init_residual(enabled=True):
    """Inside, every residual branch built ends with a BatchNorm whose scale starts at 0.

    F(x) = 0 at the start, so each block computes its shortcut: an identity block the
    identity (lesson 1), a convolutional block its projection. Goyal et al. 2017
    ("Accurate, Large Minibatch SGD", section 5.1) found it keeps the first steps of
    deep networks stable. ``enabled=False`` leaves every scale at 1.
    """
    token = _ZERO_INIT.set(bool(enabled))
    try:
        yield
    finally:
        _ZERO_INIT.reset(token)


def branch_end_batchnorm(name, epsilon=BN_EPSILON):
    """The BatchNormalization that ends a residual branch, just before the addition.

    Its scale (gamma) starts at 1, as every BatchNorm's, or at 0 inside
    ``zero_init_residual()``.
    """
    return layers.BatchNormalization(axis=BN_AXIS, epsilon=epsilon, name=name,
                                     gamma_initializer="zeros" if _ZERO_INIT.get() else "ones")


def check_block_arguments(X, f, filters, stage, block, s=1):
    """Raise a ValueError that says what to fix if a block's arguments are wrong.

    Keras would fail too, but later and deep inside a layer; this names the argument.
    """
    where = f"block {stage}{block}"
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(
            f"{where}: X must be a 4D image tensor (batch, height, width, channels), "
            f"for example keras.Input(shape=(56, 56, 256)); got {X!r}."
        )
    if isinstance(filters, str) or not hasattr(filters, "__len__") or len(filters) != 3:
        raise ValueError(
            f"{where}: filters must be three numbers [F1, F2, F3] (the widths of the "
            f"1x1, fxf and 1x1 convolutions), e.g. [64, 64, 256]; got {filters!r}."
        )
    if not all(_is_positive_int(n) for n in filters):
        raise ValueError(
            f"{where}: every entry of filters must be a positive integer; got {list(filters)!r}."
        )
    if not _is_positive_int(f) or f % 2 == 0:
        raise ValueError(
            f"{where}: f, the middle convolution's kernel size, must be a positive odd "
            f"integer (3 in ResNet-50), so that padding by (f - 1) / 2 pixels on each side "
            f"keeps the output centred on the input; got {f!r}."
        )
    if not _is_positive_int(s):
        raise ValueError(f"{where}: the stride s must be an integer >= 1; got {s!r}.")
    if not _is_positive_int(stage) or not isinstance(block, str) or not block:
        raise ValueError(
            f"{where}: stage must be a positive integer and block a non-empty string "
            f"such as 'a'; they name the layers (res2a_branch2a); got stage={stage!r}, "
            f"block={block!r}."
        )


def _is_positive_int(n):
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


def identity_block(X, f, filters, stage, block):
    """Identity block: relu(F(X) + X), where F is 1x1 -> fxf -> 1x1 convolutions.

    The shortcut carries X unchanged, so X must already have F3 channels and the main
    path must keep the height and width (hence padding="same" on the fxf convolution).

    Arguments:
        X: input tensor of shape (batch, height, width, F3).
        f: kernel size of the middle convolution (an odd integer, 3 in ResNet-50).
        filters: [F1, F2, F3], the number of filters of the three convolutions.
        stage: the stage number (2 to 5 in ResNet-50), used in the layer names.
        block: the block letter within the stage ('a', 'b', ...), used in the names.

    Returns:
        The output tensor, of the same shape as X.
    """
    check_block_arguments(X, f, filters, stage, block)
    F1, F2, F3 = filters
    if X.shape[-1] != F3:
        raise ValueError(
            f"identity_block {stage}{block}: the input has {X.shape[-1]} channels but "
            f"F3 = filters[2] = {F3}. An identity shortcut adds X to the main path's "
            f"output, so both need the same shape: use convolutional_block to change "
            f"the number of channels."
        )
    conv_name = f"res{stage}{block}_branch"
    bn_name = f"bn{stage}{block}_branch"
    X_shortcut = X

    # Main path: reduce the channels (1x1), look around (fxf), restore them (1x1).
    X = layers.Conv2D(F1, 1, padding="valid", name=conv_name + "2a")(X)
    X = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "2a")(X)
    X = layers.Activation("relu", name=conv_name + "2a_relu")(X)

    X = layers.Conv2D(F2, f, padding="same", name=conv_name + "2b")(X)
    X = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "2b")(X)
    X = layers.Activation("relu", name=conv_name + "2b_relu")(X)

    X = layers.Conv2D(F3, 1, padding="valid", name=conv_name + "2c")(X)
    X = branch_end_batchnorm(bn_name + "2c")(X)  # a BatchNorm that may start at 0 (lesson 5)

    # The skip connection: an element-wise sum, then the ReLU.
    X = layers.Add(name=f"res{stage}{block}_add")([X, X_shortcut])
    X = layers.Activation("relu", name=f"res{stage}{block}_relu")(X)
    return X


def convolutional_block(X, f, filters, stage, block, s=2):
    """Convolutional block: relu(F(X) + P(X)), with a projection P on the shortcut.

    Used where the shape changes: the first 1x1 convolution of the main path and the
    1x1 convolution of the shortcut both have stride s (ResNet v1; v1.5 moves the main
    path's stride to the fxf convolution), and both paths end with F3 channels.

    Arguments:
        X: input tensor of shape (batch, height, width, channels), any channels.
        f: kernel size of the middle convolution (an odd integer, 3 in ResNet-50).
        filters: [F1, F2, F3], the number of filters of the three convolutions.
        stage: the stage number (2 to 5 in ResNet-50), used in the layer names.
        block: the block letter within the stage ('a', 'b', ...), used in the names.
        s: the stride, 2 to halve height and width, 1 to keep them.

    Returns:
        The output tensor, of shape (batch, ceil(height / s), ceil(width / s), F3).
    """
    check_block_arguments(X, f, filters, stage, block, s)
    F1, F2, F3 = filters
    conv_name = f"res{stage}{block}_branch"
    bn_name = f"bn{stage}{block}_branch"
    X_shortcut = X

    # Main path: the stride sits on the first 1x1 convolution (ResNet v1).
    X = layers.Conv2D(F1, 1, strides=s, padding="valid", name=conv_name + "2a")(X)
    X = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "2a")(X)
    X = layers.Activation("relu", name=conv_name + "2a_relu")(X)

    X = layers.Conv2D(F2, f, padding="same", name=conv_name + "2b")(X)
    X = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "2b")(X)
    X = layers.Activation("relu", name=conv_name + "2b_relu")(X)

    X = layers.Conv2D(F3, 1, padding="valid", name=conv_name + "2c")(X)
    X = branch_end_batchnorm(bn_name + "2c")(X)  # a BatchNorm that may start at 0 (lesson 5)

    # Shortcut path: a strided 1x1 projection to F3 channels, then BatchNorm.
    X_shortcut = layers.Conv2D(F3, 1, strides=s, padding="valid", name=conv_name + "1")(
        X_shortcut
    )
    X_shortcut = layers.BatchNormalization(
        axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "1"
    )(X_shortcut)

    X = layers.Add(name=f"res{stage}{block}_add")([X, X_shortcut])
    X = layers.Activation("relu", name=f"res{stage}{block}_relu")(X)
    return X


def preactivation_block(X, f, filters, stage, block, s=1, projection=False):
    """Pre-activation bottleneck (ResNet v2): X + F(X), with nothing after the addition.

    He et al. 2016 ("Identity Mappings in Deep Residual Networks") move BatchNorm and
    ReLU in front of each convolution, so the shortcut carries X from block to block
    untouched. Laid out as keras.applications' ResNet50V2 (from TF-slim's resnet_v2):

    - BatchNorm and ReLU first ("pre-activation"); their output feeds the main path and,
      where there is one, the projection shortcut;
    - main path: 1x1 (no bias), BatchNorm, ReLU; fxf with stride s (no bias) after an
      explicit padding of f // 2 pixels, BatchNorm, ReLU; 1x1 (with bias) to F3 channels;
    - shortcut: a 1x1 projection of the pre-activation (``projection=True``, the first
      block of a stage); otherwise X itself, subsampled to every s-th pixel when s > 1.

    Arguments:
        X: input tensor of shape (batch, height, width, channels).
        f: kernel size of the middle convolution (an odd integer, 3 in ResNet v2).
        filters: [F1, F2, F3], the number of filters of the three convolutions.
        stage, block: used in the layer names, as in ``identity_block``.
        s: the stride of the fxf convolution (and of the shortcut).
        projection: whether the shortcut is a 1x1 convolution (with stride s).

    Returns:
        The output tensor, of shape (batch, ceil(height / s), ceil(width / s), F3).
    """
    check_block_arguments(X, f, filters, stage, block, s)
    F1, F2, F3 = filters
    if not projection and X.shape[-1] != F3:
        raise ValueError(
            f"preactivation_block {stage}{block}: the input has {X.shape[-1]} channels but "
            f"F3 = filters[2] = {F3}. Without a projection the shortcut is X itself, so "
            f"both need the same shape: pass projection=True to change the channels."
        )
    conv_name = f"res{stage}{block}_branch"
    bn_name = f"bn{stage}{block}_branch"

    # Pre-activation: BatchNorm and ReLU before the first convolution, not after the add.
    preact = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON,
                                       name=f"bn{stage}{block}_preact")(X)
    preact = layers.Activation("relu", name=f"res{stage}{block}_preact_relu")(preact)

    if projection:
        shortcut = layers.Conv2D(F3, 1, strides=s, name=conv_name + "1")(preact)
    elif s > 1:  # a 1x1 max pool with stride s keeps every s-th pixel
        shortcut = layers.MaxPooling2D(1, strides=s, name=conv_name + "1_pool")(X)
    else:
        shortcut = X

    # Main path: the stride sits on the fxf convolution, after explicit padding.
    Y = layers.Conv2D(F1, 1, use_bias=False, name=conv_name + "2a")(preact)
    Y = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "2a")(Y)
    Y = layers.Activation("relu", name=conv_name + "2a_relu")(Y)

    Y = layers.ZeroPadding2D(f // 2, name=conv_name + "2b_pad")(Y)
    Y = layers.Conv2D(F2, f, strides=s, use_bias=False, name=conv_name + "2b")(Y)
    Y = layers.BatchNormalization(axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "2b")(Y)
    Y = layers.Activation("relu", name=conv_name + "2b_relu")(Y)

    Y = layers.Conv2D(F3, 1, name=conv_name + "2c")(Y)

    # The skip connection: a plain sum; the next block's pre-activation follows.
    return layers.Add(name=f"res{stage}{block}_add")([Y, shortcut])
