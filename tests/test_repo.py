"""The repository's own promises: one source of versions, two README commands, CI."""

import pathlib
import re
import tomllib

import yaml

ROOT = pathlib.Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_the_package_and_pins_nothing_of_its_own():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = [], []
    for entry in env["dependencies"]:
        (pip.extend(entry["pip"]) if isinstance(entry, dict) else conda.append(entry))
    names = {re.split(r"[<>=! ]", spec)[0] for spec in conda}
    assert names == {"python", "pip"}, conda
    python = next(spec for spec in conda if spec.startswith("python"))
    assert python.removeprefix("python") == PYPROJECT["project"]["requires-python"]
    assert len(pip) == 1, pip
    match = re.fullmatch(r"(?:--editable|-e) \.\[([\w,]+)\]", pip[0])
    assert match, pip[0]
    extras = set(match.group(1).split(","))
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])


def test_required_dependencies_leave_tensorflow_to_the_extras():
    required = " ".join(PYPROJECT["project"]["dependencies"])
    assert "tensorflow" not in required
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(dep.startswith("tensorflow-cpu") for dep in extras["cpu"])
    assert any(dep.startswith("tensorflow>") for dep in extras["tf"])


def test_readme_quick_start_commands_are_make_targets_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for command in ("make lab", "make test"):
        assert f"`{command}`" in readme or f"\n{command}\n" in readme
        assert re.search(rf"^{command.split()[1]}:", makefile, re.M)
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)
