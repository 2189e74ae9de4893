"""Where a lesson runs: versions, the GPU, and the profile that scales heavy cells.

The profile comes from one environment variable, ``RESNET_LAB_PROFILE``:

- ``smoke``: seconds per notebook, for CI (nbval);
- ``cpu``: a few minutes on a laptop;
- ``gpu``: the real thing, on a GPU.

Without the variable it is ``gpu`` when a GPU is visible and ``cpu`` otherwise.
"""

import os
import platform

import keras

PROFILES = ("smoke", "cpu", "gpu")
PROFILE_VARIABLE = "RESNET_LAB_PROFILE"


def gpu_names():
    """Names of the GPUs the Keras backend can use (an empty list on a CPU)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_physical_devices("GPU")
        return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
                for d in devices]
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def current_profile():
    """The profile named by $RESNET_LAB_PROFILE, else "gpu" or "cpu" by the hardware."""
    name = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if not name:
        return "gpu" if gpu_names() else "cpu"
    if name not in PROFILES:
        raise ValueError(
            f"{PROFILE_VARIABLE}={name!r} is not a profile; use one of {', '.join(PROFILES)} "
            f"(or leave it unset to choose by the hardware)."
        )
    return name


def describe_environment():
    """One line a learner can paste into a question: versions, backend and GPU."""
    import resnet_lab

    backend = keras.backend.backend()
    framework = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    version = ""
    if framework:
        version = " " + __import__(framework).__version__
    gpus = gpu_names()
    return (
        f"Python {platform.python_version()} | Keras {keras.__version__} | "
        f"backend {backend}{version} | resnet_lab {resnet_lab.__version__} | "
        f"GPU: {', '.join(gpus) if gpus else 'none'}"
    )
