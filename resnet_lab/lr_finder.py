"""The learning-rate range test: which learning rates does a network learn with?

Smith ("Cyclical Learning Rates for Training Neural Networks", 2017,
https://arxiv.org/abs/1506.01186) trains for a few hundred steps while the learning rate
grows exponentially, and plots the loss against the rate: too small a rate and the loss
barely moves, a good one and it falls fast, too large and it climbs. fast.ai's
``lr_find`` made it a habit; Keras has no counterpart, so here is one.

    result = find_learning_rate(RUN, splits)      # a fresh model, trained briefly
    plot_learning_rate_range(result)              # resnet_lab.plotting
    result.suggestion                             # a tenth of the rate at the lowest loss

The test builds its own model with the run's recipe (``training.build_model``), with
AdamW at a learning rate that grows step by step, so the model you train afterwards is
untouched.
"""

import math
from typing import NamedTuple

import keras
import numpy as np


class RangeTest(NamedTuple):
    rates: list  # the learning rate of each step
    losses: list  # each step's training loss, smoothed
    raw_losses: list  # each step's training loss as measured
    suggestion: float  # a tenth of the rate where the smoothed loss is lowest
    steepest: float  # the rate where the smoothed loss falls fastest


@keras.saving.register_keras_serializable(package="resnet_lab")
class ExponentialRamp(keras.optimizers.schedules.LearningRateSchedule):
    """start x (stop / start) ** (step / (steps - 1)): from ``start`` to ``stop`` in
    ``steps`` steps (a schedule, so it works the same on every Keras backend)."""

    def __init__(self, start, stop, steps):
        self.start, self.stop, self.steps = float(start), float(stop), int(steps)

    def __call__(self, step):
        fraction = keras.ops.cast(step, "float32") / max(1, self.steps - 1)
        return self.start * keras.ops.exp(fraction * math.log(self.stop / self.start))

    def get_config(self):
        return {"start": self.start, "stop": self.stop, "steps": self.steps}


class _StepLosses(keras.callbacks.Callback):
    """Each step's own loss, and a stop once the loss has clearly diverged.

    Keras reports the mean loss since the epoch began; the loss of step k is then
    k x mean_k - (k - 1) x mean_(k-1).
    """

    def __init__(self, beta, divergence):
        super().__init__()
        self.beta, self.divergence = beta, divergence
        self.raw, self.smoothed, self._mean, self._average = [], [], 0.0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        count = len(self.raw) + 1
        mean = float(logs["loss"])
        loss = count * mean - (count - 1) * self._mean
        self._mean = mean
        self.raw.append(loss)
        # An exponential moving average, corrected for its start at 0 (as fast.ai's).
        self._average = self.beta * self._average + (1 - self.beta) * loss
        self.smoothed.append(self._average / (1 - self.beta ** count))
        if not math.isfinite(loss) or (
                count > 10 and self.smoothed[-1] > self.divergence * min(self.smoothed)):
            self.model.stop_training = True


def find_learning_rate(config, splits, *, start=1e-6, stop=1.0, steps=100, beta=0.9,
                       divergence=4.0):
    """The range test for ``config``'s recipe on ``splits.train``: a ``RangeTest``.

    Trains a new model (``training.build_model(config, splits)`` with AdamW and the
    recipe's weight decay) for up to ``steps`` batches while the learning rate grows
    from ``start`` to ``stop``; it stops early once the smoothed loss exceeds
    ``divergence`` times its lowest value. ``beta`` smooths the losses (the plot and
    the suggestions use the smoothed ones).
    """
    from resnet_lab import training

    if not (0 < start < stop and math.isfinite(stop)):
        raise ValueError(f"the rates must satisfy 0 < start < stop; got start={start}, "
                         f"stop={stop}.")
    if not isinstance(steps, int) or steps < 10:
        raise ValueError(f"steps must be a whole number, at least 10; got {steps!r}.")
    optimizer = keras.optimizers.AdamW(ExponentialRamp(start, stop, steps),
                                       weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    model = training.build_model(config, splits, optimizer=optimizer, steps_per_execution=1)
    epoch = splits.train.epoch
    images, labels = _batches(splits.train, steps)
    splits.train.set_epoch(epoch)
    losses = _StepLosses(beta, divergence)
    model.fit(images, labels, batch_size=splits.train.batch_size, epochs=1, shuffle=False,
              callbacks=[losses], verbose=0)
    done = len(losses.raw)
    rates = [start * (stop / start) ** (step / (steps - 1)) for step in range(done)]
    smoothed = np.array(losses.smoothed)
    finite = np.isfinite(smoothed)
    lowest = int(np.argmin(np.where(finite, smoothed, np.inf)))
    slopes = np.gradient(smoothed[:lowest + 1]) if lowest > 1 else np.zeros(1)
    return RangeTest(rates, losses.smoothed, losses.raw, rates[lowest] / 10,
                     rates[int(np.argmin(slopes))])


def _batches(batches, steps):
    """``steps`` training batches in the order the run would see them (epoch after
    epoch), as two arrays."""
    images, labels = [], []
    epoch = 0
    while len(images) < steps:
        batches.set_epoch(epoch)
        for index in range(min(len(batches), steps - len(images))):
            x, y = batches[index][:2]
            images.append(x)
            labels.append(y)
        epoch += 1
    return np.concatenate(images), np.concatenate(labels)
