"""Measurements on a model: the gradient that reaches each layer."""

import keras
import numpy as np


def kernel_gradient_norms(model, x, y, loss="mean_squared_error"):
    """The L2 norm of the loss gradient for each layer's kernel, input side first.

    Works with the TensorFlow and JAX backends. Layers without a kernel are skipped.
    """
    loss_fn = keras.losses.get(loss)
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=True))
        grads = tape.gradient(value, kernels)
        return [float(np.linalg.norm(g.numpy())) for g in grads]
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        others = [v.value for v in model.non_trainable_variables]

        def compute(trainable_values):
            out, _ = model.stateless_call(trainable_values, others, x, training=True)
            return keras.ops.mean(loss_fn(y, out))

        grads = jax.grad(compute)(trainable)
        by_id = {id(v): g for v, g in zip(model.trainable_variables, grads, strict=True)}
        return [float(np.linalg.norm(np.asarray(by_id[id(k)]))) for k in kernels]
    raise NotImplementedError(f"kernel_gradient_norms supports tensorflow and jax, not {backend}")
