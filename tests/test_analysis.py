"""Gradient norms per layer, at one moment and along training (lessons 1 and 6)."""

import json

import keras
import numpy as np
import pytest

from resnet_lab.analysis import GradientNormHistory, kernel_gradient_norms, kernel_norms
from resnet_lab.models import cifar_resnet


def batch(n=8, size=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, 3)).astype("float32")
    return x, keras.utils.to_categorical(rng.integers(0, classes, n), classes)


def small_net(residual=True):
    keras.utils.set_random_seed(0)
    return cifar_resnet(8, 4, (8, 8, 3), residual=residual)


def test_one_norm_per_layer_with_a_kernel_input_side_first():
    import tensorflow as tf

    model = small_net()
    x, y = batch()
    norms = kernel_gradient_norms(model, x, y, loss="categorical_crossentropy")
    assert len(norms) == 8  # 7 convolutions and the classifier: a depth-8 network
    assert all(np.isfinite(norms)) and all(n > 0 for n in norms)
    first, last = model.get_layer("conv1").kernel, model.get_layer("predictions").kernel
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
    by_hand = [float(np.linalg.norm(g)) for g in tape.gradient(loss, [first, last])]
    np.testing.assert_allclose([norms[0], norms[-1]], by_hand, rtol=1e-5)


def test_kernel_norms_follow_the_gradients_order_and_scale_the_gradient_as_one_over_w():
    # lesson 8 compares ||g|| / ||W||: a convolution followed by BatchNorm computes the
    # same for W and c * W, so its gradient shrinks as its kernel grows
    model = small_net(residual=False)
    x, y = batch()
    assert model.layers[2].name == "bn_conv1"  # conv1 is followed by BatchNorm
    grads, norms = (kernel_gradient_norms(model, x, y, loss="categorical_crossentropy"),
                    kernel_norms(model))
    assert len(norms) == len(grads) == 8
    assert norms[0] == pytest.approx(float(np.linalg.norm(
        keras.ops.convert_to_numpy(model.get_layer("conv1").kernel))), rel=1e-6)
    conv1 = model.get_layer("conv1")
    conv1.kernel.assign(conv1.kernel * 4.0)
    grads4, norms4 = (kernel_gradient_norms(model, x, y, loss="categorical_crossentropy"),
                      kernel_norms(model))
    assert norms4[0] == pytest.approx(4 * norms[0], rel=1e-6)
    assert grads4[0] == pytest.approx(grads[0] / 4, rel=1e-2)
    np.testing.assert_allclose(grads4[1:], grads[1:], rtol=1e-2)  # the rest hardly moves


def test_layers_of_a_nested_model_are_measured_in_place():
    inner = small_net()
    images = keras.Input((8, 8, 3))
    outer = keras.Model(images, inner(keras.layers.Rescaling(1 / 127.5, offset=-1)(images)))
    x, y = batch()
    np.testing.assert_allclose(
        kernel_gradient_norms(outer, 127.5 * (x + 1), y, loss="categorical_crossentropy"),
        kernel_gradient_norms(inner, x, y, loss="categorical_crossentropy"), rtol=1e-3)


def test_the_norms_are_of_the_mean_loss_so_the_batch_size_does_not_scale_them():
    model = small_net()
    x, y = batch()
    once = kernel_gradient_norms(model, x, y, loss="categorical_crossentropy")
    twice = kernel_gradient_norms(model, np.concatenate([x, x]), np.concatenate([y, y]),
                                  loss="categorical_crossentropy")
    np.testing.assert_allclose(twice, once, rtol=1e-4)


def test_measuring_leaves_batchnorm_moving_statistics_unchanged():
    model = small_net(residual=False)
    before = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
    kernel_gradient_norms(model, *batch(), loss="categorical_crossentropy")
    after = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


def test_the_history_records_initialisation_and_every_epoch_and_survives_a_restart(tmp_path):
    x, y = batch(n=16)
    model = small_net()
    model.compile("adam", "categorical_crossentropy")
    path = tmp_path / "gradients.json"
    history = GradientNormHistory(x[:8], y[:8], path=path)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[history])
    assert sorted(history.norms) == [0, 1, 2]
    assert all(len(norms) == 8 for norms in history.norms.values())
    assert history.norms[0] != history.norms[2]  # training changed the gradients
    saved = json.loads(path.read_text())
    assert sorted(saved) == ["0", "1", "2"]
    assert [p.name for p in tmp_path.iterdir()] == ["gradients.json"]  # no temporary file
    again = GradientNormHistory(x[:8], y[:8], path=path)
    assert again.norms == history.norms  # a resumed run continues the record


def test_a_run_resumed_after_epoch_0_does_not_record_its_weights_as_the_initial_ones():
    x, y = batch(n=16)
    model = small_net()
    model.compile("adam", "categorical_crossentropy")
    history = GradientNormHistory(x[:8], y[:8])  # as BackupAndRestore resumes at epoch 1
    model.fit(x, y, batch_size=8, epochs=2, initial_epoch=1, verbose=0, callbacks=[history])
    assert sorted(history.norms) == [2]


def test_the_record_goes_into_a_folder_that_does_not_exist_yet(tmp_path):
    x, y = batch(n=8)
    model = small_net()
    model.compile("adam", "categorical_crossentropy")
    path = tmp_path / "runs" / "plain8" / "gradients.json"
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[GradientNormHistory(x, y, path=path)])
    assert sorted(json.loads(path.read_text())) == ["0", "1"]


def test_a_mixed_float16_model_gets_the_norms_of_its_float32_twin():
    x, y = batch()
    reference = kernel_gradient_norms(small_net(), x, y, loss="categorical_crossentropy")
    keras.config.set_dtype_policy("mixed_float16")
    try:
        half = small_net()
    finally:
        keras.config.set_dtype_policy("float32")
    half.set_weights(small_net().get_weights())
    norms = kernel_gradient_norms(half, x, y, loss="categorical_crossentropy")
    np.testing.assert_allclose(norms, reference, rtol=0.05)


# --- Lesions (Veit et al. 2016) and loss surfaces (Li et al. 2018), lesson 9 -----------

def trained_like(depth=14, residual=True, size=8):
    """A cifar_resnet with random BatchNorm statistics, so that nothing is trivially 0 or 1."""
    from resnet_lab.weights import randomize_weights

    keras.utils.set_random_seed(1)
    model = cifar_resnet(depth, 4, (size, size, 3), residual=residual)
    randomize_weights(model, seed=1)
    return model


def up_to(model, layer_name):
    return keras.Model(model.input, model.get_layer(layer_name).output)


def test_blocks_are_listed_input_side_first_for_both_twins():
    from resnet_lab.analysis import residual_blocks

    expected = ["s1b1", "s1b2", "s2b1", "s2b2", "s3b1", "s3b2"]
    assert residual_blocks(trained_like()) == expected
    assert residual_blocks(trained_like(residual=False)) == expected


@pytest.mark.parametrize("residual", [True, False], ids=["resnet", "plain"])
def test_a_deleted_block_is_exactly_the_identity_on_its_input(residual):
    from resnet_lab.analysis import lesion

    model = trained_like(residual=residual)
    x = batch(size=8)[0]
    lesioned = lesion(up_to(model, "s1b2_out"), ["s1b2"])
    before = keras.ops.convert_to_numpy(up_to(model, "s1b1_out")(x, training=False))
    after = keras.ops.convert_to_numpy(lesioned(x, training=False))
    np.testing.assert_array_equal(after, before)
    intact = keras.ops.convert_to_numpy(up_to(model, "s1b2_out")(x, training=False))
    assert not np.allclose(intact, before)  # the block did something before it was deleted


@pytest.mark.parametrize("residual", [True, False], ids=["resnet", "plain"])
def test_a_deleted_block_that_halves_the_image_keeps_the_option_a_shortcut(residual):
    from resnet_lab.analysis import lesion

    model = trained_like(residual=residual)
    x = batch(size=8)[0]
    before = keras.ops.convert_to_numpy(up_to(model, "s1b2_out")(x, training=False))
    after = keras.ops.convert_to_numpy(
        lesion(up_to(model, "s2b1_out"), ["s2b1"])(x, training=False))
    expected = np.pad(before[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (8, 8)))  # 16 -> 32
    np.testing.assert_array_equal(after, expected)


def test_a_lesioned_copy_shares_the_weights_and_leaves_the_model_alone():
    from resnet_lab.analysis import lesion

    model = trained_like()
    x = batch(size=8)[0]
    before = keras.ops.convert_to_numpy(model(x, training=False))
    lesioned = lesion(model, ["s2b2", "s3b1"])
    assert {id(w) for w in lesioned.weights} <= {id(w) for w in model.weights}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x, training=False)), before)
    assert not np.allclose(keras.ops.convert_to_numpy(lesioned(x, training=False)), before)


@pytest.mark.parametrize("augmentation", [None, "shift"])
def test_lesions_reach_into_the_recipes_classifier_and_unknown_blocks_are_named(augmentation):
    """The recipe's classifier nests the network once (rescale, network, softmax), twice
    with augmentation: the lesion must reach the blocks, and compute what the lesioned
    network computes inside the same rescaling and softmax."""
    from resnet_lab import training
    from resnet_lab.analysis import lesion, residual_blocks
    from resnet_lab.config import RunConfig

    config = RunConfig(model="resnet8", image_size=8, epochs=1, augment=augmentation is not None)
    model = training.build_model(config, num_classes=4, steps_per_epoch=1)
    randomize_weights_of(model)
    assert residual_blocks(model) == ["s1b1", "s2b1", "s3b1"]
    images = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3)).astype("uint8")
    network = training.inference_model(model)  # rescale, resnet8, softmax
    inner = network.get_layer("resnet8")
    expected = network.get_layer("softmax")(lesion(inner, ["s2b1"])(
        network.get_layer("rescale")(images), training=False))
    actual = lesion(model, ["s2b1"])(images, training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(actual),
                               keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(actual),
                           keras.ops.convert_to_numpy(model(images, training=False)))
    with pytest.raises(ValueError, match="has no block 's4b1'; its blocks are s1b1, s2b1"):
        lesion(model, ["s4b1"])


def randomize_weights_of(model):
    from resnet_lab.weights import randomize_weights

    randomize_weights(model, seed=2)


def test_random_lesions_sample_k_blocks_and_k_0_is_the_intact_model():
    from resnet_lab.analysis import accuracy, random_lesions

    model = trained_like()
    x, y = batch(n=16, size=8)
    results = random_lesions(model, x, y, counts=[0, 1, 3], samples=2, seed=0)
    assert sorted(results) == [0, 1, 3]
    assert results[0] == [accuracy(model, x, y)]  # there is one way to delete nothing
    assert len(results[1]) == len(results[3]) == 2
    every = random_lesions(model, x, y, counts=[1], samples=10, seed=0)[1]
    assert len(every) == 6  # 6 blocks: each deleted once, none twice
    with pytest.raises(ValueError, match="cannot delete 7 of 6 blocks"):
        random_lesions(model, x, y, counts=[7])


def test_filter_normalisation_gives_each_filter_the_norm_of_the_weights_filter():
    from resnet_lab.analysis import filter_normalized_direction

    model = trained_like()
    direction = filter_normalized_direction(model, seed=3)
    assert len(direction) == len(model.trainable_weights)
    kernels = 0
    for variable, d in zip(model.trainable_weights, direction, strict=True):
        w = keras.ops.convert_to_numpy(variable)
        if w.ndim == 1:  # biases and BatchNorm's gamma and beta stay put
            assert not d.any()
            continue
        kernels += 1
        axes = tuple(range(w.ndim - 1))
        np.testing.assert_allclose(np.sqrt((d ** 2).sum(axis=axes)),
                                   np.sqrt((w.astype("float64") ** 2).sum(axis=axes)),
                                   rtol=1e-6)
        assert not np.allclose(d, w)  # a random direction, not the weights themselves
    assert kernels == 14  # 13 convolutions and the classifier
    again = filter_normalized_direction(model, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(direction, again, strict=True))


def test_the_surface_at_the_origin_is_the_models_loss_and_the_weights_come_back():
    from resnet_lab.analysis import filter_normalized_direction, loss_surface

    keras.utils.set_random_seed(0)
    model = cifar_resnet(8, 4, (8, 8, 3))
    x, y = batch(n=16, size=8)
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    directions = [filter_normalized_direction(model, seed=s) for s in (1, 2)]
    loss, acc = loss_surface(model, x, y, directions, [-0.5, 0.0, 0.5])
    assert loss.shape == acc.shape == (3, 3)
    expected = float(keras.ops.convert_to_numpy(keras.ops.mean(
        keras.losses.categorical_crossentropy(y, model(x, training=False)))))
    assert loss[1, 1] == pytest.approx(expected, rel=1e-5)
    assert len(set(np.round(loss.ravel(), 6))) > 1  # moving the weights changes the loss
    for w, saved in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), saved)
    line, _ = loss_surface(model, x, y, directions[:1], [0.0, 1.0])
    assert line.shape == (2,) and line[0] == pytest.approx(expected, rel=1e-5)


def test_local_minima_finds_the_bottom_of_a_bowl_and_the_dips_of_a_bumpy_surface():
    from resnet_lab.analysis import local_minima

    a, b = np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9))
    assert local_minima(a ** 2 + b ** 2) == [(4, 4)]
    bumpy = a ** 2 + b ** 2 + 0.5 * np.cos(6 * a) * np.cos(6 * b)
    assert len(local_minima(bumpy)) > 1
    assert local_minima(np.ones((3, 3))) == []  # a plateau has no strict minimum
    assert local_minima(a + b) == []  # falling towards a corner: the edge is not a minimum


def test_the_surface_is_indexed_b_then_a_takes_class_indices_and_restores_after_an_error(
        monkeypatch):
    from resnet_lab import analysis

    keras.utils.set_random_seed(0)
    model = cifar_resnet(8, 4, (8, 8, 3))
    x, y = batch(n=16, size=8)
    d1, d2 = (analysis.filter_normalized_direction(model, seed=s) for s in (1, 2))
    loss, _ = analysis.loss_surface(model, x, y, [d1, d2], [-0.5, 0.0, 0.5])
    # loss[b, a] at a = +0.5, b = -0.5, computed on its own:
    moved = [0.5 * p - 0.5 * q for p, q in zip(d1, d2, strict=True)]
    line, _ = analysis.loss_surface(model, x, y.argmax(-1), [moved], [0.0, 1.0])
    assert loss[0, 2] == pytest.approx(line[1], rel=1e-5)
    assert loss[2, 0] != pytest.approx(line[1], rel=1e-3)
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("interrupted")
        return original(*args)

    original = analysis._predict
    monkeypatch.setattr(analysis, "_predict", failing)
    with pytest.raises(RuntimeError):
        analysis.loss_surface(model, x, y, [d1], [0.0, 0.5, 1.0])
    for w, saved in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), saved)


def test_with_a_separate_softmax_the_loss_comes_from_the_logits_without_a_ceiling():
    from resnet_lab import training
    from resnet_lab.analysis import filter_normalized_direction, loss_surface
    from resnet_lab.config import RunConfig

    config = RunConfig(model="resnet8", image_size=8, epochs=1, augment=False)
    model = training.build_model(config, num_classes=4, steps_per_epoch=1)
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3)).astype("uint8")
    y = keras.utils.to_categorical(np.arange(16) % 4, 4)
    direction = filter_normalized_direction(model, seed=1)
    loss, _ = loss_surface(model, images, y, [direction], [0.0, 50.0])
    expected = float(keras.ops.convert_to_numpy(keras.ops.mean(
        keras.losses.categorical_crossentropy(y, model(images, training=False)))))
    assert loss[0] == pytest.approx(expected, rel=1e-4)
    assert loss[1] > 28  # far away: more than a clipped probability (27.6) could give
