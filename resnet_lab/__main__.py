"""python -m resnet_lab COMMAND ...: the course's command line.

Each command lives in its own module with a ``main(argv)`` function; it is imported
only when used, so ``--help`` stays fast.
"""

import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

COMMANDS = {
    "course": ("resnet_lab.course", "run the notebooks headless (HTML course, clean outputs)"),
    "student": ("resnet_lab.student", "write student versions of the lesson notebooks"),
    "grade": ("resnet_lab.grade", "grade student notebooks with the course's own checks"),
    "train": ("resnet_lab.train_cli", "train a model headless (resumable)"),
    "bench": ("resnet_lab.bench", "measure training and inference throughput"),
}


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
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
