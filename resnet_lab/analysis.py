"""Measurements on a model: the gradient that reaches each layer."""

import json
import os
import pathlib

import keras
import numpy as np


def kernel_gradient_norms(model, x, y, loss="mean_squared_error"):
    """The L2 norm of the gradient of the mean loss for each layer's kernel, input side first.

    The forward pass runs in training mode (BatchNorm uses the batch's statistics, as
    in a training step) but leaves the model as it found it: BatchNorm's moving
    statistics are not updated. Works with the TensorFlow and JAX backends. Layers
    without a kernel are skipped; those of a nested model are included.
    """
    loss_fn = keras.losses.get(loss)
    kernels = [layer.kernel for layer in _layers(model) if hasattr(layer, "kernel")]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # float16 cannot hold the smallest gradients: scale the loss up, as loss
        # scaling does in training, and the norms back down.
        scale = 2.0**12 if model.dtype_policy.compute_dtype == "float16" else 1.0
        state = [v.numpy() for v in model.non_trainable_variables]
        with tf.GradientTape() as tape:
            value = keras.ops.mean(loss_fn(y, model(x, training=True))) * scale
        grads = tape.gradient(value, kernels)
        for variable, saved in zip(model.non_trainable_variables, state, strict=True):
            variable.assign(saved)  # undo the moving-statistics update
        return [float(np.linalg.norm(g.numpy().astype("float64")) / scale) for g in grads]
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        others = [v.value for v in model.non_trainable_variables]

        def compute(trainable_values):
            out, _ = model.stateless_call(trainable_values, others, x, training=True)
            return keras.ops.mean(loss_fn(y, out))

        grads = jax.jit(jax.grad(compute))(trainable)  # one compiled call, not op by op
        by_id = {id(v): g for v, g in zip(model.trainable_variables, grads, strict=True)}
        return [float(np.linalg.norm(np.asarray(by_id[id(k)]))) for k in kernels]
    raise NotImplementedError(f"kernel_gradient_norms supports tensorflow and jax, not {backend}")


def _layers(model):
    """The model's layers in order, with those of nested models in their place."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


class GradientNormHistory(keras.callbacks.Callback):
    """Records kernel_gradient_norms on one fixed batch before training and after each epoch.

    ``norms`` maps the number of finished epochs (0 = at initialisation) to the list
    of per-layer norms, input side first; the loss is the model's compiled loss. With
    ``path`` (a JSON file) each record is also saved, atomically, and an earlier
    record there is loaded first, so a run resumed by BackupAndRestore keeps its
    history. The record at 0 is taken only when training starts at epoch 0: a resumed
    run's restored weights are not its initialisation.
    """

    def __init__(self, x, y, path=None):
        super().__init__()
        self.x, self.y = x, y
        self.path = pathlib.Path(path) if path is not None else None
        self.norms = {}
        if self.path is not None and self.path.exists():
            self.norms = {int(k): v for k, v in json.loads(self.path.read_text()).items()}

    def _record(self, epochs_done):
        self.norms[epochs_done] = kernel_gradient_norms(self.model, self.x, self.y,
                                                        loss=self.model.loss)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps({str(k): v for k, v in sorted(self.norms.items())}))
            os.replace(partial, self.path)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0 and 0 not in self.norms:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)
