"""ResNet50: keras.applications' twin in parameters, arguments and outputs."""

import keras
import numpy as np
import pytest

from resnet_lab import ResNet50, transfer_weights
from resnet_lab.weights import randomize_weights


def parameter_counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return model.count_params(), trainable


def test_resnet50_has_keras_applications_parameter_counts():
    model = ResNet50()
    assert tuple(model.input.shape) == (None, 224, 224, 3)
    assert tuple(model.output.shape) == (None, 1000)
    assert parameter_counts(model) == (25_636_712, 25_583_592)
    assert len(model.layers) == 177
    assert len([layer for layer in model.layers if layer.weights]) == 107
    assert len(model.weights) == 320


def test_resnet50_without_top_has_23_587_712_parameters():
    model = ResNet50(include_top=False)
    assert model.count_params() == 23_587_712
    assert tuple(model.output.shape) == (None, None, None, 2048)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(include_top=False, input_shape=(64, 64, 3)),
        dict(include_top=False, pooling="avg"),
        dict(include_top=False, pooling="max", input_shape=(97, 130, 3)),
        dict(include_top=True, input_shape=(32, 32, 1), classes=10, classifier_activation=None),
        dict(include_top=True, classes=7),
    ],
    ids=["notop-64", "notop-avg", "notop-max-97x130", "top-32-gray-10", "top-7"],
)
def test_arguments_behave_like_keras_applications(kwargs):
    ours = ResNet50(**kwargs)
    theirs = keras.applications.ResNet50(weights=None, **kwargs)
    assert tuple(ours.input.shape) == tuple(theirs.input.shape)
    assert tuple(ours.output.shape) == tuple(theirs.output.shape)
    assert ours.count_params() == theirs.count_params()
    assert ours.layers[-1].get_config().get("activation") == theirs.layers[-1].get_config().get(
        "activation"
    )


def test_input_tensor_becomes_the_model_input():
    images = keras.Input(shape=(64, 64, 3), name="images")
    model = ResNet50(include_top=False, input_tensor=images, pooling="avg")
    assert model.inputs[0] is images
    assert tuple(model.output.shape) == (None, 2048)


def test_resnet50_matches_keras_applications_outputs(rng):
    theirs = keras.applications.ResNet50(weights=None)
    randomize_weights(theirs, seed=1)
    ours = ResNet50()
    transfer_weights(theirs, ours)
    x = rng.uniform(-120, 150, size=(2, 224, 224, 3)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    actual = ours.predict(x, verbose=0)
    assert np.abs(actual - expected).max() < 1e-5
    assert expected.std() > 1e-4  # the random weights give a non-trivial output


def test_keras_applications_matches_ours_after_reverse_transfer_without_top(rng):
    ours = ResNet50(include_top=False, pooling="avg", input_shape=(96, 96, 3))
    randomize_weights(ours, seed=2)
    theirs = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(96, 96, 3)
    )
    transfer_weights(ours, theirs)
    x = rng.uniform(-120, 150, size=(2, 96, 96, 3)).astype("float32")
    expected = ours.predict(x, verbose=0)
    actual = theirs.predict(x, verbose=0)
    scale = np.abs(expected).max()
    assert scale > 1e-3
    assert np.abs(actual - expected).max() < 1e-5 * max(1.0, scale)


def test_no_two_convolutions_start_with_the_same_kernel():
    model = ResNet50(include_top=False, input_shape=(32, 32, 3))
    kernels = [layer.kernel.numpy() for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D)]
    assert len(kernels) == 53
    fingerprints = {(k.shape, k.ravel()[:16].tobytes()) for k in kernels}
    assert len(fingerprints) == 53


def test_set_random_seed_makes_builds_reproducible():
    def build(seed):
        keras.utils.set_random_seed(seed)
        return ResNet50(include_top=False, input_shape=(32, 32, 3)).get_weights()

    first, again, other = build(7), build(7), build(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_shape=(31, 224, 3), include_top=False), "at least 32"),
        (dict(input_shape=(16, 16, 3)), "at least 32"),
        (dict(input_shape=(224, 224)), r"\(height, width, channels\)"),
        (dict(input_shape=(None, None, 3)), "fixed size"),
        (dict(weights="imagenet", classes=10), "include_top=False"),
        (dict(weights="imagenet", input_shape=(128, 128, 3)), "include_top=False"),
        (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)), "3 input channels"),
        (dict(weights="imagenett"), "weights must be None"),
        (dict(weights="/no/such/file.h5"), "weights must be None"),
        (dict(include_top=False, pooling="mean"), "pooling must be"),
        (dict(classes=0), "classes must be a positive integer"),
    ],
)
def test_bad_model_arguments_get_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet50(**kwargs)


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85),
                                             (110, 1.7)])
def test_cifar_resnets_have_the_parameter_counts_of_he_et_al(depth, millions):
    from resnet_lab.models import cifar_resnet

    residual, plain = cifar_resnet(depth), cifar_resnet(depth, residual=False)
    scale = 100 if depth < 110 else 10  # the paper's table truncates: 0.857M reads 0.85M
    assert int(residual.count_params() / 1e6 * scale) / scale == millions
    assert plain.count_params() == residual.count_params()
    assert len([layer for layer in residual.layers if isinstance(layer, keras.layers.Conv2D)
                ]) + 1 == depth  # convolutions plus the classifier
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    assert tuple(residual.output.shape) == (None, 10)


def test_cifar_resnet_depth_must_be_6n_plus_2():
    from resnet_lab.models import cifar_resnet

    with pytest.raises(ValueError, match="6n"):
        cifar_resnet(21)


def test_cifar_resnet_refuses_images_too_small_for_its_two_halvings():
    from resnet_lab.models import cifar_resnet

    with pytest.raises(ValueError, match="at least 8"):
        cifar_resnet(8, input_shape=(4, 4, 3))


def test_plain_and_residual_twins_start_alike_and_differ_only_by_the_additions():
    from resnet_lab.models import cifar_resnet

    keras.utils.set_random_seed(0)
    residual = cifar_resnet(8, 4, (8, 8, 3))
    keras.utils.set_random_seed(0)
    plain = cifar_resnet(8, 4, (8, 8, 3), residual=False)
    for a, b in zip(residual.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    adds = [layer.name for layer in residual.layers if isinstance(layer, keras.layers.Add)]
    assert adds == ["s1b1_add", "s2b1_add", "s3b1_add"]  # one per basic block
    names = [{layer.name for layer in model.layers[1:]} for model in (residual, plain)]
    assert names[0] - names[1] == {*adds, "s2b1_subsample", "s2b1_to_3d", "s2b1_pad", "s2b1_to_2d",
            "s3b1_subsample", "s3b1_to_3d", "s3b1_pad", "s3b1_to_2d"}
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    assert not np.allclose(residual.predict(x, verbose=0), plain.predict(x, verbose=0))
