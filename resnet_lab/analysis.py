"""Measurements on a model: the gradient that reaches each layer, what deleting blocks
does (Veit et al. 2016) and the loss around the trained weights (Li et al. 2018).

The lesion and loss-surface functions work on the CIFAR-style networks of lesson 6
(``models.cifar_resnet``, residual or plain, alone or inside ``training.build_model``'s
classifier) and use only Keras, so they run under every backend.
"""

import itertools
import json
import math
import pathlib
import re
import warnings

import keras
import numpy as np

from resnet_lab.files import write_json_atomically


def kernel_gradient_norms(model, x, y, loss="mean_squared_error"):
    """The L2 norm of the gradient of the mean loss for each layer's kernel, input side first.

    The forward pass runs in training mode (BatchNorm uses the batch's statistics, as
    in a training step) but leaves the model as it found it: BatchNorm's moving
    statistics are not updated. Works with the TensorFlow and JAX backends. Layers
    without a kernel are skipped; those of a nested model are included.
    """
    loss_fn = keras.losses.get(loss)
    kernels = [layer.kernel for layer in all_layers(model) if hasattr(layer, "kernel")]
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


def kernel_norms(model):
    """The L2 norm of each layer's kernel, in ``kernel_gradient_norms``' order.

    Divide a layer's gradient norm by its kernel's norm for the relative size of an SGD
    step, ||g|| / ||W||: a convolution followed by BatchNorm computes the same output
    for W and c * W, so its gradient scales as 1 / ||W||, and raw gradient norms of
    kernels of different sizes do not compare.
    """
    return [float(np.linalg.norm(keras.ops.convert_to_numpy(layer.kernel).astype("float64")))
            for layer in all_layers(model) if hasattr(layer, "kernel")]


def all_layers(model):
    """The model's layers in order, with those of nested models in their place."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
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
            write_json_atomically(self.path, {str(k): v for k, v in sorted(self.norms.items())})

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0 and 0 not in self.norms:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)


# --- Lesion study (Veit, Wilber & Belongie, NeurIPS 2016) ------------------------------

_BLOCK = re.compile(r"^(s\d+b\d+)_conv1$")


def residual_blocks(model):
    """The names of the blocks of a ``cifar_resnet`` network, input side first: 's1b1', ...

    The same for a ResNet and its plain twin; those of a nested network are included.
    """
    return [match.group(1) for layer in all_layers(model)
            for match in [_BLOCK.match(layer.name)] if match]


def lesion(model, blocks):
    """A copy of ``model`` with ``blocks`` deleted at test time; it shares the weights.

    Deleting a block leaves its shortcut: in a ResNet the block computes relu(S(x))
    instead of relu(F(x) + S(x)), where S is the identity, or, where the block halves the
    image, keeps every second pixel and pads the new channels with zeros (option A). A
    plain network's block has no shortcut; deleting it applies the same S to its input,
    so both kinds of network lose the same layers. Since x is a ReLU's output, relu(x) =
    x: a deleted identity block is exactly the identity.
    """
    from resnet_lab.models import pad_shortcut

    blocks = list(blocks)
    known = residual_blocks(model)
    unknown = [b for b in blocks if b not in known]
    if unknown:
        raise ValueError(f"{model.name!r} has no block {unknown[0]!r}; its blocks are "
                         f"{', '.join(known) or 'none (not a cifar_resnet network)'}.")
    deleted, block_inputs, done = set(blocks), {}, set()
    residual = {layer.name.removesuffix("_add") for layer in model.layers
                if layer.name.endswith("_add")}

    def clone(layer):
        # A nested network holding deleted blocks is lesioned in turn (clone_model's own
        # recursive=True does not reach a second level in every Keras 3 release).
        inside = (deleted & set(residual_blocks(layer)) if isinstance(layer, keras.Model)
                  else set())
        if inside:
            done.update(inside)
            return lesion(layer, sorted(inside))
        return layer

    def call(layer, *args, **kwargs):
        name = layer.name
        prefix = name.rsplit("_", 1)[0]
        if prefix in deleted and name.endswith("_conv1"):
            block_inputs[prefix] = args[0]
        if prefix in deleted and name.endswith("_add"):
            done.add(prefix)
            return args[0][1]  # Add()([F(x), S(x)]): the shortcut alone
        if prefix in deleted and name.endswith("_out") and prefix not in residual:
            done.add(prefix)
            x = block_inputs[prefix]
            conv = _find_layer(model, f"{prefix}_conv1")
            width, s = _find_layer(model, f"{prefix}_conv2").filters, conv.strides[0]
            if s != 1 or x.shape[-1] != width:
                x = pad_shortcut(x, width, s, f"{prefix}_lesion")
            return x
        return layer(*args, **kwargs)

    lesioned = keras.models.clone_model(model, clone_function=clone, call_function=call)
    if done != deleted:  # never silently return a network with a block left in
        raise RuntimeError(f"could not delete {', '.join(sorted(deleted - done))} from "
                           f"{model.name!r}.")
    return lesioned


def _find_layer(model, name):
    return next(layer for layer in all_layers(model) if layer.name == name)


def accuracy(model, x, y, batch_size=500):
    """The fraction of images classified right, in inference mode; ``y`` one-hot or labels."""
    predicted = _predict(model, x, batch_size).argmax(-1)
    labels = np.asarray(y)
    labels = labels.argmax(-1) if labels.ndim > 1 else labels
    return float(np.mean(predicted == labels))


def _predict(model, x, batch_size):
    """Outputs in inference mode, batch by batch, without compiling: each lesioned copy
    is a new model, and tracing one costs more than running it once."""
    with warnings.catch_warnings():
        # A model loaded from a .keras file expects its one input as a list; a tensor is
        # the same thing, but Keras says so once per model.
        warnings.filterwarnings("ignore", message="The structure of `inputs`")
        return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch_size],
                                                                training=False))
                               for i in range(0, len(x), batch_size)])


def random_lesions(model, x, y, counts, samples=10, seed=0, batch_size=500):
    """{k: accuracies after deleting k blocks chosen at random, one per set of blocks}.

    For each k, ``samples`` different sets of k blocks (every set, if there are no more
    than ``samples``), so that no set is counted twice.
    """
    rng = np.random.default_rng(seed)
    blocks = residual_blocks(model)
    results = {}
    for k in counts:
        if not 0 <= k <= len(blocks):
            raise ValueError(f"cannot delete {k} of {len(blocks)} blocks.")
        results[k] = [accuracy(lesion(model, chosen), x, y, batch_size)
                      for chosen in _distinct_sets(blocks, k, samples, rng)]
    return results


def _distinct_sets(blocks, k, samples, rng):
    if math.comb(len(blocks), k) <= samples:
        return [list(chosen) for chosen in itertools.combinations(blocks, k)]
    sets = []
    while len(sets) < samples:
        chosen = sorted(rng.choice(len(blocks), k, replace=False).tolist())
        if chosen not in sets:
            sets.append(chosen)
    return [[blocks[i] for i in chosen] for chosen in sets]


# --- Loss surface (Li, Xu, Taylor, Studer & Goldstein, NeurIPS 2018) -------------------

def filter_normalized_direction(model, seed=0):
    """A random direction in the space of ``model.trainable_weights``, filter-normalised.

    As in Li et al.'s code (``net_plotter.py``, ignore="biasbn", norm="filter"): a
    Gaussian direction for every kernel, each filter (a kernel's slice for one output
    channel or unit: its last axis in Keras) rescaled to the norm of the same filter of
    the weights; zero for biases and BatchNorm's scales and offsets. BatchNorm's moving
    statistics are not trainable weights: they keep their trained values.
    """
    rng = np.random.default_rng(seed)
    direction = []
    for variable in model.trainable_weights:
        weights = keras.ops.convert_to_numpy(variable).astype("float64")
        if weights.ndim <= 1:
            direction.append(np.zeros_like(weights))
            continue
        d = rng.normal(size=weights.shape)
        axes = tuple(range(weights.ndim - 1))
        d *= (np.sqrt((weights ** 2).sum(axis=axes)) /
              (np.sqrt((d ** 2).sum(axis=axes)) + 1e-10))
        direction.append(d)
    return direction


def loss_surface(model, x, y, directions, coordinates, batch_size=500):
    """Loss and accuracy at the weights θ + a d1 (+ b d2) for a (and b) in ``coordinates``.

    ``directions``: one or two from ``filter_normalized_direction``. ``y``: one-hot, or
    class indices. The loss is the mean cross-entropy, in inference mode (BatchNorm uses
    its moving statistics, as Li et al. evaluate), computed from the logits when the model
    ends with a separate softmax layer (as ``training.build_model``'s do), so that it has
    no ceiling; otherwise from the probabilities, each clipped at 1e-12 (a loss of at
    most 27.6). Returns (loss, accuracy) as arrays of shape (n,) or (n, n), indexed [a]
    or [b, a] (rows follow the second direction, as a contour plot expects). The weights
    are restored afterwards, also after an error.
    """
    if len(directions) not in (1, 2):
        raise ValueError(f"give one or two directions; got {len(directions)}.")
    variables = model.trainable_weights
    for d in directions:
        if len(d) != len(variables):
            raise ValueError("a direction must come from filter_normalized_direction(model).")
    origin = [keras.ops.convert_to_numpy(v) for v in variables]
    coordinates = np.asarray(coordinates, "float64")
    grid = ([(a,) for a in coordinates] if len(directions) == 1 else
            [(a, b) for b in coordinates for a in coordinates])
    labels = np.asarray(y)
    labels = labels.argmax(-1) if labels.ndim > 1 else labels.astype(int)
    network, from_logits = _logits_model(model)
    losses, accuracies = [], []
    try:
        for point in grid:
            for variable, w, *ds in zip(variables, origin, *directions, strict=True):
                step = sum(c * d for c, d in zip(point, ds, strict=True))
                variable.assign((w + step).astype(w.dtype))
            outputs = _predict(network, x, batch_size).astype("float64")
            if from_logits:  # log-softmax, computed stably
                shifted = outputs - outputs.max(-1, keepdims=True)
                log_p = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
            else:
                log_p = np.log(np.clip(outputs, 1e-12, None))
            losses.append(float(-np.mean(log_p[np.arange(len(labels)), labels])))
            accuracies.append(float(np.mean(outputs.argmax(-1) == labels)))
    finally:
        for variable, w in zip(variables, origin, strict=True):
            variable.assign(w)
    shape = (len(coordinates),) * len(directions)
    return np.reshape(losses, shape), np.reshape(accuracies, shape)


def local_minima(surface):
    """The inner grid points [i, j] of a 2D surface lower than all 8 of their neighbours.

    A convex bowl has one, at its bottom; a bumpy surface has several. Points on the
    grid's edge are left out (the surface may fall further beyond it), and so are points
    equal to a neighbour (a flat plateau).
    """
    surface = np.asarray(surface, "float64")
    inner = surface[1:-1, 1:-1]
    rows, cols = inner.shape
    lower = np.ones(inner.shape, bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                lower &= inner < surface[1 + di:1 + di + rows, 1 + dj:1 + dj + cols]
    return [tuple(int(k) + 1 for k in point) for point in np.argwhere(lower)]


def _logits_model(model):
    """(the model without its last layer, True) if that layer is a separate softmax,
    else (the model, False)."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Activation) and getattr(
            last.activation, "__name__", "") == "softmax":
        return keras.Model(model.inputs, last.input), True
    return model, False
