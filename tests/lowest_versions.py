"""Print pip constraints that pin every runtime requirement to its lowest declared version.

    python tests/lowest_versions.py > lowest.txt
    pip install -c lowest.txt -e ".[cpu,dev]"

Reads pyproject.toml: the dependencies and the backend extras (tf, cpu, jax), whose
">=X" bounds become "==X". The dev tools are left free. `make test-lowest` uses it.
"""

import pathlib
import re
import sys
import tomllib

PYPROJECT = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"
BACKEND_EXTRAS = ("tf", "cpu", "jax")


def lowest_pins(pyproject=PYPROJECT):
    project = tomllib.loads(pathlib.Path(pyproject).read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in BACKEND_EXTRAS:
        requirements += project["optional-dependencies"].get(extra, [])
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*", requirement)
        if not match:
            raise ValueError(f"{requirement!r}: a runtime requirement needs a lower bound "
                             f"written as NAME>=VERSION")
        pins[match.group(1).lower()] = match.group(2)
    return pins


if __name__ == "__main__":
    for name, version in lowest_pins().items():
        print(f"{name}=={version}")
    sys.exit(0)
