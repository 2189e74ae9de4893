"""Weight transfer by name, legacy HDF5 files and the ImageNet download path.

The ImageNet files cannot be downloaded here, so the tests write files in the same
legacy HDF5 layout and serve them from 127.0.0.1: the real get_file/md5/load path runs.
"""

import dataclasses
import hashlib
import importlib

import keras
import numpy as np
import pytest

import resnet_lab.weights as weights_module
from resnet_lab import ResNet50, WeightsUnavailableError, registry, transfer_weights
from resnet_lab.weights import canonical_name, randomize_weights

SMALL = (32, 32, 3)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        ("conv1", "conv1_conv"),
        ("bn_conv1", "conv1_bn"),
        ("res2a_branch2a", "conv2_block1_1_conv"),
        ("bn2a_branch2b", "conv2_block1_2_bn"),
        ("res2c_branch2c", "conv2_block3_3_conv"),
        ("res4f_branch1", "conv4_block6_0_conv"),
        ("bn5a_branch1", "conv5_block1_0_bn"),
        ("probs", "predictions"),
        ("predictions", "predictions"),
        ("conv3_block2_2_conv", "conv3_block2_2_conv"),
    ],
)
def test_canonical_name_maps_the_original_names_to_keras_applications(ours, theirs):
    assert canonical_name(ours) == theirs


def test_every_weighted_layer_maps_to_a_keras_applications_layer():
    ours = {canonical_name(layer.name) for layer in ResNet50(input_shape=SMALL).layers
            if layer.weights}
    theirs = {layer.name for layer in keras.applications.ResNet50(
        weights=None, input_shape=SMALL).layers if layer.weights}
    assert ours == theirs and len(ours) == 107


def test_copying_by_layer_order_would_silently_swap_stage_2_kernels():
    """The trap transfer_weights avoids: the same shapes, in a different order."""
    ours = [layer.name for layer in ResNet50(input_shape=SMALL).layers if layer.weights]
    theirs = [layer.name for layer in keras.applications.ResNet50(
        weights=None, input_shape=SMALL).layers if layer.weights]
    by_order = [canonical_name(name) for name in ours]
    assert by_order != theirs  # an order-based copy pairs different layers


@pytest.mark.parametrize(
    "source_kwargs, target_kwargs, message",
    [
        (dict(include_top=True), dict(include_top=False), "no counterpart"),
        (dict(include_top=False), dict(include_top=True), "get no weights"),
        (dict(classes=10), dict(classes=1000), r"predictions/kernel: source shape \(2048, 10\)"),
    ],
)
def test_transfer_between_incompatible_models_fails_and_copies_nothing(
    source_kwargs, target_kwargs, message
):
    source = keras.applications.ResNet50(weights=None, input_shape=SMALL, **source_kwargs)
    target = ResNet50(input_shape=SMALL, **target_kwargs)
    before = target.get_weights()
    with pytest.raises(ValueError, match=message):
        transfer_weights(source, target)
    assert all(np.array_equal(a, b) for a, b in zip(before, target.get_weights(), strict=True))


def test_transfer_from_an_unrelated_model_names_the_problem():
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="nothing was copied"):
        transfer_weights(other, ResNet50(input_shape=SMALL))
    with pytest.raises(ValueError, match="two Keras models"):
        transfer_weights("resnet50.h5", ResNet50(input_shape=SMALL))


def assert_same_outputs(a, b, shape):
    x = np.random.default_rng(0).uniform(-120, 150, size=(1, *shape)).astype("float32")
    assert np.abs(a.predict(x, verbose=0) - b.predict(x, verbose=0)).max() < 1e-5


def test_weights_path_loads_a_legacy_keras_applications_file(published_style_files):
    folder, files = published_style_files
    fname, _, source = files[False]
    model = ResNet50(include_top=False, weights=str(folder / fname), input_shape=(64, 64, 3))
    assert_same_outputs(model, source, (64, 64, 3))


def test_weights_path_loads_our_own_weights_file(tmp_path):
    source = ResNet50(include_top=False, input_shape=SMALL)
    randomize_weights(source, seed=4)
    source.save_weights(tmp_path / "ours.weights.h5")
    model = ResNet50(include_top=False, input_shape=SMALL, weights=tmp_path / "ours.weights.h5")
    assert_same_outputs(model, source, SMALL)


def test_weights_path_that_is_not_a_weight_file_gets_a_clear_error(tmp_path):
    (tmp_path / "notes.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="as an HDF5 weight file"):
        ResNet50(weights=tmp_path / "notes.h5", include_top=False)


def test_imagenet_weights_are_downloaded_verified_cached_and_loaded(weights_server, tmp_path):
    _, files = weights_server
    model = ResNet50(weights="imagenet")
    assert_same_outputs(model, files[True][2], (224, 224, 3))
    cached = tmp_path / "keras" / "models" / files[True][0]
    assert hashlib.md5(cached.read_bytes()).hexdigest() == files[True][1]


def test_imagenet_weights_without_top(weights_server):
    _, files = weights_server
    model = ResNet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3))
    assert_same_outputs(model, files[False][2], (64, 64, 3))


def test_a_download_with_the_wrong_md5_is_rejected_and_deleted(weights_server, tmp_path,
                                                               monkeypatch):
    _, files = weights_server
    fname, _, _ = files[False]
    wrong = dataclasses.replace(registry.MODELS["resnet50"], imagenet_weights=("0" * 32,) * 2)
    monkeypatch.setitem(registry.MODELS, "resnet50", wrong)
    with pytest.raises(WeightsUnavailableError, match="does not match its published md5"):
        ResNet50(weights="imagenet", include_top=False)
    assert not (tmp_path / "keras" / "models" / fname).exists()


def test_offline_imagenet_download_says_what_to_do(monkeypatch, tmp_path):
    with socket_closed_port() as port:
        monkeypatch.setattr(weights_module, "WEIGHTS_BASE_URL", f"http://127.0.0.1:{port}/")
    monkeypatch.setattr(weights_module, "CACHE_DIR", str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as info:
        ResNet50(weights="imagenet", include_top=False)
    message = str(info.value)
    assert "Could not download" in message and "weights=None" in message
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert not any((tmp_path / "models").iterdir())


def socket_closed_port():
    """A context manager giving a local port with nothing listening once it exits."""
    import contextlib
    import socket

    @contextlib.contextmanager
    def closed():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        yield port

    return closed()


def test_published_file_names_and_hashes_match_keras_applications():
    try:
        resnet = importlib.import_module("keras.src.applications.resnet")
    except ImportError:
        pytest.skip("keras.applications' resnet module moved")
    assert weights_module.WEIGHTS_BASE_URL == resnet.BASE_WEIGHTS_PATH
    published = {name: spec.imagenet_weights for name, spec in registry.MODELS.items()
                 if spec.imagenet_weights}
    assert published == {name: resnet.WEIGHTS_HASHES[name] for name in published}
    assert set(published) == {"resnet50", "resnet101", "resnet152", "resnet50v2",
                              "resnet101v2", "resnet152v2"}
