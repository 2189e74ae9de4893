import keras
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_report_header(config):
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
