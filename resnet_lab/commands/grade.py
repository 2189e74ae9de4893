"""Grade student notebooks without nbgrader, with the course's own checks.

    python -m resnet_lab grade SUBMISSION.ipynb ... [--profile smoke] [--timeout 600]
                               [--kernel NAME]

A submission is judged by its exercise cells only. For each one, the lesson it belongs
to is found from its exercises (their nbgrader ``grade_id``), and the lesson's own
solution notebook is run with the student's exercise cells in place of the answers:
every other cell, the check cells and their hidden tests included, is the course's,
whatever the student changed or deleted. A check cell scores its points when it runs
without error; for each failed check the report gives the sentence the student saw.
Written answers (questions answered in a markdown cell) are listed for the teacher to
grade by hand.

The notebook runs in a fresh kernel (``python3`` unless --kernel names another) in a
temporary folder, in the ``smoke`` profile by default: the checks do not depend on the
profile. If the kernel cannot import resnet_lab, grading stops with exit status 1
instead of scoring zeros.
"""

import argparse
import pathlib
import sys
import tempfile

from resnet_lab.commands import OneLineParser, course, notebooks, student
from resnet_lab.env import PROFILES


class GradingError(Exception):
    """Grading cannot go on (no kernel with resnet_lab, a notebook of no lesson)."""


def exercise_cells(nb):
    """{grade_id: cell} of the exercise (nbgrader solution) cells of a notebook."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("solution")
            and cell.metadata["nbgrader"].get("grade_id")}


def lesson_of(submission, lessons):
    """The solution notebook (path) whose exercises the submission has."""
    found = set(exercise_cells(submission))
    best = max(lessons, key=lambda path: len(found & set(exercise_cells(_read(path)))),
               default=None)
    if best is None or not found & set(exercise_cells(_read(best))):
        raise GradingError("has no exercise of any lesson (its exercise cells carry nbgrader "
                           "metadata with a grade_id; was it made from a course notebook?)")
    return best


_cache = {}


def _read(path):
    import nbformat

    if path not in _cache:
        _cache[path] = nbformat.read(path, as_version=4)
    return _cache[path]


def graded_notebook(submission, solution):
    """The solution notebook with the submission's exercise cells in place of the answers
    (a missing exercise cell: the placeholder)."""
    import copy

    nb = copy.deepcopy(solution)
    answers = exercise_cells(submission)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        question, _ = student.convert_source(cell.source, cell.cell_type)
        if cell.cell_type == "markdown":  # the question, to tell the answer from it
            cell.metadata["question"] = question.replace(student.TEXT_STUB[0], "").strip()
        cell.source = answers[grade_id].source if grade_id in answers else question
    return nb


def _run(nb, profile, timeout, kernel):
    from nbclient import NotebookClient

    # A graded attempt is final: its feedback gives each mistake's exact fix at once.
    with course.environment(RESNET_LAB_PROFILE=profile, TF_CPP_MIN_LOG_LEVEL="2",
                            RESNET_LAB_EXPLAIN="1"), \
            tempfile.TemporaryDirectory(prefix="resnet-lab-grade-") as folder:
        NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=True,
                       record_timing=False, resources={"metadata": {"path": folder}}).execute()
    return nb


def _error(cell):
    return next((output for output in cell.get("outputs", [])
                 if output.output_type == "error"), None)


def score(nb, kernel="python3"):
    """[(grade_id, points, scored, message)] for every graded cell of an executed
    notebook; raises GradingError if the kernel could not import resnet_lab."""
    for cell in nb.cells:
        error = _error(cell)
        if error is not None and error.evalue == "No module named 'resnet_lab'":
            raise GradingError(f"the kernel {kernel!r} cannot import resnet_lab: run the "
                               f"grading with the course's environment (or a kernel "
                               f"registered from it: make kernel, then --kernel resnet-lab)")
    results = []
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if not grading.get("grade"):
            continue
        if cell.cell_type == "markdown":  # a written answer: the teacher grades it
            answer = cell.source
            question = cell.metadata.get("question", "")
            if question and answer.startswith(question):
                answer = answer[len(question):]
            answer = " ".join(answer.split())
            if answer in ("", student.TEXT_STUB[0]):
                answer = "(no answer)"
            results.append((grading["grade_id"], grading.get("points", 0), None,
                            f"to grade by hand: {answer[:300]}"))
            continue
        error = _error(cell)
        points = grading.get("points", 0)
        if error is None and cell.get("outputs") is not None and cell.execution_count:
            results.append((grading["grade_id"], points, points, ""))
        else:
            if error is None:
                message = "not run"
            elif error.ename == "AssertionError":  # a check's sentence
                message = error.evalue
            else:
                message = f"{error.ename}: {error.evalue}"
            results.append((grading["grade_id"], points, 0, message))
    return results


def grade(path, lessons, profile="smoke", timeout=600, kernel="python3"):
    import nbformat

    try:
        submission = nbformat.read(path, as_version=4)
    except Exception as error:  # unreadable JSON, a wrong nbformat version ...
        raise GradingError(f"is not a readable notebook ({error})") from None
    solution = lesson_of(submission, lessons)
    try:
        nb = _run(graded_notebook(submission, _read(solution)), profile, timeout, kernel)
    except Exception as error:  # no such kernel, the kernel died, ...
        raise GradingError(f"could not be run: {type(error).__name__}: "
                           f"{' '.join(str(error).split())[:300]}") from None
    return solution.name, score(nb, kernel)


def main(argv=None):
    parser = OneLineParser(prog="python -m resnet_lab grade", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=pathlib.Path,
                        help="the students' notebooks")
    parser.add_argument("--profile", default="smoke", choices=PROFILES,
                        help="the profile to run the lessons in (default: smoke)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds a cell may run (default: 600)")
    parser.add_argument("--kernel", default="python3",
                        help="the Jupyter kernel to run them with (default: python3)")
    args = parser.parse_args(argv)
    lessons = notebooks.notebook_paths()
    if not lessons:
        parser.error("no lesson notebooks found: grade from a copy of the course repository")
    for path in args.submissions:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
    status = 0
    for path in args.submissions:
        try:
            lesson, results = grade(path, lessons, args.profile, args.timeout, args.kernel)
        except GradingError as error:
            print(f"{path}: {error}", file=sys.stderr)
            if "cannot import resnet_lab" in str(error):
                return 1  # every other submission would fail the same way
            status = 1
            continue
        for grade_id, points, scored, message in results:
            line = f"  {grade_id}: {'?' if scored is None else scored} / {points}"
            print(line + (f"  {message}" if message else ""))
        checked = [(points, scored) for _, points, scored, _ in results if scored is not None]
        by_hand = sum(points for _, points, scored, _ in results if scored is None)
        print(f"{path} ({lesson}): {sum(scored for _, scored in checked)} / "
              f"{sum(points for points, _ in checked)}"
              + (f", and {by_hand} point{'s' if by_hand != 1 else ''} to grade by hand"
                 if by_hand else ""))
    return status


if __name__ == "__main__":
    sys.exit(main())
