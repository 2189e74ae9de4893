"""Gradient norms per layer, at one moment and along training (lessons 1 and 6)."""

import json

import keras
import numpy as np

from resnet_lab.analysis import GradientNormHistory, kernel_gradient_norms
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
    assert not list(tmp_path.glob("*.partial"))  # written atomically, nothing left over
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
