"""What the commands of ``python -m resnet_lab`` share: a parser that reports a mistake
in one line, and argument types.

Standard library only, so that a command can check its arguments before it imports
Keras.
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
