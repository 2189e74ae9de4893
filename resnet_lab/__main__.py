"""python -m resnet_lab COMMAND ...: the course's command line.

Each command lives in its own module of ``resnet_lab.commands`` with a ``main(argv)``
function; it is imported only when used, so ``--help`` stays fast.
"""

import importlib
import importlib.util
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

COMMANDS = {  # name: (its module in resnet_lab.commands, what it does)
    "course": ("course", "run the notebooks headless (HTML course, clean outputs)"),
    "student": ("student", "write student versions of the lesson notebooks"),
    "grade": ("grade", "grade student notebooks with the course's own checks"),
    "train": ("train", "train a model headless (resumable)"),
    "bench": ("bench", "measure training and inference throughput"),
}


def choose_backend():
    """Where Keras would pick TensorFlow (no KERAS_BACKEND, and keras.json absent or
    asking for it) but only JAX is installed, run on JAX and say so: ``import keras``
    would fail otherwise. Returns the backend chosen, or None if nothing was changed."""
    if os.environ.get("KERAS_BACKEND"):
        return None
    config = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    try:
        configured = json.loads((config / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        configured = None
    if configured not in (None, "tensorflow") or _installed("tensorflow") or not _installed(
            "jax"):
        return None
    os.environ["KERAS_BACKEND"] = "jax"
    print("resnet_lab: TensorFlow is not installed here, JAX is: running Keras on JAX "
          "(set KERAS_BACKEND to choose)", file=sys.stderr)
    return "jax"


def _installed(package):
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken or hidden install counts as none
        return False


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
        message = "usage: python -m resnet_lab COMMAND [ARGS ...]\n\ncommands:\n" + "\n".join(
            lines)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"unknown command {argv[0]!r}\n\n{message}", file=sys.stderr)
            return 2
        print(message)
        return 0
    choose_backend()  # before anything imports Keras
    module = importlib.import_module(f"resnet_lab.commands.{COMMANDS[argv[0]][0]}")
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
