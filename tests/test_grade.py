"""Grading without nbgrader: `python -m resnet_lab grade` runs the course's own checks.

Submissions are made from the committed exercise version of lesson 1, as a student
hands it in: answered, answered wrongly, or with the check cell doctored.
"""

import csv

import nbformat
import pytest

from resnet_lab.commands import grade, notebooks, student

LESSON = "01_skip_connection.ipynb"
RIGHT = 'z = layers.Add()([x, fx])\n    return layers.Activation("relu")(z)'
CONCATENATED = 'z = layers.Concatenate()([x, fx])\n    return layers.Activation("relu")(z)'
CHECK_PASSED = "skip_connection: all checks passed, it computes relu(F(x) + x)."


def hand_in(folder, name, answer=None, doctor=None, written=None):
    """The exercise version of lesson 1 with ``answer`` in place of the placeholder,
    ``doctor(cell)`` applied to its check cell and ``written`` as the question's answer."""
    nb = nbformat.read(notebooks.EXERCISES / LESSON, as_version=4)
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("grade_id") == "skip_connection" and answer is not None:
            cell.source = cell.source.replace("# YOUR CODE HERE\n    raise NotImplementedError()",
                                              answer)
        if grading.get("solution") and cell.cell_type == "markdown" and written:
            cell.source = cell.source.replace(student.TEXT_STUB[0], written)
        if grading.get("grade") and cell.cell_type == "code" and doctor is not None:
            doctor(cell)
    path = folder / f"{name}_{LESSON}"
    nbformat.write(nb, path)
    return path


def fake_pass(cell):
    cell.source = f"print({CHECK_PASSED!r})"


def deleted(cell):
    cell.source = ""
    cell.metadata.pop("nbgrader")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    paths = [hand_in(folder, "alice", RIGHT, written="Larger near the input."),
             hand_in(folder, "carol", CONCATENATED, doctor=fake_pass),
             hand_in(folder, "dan", doctor=deleted)]  # unanswered, and no check to fail
    return {path.name.split("_")[0]: grade.grade(path, notebooks.notebook_paths())
            for path in paths}


def checks(entry, grade_id="check_skip_connection"):
    """The check ``grade_id`` of a graded submission (exercise 1.1's by default; the
    students below leave 1.2 unanswered)."""
    lesson, results = entry
    return lesson, [result for result in results if result[0] == grade_id]


def test_a_correct_answer_scores_its_points(report):
    assert checks(report["alice"]) == (LESSON, [("check_skip_connection", 1, 1, "")])
    _, [(_, points, scored, message)] = checks(report["alice"], "check_projected_skip")
    assert (points, scored) == (1, 0) and "projected_skip is not written yet" in message


def test_written_answers_are_left_to_the_teacher_with_the_students_answer(report):
    _, results = report["alice"]
    [(grade_id, points, scored, message)] = [r for r in results if r[2] is None]
    assert grade_id.startswith("question") and points == 1 and scored is None
    assert message == "to grade by hand: Larger near the input."
    _, results = report["dan"]
    assert [r[3] for r in results if r[2] is None] == ["to grade by hand: (no answer)"]


def test_a_wrong_answer_scores_zero_with_the_checks_sentence_whatever_its_check_cell_says(
        report):
    # carol replaced her check cell by print("... all checks passed"): the course's ran
    lesson, [(grade_id, points, scored, message)] = checks(report["carol"])
    assert (lesson, grade_id, points, scored) == (LESSON, "check_skip_connection", 1, 0)
    # A graded attempt is final: the exact fix comes with the symptom.
    assert message.startswith("your skip connection concatenates x and F(x)")
    assert "Exact fix: use layers.Add()" in message


def test_an_unanswered_exercise_scores_zero_and_says_so_even_without_its_check_cell(report):
    _, [(grade_id, _, scored, message)] = checks(report["dan"])  # the deleted check ran
    assert grade_id == "check_skip_connection" and scored == 0
    assert "skip_connection is not written yet" in message


def test_a_kernel_without_resnet_lab_stops_grading_instead_of_scoring_zero(
        tmp_path, capsys, monkeypatch, kernel_without_resnet_lab):
    name, jupyter_path = kernel_without_resnet_lab
    monkeypatch.setenv("JUPYTER_PATH", jupyter_path)
    paths = [hand_in(tmp_path, who, RIGHT) for who in ("alice", "bob")]
    assert grade.main([*map(str, paths), "--kernel", name]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no score at all
    assert captured.err == (f"{paths[0]}: the kernel 'no-resnet-lab' cannot import "
                            f"resnet_lab: run the grading with the course's environment (or "
                            f"a kernel registered from it: make kernel, then --kernel "
                            f"resnet-lab)\n")


def test_the_command_reports_per_exercise_and_names_a_notebook_of_no_lesson(tmp_path, capsys):
    stranger = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]),
                   stranger)
    bob = hand_in(tmp_path, "bob", CONCATENATED)
    assert grade.main([str(stranger), str(bob)]) == 1  # the others are graded all the same
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{stranger}: has no exercise of any lesson")
    lines = captured.out.splitlines()
    assert lines[0].startswith("  check_skip_connection: 0 / 1  your skip connection "
                               "concatenates x and F(x)")
    assert lines[1].startswith("  check_projected_skip: 0 / 1  projected_skip is not written")
    assert lines[2].startswith("  question_gradient_spread: ? / 1  to grade by hand: ")
    assert lines[3] == f"{bob} ({LESSON}): 0 / 2, and 1 point to grade by hand"


@pytest.mark.parametrize("argv, message", [
    (["missing.ipynb"], "no such notebook: missing.ipynb"),
    (["x.ipynb", "--profile", "fast"], "argument --profile: invalid choice: 'fast'"),
])
def test_bad_arguments_get_one_line_and_exit_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        grade.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m resnet_lab grade: error: {message}")
    assert err.count("\n") == 1


def test_every_lesson_with_exercises_is_found_from_its_exercise_version():
    lessons = notebooks.notebook_paths()
    for path in notebooks.EXERCISES.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert grade.lesson_of(nb, lessons).name == path.name
        graded = grade.graded_notebook(nb, nbformat.read(notebooks.NOTEBOOKS / path.name,
                                                         as_version=4))
        # the exercise version's cells, with the course's check cells and hidden tests
        assert student.count_exercises(graded) == 0


def test_the_command_writes_a_gradebook_and_one_feedback_file_per_student(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    essay = "Larger near the input,\nand spread over four orders of magnitude."
    alice = hand_in(folder, "alice", RIGHT, written=essay)
    bob = hand_in(folder, "bob", CONCATENATED)
    out = tmp_path / "out"
    assert grade.main([str(alice), str(bob), "--out", str(out), "--jobs", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == (f"graded 2 notebooks of 2 students; wrote {out / 'gradebook.csv'} "
                           f"and {out / 'feedback'}/")
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [(r["student"], r["check"], r["points"], r["max"]) for r in rows] == [
        ("alice", "check_skip_connection", "1", "1"),
        ("alice", "check_projected_skip", "0", "1"),
        ("alice", "question_gradient_spread", "", "1"),
        ("bob", "check_skip_connection", "0", "1"),
        ("bob", "check_projected_skip", "0", "1"),
        ("bob", "question_gradient_spread", "", "1")]
    assert {r["lesson"] for r in rows} == {LESSON}
    assert rows[3]["message"].startswith("your skip connection concatenates x and F(x)")
    assert rows[2]["message"] == f"to grade by hand: {essay}"  # in full, lines kept
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["alice.md", "bob.md"]
    feedback = (out / "feedback" / "bob.md").read_text()
    assert feedback.startswith(f"# Feedback for bob\n\n## {LESSON}: 0 / 2 points")
    assert "- **check_skip_connection**: 0 / 1. your skip connection concatenates" in feedback
    assert "Exact fix: use layers.Add()" in feedback
    assert "  > and spread over four orders of magnitude." in (
        out / "feedback" / "alice.md").read_text()


@pytest.mark.parametrize("path, student", [
    ("grading/submitted/alice/lesson01/01_skip_connection.ipynb", "alice"),
    ("class/bob_01_skip_connection.ipynb", "bob"),
    ("class/carol-01_skip_connection.ipynb", "carol"),
    ("dan/01_skip_connection.ipynb", "dan"),
])
def test_the_student_is_read_from_the_path(path, student):
    assert grade.student_of(path, LESSON) == student


def test_every_lessons_solution_scores_every_point_from_what_the_checks_need():
    """Grading runs the setup, the exercises and the checks only: nothing a check needs
    may live in the cells it leaves out."""
    lessons = notebooks.notebook_paths()
    solutions = [path for path in lessons if student.count_exercises(
        nbformat.read(path, as_version=4))]
    outcomes = grade.grade_all(solutions, lessons, jobs=2, profile="smoke", timeout=600,
                               kernel="python3", every_cell=False)
    for lesson, results in outcomes.values():
        failed = [(grade_id, message) for grade_id, points, scored, message in results
                  if scored is not None and scored < points]
        assert not failed, (lesson, failed)
