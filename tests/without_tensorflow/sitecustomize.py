"""Put this folder on PYTHONPATH to run Python as if TensorFlow were not installed.

Python imports ``sitecustomize`` at start-up; this one makes every import of
``tensorflow`` fail like a missing package, so a run proves that the JAX path never
needs it (``make test-jax``, tests/test_backends.py).
"""

import sys


class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTensorFlow())
