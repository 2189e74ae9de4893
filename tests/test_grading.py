"""The teacher's loop with nbgrader, as the teacher's guide (notebooks/README.md) writes it.

A throwaway nbgrader course from lessons 1 and 3: the source notebooks from
`python -m resnet_lab student --keep-solutions`, the guide's nbgrader_config.py, then
generate_assignment, autograde of a correct and a wrong submission, and feedback.
"""

import html
import os
import re
import subprocess
import sys
import textwrap

import nbformat
import pytest

from resnet_lab.commands import notebooks, student

pytest.importorskip("nbgrader")

LESSONS = ["01_skip_connection.ipynb", "03_convolutional_block.ipynb"]
GUIDE = notebooks.NOTEBOOKS / "README.md"
MISTAKES = {  # a wrong submission: what it changes, and the sentence its feedback must show
    "01_skip_connection.ipynb": (
        ("layers.Add()([x, fx])", "layers.Concatenate()([x, fx])"),
        "your skip connection concatenates x and F(x), so its output has twice the channels "
        "of x"),
    "03_convolutional_block.ipynb": (
        ("    X_shortcut = layers.BatchNormalization(\n"
         '        axis=BN_AXIS, epsilon=BN_EPSILON, name=bn_name + "1"\n'
         "    )(X_shortcut)\n", ""),
        "the shortcut needs BatchNorm after its 1x1 convolution."),
}


def guide_config():
    """The nbgrader_config.py of the teacher's guide."""
    text = GUIDE.read_text()
    block = re.search(r"write `nbgrader_config.py`:\n\s*```python\n(.*?)```", text, re.DOTALL)
    assert block, "the guide no longer shows nbgrader_config.py"
    return textwrap.dedent(block.group(1))


OUTPUT = []  # what every nbgrader command of the loop printed, as a teacher sees it


def nbgrader(*args, cwd, env=None, check=True):
    # As in an activated environment: nbgrader runs the `alembic` command from PATH to
    # create its gradebook.
    env = dict(os.environ if env is None else env)
    env.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]),
               RESNET_LAB_PROFILE="smoke", RESNET_LAB_EXPLAIN="1", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    OUTPUT.append((args[0], result.stdout + result.stderr))
    return result


def submit(root, who, edit, lessons=LESSONS, assignment="lesson01", delete=()):
    """Hand in the released notebooks with each exercise answered by the solution,
    changed by ``edit``, and the cells whose grade_id is in ``delete`` deleted."""
    for name in lessons:
        source = nbformat.read(root / "source" / assignment / name, as_version=4)
        released = nbformat.read(root / "release" / assignment / name, as_version=4)
        for mine, theirs in zip(released.cells, source.cells, strict=True):
            if mine.metadata.get("nbgrader", {}).get("solution"):
                answer = "\n".join(line for line in theirs.source.split("\n")
                                   if not student.is_marker(line))
                mine.source = edit(name, answer) if mine.cell_type == "code" else answer
        released.cells = [cell for cell in released.cells
                          if cell.metadata.get("nbgrader", {}).get("grade_id") not in delete]
        folder = root / "submitted" / who / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(released, folder / name)


EDITED = set()  # the lessons whose answers `wrong` changed


def wrong(name, answer):
    (old, new), _ = MISTAKES[name]
    if old in answer:
        EDITED.add(name)
    return answer.replace(old, new)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    assert student.main([*(str(notebooks.NOTEBOOKS / name) for name in LESSONS),
                         "--keep-solutions", "--out", str(root / "source" / "lesson01")]) == 0
    (root / "nbgrader_config.py").write_text(guide_config())
    nbgrader("generate_assignment", "lesson01", cwd=root)
    # The class list, as a learning platform exports it.
    (root / "roster.csv").write_text("id,first_name,last_name,email\n"
                                     "alice,Alice,Ada,alice@example.org\n"
                                     "bob,Bob,Bell,bob@example.org\n"
                                     "carol,Carol,Cole,carol@example.org\n")
    nbgrader("db", "student", "import", "roster.csv", cwd=root)
    submit(root, "alice", lambda name, answer: answer)
    submit(root, "bob", wrong)
    assert EDITED == set(MISTAKES)  # every lesson's mistake made it into an answer
    # carol concatenates in lesson 1 and deletes the check cell that would say so
    submit(root, "carol", lambda name, answer: wrong(name, answer) if name == LESSONS[0]
           else answer, delete={"check_skip_connection"})
    result = nbgrader("autograde", "lesson01", cwd=root)
    (root / "autograde.log").write_text(result.stdout + result.stderr)
    grade_by_hand(root)
    nbgrader("generate_feedback", "lesson01", cwd=root)
    nbgrader("export", cwd=root)  # grades.csv
    return root


def test_the_source_notebooks_keep_the_answers_and_say_they_are_the_exercise_version(graded):
    for name in LESSONS:
        source = nbformat.read(graded / "source" / "lesson01" / name, as_version=4)
        assert student.count_exercises(source) == 2  # one exercise and one open one
        assert "**exercise version**" in source.cells[0].source


def test_generate_assignment_writes_the_committed_exercise_versions(graded):
    for name in LESSONS:
        released = nbformat.read(graded / "release" / "lesson01" / name, as_version=4)
        committed = nbformat.read(notebooks.EXERCISES / name, as_version=4)
        assert [cell.source for cell in released.cells] == \
            [cell.source for cell in committed.cells]


def scores(root, who, assignment="lesson01"):
    """{notebook: (points, out of)} of the checks, and {notebook: (points, out of)} of the
    written answers, graded by hand (None while any waits for the teacher)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, who)
        checks, by_hand = {}, {}
        for nb in submission.notebooks:
            code = [grade for grade in nb.grades if grade.cell.cell_type == "code"]
            written = [grade for grade in nb.grades if grade.cell.cell_type == "markdown"]
            checks[nb.name] = (sum(grade.score for grade in code),
                               sum(grade.max_score for grade in code))
            by_hand[nb.name] = None if any(g.needs_manual_grade for g in written) else (
                sum(grade.score for grade in written), sum(g.max_score for g in written))
        return checks, by_hand


MANUAL = {"alice": 1, "bob": 0, "carol": 1}  # what the teacher gives each written answer


def grade_by_hand(root, assignment="lesson01"):
    """What the teacher does in formgrader: a score for each written answer."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for who, points in MANUAL.items():
            for nb in gradebook.find_submission(assignment, who).notebooks:
                for grade in nb.grades:
                    if grade.needs_manual_grade:
                        grade.manual_score = points  # as formgrader's API sets it
                        grade.needs_manual_grade = False
        gradebook.db.commit()


def test_a_correct_submission_scores_every_point(graded):
    checks, by_hand = scores(graded, "alice")
    assert checks == {"01_skip_connection": (2, 2), "03_convolutional_block": (3, 3)}
    assert by_hand == {"01_skip_connection": (1, 1), "03_convolutional_block": (1, 1)}
    page = graded / "feedback" / "alice" / "lesson01" / "01_skip_connection.html"
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.read_text())).split())
    assert "Score: 3.0 / 3.0" in text  # the written answer graded before the feedback


def test_a_wrong_submission_scores_zero_and_its_feedback_names_the_mistake(graded):
    checks, _ = scores(graded, "bob")
    # Lesson 1's edit spoils both its exercises; lesson 3's, the projection of 3.1 only.
    assert checks == {"01_skip_connection": (0, 2), "03_convolutional_block": (1, 3)}
    for name, (_, sentence) in MISTAKES.items():
        page = (graded / "feedback" / "bob" / "lesson01" / name).with_suffix(".html")
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.read_text())).split())
        assert f"AssertionError: {sentence}" in text


def test_a_deleted_check_cell_is_restored_graded_and_reported(graded):
    checks, _ = scores(graded, "carol")
    assert checks == {"01_skip_connection": (0, 2), "03_convolutional_block": (3, 3)}
    log = (graded / "autograde.log").read_text()
    assert "Missing grade cell check_skip_connection encountered, adding to notebook" in log
    # and nothing else: no false tampering warning, no kernel or library noise
    assert [line for line in log.splitlines() if "WARN" in line.upper()] == [
        "[AutogradeApp | WARNING] Missing grade cell check_skip_connection encountered, "
        "adding to notebook"]
    page = graded / "feedback" / "carol" / "lesson01" / "01_skip_connection.html"
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.read_text())).split())
    assert "was missing from the submission. It was added back by nbgrader." in text
    assert "AssertionError: your skip connection concatenates x and F(x)" in text


def test_the_loop_prints_no_warning_but_the_deleted_cell(graded):
    warnings = [(command, line) for command, text in OUTPUT for line in text.splitlines()
                if "WARN" in line.upper()]
    assert [command for command, _ in OUTPUT] == [
        "generate_assignment", "db", "autograde", "generate_feedback", "export"]
    assert warnings == [("autograde", "[AutogradeApp | WARNING] Missing grade cell "
                                      "check_skip_connection encountered, adding to notebook")]


def test_the_export_has_one_row_per_student_with_the_rosters_names(graded):
    import csv

    rows = {row["student_id"]: row for row in csv.DictReader((graded / "grades.csv").open())}
    assert sorted(rows) == ["alice", "bob", "carol"]
    assert rows["carol"]["last_name"] == "Cole"
    # The checks' points (5, 1 and 3 of 5) and the teacher's (1 for each of 2 answers).
    assert {who: float(row["raw_score"]) for who, row in rows.items()} == {
        "alice": 7.0, "bob": 1.0, "carol": 5.0}
    assert {float(row["max_score"]) for row in rows.values()} == {7.0}


def test_a_grading_kernel_without_resnet_lab_stops_autograde_instead_of_scoring_zero(
        graded, tmp_path, kernel_without_resnet_lab):
    import shutil

    name, jupyter_path = kernel_without_resnet_lab
    course_copy = tmp_path / "grading"
    shutil.copytree(graded, course_copy)
    with open(course_copy / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.kernel_name = {name!r}\n")
    env = {**os.environ, "JUPYTER_PATH": jupyter_path}
    result = nbgrader("autograde", "lesson01", "--force", "--student", "alice",
                      cwd=course_copy, env=env, check=False)
    assert result.returncode != 0
    assert "the grading kernel cannot import resnet_lab" in result.stdout + result.stderr



@pytest.mark.slow  # about 3 minutes on 2 cores: make test-grading runs it
@pytest.mark.timeout(1800)
def test_lesson_5_is_graded_right_wrong_and_copied(tmp_path):
    """Lesson 5 trains ResNet-50 even in the smoke profile (about a minute per student
    on 2 cores), hence the guide's timeout, and leaves no checkpoints behind."""
    lesson = "05_train_resnet50.ipynb"
    assert student.main([str(notebooks.NOTEBOOKS / lesson), "--keep-solutions", "--out",
                         str(tmp_path / "source" / "lesson05")]) == 0
    (tmp_path / "nbgrader_config.py").write_text(guide_config())
    nbgrader("generate_assignment", "lesson05", cwd=tmp_path)
    flip = 'layers.RandomFlip("horizontal", seed=seed)'
    answers = {
        "alice": lambda name, answer: answer,
        "bob": lambda name, answer: answer.replace(
            flip, 'layers.RandomFlip("horizontal_and_vertical", seed=seed)'),
        "carol": lambda name, answer: "from resnet_lab.data import augmentation as "
                                      "make_augmentation  # noqa: F401\n",
    }
    for who, edit in answers.items():
        submit(tmp_path, who, edit, [lesson], "lesson05")
    nbgrader("autograde", "lesson05", cwd=tmp_path)
    assert {who: scores(tmp_path, who, "lesson05")[0] for who in answers} == {
        "alice": {"05_train_resnet50": (2, 2)}, "bob": {"05_train_resnet50": (1, 2)},
        "carol": {"05_train_resnet50": (0, 2)}}
    messages = {}
    for who in ("bob", "carol"):
        nb = nbformat.read(tmp_path / "autograded" / who / "lesson05" / lesson, as_version=4)
        check = next(cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade"))
        messages[who] = next(out.evalue for out in check.outputs if out.output_type == "error")
    assert messages["bob"].startswith("images are also flipped upside down")
    assert messages["carol"].startswith("make_augmentation uses resnet_lab's own augmentation")
    size = sum(path.stat().st_size for path in (tmp_path / "autograded").rglob("*")
               if path.is_file())
    assert size < 20e6, f"autograded/ holds {size / 1e6:.0f} MB"
