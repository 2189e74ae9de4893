"""Where a lesson runs: versions, the GPU, and the profile that scales heavy cells.

The profile comes from one environment variable, ``RESNET_LAB_PROFILE``:

- ``smoke``: seconds per notebook, for CI (nbval);
- ``cpu``: a few minutes on a laptop;
- ``gpu``: the real thing, on a GPU.

Without the variable it is ``gpu`` when a GPU or TPU is visible and ``cpu`` otherwise.

``python -m resnet_lab.env tensorflow-extra`` prints the TensorFlow extra that suits this
machine (``tf`` with an NVIDIA GPU or off Linux, ``cpu`` otherwise) without importing
anything but the standard library: ``make`` runs it before anything is installed.
"""

import atexit
import getpass
import os
import pathlib
import platform
import shutil
import tempfile
import typing

PROFILES = ("smoke", "cpu", "gpu")
PROFILE_VARIABLE = "RESNET_LAB_PROFILE"


def accelerators():
    """The devices the Keras backend computes on besides the CPU, one entry each:
    ``Device(kind, name, major)`` with kind "gpu" or "tpu" and, for a GPU, the major
    number of its compute capability (8 for an A100, 9 for an H100; None if unknown).

    The one place the package looks at the hardware: the profile, the training recipe's
    precision and distribution strategy, the benchmarks and ``describe_environment`` all
    read it. A TPU counts under TensorFlow when Colab or the environment names one
    (``tpu_address()``), before TensorFlow has connected to it.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if tpu_address() or tf.config.list_logical_devices("TPU"):
            return [Device("tpu", "TPU", None)]
        found = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            major = (details.get("compute_capability") or (None,))[0]
            found.append(Device("gpu", details.get("device_name", gpu.name), major))
        return found
    if backend == "jax":
        import jax

        return [Device(d.platform, d.device_kind, _jax_major(d) if d.platform == "gpu" else None)
                for d in jax.devices() if d.platform in ("gpu", "tpu")]
    if backend == "torch":
        import torch

        return [Device("gpu", torch.cuda.get_device_name(i),
                       torch.cuda.get_device_capability(i)[0])
                for i in range(torch.cuda.device_count())]
    return []


class Device(typing.NamedTuple):
    kind: str  # "gpu", "tpu" or "cpu"
    name: str
    major: int | None  # a GPU's compute capability major number


def accelerator():
    """The device training runs on: the first of ``accelerators()``, else the CPU."""
    found = accelerators()
    return found[0] if found else Device("cpu", "CPU", None)


def gpu_names():
    """Names of the GPUs (and TPUs) the Keras backend can use (an empty list on a CPU)."""
    return [device.name for device in accelerators()]


def tpu_address():
    """The TPU that Colab or the environment names ($COLAB_TPU_ADDR, $TPU_NAME), or None."""
    return os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME") or None


def nvidia_gpu_present():
    """Whether this machine has an NVIDIA GPU and driver, asked of the system alone (no
    Keras, no TensorFlow): ``make`` uses it to choose between the ``tensorflow`` and
    ``tensorflow-cpu`` packages before either is installed."""
    return (shutil.which("nvidia-smi") is not None
            or os.path.exists("/proc/driver/nvidia/version"))


def _jax_major(device):
    try:
        return int(str(device.compute_capability).split(".")[0])
    except (AttributeError, ValueError):  # older jaxlib: judge by the name
        return 7 if any(old in device.device_kind for old in ("T4", "V100", "P100")) else 8


def current_profile():
    """The profile named by $RESNET_LAB_PROFILE, else "gpu" on an accelerator (GPU or
    TPU) and "cpu" otherwise."""
    name = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if not name:
        return "cpu" if accelerator().kind == "cpu" else "gpu"
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


SMOKE_RUNS_ENV = "RESNET_LAB_SMOKE_RUNS"


def run_folder(name, profile):
    """Where a lesson keeps a run's checkpoints, logs and curves: ``runs/<name>``.

    In the ``smoke`` profile (tests, grading) it is a new temporary folder, removed when
    the kernel exits: a smoke run is never worth resuming, and grading a class must not
    leave hundreds of MB of ResNet-50 checkpoints per student. A kernel that is killed
    cannot remove its folder; the next smoke run removes it.

    Unless the environment variable RESNET_LAB_SMOKE_RUNS names a folder: smoke runs are
    then kept there, ``<folder>/<name>``, and the next kernel resumes them, finished, in
    seconds. Grading a class with nbgrader sets it, so that the networks of lessons 5 and
    7 are trained once, not once per student; so does the test suite. Kernels never wait
    for each other: one that finds the shared run in use by another (``_claim``: until
    ``training.fit`` has finished it and calls ``finished_with``) gets a temporary folder
    of its own, as without the variable.
    """
    if check_profile(profile) != "smoke":
        return f"runs/{name}"
    shared = os.environ.get(SMOKE_RUNS_ENV)
    if shared:
        folder = pathlib.Path(shared).expanduser() / name
        folder.mkdir(parents=True, exist_ok=True)
        if _claim(folder):
            return str(folder)
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


_CLAIMED = {}  # folder -> the open lock file by which this process holds it


def _claim(folder):
    """Whether this process may use the shared run ``folder``: unless another process holds
    it, it holds it from now until ``finished_with(folder)`` or until it exits (an
    exclusive lock on ``<folder>.lock``, which the system releases when the process ends,
    killed or not). Where file locks are not available (Windows), always."""
    try:
        import fcntl
    except ImportError:
        return True
    key = str(pathlib.Path(folder).resolve())
    if key in _CLAIMED:
        return True
    handle = open(folder.parent / f"{folder.name}.lock", "a")  # held open until released
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _CLAIMED[key] = handle
    return True


def finished_with(folder):
    """Give up this process's claim on the shared run ``folder``, whose run is finished,
    so that the next kernel resumes it (a no-op for folders this process does not hold)."""
    handle = _CLAIMED.pop(str(pathlib.Path(folder).resolve()), None)
    if handle is not None:
        handle.close()  # closing the file releases its lock


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


def tensorflow_extra():
    """The pyproject extra that installs TensorFlow here: "cpu" (tensorflow-cpu, a quarter
    of the download) on Linux without an NVIDIA GPU, "tf" (the full package) elsewhere."""
    return "cpu" if platform.system() == "Linux" and not nvidia_gpu_present() else "tf"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["tensorflow-extra"]:
        sys.exit("usage: python -m resnet_lab.env tensorflow-extra")
    print(tensorflow_extra())
