"""Where a lesson runs: versions, the GPU, and the profile that scales heavy cells.

The profile comes from one environment variable, ``RESNET_LAB_PROFILE``:

- ``smoke``: seconds per notebook, for CI (nbval);
- ``cpu``: a few minutes on a laptop;
- ``gpu``: the real thing, on a GPU.

Without the variable it is ``gpu`` when a GPU is visible and ``cpu`` otherwise.
"""

import atexit
import getpass
import os
import pathlib
import platform
import shutil
import tempfile

PROFILES = ("smoke", "cpu", "gpu")
PROFILE_VARIABLE = "RESNET_LAB_PROFILE"


def gpu_names():
    """Names of the GPUs the Keras backend can use (an empty list on a CPU)."""
    import keras

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


def check_profile(profile):
    """``profile`` itself if it is one of PROFILES; a ValueError naming them if not (a
    notebook's PROFILE can be set from outside, e.g. papermill's -p PROFILE ...)."""
    if profile not in PROFILES:
        raise ValueError(f"PROFILE = {profile!r} is not a profile; use one of "
                         f"{', '.join(PROFILES)}.")
    return profile


def by_profile(profile, **values):
    """The value for ``profile``: ``by_profile("cpu", smoke=8, cpu=30, gpu=50)`` is 30."""
    missing = [name for name in PROFILES if name not in values]
    if missing or len(values) != len(PROFILES):
        raise TypeError(f"by_profile needs one value for each of {', '.join(PROFILES)}; "
                        f"got {', '.join(values) or 'none'}.")
    return values[check_profile(profile)]


def describe_environment():
    """One line a learner can paste into a question: versions, backend and GPU."""
    import keras

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


def run_folder(name, profile):
    """Where a lesson keeps a run's checkpoints, logs and curves: ``runs/<name>``.

    In the ``smoke`` profile (tests, grading) it is a new temporary folder, removed when
    the kernel exits: a smoke run is never worth resuming, and grading a class must not
    leave hundreds of MB of ResNet-50 checkpoints per student. A kernel that is killed
    cannot remove its folder; the next smoke run removes it.
    """
    if check_profile(profile) != "smoke":
        return f"runs/{name}"
    root = pathlib.Path(tempfile.gettempdir()) / f"resnet-lab-smoke-runs-{getpass.getuser()}"
    root.mkdir(mode=0o700, exist_ok=True)
    for old in root.glob("*.pid*"):
        pid = old.name.rpartition(".pid")[2]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = root / f"{name}.pid{os.getpid()}"  # this kernel's; a new run each time
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(folder)


def _running(pid):
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
