"""The blocks and models are pure Keras 3: they run unchanged under JAX too.

The GPU machine the benchmarks use has JAX and no TensorFlow, so this matters.
"""

import ast
import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "resnet_lab"
BACKEND_NEUTRAL = ["blocks.py", "models.py", "weights.py"]


@pytest.mark.parametrize("module", BACKEND_NEUTRAL)
def test_blocks_and_models_import_no_backend_framework(module):
    tree = ast.parse((PACKAGE / module).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"tensorflow", "jax", "torch"}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="runs the suite again from the TensorFlow run only")
def test_model_tests_pass_under_the_jax_backend():
    pytest.importorskip("jax")
    tests = pathlib.Path(__file__).parent
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         str(tests / "test_blocks.py"), str(tests / "test_models.py"),
         # the JAX path of the gradient norms; the rest of test_analysis is
         # backend-neutral
         str(tests / "test_analysis.py") + "::test_the_norms_are_of_the_mean_loss_so_the_"
         "batch_size_does_not_scale_them",
         # lesson 9's lesions and loss surface: graph surgery and weight updates
         str(tests / "test_analysis.py") + "::test_a_deleted_block_is_exactly_the_identity_on_"
         "its_input",
         str(tests / "test_analysis.py") + "::test_the_surface_at_the_origin_is_the_models_loss"
         "_and_the_weights_come_back",
         # argument checking is Python before any backend call: tested once is enough
         "-k", "not arguments_behave_like_keras_applications and not bad_model_arguments"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "backend jax" in result.stdout, result.stdout[:500]
    assert " passed" in summary and "skipped" not in summary, summary


WITHOUT_TENSORFLOW = pathlib.Path(__file__).parent / "without_tensorflow"  # sitecustomize


DATA_PARALLEL = """
import json, pathlib, sys
import jax
import keras
import numpy as np
from resnet_lab import data, training
from resnet_lab.config import RunConfig

out = pathlib.Path(sys.argv[1])
strategy = keras.distribution.DataParallel(devices=jax.devices())
config = RunConfig(model="resnet8", image_size=16, batch_size=16, epochs=1, train_size=64,
                   validation_size=37, augment=True)

class Keep(keras.callbacks.Callback):  # the model as trained, in this process
    def on_train_end(self, logs=None):
        self.trained = self.model

kept = Keep()
summary = training.train(config, out, strategy=strategy, verbose=0, callbacks=[kept])
after = keras.distribution.distribution()
images, labels = data.load_arrays("shapes", 16, train_size=64, validation_size=37)[1]
images = np.asarray(images)[:32]
with strategy.scope():
    in_process = training.inference_model(kept.trained).predict(images, verbose=0)
    drawn = keras.ops.convert_to_numpy(kept.trained.get_layer("augment")(
        np.repeat(images[:1], 4, axis=0), training=True))
saved = keras.saving.load_model(out / "final.keras").predict(images, verbose=0)
training.choose_strategy()  # no distribution set: every device, as the command line does
chosen = keras.distribution.distribution()
print(json.dumps({
    "devices": len(jax.devices()), "replicas": summary["replicas"],
    "epochs": summary["epochs_finished"], "backend": summary["backend"],
    "distribution_after_train": repr(after),
    "saved_vs_in_process": float(np.abs(saved - in_process).max()),
    "shards_apart": min(float(np.abs(drawn[i] - drawn[j]).max())
                        for i in range(4) for j in range(i + 1, 4)),
    "chosen": type(chosen).__name__, "chosen_devices": int(np.prod(chosen.device_mesh.shape)),
    "tensorflow_imported": "tensorflow" in sys.modules,
}))
"""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="checks the JAX path from the TensorFlow run")
def test_train_runs_under_jax_without_tensorflow_on_four_devices(tmp_path):
    """The whole training path (data, augmentation, recipe, checkpoints, resume files)
    under KERAS_BACKEND=jax where TensorFlow cannot be imported, split over four devices
    by train(strategy=keras.distribution.DataParallel(...)); 37 validation images leave a
    last batch of 5, which is padded to split evenly. The saved model computes what the
    trained one does, and each device's images get their own augmentation."""
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=4",
               RESNET_LAB_DATA=str(tmp_path / "data"), PYTHONPATH=str(WITHOUT_TENSORFLOW))
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-c", DATA_PARALLEL, str(out)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["devices"] == 4 and figures["replicas"] == 4
    assert figures["backend"] == "jax" and figures["epochs"] == 1
    assert figures["distribution_after_train"] == "None"  # set for the run only
    assert figures["saved_vs_in_process"] <= 1e-5
    assert figures["shards_apart"] > 1
    assert (figures["chosen"], figures["chosen_devices"]) == ("DataParallel", 4)
    assert not figures["tensorflow_imported"]
    assert all((out / name).exists() for name in ("best.keras", "config.json", "curves.png"))


def test_the_command_line_runs_on_jax_by_itself_where_tensorflow_is_missing(tmp_path):
    """No KERAS_BACKEND and no keras.json: Keras would pick TensorFlow and fail to import;
    the command line picks JAX, says so in one line, and trains."""
    pytest.importorskip("jax")
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    env.update(JAX_PLATFORMS="cpu", KERAS_HOME=str(tmp_path / "keras-home"),
               RESNET_LAB_DATA=str(tmp_path / "data"), PYTHONPATH=str(WITHOUT_TENSORFLOW))
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "resnet_lab", "train", "--model", "resnet8", "--image-size",
         "16", "--batch-size", "16", "--train-size", "32", "--validation-size", "16",
         "--epochs", "1", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resnet_lab: TensorFlow is not installed here, JAX is: running Keras on JAX" in (
        result.stderr)
    assert json.loads((out / "summary.json").read_text())["backend"] == "jax"


def test_a_chosen_backend_is_left_alone(monkeypatch):
    from resnet_lab.__main__ import choose_backend

    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert choose_backend() is None and os.environ["KERAS_BACKEND"] == "torch"
