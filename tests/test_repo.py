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


def test_every_runtime_requirement_has_the_lower_bound_make_test_lowest_installs(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from lowest_versions import lowest_pins
    finally:
        sys.path.pop(0)
    pins = lowest_pins()
    assert {"keras", "numpy", "matplotlib", "pillow", "tensorflow", "tensorflow-cpu",
            "jax"} <= set(pins)
    declared = " ".join(PYPROJECT["project"]["dependencies"])
    assert f"keras>={pins['keras']}" in declared
    unbounded = tmp_path / "pyproject.toml"
    unbounded.write_text('[project]\ndependencies = ["keras"]\n[project.optional-dependencies]\n')
    try:
        lowest_pins(unbounded)
    except ValueError as error:
        assert "'keras': a runtime requirement needs a lower bound" in str(error)
    else:
        raise AssertionError("a requirement without a lower bound was accepted")
