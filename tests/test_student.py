"""Student versions: made from the solution notebooks with one command, and safe to hand out."""

import os
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

from resnet_lab.commands import course, notebooks, student
from resnet_lab.commands.student import MarkerError, convert_source

LESSONS = notebooks.notebook_paths()
NAMES = [path.name for path in LESSONS]
WITH_EXERCISES = [path for path in LESSONS if student.BEGIN_SOLUTION in path.read_text()]
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
COMMITTED = notebooks.EXERCISES  # the exercise versions in the repository


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
# The command, on the real lessons.
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    assert student.main(["--out", str(out)]) == 0
    return out


def solution_regions(source):
    """The lines inside the solution regions of a cell's source."""
    inside, lines = False, []
    for line in source.split("\n"):
        if line.strip() == student.BEGIN_SOLUTION:
            inside = True
        elif line.strip() == student.END_SOLUTION:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def hidden_lines(source):
    inside, lines = False, []
    for line in source.split("\n"):
        if line.strip() in (student.BEGIN_HIDDEN, student.END_HIDDEN):
            inside = line.strip() == student.BEGIN_HIDDEN
        elif inside:
            lines.append(line)
    return lines


def test_every_lesson_has_exercises_and_the_command_reports_them(student_dir, capsys):
    out = student_dir.parent / "again"
    assert student.main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    counts, questions = {}, {}
    for line in printed:
        name = pathlib.Path(line.split()[1]).name
        counts[name] = int(line.split("(")[1].split()[0])
        asked = re.search(r", (\d+) questions?\)$", line)
        questions[name] = int(asked.group(1)) if asked else 0
    assert list(counts) == NAMES
    assert {name: counts[name] for name in NAMES[:5]} == {
        "01_skip_connection.ipynb": 2, "02_identity_block.ipynb": 6,
        "03_convolutional_block.ipynb": 2, "04_resnet50.ipynb": 3,
        "05_train_resnet50.ipynb": 2}
    assert all(questions[name] >= 1 for name in NAMES[:6])  # one to answer before running
    assert sorted(path.name for path in out.iterdir()) == NAMES  # no temporary files left
    for path in WITH_EXERCISES:  # the lesson's introduction announces them
        count, asked = counts[path.name], questions[path.name]
        intro = " ".join(nbformat.read(path, as_version=4).cells[0].source.split())
        if count:
            assert f"This lesson has {count} short exercise{'s' if count > 1 else ''}," in intro
        if asked:
            assert f"asks {'a question' if asked == 1 else f'{asked} questions'}" in intro


def test_the_first_five_lessons_have_exercises():
    assert [path.name for path in WITH_EXERCISES][:5] == NAMES[:5]


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[path.name for path in WITH_EXERCISES])
def test_no_solution_line_survives_in_the_student_version(path, student_dir):
    solution = nbformat.read(path, as_version=4)
    handed_out = nbformat.read(student_dir / path.name, as_version=4)
    secret = set()
    for cell in solution.cells:
        secret.update(line.strip() for line in solution_regions(cell.source) + hidden_lines(
            cell.source))
    # A line that the lesson also shows outside any exercise is no secret (an import, say).
    public = set()
    for cell in solution.cells:
        converted, _ = convert_source(cell.source, cell.cell_type)
        public.update(line.strip() for line in converted.split("\n"))
    secret -= public | {""}
    assert secret
    text = "\n".join(cell.source for cell in handed_out.cells)
    for line in text.split("\n"):
        assert line.strip() not in secret, f"a solution line was handed out: {line!r}"
        assert not student.is_marker(line) and not student._LOOKS_LIKE_A_MARKER.match(line)


@pytest.mark.parametrize("path", LESSONS, ids=NAMES)
def test_student_version_is_valid_cleared_and_otherwise_unchanged(path, student_dir):
    solution = nbformat.read(path, as_version=4)
    student.name_stored_results(solution, path.name)  # its outputs are the solution's
    handed_out = nbformat.read(student_dir / path.name, as_version=4)
    nbformat.validate(handed_out)
    assert handed_out.metadata == solution.metadata
    assert len(handed_out.cells) == len(solution.cells)
    exercises = student.count_exercises(solution)
    for index, (mine, theirs) in enumerate(zip(solution.cells, handed_out.cells, strict=True)):
        assert theirs.cell_type == mine.cell_type and theirs.metadata == mine.metadata
        assert theirs.get("id") == mine.get("id")
        if theirs.cell_type == "code":
            assert theirs.outputs == [] and theirs.execution_count is None
        questions = student.count_exercises(solution, "markdown")
        if index == 0 and (exercises or questions):  # the intro says which version this is
            assert as_solution_intro(theirs.source, path.name, exercises, questions) == \
                mine.source
        elif student.BEGIN_SOLUTION not in mine.source and student.BEGIN_HIDDEN not in mine.source:
            assert theirs.source == mine.source
        else:
            # Putting the solutions back in place of the placeholders gives the lesson again.
            assert fill_in(theirs.source, mine.source) == without_hidden_tests(mine.source)


def test_a_sentence_about_a_stored_result_names_the_solution_version():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "In the stored `cpu`\nrun, it rises. What the stored `gpu` run shows (the numbers\n"
        "printed above the figure): more. In the run stored here (`cpu` profile), less.")])
    student.name_stored_results(nb, "05_x.ipynb")
    assert nb.cells[0].source == (
        "In the `cpu` run stored in the [solution version](../05_x.ipynb), it rises. What "
        "the `gpu` run stored in the [solution version](../05_x.ipynb) shows (its printed "
        "figures): more. In the run stored in the [solution version](../05_x.ipynb) "
        "(`cpu` profile), less.")


def as_solution_intro(source, name, exercises, questions):
    """An exercise version's introduction with the solution version's badge and paragraph."""
    link = f"({notebooks.colab_url(name)})"
    source = notebooks.BADGE.sub(lambda badge: badge.group(1) + link, source)
    return student._EXERCISES_PARAGRAPH.sub(
        lambda _: student.exercises_paragraph(name, exercises, True, questions), source)


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=[path.name for path in WITH_EXERCISES])
def test_each_version_says_which_it_is_and_links_the_other(path, student_dir):
    name = path.name
    exercise_colab = notebooks.colab_url(f"exercises/{name}")
    solution_intro = " ".join(nbformat.read(path, as_version=4).cells[0].source.split())
    exercise_intro = " ".join(nbformat.read(student_dir / name, as_version=4).cells[0].source
                              .split())
    assert "the **solution version**: the answers are filled in" in solution_intro
    assert f"[`exercises/{name}`](exercises/{name})" in solution_intro
    assert f"([open in Colab]({exercise_colab}))" in solution_intro
    assert (notebooks.NOTEBOOKS / "exercises" / name).is_file()  # the link works in a checkout
    badge = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
    assert f"{badge}({exercise_colab})" in exercise_intro  # the badge opens this version
    assert "is the **exercise version** of the lesson" in exercise_intro
    assert f"]({notebooks.github_url(name)})" in exercise_intro
    assert f"([open in Colab]({notebooks.colab_url(name)}))" in exercise_intro
    assert "filled in" not in exercise_intro


def test_a_notebook_without_exercises_keeps_its_introduction(student_dir):
    for path in set(LESSONS) - set(WITH_EXERCISES):
        solution = nbformat.read(path, as_version=4)
        assert nbformat.read(student_dir / path.name, as_version=4).cells[0].source == \
            solution.cells[0].source


def test_student_notebooks_are_readable_like_any_file_the_user_writes(tmp_path):
    old = os.umask(0o022)
    try:
        student.main([str(LESSONS[0]), "--out", str(tmp_path / "out")])
    finally:
        os.umask(old)
    assert ((tmp_path / "out" / LESSONS[0].name).stat().st_mode & 0o777) == 0o644


def test_the_repository_url_comes_from_the_installed_metadata_outside_a_checkout(
        tmp_path, monkeypatch):
    from_pyproject = notebooks.repository_url()
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)  # no pyproject.toml, as after pip install
    assert notebooks.repository_url() == from_pyproject


def fill_in(student_source, solution_source):
    """The student's cell with every placeholder replaced by its solution region."""
    regions, current = [], None
    for line in solution_source.split("\n"):
        if line.strip() == student.BEGIN_SOLUTION:
            current = [line]
        elif line.strip() == student.END_SOLUTION:
            regions.append(current + [line])
            current = None
        elif current is not None:
            current.append(line)
    lines, out, regions = student_source.split("\n"), [], iter(regions)
    i = 0
    while i < len(lines):
        if lines[i].strip() == STUB[0] and i + 1 < len(lines) and lines[i + 1].strip() == STUB[1]:
            out.extend(next(regions))
            i += 2
        elif lines[i].strip() == student.TEXT_STUB[0]:  # a written answer's placeholder
            out.extend(next(regions))
            i += 1
        else:
            out.append(lines[i])
            i += 1
    assert next(regions, None) is None, "a solution region without its placeholder"
    return "\n".join(out)


def without_hidden_tests(source):
    hidden = False
    kept = []
    for line in source.split("\n"):
        if line.strip() in (student.BEGIN_HIDDEN, student.END_HIDDEN):
            hidden = line.strip() == student.BEGIN_HIDDEN
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


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
        f"{bad}: cell 2, line 2: '### BEGIN SOLUTION' is never closed by '### END SOLUTION'"]


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: --out"),
    (["notebooks/99_missing.ipynb", "--out", "{tmp}"], "no such notebook: "
                                                       "notebooks/99_missing.ipynb"),
    (["README.md", "--out", "{tmp}"], "README.md is not a notebook (.ipynb)"),
    (["--out", str(notebooks.NOTEBOOKS)], f"--out {notebooks.NOTEBOOKS} holds the solution "
                                       f"notebooks: choose another folder"),
    (["--out", "{tmp}", "--bogus"], "unrecognized arguments: --bogus"),
], ids=["no --out", "missing notebook", "not a notebook", "over the solutions", "unknown option"])
def test_bad_arguments_get_one_line_and_exit_status_2(argv, message, tmp_path, capsys,
                                                      monkeypatch):
    monkeypatch.chdir(notebooks.ROOT)
    argv = [arg.replace("{tmp}", str(tmp_path / "out")) for arg in argv]
    with pytest.raises(SystemExit) as info:
        student.main(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"python -m resnet_lab student: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_the_command_line_runs_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "resnet_lab", "student", str(LESSONS[0]), "--out",
         str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=notebooks.ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {tmp_path / LESSONS[0].name} (2 exercises, 1 question)\n"


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

    exercises = [i for i, cell in enumerate(solution_nb.cells)  # code to write, not answers
                 if cell.cell_type == "code" and student.BEGIN_SOLUTION in cell.source]
    last_check = next(i for i, cell in enumerate(solution_nb.cells)
                      if i > exercises[-1] and cell.metadata.get("nbgrader", {}).get("grade"))
    client = NotebookClient(student_nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebooks.NOTEBOOKS)}})
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


WITH_CODE_EXERCISES = [path.name for path in WITH_EXERCISES
                       if student.count_exercises(nbformat.read(path, as_version=4))]


@pytest.mark.parametrize("name", WITH_CODE_EXERCISES)
def test_an_exercise_notebook_stops_only_at_exercises_and_passes_once_solved(
        name, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_PROFILE", "smoke")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(notebooks.ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    solution = nbformat.read(notebooks.NOTEBOOKS / name, as_version=4)
    # The committed exercise version, the one a student opens (equal to what the
    # command writes: see test_committed_exercise_versions_are_up_to_date).
    stops = work_through(nbformat.read(COMMITTED / name, as_version=4), solution)
    assert len(stops) >= 1


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


def test_without_lesson_notebooks_the_command_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(notebooks, "NOTEBOOKS", tmp_path / "nowhere")  # as after pip install
    with pytest.raises(SystemExit) as info:
        student.main(["--out", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "no lesson notebooks found" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_committed_exercise_versions_are_up_to_date():
    expected = course.exercise_versions()
    assert sorted(expected) == [path.name for path in WITH_EXERCISES]
    committed = sorted(path.name for path in COMMITTED.glob("*.ipynb"))
    assert committed == sorted(expected), "run: python -m resnet_lab course sync"
    for name, text in expected.items():
        assert (COMMITTED / name).read_text(encoding="utf8") == text, (
            f"notebooks/exercises/{name} is out of date with notebooks/{name}; "
            f"run: python -m resnet_lab course sync")


def test_the_student_command_writes_what_is_committed(student_dir):
    for path in WITH_EXERCISES:
        assert (student_dir / path.name).read_text(encoding="utf8") == \
            (COMMITTED / path.name).read_text(encoding="utf8")


def test_course_sync_brings_a_stale_exercise_version_up_to_date(tmp_path, monkeypatch, capsys):
    import shutil

    shutil.copy(LESSONS[0], tmp_path / LESSONS[0].name)
    monkeypatch.setattr(notebooks, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(course, "EXERCISES", tmp_path / "exercises")
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "07_gone.ipynb").write_text("{}")  # its lesson no longer exists
    course.write_exercise_versions()
    assert sorted(path.name for path in (tmp_path / "exercises").iterdir()) == [LESSONS[0].name]
    assert (tmp_path / "exercises" / LESSONS[0].name).read_text(encoding="utf8") == \
        (COMMITTED / LESSONS[0].name).read_text(encoding="utf8")
    printed = capsys.readouterr().out
    assert f"wrote {tmp_path / 'exercises' / LESSONS[0].name}" in printed
    assert "removed" in printed and "07_gone.ipynb" in printed


def test_the_introduction_counts_exercises_and_questions_apart():
    solution = student.exercises_paragraph("09_x.ipynb", 2, solution=True, questions=1)
    exercise = student.exercises_paragraph("09_x.ipynb", 1, solution=False, questions=2)
    assert "This lesson has 2 short exercises, each followed by a check" in " ".join(
        solution.split())
    assert "It also asks a question to answer before you run" in " ".join(solution.split())
    assert "Its exercise is a placeholder" in " ".join(exercise.split())
    assert "Write your answer to each of its questions where it says YOUR ANSWER HERE" in \
        " ".join(exercise.split())
