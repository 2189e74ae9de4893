"""Student versions: made from the solution notebooks with one command, and safe to hand out."""


import nbformat
import pytest

from resnet_lab import course, student
from resnet_lab.student import MarkerError, convert_source

STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]


# ---------------------------------------------------------------------------------
# The markers, one cell at a time.
# ---------------------------------------------------------------------------------


def test_a_solution_region_becomes_a_placeholder_indented_like_its_marker():
    source = ("def f(x):\n"
              '    """Double x."""\n'
              "    ### BEGIN SOLUTION\n"
              "    y = 2 * x\n"
              "    ### END SOLUTION\n"
              "    return y")
    converted, regions = convert_source(source)
    assert converted == ("def f(x):\n"
                         '    """Double x."""\n'
                         "    # YOUR CODE HERE\n"
                         "    raise NotImplementedError()\n"
                         "    return y")
    assert regions == 1


def test_hidden_tests_disappear_and_visible_lines_stay():
    source = ("check(f)\n"
              "### BEGIN HIDDEN TESTS\n"
              "assert f(2) == 4\n"
              "### END HIDDEN TESTS\n"
              "print('done')")
    assert convert_source(source) == ("check(f)\nprint('done')", 0)


def test_a_markdown_answer_becomes_your_answer_here():
    source = "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"
    assert convert_source(source, "markdown") == ("Why?\nYOUR ANSWER HERE", 1)


def test_two_regions_in_one_cell_give_two_placeholders():
    source = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n### BEGIN SOLUTION\nc = 3\n" \
             "### END SOLUTION"
    converted, regions = convert_source(source)
    assert converted.split("\n") == [*STUB, "b = 2", *STUB] and regions == 2


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "line 1: '### BEGIN SOLUTION' is never closed by "
                                  "'### END SOLUTION'"),
    ("x = 1\n### END SOLUTION", "line 2: '### END SOLUTION' but no region is open"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### END SOLUTION",
     "line 2: '### BEGIN SOLUTION' inside the region opened on line 1 (regions cannot be "
     "nested)"),
    ("### BEGIN HIDDEN TESTS\n### BEGIN SOLUTION\n### END SOLUTION\n### END HIDDEN TESTS",
     "line 2: '### BEGIN SOLUTION' inside the region opened on line 1 (regions cannot be "
     "nested)"),
    ("### BEGIN SOLUTION\nx = 1\n### END HIDDEN TESTS",
     "line 3: '### END HIDDEN TESTS' but the region opened on line 1 is '### BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION",
     "line 1: '# BEGIN SOLUTION' looks like a marker but is not one; write it exactly as one "
     "of: ### BEGIN SOLUTION, ### END SOLUTION, ### BEGIN HIDDEN TESTS, ### END HIDDEN TESTS"),
], ids=["never closed", "never opened", "nested", "solution in hidden tests", "mismatched",
        "misspelt"])
def test_unbalanced_nested_or_misspelt_markers_are_refused(source, message):
    with pytest.raises(MarkerError) as info:
        convert_source(source)
    assert str(info.value) == message


# ---------------------------------------------------------------------------------
# The command.
# ---------------------------------------------------------------------------------


def test_a_bad_marker_in_one_notebook_means_nothing_is_written(tmp_path, capsys):
    good = tmp_path / "01_good.ipynb"
    bad = tmp_path / "02_bad.ipynb"
    for path, source in [(good, "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
                         (bad, "y = 2\n### BEGIN SOLUTION\nx = 1")]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"),
                                             nbformat.v4.new_code_cell(source)])
        nbformat.write(nb, path)
    out = tmp_path / "out"
    assert student.main([str(good), str(bad), "--out", str(out)]) == 1
    assert not out.exists()
    assert capsys.readouterr().err.splitlines()[1:] == [
        f"{bad}: cell 1, line 2: '### BEGIN SOLUTION' is never closed by '### END SOLUTION'"]


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: --out"),
    (["notebooks/99_missing.ipynb", "--out", "{tmp}"], "no such notebook: "
                                                       "notebooks/99_missing.ipynb"),
    (["README.md", "--out", "{tmp}"], "README.md is not a notebook (.ipynb)"),
    (["--out", str(course.NOTEBOOKS)], f"--out {course.NOTEBOOKS} holds the solution "
                                       f"notebooks: choose another folder"),
    (["--out", "{tmp}", "--bogus"], "unrecognized arguments: --bogus"),
], ids=["no --out", "missing notebook", "not a notebook", "over the solutions", "unknown option"])
def test_bad_arguments_get_one_line_and_exit_status_2(argv, message, tmp_path, capsys,
                                                      monkeypatch):
    monkeypatch.chdir(course.ROOT)
    argv = [arg.replace("{tmp}", str(tmp_path / "out")) for arg in argv]
    with pytest.raises(SystemExit) as info:
        student.main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"python -m resnet_lab student: error: {message}\n"
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------
# Run by a student: it stops only at the exercises, and passes once they are solved.
# ---------------------------------------------------------------------------------


def work_through(student_nb, solution_nb, timeout=600):
    """Run a student notebook from the top, solving each exercise where it stops.

    At each stop the error must come from an unsolved exercise: the placeholder's
    NotImplementedError, or a check saying the function is not written yet. The
    solution cells are then run in place of the exercises reached so far, and the
    cell that stopped is run again. The run ends once the check after the last
    exercise has passed: from there on the student version is the lesson itself
    (see test_student_version_is_valid_cleared_and_otherwise_unchanged), which nbval
    runs. Returns the indices of the cells that stopped.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    exercises = [i for i, cell in enumerate(solution_nb.cells)
                 if student.BEGIN_SOLUTION in cell.source]
    last_check = next(i for i, cell in enumerate(solution_nb.cells)
                      if i > exercises[-1] and cell.metadata.get("nbgrader", {}).get("grade"))
    client = NotebookClient(student_nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(course.NOTEBOOKS)}})
    solved, stops = set(), []
    with client.setup_kernel():
        for index, cell in enumerate(student_nb.cells[:last_check + 1]):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
                continue
            except CellExecutionError as error:
                assert error.ename in ("NotImplementedError", "AssertionError"), (
                    f"cell {index} stopped with an unrelated {error.ename}: {error.evalue}")
                if error.ename == "AssertionError":
                    assert "is not written yet" in error.evalue, error.evalue
                stops.append(index)
            pending = [i for i in exercises if i <= index and i not in solved]
            assert pending, f"cell {index} stopped, but every exercise before it is solved"
            for i in pending + ([] if index in pending else [index]):
                client.execute_cell(solution_nb.cells[i], i)
            solved.update(pending)
    assert solved == set(exercises), "an exercise never stopped the notebook"
    return stops


def test_working_through_a_notebook_catches_an_unrelated_error(tmp_path):
    exercise = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION")
    check = nbformat.v4.new_code_cell("assert answer == 42\nprint(undefined_name)")
    check.metadata["nbgrader"] = {"grade": True, "grade_id": "check", "locked": True,
                                  "points": 1, "schema_version": 3, "solution": False}
    solution = nbformat.v4.new_notebook(cells=[exercise, check])
    solution.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    handed_out, _ = student.student_notebook(solution)
    with pytest.raises(AssertionError, match="cell 1 stopped with an unrelated NameError"):
        work_through(handed_out, solution)
