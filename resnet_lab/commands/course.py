"""Run the course's notebooks headless: the HTML course, and clean stored outputs.

    python -m resnet_lab course build [--out build/course] [--profile cpu]
        Execute every notebook in notebooks/ with a fresh kernel and write the
        executed copies as HTML, with an index page, to --out.

    python -m resnet_lab course update [NOTEBOOK ...] [--profile cpu]
        Execute notebooks in place and store their outputs without machine noise
        (no stderr, no timing metadata): what a maintainer commits.

    python -m resnet_lab course sync
        Write the repository URL from pyproject.toml into every notebook's
        "Open in Colab" badge and Colab install line, write each lesson's
        paragraph about its exercises, and write the exercise versions of the
        lessons into notebooks/exercises/.
"""

import argparse
import contextlib
import html
import os
import pathlib
import re
import sys
import time

from resnet_lab.commands import OneLineParser, student
from resnet_lab.commands.notebooks import (
    BADGE,
    EXERCISES,
    ROOT,
    colab_url,
    notebook_paths,
    read_notebook,
    repository_url,
    write_notebook,
)
from resnet_lab.files import write_atomically

# The course's install line in the notebooks: pip install "resnet-lab @ git+URL".
_INSTALL = re.compile(r'"resnet-lab @ git\+[^"]*"')


def execute(path, profile=None, timeout=1800, keep_measurements=False):
    """Execute a notebook with a fresh kernel in its own folder; return it, cleaned."""
    from nbclient import NotebookClient

    nb = read_notebook(path)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with environment(RESNET_LAB_PROFILE=profile):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(pathlib.Path(path).parent)}}
                       ).execute()
    return clean(nb, keep_measurements)


@contextlib.contextmanager
def environment(**values):
    """Set environment variables (those given as None are left alone) for a block, for
    the kernels it starts; restore them after."""
    values = {key: value for key, value in values.items() if value is not None}
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


MACHINE_DEPENDENT = "machine-dependent"  # a tag: the cell's output is a measurement


def clean(nb, keep_measurements=False):
    """Drop what differs from machine to machine: stderr (TensorFlow's C++ log), timing
    metadata, and the outputs of cells tagged "machine-dependent" (speed figures)
    unless ``keep_measurements``."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if (cell.cell_type == "code" and not keep_measurements
                and MACHINE_DEPENDENT in cell.metadata.get("tags", [])):
            cell.outputs = []
        if cell.cell_type == "code":
            outputs = []
            for output in cell.outputs:
                if output.output_type == "stream":
                    if output.name == "stderr":
                        continue
                    last = outputs[-1] if outputs else None
                    if last is not None and last.output_type == "stream" and \
                            last.name == output.name:
                        last.text += output.text  # one output per stream, however it arrived
                        continue
                outputs.append(output)
            cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return nb


def update(paths, profile=None):
    for path in paths:
        start = time.perf_counter()
        nb = execute(path, profile)
        write_notebook(path, nb)
        print(f"updated {path} in {time.perf_counter() - start:.0f} s")
    write_exercise_versions()


def build(out, profile=None, paths=None):
    """Execute every lesson (or the notebooks ``paths``) and write HTML pages plus an
    index to ``out``."""
    from nbconvert import HTMLExporter

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    entries = []
    for path in paths or notebook_paths():
        start = time.perf_counter()
        print(f"running {path.name} ...", flush=True)
        nb = execute(path, profile, keep_measurements=True)
        body, _ = exporter.from_notebook_node(nb)
        page = write_atomically(out / path.with_suffix(".html").name, body)
        seconds = time.perf_counter() - start
        entries.append((page.name, _title(nb, path), seconds))
        print(f"  wrote {page} ({seconds:.0f} s)")
    index = write_atomically(out / "index.html", _index_page(entries, profile))
    print(f"open {index}")
    return index


def sync():
    """Stamp the repository URL into each notebook's Colab badge and install line and
    the exercises paragraph into its introduction, then write the exercise versions."""
    url = repository_url()
    for path in notebook_paths():
        nb = read_notebook(path)
        changed, link = False, f"({colab_url(path.name)})"
        for cell in nb.cells:
            source = BADGE.sub(lambda badge, link=link: badge.group(1) + link, cell.source)
            source = _INSTALL.sub(f'"resnet-lab @ git+{url}"', source)
            changed |= source != cell.source
            cell.source = source
        changed |= student.write_exercises_paragraph(nb, path.name, solution=True)
        if changed:
            write_notebook(path, nb)
            print(f"synced {path.name}")
    write_exercise_versions()


def _exercise_versions():
    """The student versions (student.StudentVersion) of the lessons that have
    exercises or questions."""
    return [version for version in student.student_versions(notebook_paths())
            if version.exercises or version.questions]


def exercise_versions():
    """{name: text} of the exercise version of every lesson that has exercises: what
    notebooks/exercises/ must hold."""
    return {version.name: version.text for version in _exercise_versions()}


def write_exercise_versions():
    """Bring notebooks/exercises/ up to date with the solution notebooks: what
    ``python -m resnet_lab student --out notebooks/exercises`` writes, for the lessons
    with exercises, and no other notebook."""
    versions = _exercise_versions()
    for target in student.write_versions(versions, EXERCISES):
        print(f"wrote {_shown(target)}")
    names = {version.name for version in versions}
    for stale in EXERCISES.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
            print(f"removed {_shown(stale)} (its lesson has no exercises, or is gone)")


def _shown(path):
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _title(nb, path):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def _index_page(entries, profile=None):
    items = "\n".join(
        f'<li><a href="{html.escape(name)}">{html.escape(title)}</a> '
        f'<span class="t">({seconds:.0f} s)</span></li>'
        for name, title, seconds in entries
    )
    # The profile the notebooks ran with: the one asked for, else the environment's,
    # else each notebook chose by the hardware.
    profile = profile or os.environ.get("RESNET_LAB_PROFILE") or "chosen by the hardware"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>resnet-lab: the course</title>
<style>body {{ font-family: sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5 }}
.t {{ color: #777 }}</style></head>
<body><h1>resnet-lab</h1>
<p>Residual networks with Keras 3, lesson by lesson. Each page is a notebook executed
headless (profile: {html.escape(profile)}) by <code>make course</code>.</p>
<ol>
{items}
</ol></body></html>
"""


def main(argv=None):
    parser = OneLineParser(prog="python -m resnet_lab course", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="execute every notebook and write HTML")
    p_build.add_argument("--out", default=str(ROOT / "build" / "course"))
    p_build.add_argument("--profile", choices=["smoke", "cpu", "gpu"])
    p_update = sub.add_parser("update", help="execute notebooks in place, outputs cleaned")
    p_update.add_argument("notebooks", nargs="*", type=pathlib.Path)
    p_update.add_argument("--profile", choices=["smoke", "cpu", "gpu"])
    sub.add_parser("sync", help="write the repository URL into every notebook, and the "
                   "exercise versions into notebooks/exercises/")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.out, args.profile)
    elif args.command == "update":
        update(args.notebooks or notebook_paths(), args.profile)
    else:
        sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
