"""The blocks and models are pure Keras 3: they run unchanged under JAX too.

The GPU machine the benchmarks use has JAX and no TensorFlow, so this matters.
"""

import ast
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
         # argument checking is Python before any backend call: tested once is enough
         "-k", "not arguments_behave_like_keras_applications and not bad_model_arguments"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "backend jax" in result.stdout, result.stdout[:500]
    assert " passed" in summary and "skipped" not in summary, summary
