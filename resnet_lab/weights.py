"""Moving weights between our ResNets and keras.applications' twins, by name.

Our layers carry the original ResNet names (``res2a_branch2a``, ``res4b22_branch2a`` in
ResNet-101); keras.applications uses ``conv2_block1_1_conv``. Both describe the same
layer, so every weight is matched through one canonical name (keras.applications').
Copying by layer order instead would be wrong: Keras 3 orders layers by graph depth, the
shortcut conv and the last main-path conv of a block sit at the same depth, and the two
models break that tie differently (in stage 2 the swapped kernels even have the same shape, so an
order-based copy succeeds silently and gives a different network).
"""

import os
import re

import h5py
import keras
import numpy as np

from resnet_lab import registry

WEIGHTS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
# The files are "<model>_weights_tf_dim_ordering_tf_kernels[_notop].h5"; their md5s are
# in resnet_lab.registry.
CACHE_DIR = None  # None: Keras' own cache, $KERAS_HOME or ~/.keras


class WeightsUnavailableError(OSError):
    """The ImageNet weights could not be downloaded (offline, or a bad download)."""


_MAIN_PATH = {"2a": 1, "2b": 2, "2c": 3, "1": 0}  # seed branch -> keras.applications index
_SEED_LAYER = re.compile(r"^(res|bn)(\d)([a-z]|b\d+)_branch(2a|2b|2c|1)$")
_PREACT_LAYER = re.compile(r"^bn(\d)([a-z]|b\d+)_preact$")  # ResNet v2
_ALIASES = {
    "conv1": "conv1_conv",
    "bn_conv1": "conv1_bn",
    # The classifier was "fc1000" in the original release and "probs" in the
    # keras-applications code that wrote the published weight files.
    "fc1000": "predictions",
    "probs": "predictions",
}


def canonical_name(layer_name):
    """keras.applications' name for a ResNet layer, given either naming scheme.

    >>> canonical_name("res2a_branch2a"), canonical_name("bn3b_branch1")
    ('conv2_block1_1_conv', 'conv3_block2_0_bn')
    >>> canonical_name("res4b22_branch2c"), canonical_name("bn2a_preact")
    ('conv4_block23_3_conv', 'conv2_block1_preact_bn')
    """
    match = _SEED_LAYER.match(layer_name)
    if match:
        kind, stage, block, branch = match.groups()
        suffix = "conv" if kind == "res" else "bn"
        return f"conv{stage}_block{_block_number(block)}_{_MAIN_PATH[branch]}_{suffix}"
    match = _PREACT_LAYER.match(layer_name)
    if match:
        stage, block = match.groups()
        return f"conv{stage}_block{_block_number(block)}_preact_bn"
    return _ALIASES.get(layer_name, layer_name)


def _block_number(block):
    """'a' -> 1, 'c' -> 3; numbered as in ResNet-101 and -152: 'b1' -> 2, 'b22' -> 23."""
    if len(block) > 1:
        return int(block[1:]) + 1
    return ord(block) - ord("a") + 1


def transfer_weights(source, target):
    """Copy every weight of ``source`` into ``target``, matching layers by name.

    Works in either direction between ``keras.applications.ResNet50`` and
    ``resnet_lab.ResNet50`` (and between two models of the same family). Every layer
    with weights must have a counterpart of the same shapes; otherwise a ValueError
    lists what does not match, and the target is left untouched.
    """
    for role, model in (("source", source), ("target", target)):
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"transfer_weights expects two Keras models; the {role} is a "
                f"{type(model).__name__}."
            )
    values = {
        canonical_name(layer.name): {_short_name(w.path): w.numpy() for w in layer.weights}
        for layer in _weighted_layers(source)
    }
    _assign(target, values, f"model {source.name!r}")


def randomize_weights(model, seed=0):
    """Give every bias and BatchNorm parameter and statistic a random value.

    A freshly built model has zero biases, unit BatchNorm scales and zero/one moving
    statistics, so a comparison of two models would not notice if those were
    mis-copied. After this, every weight is random (kernels already are), and equal
    outputs mean every weight matched. Kernels are left at their initial values.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for variable in layer.weights:
            kind = _short_name(variable.path)
            if kind in ("gamma", "moving_variance"):
                value = rng.uniform(0.5, 1.5, variable.shape)
            elif kind in ("beta", "moving_mean", "bias"):
                value = rng.normal(0.0, 0.1, variable.shape)
            else:
                continue
            variable.assign(value.astype(variable.dtype))


def load_imagenet_weights(model, include_top=True, weights_name="resnet50"):
    """Download (once) and load keras.applications' ImageNet weights of ``weights_name``.

    The file is fetched with ``keras.utils.get_file`` into Keras' cache and checked
    against its published md5; the layers are matched by name.
    """
    path = imagenet_weights_path(include_top, weights_name)
    load_keras_applications_h5(model, path)


def imagenet_weights_file(include_top=True, weights_name="resnet50"):
    """(file name, md5) of keras.applications' ImageNet weights for ``weights_name``."""
    spec = registry.MODELS.get(weights_name)
    if spec is None or spec.imagenet_weights is None:
        published = [name for name, spec in registry.MODELS.items() if spec.imagenet_weights]
        raise ValueError(f"No ImageNet weights are published for {weights_name!r}; "
                         f"choose one of {', '.join(published)}.")
    suffix = "" if include_top else "_notop"
    md5 = spec.imagenet_weights[0 if include_top else 1]
    return f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5", md5


def imagenet_weights_path(include_top=True, weights_name="resnet50"):
    """Path of the cached ImageNet weight file, downloading and verifying it first."""
    fname, md5 = imagenet_weights_file(include_top, weights_name)
    origin = WEIGHTS_BASE_URL + fname
    # get_file silently falls back to /tmp/.keras when the cache folder is missing.
    os.makedirs(_cache_dir(), exist_ok=True)
    try:
        return keras.utils.get_file(
            fname, origin, cache_subdir="models", file_hash=md5, cache_dir=_cache_dir()
        )
    except ValueError as error:  # downloaded, but the md5 does not match
        _remove_quietly(_cached_file(fname))
        raise WeightsUnavailableError(
            f"The downloaded {fname} does not match its published md5 {md5}, so it was "
            f"deleted. The download was probably cut short: run again. ({error})"
        ) from None
    except Exception as error:  # get_file wraps network errors in a bare Exception
        raise WeightsUnavailableError(
            f"Could not download the ImageNet weights from {origin} ({error}).\n"
            f"They are needed once (100 to 250 MB) and then cached in "
            f"{os.path.dirname(_cached_file(fname))}. Without internet: download "
            f"{fname} on another machine and pass its path as weights='.../{fname}', or "
            f"copy it into that cache folder; or use weights=None to start from random "
            f"weights."
        ) from None


def load_weights_file(model, path):
    """Load a weight file into ``model``: keras.applications' legacy HDF5, or ours."""
    path = os.fspath(path)
    if path.endswith((".h5", ".hdf5")) and not path.endswith(".weights.h5"):
        load_keras_applications_h5(model, path)
        return
    try:
        model.load_weights(path)
    except ValueError as error:
        raise ValueError(
            f"Could not load {path} into {model.name!r}: {error}\nA .weights.h5 or "
            f".keras file must come from a model built with the same arguments "
            f"(include_top, classes)."
        ) from None


def load_keras_applications_h5(model, path):
    """Load a legacy Keras HDF5 weight file (one group per layer name) by layer name."""
    try:
        with h5py.File(path, "r") as f:
            if "layer_names" not in f.attrs and "model_weights" in f:
                f = f["model_weights"]  # a whole model saved with model.save("x.h5")
            if "layer_names" not in f.attrs:
                raise ValueError(
                    f"{path} is not a legacy Keras weight file (no 'layer_names' "
                    f"attribute). Pass a .weights.h5 file of this model, or one of "
                    f"keras.applications' <model>_weights_tf_dim_ordering_tf_kernels "
                    f"files (e.g. resnet50_weights_tf_dim_ordering_tf_kernels.h5)."
                )
            values = {}
            for layer_name in map(_text, f.attrs["layer_names"]):
                group = f[layer_name]
                weight_names = [_text(w) for w in group.attrs.get("weight_names", [])]
                if weight_names:
                    values[canonical_name(layer_name)] = {
                        _short_name(w): np.asarray(group[w]) for w in weight_names
                    }
    except OSError as error:
        raise ValueError(f"Could not read {path} as an HDF5 weight file: {error}") from None
    _assign(model, values, os.path.basename(path))


def _assign(target, values, source_description):
    """Check every target weight has a same-shaped source value, then assign them all."""
    targets = {canonical_name(layer.name): layer for layer in _weighted_layers(target)}
    problems = []
    unused = sorted(set(values) - set(targets))
    missing = sorted(set(targets) - set(values))
    if unused:
        problems.append(f"{len(unused)} layers have no counterpart in {target.name!r}: "
                        f"{_some(unused)}")
    if missing:
        problems.append(f"{len(missing)} layers of {target.name!r} get no weights: "
                        f"{_some(missing)}")
    updates = []
    for name in sorted(set(targets) & set(values)):
        layer = targets[name]
        for variable in layer.weights:
            key = _short_name(variable.path)
            value = values[name].get(key)
            if value is None:
                problems.append(f"{layer.name}: no '{key}' in the source")
            elif tuple(value.shape) != tuple(variable.shape):
                problems.append(
                    f"{layer.name}/{key}: source shape {tuple(value.shape)}, target shape "
                    f"{tuple(variable.shape)}"
                )
            else:
                updates.append((variable, value))
    if problems:
        raise ValueError(
            f"Cannot transfer weights from {source_description} to {target.name!r}; "
            f"nothing was copied. Both must be the same network (e.g. two ResNet-50s, "
            f"or two ResNet-101 v2s) built with the same include_top and classes.\n  "
            + "\n  ".join(problems)
        )
    for variable, value in updates:
        variable.assign(value)


def _weighted_layers(model):
    layers = [layer for layer in model.layers if layer.weights]
    names = [canonical_name(layer.name) for layer in layers]
    if len(set(names)) != len(names):
        raise ValueError(f"{model.name!r} has two layers with the same name; cannot map by name.")
    return layers


def _short_name(weight_path):
    """'conv1_conv/kernel:0' or 'resnet50/conv1/kernel' -> 'kernel'."""
    return weight_path.split("/")[-1].split(":")[0]


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _some(names, limit=6):
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _cache_dir():
    return os.path.expanduser(CACHE_DIR or os.environ.get("KERAS_HOME", "~/.keras"))


def _cached_file(fname):
    return os.path.join(_cache_dir(), "models", fname)


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
