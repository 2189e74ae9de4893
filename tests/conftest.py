"""Fixtures and settings shared by the tests.

Keras, NumPy and h5py are imported only by the fixtures that use them, so that a test
of plain Python (a command line, the notebooks' text) runs without the ML stack.
"""

import dataclasses
import functools
import hashlib
import http.server
import os
import threading

import pytest

from resnet_lab import registry

SLOW = "RESNET_LAB_SLOW_TESTS"  # =1 runs the tests marked slow


# The longest test modules and notebooks, longest first (seconds on 2 cores, 2026-12-07:
# 171, 101, 88, 87, 67, 67, 60, 47, 38, 33, 29, 25, 25). make test hands modules to its
# two processes in collection order (pytest-xdist --dist loadscope
# --no-loadscope-reorder): the long ones first, so that neither process is left running
# one at the end while the other waits. Only the order matters; others follow unsorted.
LONGEST_FIRST = [
    "tests/test_student.py", "tests/test_grade.py", "tests/test_grading.py",
    "tests/test_training.py", "tests/test_backends.py",
    "notebooks/07_transfer_learning.ipynb", "notebooks/05_train_resnet50.ipynb",
    "tests/test_checks.py", "tests/test_bench.py", "tests/test_twins.py",
    "tests/test_weights.py", "tests/test_models.py", "notebooks/08_resnet_family.ipynb",
]


def pytest_configure(config):
    """One folder of smoke runs for the whole session (RESNET_LAB_SMOKE_RUNS), shared by
    its processes and the kernels they start: lesson 5's network, which lessons 5 and 7,
    their exercise versions and the grading tests all train, is resumed by a kernel that
    finds it finished, and trained anew only by one that finds it in training
    (resnet_lab.env.run_folder). Made by the main process, before pytest-xdist starts its
    workers, which inherit it; removed at the end.
    """
    from resnet_lab.env import SMOKE_RUNS_ENV

    if hasattr(config, "workerinput") or os.environ.get(SMOKE_RUNS_ENV):
        return
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="resnet-lab-test-smoke-runs-")
    os.environ[SMOKE_RUNS_ENV] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_collection_modifyitems(config, items):
    """The longest modules first (LONGEST_FIRST; a stable sort keeps each module's own
    order). Skip the tests marked ``slow`` unless RESNET_LAB_SLOW_TESTS=1 (make
    test-grading and make test-online set it)."""
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))
    if os.environ.get(SLOW, "") not in ("", "0"):
        return
    skip = pytest.mark.skip(reason=f"slow: set {SLOW}=1 to run it")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


def pytest_report_header(config):
    try:
        import keras
    except ImportError:
        return "keras not installed"
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(scope="session")
def kernel_without_resnet_lab(tmp_path_factory):
    """(name, JUPYTER_PATH) of a Jupyter kernel whose Python cannot import resnet_lab."""
    import json
    import pathlib
    import sys

    jupyter_path = tmp_path_factory.mktemp("jupyter")
    spec = jupyter_path / "kernels" / "no-resnet-lab"
    spec.mkdir(parents=True)
    hide = pathlib.Path(__file__).parent / "without_resnet_lab"
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python without resnet_lab", "language": "python",
        "env": {"PYTHONPATH": str(hide)},
    }))
    return "no-resnet-lab", str(jupyter_path)


# --- ImageNet weight files like the published ones, served on 127.0.0.1 -------------

def write_legacy_h5(model, path, rename=None):
    """Write weights the way Keras 2 did (and the published ResNet-50 files are)."""
    import h5py

    rename = rename or {}
    with h5py.File(path, "w") as f:
        names = [rename.get(layer.name, layer.name) for layer in model.layers]
        f.attrs["layer_names"] = [name.encode() for name in names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, layer in zip(names, model.layers, strict=True):
            group = f.create_group(name)
            weight_names = [f"{name}/{w.path.split('/')[-1]}:0" for w in layer.weights]
            group.attrs["weight_names"] = [w.encode() for w in weight_names]
            for weight_name, w in zip(weight_names, layer.weights, strict=True):
                group.create_dataset(weight_name, data=w.numpy())


@pytest.fixture(scope="session")
def published_style_files(tmp_path_factory):
    """Random 'ImageNet' weight files, top and no-top, with their md5 and source models."""
    import keras

    import resnet_lab.weights as weights_module
    from resnet_lab.weights import randomize_weights

    folder = tmp_path_factory.mktemp("weights")
    files = {}
    for include_top in (True, False):
        source = keras.applications.ResNet50(weights=None, include_top=include_top)
        randomize_weights(source, seed=3)
        fname = weights_module.imagenet_weights_file(include_top)[0]
        # keras-applications, which wrote the published files, named the classifier "probs".
        write_legacy_h5(source, folder / fname, rename={"predictions": "probs"})
        md5 = hashlib.md5((folder / fname).read_bytes()).hexdigest()
        files[include_top] = (fname, md5, source)
    return folder, files


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def weights_server(published_style_files, tmp_path, monkeypatch):
    """Serve a folder on 127.0.0.1 as the weights URL; cache downloads in tmp_path."""
    import resnet_lab.weights as weights_module

    folder, files = published_style_files
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(weights_module, "WEIGHTS_BASE_URL",
                        f"http://127.0.0.1:{server.server_port}/")
    served = dataclasses.replace(registry.MODELS["resnet50"],
                                 imagenet_weights=(files[True][1], files[False][1]))
    monkeypatch.setitem(registry.MODELS, "resnet50", served)
    monkeypatch.setattr(weights_module, "CACHE_DIR", str(tmp_path / "keras"))
    yield folder, files
    server.shutdown()
    server.server_close()
