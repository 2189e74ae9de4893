"""ResNet-101/152 and ResNet-50/101/152 V2: keras.applications' twins, weight for weight.

The same checks as ResNet-50's (tests/test_models.py, tests/test_weights.py): equal
parameter counts, a name-mapped copy of randomised weights (BatchNorm statistics
included) in both directions, equal outputs in inference mode, and keras.applications'
ImageNet weight files loaded through the same loader. Each pair of models is built once
for the module: the deep ones take seconds to build.
"""

import dataclasses
import hashlib

import keras
import numpy as np
import pytest
from conftest import write_legacy_h5

import resnet_lab.weights as weights_module
from resnet_lab import models, registry
from resnet_lab.weights import canonical_name, randomize_weights, transfer_weights

TWINS = {
    "ResNet101": keras.applications.ResNet101,
    "ResNet152": keras.applications.ResNet152,
    "ResNet50V2": keras.applications.ResNet50V2,
    "ResNet101V2": keras.applications.ResNet101V2,
    "ResNet152V2": keras.applications.ResNet152V2,
}
# keras.applications' counts with the top and 1000 classes (Keras 3.15.1; the keras.io
# table rounds them to 44.7M, 60.4M, 25.6M, 44.7M and 60.4M).
PARAMETERS = {
    "ResNet101": 44_707_176,
    "ResNet152": 60_419_944,
    "ResNet50V2": 25_613_800,
    "ResNet101V2": 44_675_560,
    "ResNet152V2": 60_380_648,
}
SHAPE = (64, 64, 3)  # five halvings leave 2x2: every layer still sees real values


@pytest.fixture(scope="module", params=list(TWINS))
def twins(request):
    """(name, ours, theirs) with the top, 1000 classes, input 64x64x3, built once.

    The classifier gives logits (no softmax): with random BatchNorm statistics a softmax
    can saturate to one-hot outputs, which would hide small differences.
    """
    name = request.param
    ours = getattr(models, name)(input_shape=SHAPE, classifier_activation=None)
    theirs = TWINS[name](weights=None, input_shape=SHAPE, classifier_activation=None)
    return name, ours, theirs


def outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def assert_close(actual, expected):
    """Equal to 1e-5, relative to the outputs' size (random weights give large logits)."""
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(actual - expected).max() < 1e-5 * scale


def test_parameter_counts_and_layers_match(twins):
    name, ours, theirs = twins
    # Global average pooling makes the count independent of the image size: these are
    # the counts at 224x224 too.
    assert ours.count_params() == theirs.count_params() == PARAMETERS[name]
    assert len(ours.layers) == len(theirs.layers)
    assert len(ours.weights) == len(theirs.weights)
    ours_named = {canonical_name(layer.name) for layer in ours.layers if layer.weights}
    assert ours_named == {layer.name for layer in theirs.layers if layer.weights}


@pytest.mark.parametrize("direction", ["theirs to ours", "ours to theirs"])
def test_copied_weights_give_the_same_outputs(twins, rng, direction):
    name, ours, theirs = twins
    source, target = (theirs, ours) if direction == "theirs to ours" else (ours, theirs)
    randomize_weights(source, seed=1 if direction == "theirs to ours" else 2)
    transfer_weights(source, target)
    x = rng.uniform(-1, 1, size=(2, *SHAPE)).astype("float32")
    expected = outputs(source, x)
    assert expected.std() > 1e-3  # random weights, a non-trivial output
    assert_close(outputs(target, x), expected)


def test_strides_sit_where_keras_applications_puts_them(twins):
    name, ours, theirs = twins
    by_name = {canonical_name(layer.name): layer for layer in ours.layers}
    for layer in theirs.layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert by_name[layer.name].strides == layer.strides, layer.name


@pytest.mark.parametrize("name", ["ResNet101", "ResNet50V2"])
def test_imagenet_weights_load_through_the_same_loader(name, tmp_path, monkeypatch):
    """A file like the published one, in Keras' cache under its published name: the
    md5 is checked (get_file) and the layers are matched by name, v1 and v2 names."""
    source = TWINS[name](weights=None, include_top=False, input_shape=(32, 32, 3))
    randomize_weights(source, seed=3)
    weights_name = name.lower()
    fname = weights_module.imagenet_weights_file(False, weights_name)[0]
    cached = tmp_path / "models" / fname
    cached.parent.mkdir()
    write_legacy_h5(source, cached)
    md5 = hashlib.md5(cached.read_bytes()).hexdigest()
    published = dataclasses.replace(registry.MODELS[weights_name], imagenet_weights=("0" * 32, md5))
    monkeypatch.setitem(registry.MODELS, weights_name, published)
    monkeypatch.setattr(weights_module, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(weights_module, "WEIGHTS_BASE_URL", "http://127.0.0.1:9/")  # unused
    model = getattr(models, name)(weights="imagenet", include_top=False,
                                  input_shape=(32, 32, 3))
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 32, 32, 3)).astype("float32")
    assert_close(outputs(model, x), outputs(source, x))


def test_v2_has_its_own_preprocessing_noted_and_its_own_weight_files():
    assert weights_module.imagenet_weights_file(True, "resnet152v2") == (
        "resnet152v2_weights_tf_dim_ordering_tf_kernels.h5", "a49b44d1979771252814e80f8ec446f9")
    with pytest.raises(ValueError, match="No ImageNet weights are published for 'resnet18'"):
        weights_module.imagenet_weights_file(True, "resnet18")


@pytest.mark.parametrize("ours, theirs", [
    ("res4b22_branch2c", "conv4_block23_3_conv"),
    ("bn3b7_branch2a", "conv3_block8_1_bn"),
    ("res4b35_branch1", "conv4_block36_0_conv"),
    ("bn2a_preact", "conv2_block1_preact_bn"),
    ("bn4b12_preact", "conv4_block13_preact_bn"),
    ("post_bn", "post_bn"),
])
def test_canonical_name_knows_numbered_blocks_and_preactivations(ours, theirs):
    assert canonical_name(ours) == theirs


def test_long_stages_number_their_blocks():
    assert models.block_names(3, numbered=False) == ["a", "b", "c"]
    assert models.block_names(4, numbered=True) == ["a", "b1", "b2", "b3"]


# Some layer names of each: the long stages of the deep models count b1, b2, ...; v2 has
# a pre-activation BatchNorm per block, a 1x1 max pool on the shortcut of the block that
# halves the image (the last of stages 2-4) and a BatchNorm after the last stage.
SOME_NAMES = {
    "ResNet101": {"res2c_branch2a", "res3b3_branch2a", "res4b22_branch2c",
                  "res5c_branch2c", "bn_conv1"},
    "ResNet152": {"res3b7_branch2a", "res4b35_branch2c", "res5a_branch1"},
    "ResNet50V2": {"bn2a_preact", "res2c_branch1_pool", "res4f_branch1_pool", "res5c_add",
                   "post_bn"},
    "ResNet101V2": {"res3b3_branch1_pool", "bn4b22_preact", "res4b22_branch1_pool"},
    "ResNet152V2": {"res3b7_branch1_pool", "res4b35_branch1_pool", "post_relu"},
}


def test_layers_are_named_like_the_original_release(twins):
    name, ours, _ = twins
    assert SOME_NAMES[name] <= {layer.name for layer in ours.layers}


def test_bad_arguments_get_the_resnet50_errors():
    with pytest.raises(ValueError, match="at least 32"):
        models.ResNet152V2(include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="include_top=False"):
        models.ResNet101(weights="imagenet", classes=10)
