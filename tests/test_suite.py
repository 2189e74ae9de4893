"""The test suite's own settings: slow tests on request, plain tests without the ML stack."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

MARKED = '''
import pytest


def test_quick():
    pass


@pytest.mark.slow
def test_long():
    pass
'''

# Makes keras, numpy, h5py and the backends unimportable in the process it starts in.
HIDE_ML_STACK = '''
import sys


class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "numpy", "h5py", "tensorflow", "jax"):
            raise ImportError(f"{name} is hidden in this test")


sys.meta_path.insert(0, Hide())
'''


@pytest.fixture
def without_ml_stack(tmp_path_factory):
    """The environment for a process in which keras, numpy and h5py cannot be imported."""
    hide = tmp_path_factory.mktemp("hide")
    (hide / "sitecustomize.py").write_text(HIDE_ML_STACK)
    env = {key: value for key, value in os.environ.items() if key != "RESNET_LAB_SLOW_TESTS"}
    return dict(env, PYTHONPATH=os.pathsep.join(
        [str(hide), *filter(None, [os.environ.get("PYTHONPATH")])]))


def pytest_in(folder, *args, env):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=folder, capture_output=True, text=True, timeout=300,
        env=dict(env, PYTHONDONTWRITEBYTECODE="1"))


def test_slow_tests_run_only_with_resnet_lab_slow_tests_1(tmp_path, without_ml_stack):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)  # registers the marker
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "tests")
    (tmp_path / "tests" / "test_marked.py").write_text(MARKED)
    for value, long_runs in [(None, False), ("0", False), ("1", True)]:
        env = dict(without_ml_stack, **({} if value is None else {"RESNET_LAB_SLOW_TESTS": value}))
        result = pytest_in(tmp_path, "--strict-markers", env=env)
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert "PASSED tests/test_marked.py::test_quick" in out, out
        assert ("PASSED tests/test_marked.py::test_long" in out) is long_runs, out
        if not long_runs:
            assert "slow: set RESNET_LAB_SLOW_TESTS=1 to run it" in out, out


def test_plain_python_tests_run_without_keras_or_numpy(without_ml_stack):
    result = pytest_in(ROOT, "tests/test_files.py", "tests/test_course.py",
                       env=without_ml_stack)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "keras not installed" in result.stdout
