"""The learning-rate range test (resnet_lab.lr_finder)."""

import math

import keras
import numpy as np
import pytest

from resnet_lab import lr_finder
from resnet_lab.config import RunConfig
from resnet_lab.data import load_dataset

CONFIG = RunConfig(model="resnet8", image_size=16, batch_size=8, epochs=1, train_size=48,
                   validation_size=8)


def test_the_ramp_goes_from_start_to_stop_exponentially():
    ramp = lr_finder.ExponentialRamp(1e-5, 1.0, 11)
    rates = [float(ramp(step)) for step in range(11)]
    assert rates[0] == pytest.approx(1e-5) and rates[-1] == pytest.approx(1.0, rel=1e-5)
    assert np.allclose(np.diff(np.log10(rates)), 0.5, atol=1e-5)  # half a decade a step
    again = lr_finder.ExponentialRamp.from_config(ramp.get_config())
    assert float(again(4)) == pytest.approx(rates[4])


def feed(losses, beta=0.9, divergence=4.0):
    """The callback, given Keras' running means of ``losses`` as fit reports them."""
    callback = lr_finder._StepLosses(beta, divergence)
    model = keras.Sequential()
    model.stop_training = False  # as fit sets it
    callback.set_model(model)
    for count, _ in enumerate(losses, 1):
        callback.on_train_batch_end(count - 1, {"loss": float(np.mean(losses[:count]))})
        if callback.model.stop_training:
            break
    return callback


def test_each_steps_own_loss_is_recovered_from_kerass_running_mean():
    losses = [2.1, 2.0, 2.4, 1.5, 1.2, 1.9, 0.8]
    callback = feed(losses)
    assert np.allclose(callback.raw, losses, atol=1e-5)
    average, expected = 0.0, []
    for count, loss in enumerate(losses, 1):  # fast.ai's debiased moving average
        average = 0.9 * average + 0.1 * loss
        expected.append(average / (1 - 0.9 ** count))
    assert np.allclose(callback.smoothed, expected)
    assert not callback.model.stop_training


def test_the_test_stops_once_the_loss_diverges():
    losses = [2.0] * 12 + [3.0 * 1.5 ** k for k in range(30)]
    callback = feed(losses)
    assert callback.model.stop_training and len(callback.raw) < len(losses)
    assert callback.smoothed[-1] > 4 * min(callback.smoothed)
    assert feed([2.0] * 12 + [float("nan")]).model.stop_training


@pytest.fixture(scope="module")
def range_test():
    splits = load_dataset(CONFIG)
    splits.train.set_epoch(3)
    result = lr_finder.find_learning_rate(CONFIG, splits, start=1e-4, stop=10.0, steps=12)
    return splits, result


def test_the_range_test_trains_a_model_of_its_own_and_suggests_rates(range_test):
    splits, result = range_test
    count = len(result.rates)
    assert 10 < count <= 12 and len(result.losses) == len(result.raw_losses) == count
    assert result.rates[0] == pytest.approx(1e-4)
    assert np.allclose(np.diff(np.log(result.rates)), math.log(1e5) / 11)
    lowest = int(np.nanargmin(result.losses))
    assert result.suggestion == pytest.approx(result.rates[lowest] / 10)
    assert result.rates[0] <= result.steepest <= result.rates[lowest]
    assert all(math.isfinite(loss) for loss in result.raw_losses[:lowest + 1])
    assert splits.train.epoch == 3  # the batches are left where they were


def test_the_range_test_sees_the_runs_batches_epoch_after_epoch():
    splits = load_dataset(CONFIG)  # 6 batches per epoch
    images, labels = lr_finder._batches(splits.train, 8)
    assert len(images) == len(labels) == 8 * CONFIG.batch_size
    splits.train.set_epoch(1)
    np.testing.assert_array_equal(images[6 * 8:7 * 8], splits.train[0][0])
    splits.train.set_epoch(0)
    np.testing.assert_array_equal(images[:8], splits.train[0][0])


@pytest.mark.parametrize("arguments, message", [
    (dict(start=1e-2, stop=1e-3), "the rates must satisfy 0 < start < stop"),
    (dict(start=0), "the rates must satisfy 0 < start < stop"),
    (dict(steps=5), "steps must be a whole number, at least 10; got 5"),
])
def test_bad_arguments_are_refused_before_any_training(arguments, message):
    with pytest.raises(ValueError, match=message):
        lr_finder.find_learning_rate(CONFIG, None, **arguments)
