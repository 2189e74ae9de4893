"""The identity and convolutional blocks: shapes, layer names, BatchNorm, bad input."""

import keras
import numpy as np
import pytest

from resnet_lab import convolutional_block, identity_block
from resnet_lab.weights import randomize_weights


def block_model(block_fn, input_shape, *args, **kwargs):
    x = keras.Input(shape=input_shape)
    return keras.Model(x, block_fn(x, *args, **kwargs))


@pytest.mark.parametrize(
    "input_shape, f, filters",
    [((56, 56, 256), 3, [64, 64, 256]), ((7, 9, 8), 5, [2, 3, 8]), ((1, 1, 4), 1, [4, 4, 4])],
)
def test_identity_block_keeps_the_input_shape(input_shape, f, filters):
    model = block_model(identity_block, input_shape, f, filters, stage=2, block="b")
    assert tuple(model.output.shape) == (None, *input_shape)


@pytest.mark.parametrize(
    "input_shape, s, expected",
    [
        ((56, 56, 64), 1, (56, 56, 256)),
        ((56, 56, 256), 2, (28, 28, 256)),
        ((15, 14, 3), 2, (8, 7, 256)),  # odd sizes round up, like keras.applications
        ((15, 15, 3), 3, (5, 5, 256)),
    ],
)
def test_convolutional_block_output_shape(input_shape, s, expected):
    model = block_model(convolutional_block, input_shape, 3, [64, 64, 256], 2, "a", s=s)
    assert tuple(model.output.shape) == (None, *expected)


def test_identity_block_layers_are_named_and_sized_like_the_original_resnet():
    model = block_model(identity_block, (14, 14, 256), 3, [64, 32, 256], 3, "c")
    kernels = {layer.name: tuple(layer.kernel.shape) for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D)}
    assert kernels == {
        "res3c_branch2a": (1, 1, 256, 64),
        "res3c_branch2b": (3, 3, 64, 32),
        "res3c_branch2c": (1, 1, 32, 256),
    }
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert sorted(bn.name for bn in bns) == ["bn3c_branch2a", "bn3c_branch2b", "bn3c_branch2c"]
    assert all(bn.epsilon == pytest.approx(1.001e-5) and bn.axis in (3, -1) for bn in bns)
    # 1x1 (256*64+64), 3x3 (9*64*32+32), 1x1 (32*256+256), BN 4 per channel.
    assert model.count_params() == (16448 + 18464 + 8448) + 4 * (64 + 32 + 256)


def test_convolutional_block_has_a_strided_projection_shortcut_and_stride_on_the_first_1x1():
    model = block_model(convolutional_block, (56, 56, 64), 3, [64, 64, 256], 2, "a", s=2)
    convs = {layer.name: layer for layer in model.layers
             if isinstance(layer, keras.layers.Conv2D)}
    assert set(convs) == {"res2a_branch2a", "res2a_branch2b", "res2a_branch2c", "res2a_branch1"}
    assert tuple(convs["res2a_branch2a"].strides) == (2, 2)
    assert tuple(convs["res2a_branch2b"].strides) == (1, 1)
    assert tuple(convs["res2a_branch1"].strides) == (2, 2)
    assert tuple(convs["res2a_branch1"].kernel.shape) == (1, 1, 64, 256)
    assert "bn2a_branch1" in [layer.name for layer in model.layers]


def test_identity_block_computes_relu_of_main_path_plus_input(rng):
    """With the last BatchNorm's scale and shift at zero, F(x) = 0 and the block is relu(x)."""
    model = block_model(identity_block, (8, 8, 16), 3, [4, 4, 16], 2, "b")
    bn = model.get_layer("bn2b_branch2c")
    bn.gamma.assign(np.zeros(16, "float32"))
    bn.beta.assign(np.zeros(16, "float32"))
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x, 0), atol=1e-6)


def test_batchnorm_follows_the_outer_training_flag(rng):
    model = block_model(convolutional_block, (8, 8, 3), 3, [4, 4, 8], 2, "a", s=1)
    randomize_weights(model, seed=1)
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")

    def outputs():
        # A training call also updates the moving statistics: restore them each time.
        weights = model.get_weights()
        predicted = model.predict(x, verbose=0)
        inference = np.asarray(model(x, training=False))
        training = np.asarray(model(x, training=True))
        model.set_weights(weights)
        return inference, training, predicted

    inference, training, predicted = outputs()
    np.testing.assert_allclose(predicted, inference, atol=1e-6)
    assert np.abs(training - inference).max() > 1e-2

    # Shifting the moving statistics changes inference, not training (batch statistics).
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(layer.moving_mean + 5.0)
    inference2, training2, _ = outputs()
    np.testing.assert_allclose(training2, training, atol=1e-5)
    assert np.abs(inference2 - inference).max() > 1e-2


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: identity_block(x, 3, [64, 64, 256], 2, "b"), "use convolutional_block"),
        (lambda x: identity_block(x, 3, [64, 64], 2, "b"), "three numbers"),
        (lambda x: identity_block(x, 3, "abc", 2, "b"), "three numbers"),
        (lambda x: identity_block(x, 3, [64, 0, 64], 2, "b"), "positive integer"),
        (lambda x: identity_block(x, 3, [64, 2.5, 64], 2, "b"), "positive integer"),
        (lambda x: identity_block(x, 2, [16, 16, 64], 2, "b"), "positive odd"),
        (lambda x: identity_block(x, 0, [16, 16, 64], 2, "b"), "positive odd"),
        (lambda x: convolutional_block(x, 3, [16, 16, 64], 2, "a", s=0), "stride s"),
        (lambda x: convolutional_block(x, 3, [16, 16, 64], 2, "a", s=1.5), "stride s"),
        (lambda x: convolutional_block(x, 3, [16, 16, 64], 2, "", s=2), "block a non-empty"),
        (lambda x: identity_block(np.zeros((8, 64)), 3, [16, 16, 64], 2, "b"), "4D image"),
    ],
)
def test_bad_block_arguments_get_a_clear_value_error(call, message):
    x = keras.Input(shape=(16, 16, 64))
    with pytest.raises(ValueError, match=message):
        call(x)


def test_identity_block_error_names_the_channels():
    x = keras.Input(shape=(16, 16, 64))
    with pytest.raises(ValueError) as info:
        identity_block(x, 3, [64, 64, 256], 2, "b")
    assert "64 channels" in str(info.value) and "256" in str(info.value)
