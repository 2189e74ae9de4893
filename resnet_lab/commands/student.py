"""Write the student versions of the lesson notebooks.

    python -m resnet_lab student [NOTEBOOK ...] --out DIR

The solution notebooks are the single source. In each of them an exercise is marked
with nbgrader's markers:

    ### BEGIN SOLUTION
    ...the answer...
    ### END SOLUTION

and, where a teacher wants tests that students do not see,

    ### BEGIN HIDDEN TESTS
    ...
    ### END HIDDEN TESTS

The student version replaces every solution region with a placeholder, indented like
the marker,

    # YOUR CODE HERE
    raise NotImplementedError()

(in a markdown cell: YOUR ANSWER HERE), removes hidden tests, clears every output and
execution count, points the "Open in Colab" badge and the introduction's paragraph about
the exercises to the exercise version, and leaves everything else unchanged. Apart from
the badge and the introduction, that is what nbgrader's ``generate_assignment`` does to
the same markers; ``--keep-solutions`` changes only those two, for nbgrader's source/.

Without NOTEBOOK arguments it converts every lesson in notebooks/. If any marker is
unbalanced, nested, or misspelt, it says where and writes nothing.
"""

import argparse
import pathlib
import re
import sys
import textwrap
from typing import NamedTuple

from resnet_lab.commands import OneLineParser
from resnet_lab.commands.notebooks import (
    BADGE,
    colab_url,
    github_url,
    notebook_paths,
    notebook_text,
    read_notebook,
)
from resnet_lab.files import write_atomically

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = ("YOUR ANSWER HERE",)
# Anything that looks like a marker but is not written exactly like one: nbgrader would
# leave such a region in place, and hand the answer out.
_LOOKS_LIKE_A_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)\s*(SOLUTION|HIDDEN\s*TESTS?)\b",
                                  re.IGNORECASE)


class MarkerError(ValueError):
    """A solution or hidden-test region that is not properly opened and closed."""


def is_marker(line):
    return line.strip() in MARKERS


def convert_source(source, cell_type="code"):
    """The student version of one cell's source, and the number of solution regions.

    Raises MarkerError, naming the line, for an unbalanced, nested or misspelt marker.
    """
    stub = CODE_STUB if cell_type == "code" else TEXT_STUB
    lines = source.split("\n")
    out, region, opened_at, regions = [], None, 0, 0
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if region is not None:
                raise MarkerError(f"line {number}: '{marker}' inside the region opened on line "
                                  f"{opened_at} (regions cannot be nested)")
            region, opened_at = marker, number
            if marker == BEGIN_SOLUTION:
                regions += 1
                indent = line[:len(line) - len(line.lstrip())]
                out.extend(indent + stub_line for stub_line in stub)
        elif marker in (END_SOLUTION, END_HIDDEN):
            expected = BEGIN_SOLUTION if marker == END_SOLUTION else BEGIN_HIDDEN
            if region != expected:
                where = (f"the region opened on line {opened_at} is '{region}'" if region
                         else "no region is open")
                raise MarkerError(f"line {number}: '{marker}' but {where}")
            region = None
        elif _LOOKS_LIKE_A_MARKER.match(line):
            raise MarkerError(f"line {number}: {line.strip()!r} looks like a marker but is not "
                              f"one; write it exactly as one of: {', '.join(MARKERS)}")
        elif region is None:
            out.append(line)
    if region is not None:
        closing = END_SOLUTION if region == BEGIN_SOLUTION else END_HIDDEN
        raise MarkerError(f"line {opened_at}: '{region}' is never closed by '{closing}'")
    return "\n".join(out), regions


def student_notebook(nb):
    """A student copy of a solution notebook (an nbformat node) and its exercise count.

    An exercise is a cell with solution regions (one or more).
    """
    import copy

    nb = copy.deepcopy(nb)
    exercises = 0
    for index, cell in enumerate(nb.cells):
        try:
            cell.source, regions = convert_source(cell.source, cell.cell_type)
        except MarkerError as error:
            # counted from 1, as a reader counts them (the lines are too)
            raise MarkerError(f"cell {index + 1}, {error}") from None
        if regions:
            exercises += 1
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb, exercises


# The introduction's paragraph about the exercises: "**Exercises.** ..." up to the next
# blank line. Solution and exercise versions each get their own (exercises_paragraph).
_EXERCISES_PARAGRAPH = re.compile(r"^\*\*Exercises\.\*\*.*?(?=\n\s*\n|\Z)",
                                  re.DOTALL | re.MULTILINE)


def _counted(count, one, many):
    return one if count == 1 else f"{count} {many}"


def exercises_paragraph(name, count, solution, questions=0):
    """The paragraph that tells the learner which version of lesson ``name`` they have
    open, and where the other one is. ``count`` exercises are code, each with a check;
    ``questions`` are written answers (markdown), to give before running a cell."""
    checks = "followed by a check" if count == 1 else "each followed by a check"
    work = []
    if solution:
        if count:
            exercises = _counted(count, "1 short exercise", "short exercises")
            work.append(f"This lesson has {exercises}, {checks} that tells you in one "
                        f"sentence what, if anything, is wrong.")
        if questions:
            asks = _counted(questions, "a question", "questions")
            work.append(f"{'It also asks' if count else 'This lesson asks'} {asks} to answer "
                        f"before you run the cell that shows the answer.")
        first = "try the exercises yourself first" if count else "answer yourself first"
        text = (f"**Exercises.** {' '.join(work)} This notebook is the **solution version**: "
                f"the answers are filled in. To {first}, open the "
                f"exercise version, where each answer is a placeholder: "
                f"[`exercises/{name}`](exercises/{name}) "
                f"([open in Colab]({colab_url('exercises/' + name)})).")
    else:
        if count:
            what = _counted(count, "Its exercise is a placeholder",
                            "short exercises are placeholders")
            what = what if count == 1 else f"Its {what}"
            work.append(f"{what} (`# YOUR CODE HERE`) for you to fill in, {checks} that tells "
                        f"you in one sentence what, if anything, is wrong.")
        if questions:
            which = "its question" if questions == 1 else "each of its questions"
            work.append(f"Write your answer to {which} where it says YOUR ANSWER HERE, before "
                        f"you run the cell that shows the answer.")
        stops = " Run the notebook from the top: it stops at the first exercise." if count \
            else ""
        text = (f"**Exercises.** This notebook is the **exercise version** of the lesson. "
                f"{' '.join(work)}{stops} The answers are in the solution version, "
                f"[`notebooks/{name}`]({github_url(name)}) "
                f"([open in Colab]({colab_url(name)})).")
    # Wrapped like the lessons' prose, never inside a link's text.
    unbroken = re.sub(r"\[[^\]]*\]", lambda m: m.group().replace(" ", "\0"), text)
    wrapped = textwrap.fill(unbroken, width=88, break_long_words=False,
                            break_on_hyphens=False)
    return wrapped.replace("\0", " ")


def count_exercises(nb, cell_type="code"):
    """The number of cells of ``cell_type`` with a solution region: exercises ("code")
    or questions with a written answer ("markdown")."""
    return sum(1 for cell in nb.cells if cell.cell_type == cell_type
               and any(line.strip() == BEGIN_SOLUTION for line in cell.source.split("\n")))


def write_exercises_paragraph(nb, name, solution):
    """Write the paragraph about the exercises into the first markdown cell that has one
    (a notebook without exercises is left alone); True if the notebook changed."""
    count, questions = count_exercises(nb), count_exercises(nb, "markdown")
    if not count and not questions:
        return False
    for cell in nb.cells:
        found = _EXERCISES_PARAGRAPH.search(cell.source) if cell.cell_type == "markdown" \
            else None
        if found:
            paragraph = exercises_paragraph(name, count, solution, questions)
            source = cell.source[:found.start()] + paragraph + cell.source[found.end():]
            changed = source != cell.source
            cell.source = source
            return changed
    return False


# What the solution version says about its own stored outputs, which the exercise
# version does not have: said there as the solution version's.
STORED_RUN = [
    (re.compile(r"\b([Tt])he\s+stored\s+`(\w+)`\s+run\b"),
     r"\1he `\2` run stored in the [solution version](../{name})"),
    (re.compile(r"\b([Tt])he\s+run\s+stored\s+here\b"),
     r"\1he run stored in the [solution version](../{name})"),
    (re.compile(r"\s\((?:the\s+numbers\s+(?:printed\s+)?(?:above|under)\s+the\s+figure"
                r"|the\s+table\s+above)\)"),
     " (its printed figures)"),
]


def name_stored_results(nb, name):
    """Make every sentence of ``nb``'s markdown about a stored result say whose it is."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for pattern, replacement in STORED_RUN:
                cell.source = pattern.sub(replacement.replace("{name}", name), cell.source)


def exercise_version(nb, name, keep_solutions=False):
    """The exercise version of the solution notebook ``nb`` (an nbformat node) of lesson
    ``name``, and its exercise count: solutions replaced by placeholders, its badge
    opening notebooks/exercises/<name> in Colab, its introduction saying which version
    it is and linking the solutions.

    With ``keep_solutions``, only the badge and the introduction change: a source
    notebook for nbgrader, whose ``generate_assignment`` then writes the exercise
    version."""
    import copy

    nb = copy.deepcopy(nb)
    if count_exercises(nb) or count_exercises(nb, "markdown"):
        write_exercises_paragraph(nb, name, solution=False)
        badge = f"({colab_url('exercises/' + name)})"
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = BADGE.sub(lambda match: match.group(1) + badge, cell.source)
    name_stored_results(nb, name)
    if keep_solutions:
        return nb, count_exercises(nb) + count_exercises(nb, "markdown")
    return student_notebook(nb)


class StudentVersion(NamedTuple):
    """The student version of one lesson, as its file will hold it."""

    name: str  # the notebook's file name, the same as the lesson's
    text: str  # the notebook, as saved
    exercises: int  # in the lesson: cells with code to write
    questions: int  # in the lesson: markdown cells with an answer to write


def student_versions(paths, keep_solutions=False):
    """The StudentVersion of every solution notebook in ``paths`` (with
    ``keep_solutions``: nbgrader's source version, see exercise_version).

    All are made in memory: if any notebook cannot be read or has a marker error, the
    errors are raised together, one per line, as a MarkerError.
    """
    import nbformat

    versions, errors = [], []
    for path in paths:
        path = pathlib.Path(path)
        try:
            nb = read_notebook(path)
        except Exception as error:  # unreadable JSON, a wrong nbformat version ...
            errors.append(f"{path}: not a readable notebook ({error})")
            continue
        try:
            student, _ = exercise_version(nb, path.name, keep_solutions)
        except MarkerError as error:
            errors.append(f"{path}: {error}")
            continue
        nbformat.validate(student)
        versions.append(StudentVersion(path.name, notebook_text(student), count_exercises(nb),
                                       count_exercises(nb, "markdown")))
    if errors:
        raise MarkerError("\n".join(errors))
    return versions


def write_versions(versions, out):
    """Write each StudentVersion into the folder ``out`` (created if needed), under its
    lesson's name; a file that already holds it is left alone. Returns the paths of
    the files written."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for version in versions:
        target = out / version.name
        if not target.is_file() or target.read_text(encoding="utf8") != version.text:
            write_atomically(target, version.text)
            written.append(target)
    return written


def convert(paths, out, keep_solutions=False):
    """Write the student version of every notebook in ``paths`` into the folder ``out``
    (with ``keep_solutions``: nbgrader's source version, see exercise_version), and
    return [(path in out, exercises, questions)].

    All notebooks are converted in memory first: if any has a marker error, the
    errors are raised together (one per line) and nothing is written.
    """
    versions = student_versions(paths, keep_solutions)
    write_versions(versions, out)
    return [(pathlib.Path(out) / version.name, version.exercises, version.questions)
            for version in versions]


def main(argv=None):
    parser = OneLineParser(prog="python -m resnet_lab student", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="solution notebooks (default: every lesson in notebooks/)")
    parser.add_argument("--out", required=True, type=pathlib.Path,
                        help="folder for the student notebooks (created if needed)")
    parser.add_argument("--keep-solutions", action="store_true",
                        help="keep the answers and hidden tests, change only the badge and "
                             "the introduction: the notebooks for nbgrader's source/ folder")
    args = parser.parse_args(argv)

    paths = args.notebooks or notebook_paths()
    if not paths:
        parser.error("no lesson notebooks found (outside a copy of the course repository, "
                     "name the notebooks to convert)")
    for path in paths:
        if path.suffix != ".ipynb":
            parser.error(f"{path} is not a notebook (.ipynb)")
        if not path.is_file():
            parser.error(f"no such notebook: {path}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    sources = {path.resolve().parent for path in paths}
    if args.out.resolve() in sources:
        parser.error(f"--out {args.out} holds the solution notebooks: choose another folder")
    names = [path.name for path in paths]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        parser.error(f"two notebooks named {duplicates[0]} would overwrite each other in --out")

    try:
        written = convert(paths, args.out, args.keep_solutions)
    except MarkerError as error:
        print(f"{parser.prog}: nothing written, fix the markers first:\n{error}",
              file=sys.stderr)
        return 1
    for target, exercises, questions in written:
        asked = f", {questions} question{'s' if questions != 1 else ''}" if questions else ""
        print(f"wrote {target} ({exercises} exercise{'s' if exercises != 1 else ''}{asked})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
