"""The committed notebooks: clean, runnable anywhere, and in step with the package.

nbval executes them (see the Makefile's test target); these tests check what nbval
does not: hygiene of the stored outputs, the Colab links, and that code shown in a
lesson is the package's code.
"""

import ast
import copy
import importlib
import inspect
import pathlib
import re

import nbformat
import pytest

import resnet_lab.blocks
import resnet_lab.models
from resnet_lab.commands import course, notebooks, student

NOTEBOOKS = notebooks.notebook_paths()
NAMES = [path.name for path in NOTEBOOKS]
ABSOLUTE_PATH = re.compile(r"(/home/|/root/|/Users/|/tmp/|/work/|[A-Z]:\\\\)")
TIMING = re.compile(r"\d+(\.\d+)?\s?(ms|us|µs|s)/step|Wall time|CPU times|\d+(\.\d+)? ?seconds")


def load(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_course_has_its_first_four_lessons_in_order():
    assert NAMES[:4] == ["01_skip_connection.ipynb", "02_identity_block.ipynb",
                         "03_convolutional_block.ipynb", "04_resnet50.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_is_valid_and_fully_executed_in_order(path):
    nb = load(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    counts = [cell.execution_count for cell in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), "re-run the notebook top to bottom"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_stored_outputs_carry_no_machine_noise(path):
    for index, cell in enumerate(code_cells(load(path))):
        assert "execution" not in cell.metadata, f"cell {index}: timing metadata"
        for output in cell.outputs:
            assert output.output_type != "error", f"cell {index}: stored error"
            assert not (output.output_type == "stream" and output.name == "stderr"), (
                f"cell {index}: stderr output (TensorFlow log?); run "
                f"`python -m resnet_lab course update {path.name}`")
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert not ABSOLUTE_PATH.search(text), f"cell {index}: absolute path in {text!r}"
            assert not TIMING.search(text), f"cell {index}: a timing in {text!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_lesson_checks_its_defining_outputs_and_has_one_parameters_cell(path):
    cells = code_cells(load(path))
    tags = [cell.metadata.get("tags", []) for cell in cells]
    assert sum("parameters" in t for t in tags) == 1
    checked = [cell for cell, t in zip(cells, tags, strict=True) if "nbval-check-output" in t]
    assert len(checked) >= 3 and all(cell.outputs for cell in checked)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_every_figure_has_alternative_text(path):
    """A cell that draws a figure says in words what it shows (cell metadata "alt", which
    HTML exports, nbgrader's feedback among them, put on its images)."""
    for cell in code_cells(load(path)):
        if any("image/png" in output.get("data", {}) for output in cell.outputs):
            assert len(cell.metadata.get("alt", "")) > 40, cell.source[:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_cells_are_short(path):
    for cell in code_cells(load(path)):
        if "resnet_lab-source" in cell.metadata.get("tags", []):
            continue  # a package function, shown whole
        assert len(cell.source.splitlines()) <= 30, cell.source[:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_colab_badge_and_install_use_the_one_repository_url(path):
    nb = load(path)
    assert f"]({notebooks.colab_url(path.name)})" in nb.cells[0].source
    installs = [cell.source for cell in code_cells(nb) if "google.colab" in cell.source]
    assert len(installs) == 1
    assert f'"resnet-lab @ git+{notebooks.repository_url()}"' in installs[0]


PACKAGE_MODULES = [resnet_lab.blocks, resnet_lab.models]


def shown_functions():
    for path in NOTEBOOKS:
        for cell in code_cells(load(path)):
            if "resnet_lab-source" in cell.metadata.get("tags", []):
                for node in ast.parse(cell.source).body:
                    if isinstance(node, ast.FunctionDef):
                        yield path.name, node.name, ast.get_source_segment(cell.source, node)


SHOWN = list(shown_functions())


def test_the_lessons_show_the_package_blocks_and_stage():
    assert {name for _, name, _ in SHOWN} >= {"identity_block", "convolutional_block",
                                              "resnet_stage"}


def without_exercise_markers(source):
    """The source without its nbgrader marker lines (### BEGIN SOLUTION, ...), only those."""
    return "\n".join(line for line in source.split("\n") if not student.is_marker(line))


@pytest.mark.parametrize("notebook, name, source", SHOWN,
                         ids=[f"{nb}:{name}" for nb, name, _ in SHOWN])
def test_code_shown_in_a_lesson_is_the_package_code(notebook, name, source):
    module = next(m for m in PACKAGE_MODULES if hasattr(m, name))
    assert without_exercise_markers(source) == inspect.getsource(
        getattr(module, name)).rstrip("\n"), (
        f"{notebook} shows a {name} that differs from {module.__name__}.{name}")


PRINTED_SOURCE = re.compile(r"print\(inspect\.getsource\(([a-z_]+)\.(\w+)\)\)")


def printed_sources():
    """(notebook, cell, [(module, name), ...]) of each cell that only imports and prints
    package functions' source with ``print(inspect.getsource(module.name))``."""
    for path in NOTEBOOKS:
        for cell in code_cells(load(path)):
            lines = [line for line in cell.source.splitlines()
                     if line.strip() and not re.match(r"(import|from) ", line)]
            found = [PRINTED_SOURCE.fullmatch(line.strip()) for line in lines]
            if lines and all(found):
                yield path.name, cell, [match.groups() for match in found]


PRINTED = list(printed_sources())


def test_the_lessons_print_the_recipe_and_the_blocks():
    shown = {name for _, _, pairs in PRINTED for _, name in pairs}
    assert shown >= {"network", "optimizer_for", "precision_for_device", "basic_block"}


@pytest.mark.parametrize("notebook, cell, pairs", PRINTED,
                         ids=[f"{nb}:{'+'.join(n for _, n in pairs)}" for nb, _, pairs in PRINTED])
def test_package_code_printed_in_a_lesson_is_the_current_code(notebook, cell, pairs):
    """The stored output of a print(inspect.getsource(...)) cell is what it prints today."""
    expected = "".join(inspect.getsource(getattr(importlib.import_module(f"resnet_lab.{module}"),
                                                 name)) + "\n" for module, name in pairs)
    printed = "".join(output.get("text", "") for output in cell.outputs)
    assert printed == expected, (f"{notebook} shows an older {', '.join(n for _, n in pairs)}: "
                                 f"run the cell again and save the notebook")


def test_only_marker_lines_are_ignored_when_comparing_with_the_package():
    source = ("def f(x):\n    ### BEGIN SOLUTION\n    return x  # ### END SOLUTION\n"
              "    ### END SOLUTION")
    assert without_exercise_markers(source) == "def f(x):\n    return x  # ### END SOLUTION"


def test_course_build_writes_html_pages_and_an_index(tmp_path):
    lessons = tmp_path / "notebooks"
    lessons.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 1. A tiny lesson"),
        nbformat.v4.new_code_cell("import sys\nprint('TF' + 'LOG', file=sys.stderr)\nprint(6 * 7)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, lessons / "01_tiny.ipynb")
    index = course.build(tmp_path / "html", profile="smoke", paths=[lessons / "01_tiny.ipynb"])
    page = (tmp_path / "html" / "01_tiny.html").read_text()
    assert "<pre>42" in page and "TFLOG" not in page
    assert 'href="01_tiny.html"' in index.read_text() and "A tiny lesson" in index.read_text()
    assert "(profile: smoke)" in index.read_text()  # the profile the pages ran with


def test_clean_merges_streams_and_drops_stderr_and_timings():
    cell = nbformat.v4.new_code_cell("x")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00"}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="I0000 log\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="b\n")]
    cleaned = course.clean(nbformat.v4.new_notebook(cells=[cell])).cells[0]
    assert [o.text for o in cleaned.outputs] == ["a\nb\n"]
    assert "execution" not in cleaned.metadata


def test_repository_path_is_the_checkout():
    assert (pathlib.Path(notebooks.ROOT) / "pyproject.toml").exists()


def test_measurements_are_kept_for_the_html_course_but_not_in_committed_notebooks():
    cell = nbformat.v4.new_code_cell("print(rate)")
    cell.metadata["tags"] = [course.MACHINE_DEPENDENT]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1,234 images/s\n")]
    kept = course.clean(nbformat.v4.new_notebook(cells=[copy.deepcopy(cell)]),
                        keep_measurements=True)
    assert kept.cells[0].outputs
    assert not course.clean(nbformat.v4.new_notebook(cells=[cell])).cells[0].outputs
