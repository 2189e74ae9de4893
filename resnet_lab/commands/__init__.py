"""The commands of ``python -m resnet_lab``, one module each, and what they share.

- ``train``: the training recipe, headless and resumable;
- ``bench``: training and inference throughput, ours next to keras.applications;
- ``student``: the student (exercise) versions of the lessons;
- ``grade``: grading student notebooks with the course's own checks;
- ``course``: running the lessons headless (HTML course, clean stored outputs);
- ``notebooks``: the lesson files themselves and their Colab addresses.

Here: a parser that reports a mistake in one line, and argument types. Standard library
only, so that a command can check its arguments before it imports Keras.
"""

import argparse


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line (``PROG: error: ...``), with exit
    code 2, instead of the usage block first. Its subcommands' parsers do the same."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text):
    """An argument type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_seconds(text):
    """An argument type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0 seconds, got {text}")
    return value
