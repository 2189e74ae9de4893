"""Grade student notebooks without nbgrader, with the course's own checks.

    python -m resnet_lab grade SUBMISSION.ipynb ... [--out FOLDER] [--jobs N]
                               [--profile smoke] [--timeout 600] [--kernel NAME]
                               [--every-cell]

A submission is judged by its exercise cells only. For each one, the lesson it belongs
to is found from its exercises (their nbgrader ``grade_id``), and the lesson's own
solution notebook is run with the student's exercise cells in place of the answers:
every other cell, the check cells and their hidden tests included, is the course's,
whatever the student changed or deleted. A check cell scores its points when it runs
without error; for each failed check the report gives the sentence the student saw,
with its exact fix (a graded attempt is final). Written answers (questions answered in
a markdown cell) are listed for the teacher to grade by hand.

Only what the checks need runs: the lesson's setup (its cells before the first
exercise), the exercise cells and the check cells. The checks build what they judge on
inputs of their own, so nothing a lesson trains or downloads is needed to grade it;
``--every-cell`` runs the whole lesson, as the student did (lessons 5 and 7 then train).

Each notebook runs in a fresh kernel (``python3`` unless --kernel names another) in a
temporary folder, in the ``smoke`` profile by default; ``--jobs N`` runs N at a time.
If the kernel cannot import resnet_lab, grading stops with exit status 1 instead of
scoring zeros. With ``--out FOLDER`` it also writes ``FOLDER/gradebook.csv`` (student,
lesson, check, points, max, message: one row per graded cell) and one feedback file per
student, ``FOLDER/feedback/STUDENT.md``, with every check's sentence and the written
answers in full. The student is the folder under ``submitted/`` in nbgrader's layout
(``submitted/STUDENT/ASSIGNMENT/LESSON.ipynb``), else the file's name without the
lesson's (``alice_01_skip_connection.ipynb``: alice), else the folder that holds it.
"""

import argparse
import concurrent.futures
import csv
import io
import multiprocessing
import pathlib
import subprocess
import sys
import tempfile

from resnet_lab.commands import OneLineParser, course, notebooks, positive_int, student
from resnet_lab.env import PROFILES
from resnet_lab.files import write_atomically

BY_HAND = "to grade by hand: "  # the message of a written answer, before the answer


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


def graded_notebook(submission, solution, every_cell=False):
    """The solution notebook with the submission's exercise cells in place of the answers
    (a missing exercise cell: the placeholder). Unless ``every_cell``, only the code
    cells the checks need are kept: the setup before the first exercise, the exercise
    cells and the graded (check) cells."""
    import copy

    nb = copy.deepcopy(solution)
    if not every_cell:
        nb.cells = _what_the_checks_need(nb.cells)
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


def _what_the_checks_need(cells):
    def graded(cell):
        grading = cell.metadata.get("nbgrader", {})
        return bool(grading.get("solution") or grading.get("grade"))

    first = next((i for i, cell in enumerate(cells) if graded(cell)), len(cells))
    return [cell for i, cell in enumerate(cells)
            if i < first or cell.cell_type != "code" or graded(cell)]


def _run(nb, profile, timeout, kernel):
    from nbclient import NotebookClient

    # A graded attempt is final: its feedback gives each mistake's exact fix at once.
    with course.environment(RESNET_LAB_PROFILE=profile, TF_CPP_MIN_LOG_LEVEL="2",
                            RESNET_LAB_EXPLAIN="1"), \
            tempfile.TemporaryDirectory(prefix="resnet-lab-grade-") as folder:
        # The kernel's own log (its transport, TensorFlow's start-up lines) goes nowhere:
        # what a cell prints, errors included, comes back in the notebook.
        NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=True,
                       record_timing=False, resources={"metadata": {"path": folder}}).execute(
            stderr=subprocess.DEVNULL)
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
            answer = answer.strip()
            if answer in ("", student.TEXT_STUB[0]):
                answer = "(no answer)"
            results.append((grading["grade_id"], grading.get("points", 0), None,
                            f"{BY_HAND}{answer}"))
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


def grade(path, lessons, profile="smoke", timeout=600, kernel="python3", every_cell=False):
    """(lesson notebook name, [(grade_id, points, scored, message)]) for the submission
    at ``path``; raises GradingError if it cannot be graded."""
    import nbformat

    try:
        submission = nbformat.read(path, as_version=4)
    except Exception as error:  # unreadable JSON, a wrong nbformat version ...
        raise GradingError(f"is not a readable notebook ({error})") from None
    solution = lesson_of(submission, lessons)
    try:
        nb = _run(graded_notebook(submission, _read(solution), every_cell), profile, timeout,
                  kernel)
    except Exception as error:  # no such kernel, the kernel died, ...
        raise GradingError(f"could not be run: {type(error).__name__}: "
                           f"{' '.join(str(error).split())[:300]}") from None
    return solution.name, score(nb, kernel)


def student_of(path, lesson):
    """Whose submission ``path`` (of lesson notebook ``lesson``) is: see the module's
    docstring."""
    path = pathlib.Path(path)
    if len(path.parts) >= 4 and path.parents[2].name == "submitted":
        return path.parents[1].name
    stem, lesson_stem = path.stem, pathlib.Path(lesson).stem
    if stem != lesson_stem and stem.endswith(lesson_stem):
        name = stem[:-len(lesson_stem)].rstrip("_- .")
        if name:
            return name
    return path.resolve().parent.name


def _grade_one(path, lessons, profile, timeout, kernel, every_cell):
    """grade() for a worker process: (lesson, results) or the GradingError's text."""
    try:
        return grade(path, lessons, profile, timeout, kernel, every_cell)
    except GradingError as error:
        return str(error)


def grade_all(paths, lessons, jobs=1, **options):
    """{path: (lesson, results) or an error's text}, ``jobs`` submissions at a time."""
    if jobs == 1 or len(paths) == 1:
        return {path: _grade_one(path, lessons, **options) for path in paths}
    # Separate processes: each runs its own kernel and event loop. "spawn" starts them
    # clean, whatever the parent has imported.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {path: pool.submit(_grade_one, path, lessons, **options) for path in paths}
        return {path: future.result() for path, future in futures.items()}


GRADEBOOK_COLUMNS = ["student", "lesson", "check", "points", "max", "message"]


def gradebook_csv(graded):
    """The gradebook as CSV text: one row per graded cell of every graded submission
    (``graded``: [(student, lesson, results)]); written answers have no points yet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GRADEBOOK_COLUMNS)
    for who, lesson, results in graded:
        for grade_id, points, scored, message in results:
            writer.writerow([who, lesson, grade_id, "" if scored is None else scored, points,
                             message])
    return out.getvalue()


def feedback_markdown(who, graded):
    """One student's feedback: per lesson, each check's points and sentence, and the
    written answers in full, to be graded by hand."""
    lines = [f"# Feedback for {who}", ""]
    for lesson, results in graded:
        checked = [(points, scored) for _, points, scored, _ in results if scored is not None]
        lines += [f"## {lesson}: {sum(s for _, s in checked)} / "
                  f"{sum(p for p, _ in checked)} points from the checks", ""]
        for grade_id, points, scored, message in results:
            if scored is None:
                lines += [f"- **{grade_id}** ({points} point{'s' if points != 1 else ''}, "
                          f"graded by your teacher): your answer:", "",
                          *(f"  > {line}" for line in
                            message.removeprefix(BY_HAND).split("\n"))]
            else:
                lines.append(f"- **{grade_id}**: {scored} / {points}"
                             + (f". {message}" if message else ": passed."))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    parser = OneLineParser(prog="python -m resnet_lab grade", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=pathlib.Path,
                        help="the students' notebooks")
    parser.add_argument("--out", type=pathlib.Path,
                        help="write FOLDER/gradebook.csv and FOLDER/feedback/STUDENT.md")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="notebooks to grade at a time (default: 1; one per core is "
                             "a good start)")
    parser.add_argument("--profile", default="smoke", choices=PROFILES,
                        help="the profile to run the lessons in (default: smoke)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds a cell may run (default: 600)")
    parser.add_argument("--kernel", default="python3",
                        help="the Jupyter kernel to run them with (default: python3)")
    parser.add_argument("--every-cell", action="store_true",
                        help="run every cell of the lesson, not only what the checks need")
    args = parser.parse_args(argv)
    lessons = notebooks.notebook_paths()
    if not lessons:
        parser.error("no lesson notebooks found: grade from a copy of the course repository")
    for path in args.submissions:
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file: give a folder")
    outcomes = grade_all(args.submissions, lessons, args.jobs, profile=args.profile,
                         timeout=args.timeout, kernel=args.kernel,
                         every_cell=args.every_cell)
    status, graded = 0, []
    for path in args.submissions:
        outcome = outcomes[path]
        if isinstance(outcome, str):
            print(f"{path}: {outcome}", file=sys.stderr)
            if "cannot import resnet_lab" in outcome:
                return 1  # every other submission failed the same way: no gradebook
            status = 1
            continue
        lesson, results = outcome
        graded.append((student_of(path, lesson), lesson, results))
        for grade_id, points, scored, message in results:
            line = f"  {grade_id}: {'?' if scored is None else scored} / {points}"
            shown = message if scored is not None else " ".join(message.split())[:300]
            print(line + (f"  {shown}" if shown else ""))
        checked = [(points, scored) for _, points, scored, _ in results if scored is not None]
        by_hand = sum(points for _, points, scored, _ in results if scored is None)
        print(f"{path} ({lesson}): {sum(scored for _, scored in checked)} / "
              f"{sum(points for points, _ in checked)}"
              + (f", and {by_hand} point{'s' if by_hand != 1 else ''} to grade by hand"
                 if by_hand else ""))
    if args.out is not None and graded:
        _write_reports(args.out, graded)
    students = sorted({who for who, _, _ in graded})
    failed = len(args.submissions) - len(graded)
    print(f"graded {len(graded)} notebook{'s' if len(graded) != 1 else ''} of "
          f"{len(students)} student{'s' if len(students) != 1 else ''}"
          + (f"; {failed} could not be graded (above)" if failed else "")
          + (f"; wrote {args.out / 'gradebook.csv'} and {args.out / 'feedback'}/"
             if args.out is not None and graded else ""))
    return status


def _write_reports(out, graded):
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    write_atomically(out / "gradebook.csv", gradebook_csv(graded))
    by_student = {}
    for who, lesson, results in graded:
        by_student.setdefault(who, []).append((lesson, results))
    for who, entries in by_student.items():
        write_atomically(out / "feedback" / f"{who}.md", feedback_markdown(who, entries))


if __name__ == "__main__":
    sys.exit(main())
