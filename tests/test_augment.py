"""The augmentation that runs in the model: what it does to images, on any backend."""

import keras
import numpy as np
import pytest

from resnet_lab import augment

SIZE = 32


def columns_image(n=64):
    """Each pixel's value is its column (0..31) in channel 0 and its row in channel 1."""
    cols = np.broadcast_to(np.arange(SIZE, dtype="float32")[None, :], (SIZE, SIZE))
    rows = cols.T
    image = np.stack([cols, rows, np.full_like(cols, 100)], axis=-1)
    return np.repeat(image[None], n, axis=0)


def run(layer, images, training=True):
    return keras.ops.convert_to_numpy(layer(images, training=training))


def test_inference_mode_returns_the_images_unchanged_as_float32():
    images = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    for kind in augment.KINDS:
        out = run(augment.augmentation(kind, seed=0), images, training=False)
        assert out.dtype == np.float32 and np.array_equal(out, images)


def test_the_resized_crop_zooms_into_a_crop_and_flips_half_the_images():
    out = run(augment.augmentation("resized_crop", seed=3), columns_image())
    first, last = out[:, SIZE // 2, 0, 0], out[:, SIZE // 2, -1, 0]  # a middle row's ends
    flipped = first > last
    assert 0.25 < flipped.mean() < 0.75  # each image flipped or not, at random
    span = np.abs(last - first)  # how many source columns the output covers
    smallest = np.sqrt(0.35 * 3 / 4) * (SIZE - 1)  # the smallest crop the ranges allow
    assert span.min() >= smallest - 1.5 and span.max() <= SIZE - 1 + 1e-3
    assert span.min() < 0.9 * (SIZE - 1)  # some crops are much smaller than the image
    assert out.min() >= 0 and out[..., :2].max() <= SIZE - 1  # only values from the image
    rows = out[:, :, SIZE // 2, 1]  # never flipped upside down
    assert np.all(rows[:, -1] >= rows[:, 0])


def test_the_same_seed_gives_the_same_sequence_and_each_call_differs():
    images = columns_image(8)
    a, b = (augment.augmentation("resized_crop", seed=1) for _ in range(2))
    first, second = run(a, images), run(a, images)
    assert not np.allclose(first, second)  # a new draw at every step
    assert np.array_equal(first, run(b, images)) and np.array_equal(second, run(b, images))
    other = run(augment.augmentation("resized_crop", seed=2), images)
    assert not np.allclose(first, other)


def test_the_shift_keeps_the_scale_and_reflects_the_borders():
    out = run(augment.augmentation("shift", seed=0), columns_image())
    steps = np.abs(np.diff(out[:, SIZE // 2, :, 0], axis=1))
    assert steps.max() <= 1 + 1e-4  # never stretched
    assert np.mean(np.isclose(steps, 1, atol=1e-4)) > 0.8  # one pixel per pixel, but at
    # the reflected border
    centre = out[:, SIZE // 2, SIZE // 2, 0]  # reads within 10% of the middle
    assert np.all(np.abs(centre - (SIZE - 1) / 2) <= 0.1 * SIZE + 0.5 + 1e-4)
    assert np.ptp(centre) > 0.1 * SIZE  # and really moves
    assert out.min() >= 0 and out[..., :2].max() <= SIZE - 1  # reflected, never black


def test_the_layer_compiles_with_xla():
    layer = augment.augmentation("resized_crop", seed=0)
    images = columns_image(4)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(lambda x: layer(x, training=True), jit_compile=True)
        out = compiled(tf.constant(images)).numpy()
    elif keras.backend.backend() == "jax":
        import jax

        out = np.asarray(jax.jit(lambda x: layer(x, training=True))(images))
    else:
        pytest.skip("XLA is tested on TensorFlow and JAX")
    assert out.shape == images.shape and np.isfinite(out).all()


def test_its_config_round_trips_and_bad_ranges_are_refused():
    layer = augment.augmentation("resized_crop", seed=4)
    again = augment.RandomCropFlip.from_config(layer.get_config())
    assert (again.scale, again.ratio, again.shift, again.seed) == ((0.35, 1.0), (0.75, 4 / 3),
                                                                    0.0, 4)
    with pytest.raises(ValueError, match="scale must be"):
        augment.RandomCropFlip(scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="Unknown augmentation 'rotate'"):
        augment.augmentation("rotate")


def test_on_one_device_the_draws_are_those_of_keras_own_seed_generator():
    """ReplicaSeedGenerator changes the seeds only across tf.distribute replicas (tested
    in tests/test_training.py): on one device a run draws what it always drew."""
    ours, keras_own = augment.ReplicaSeedGenerator(7), keras.random.SeedGenerator(7)
    for _ in range(2):
        drawn = [keras.ops.convert_to_numpy(keras.random.uniform((3, 7), seed=generator))
                 for generator in (ours, keras_own)]
        assert np.array_equal(*drawn)
