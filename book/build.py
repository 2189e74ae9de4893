"""Build the course as a website into a folder (``make book``: build/book).

    python book/build.py [OUT]

Stages the sources the site is made of in OUT-src/ (the README as the landing page,
the lesson notebooks and their exercise versions as stored, the teacher's guide, the
benchmarks), with links to other files of the repository turned into links to the
repository on GitHub, then runs Sphinx with book/conf.py. Works offline; the notebooks
are not executed.
"""

import json
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resnet_lab.commands import notebooks  # noqa: E402 - after the path

PAGES = ["README.md", "notebooks/README.md", "benchmarks/README.md",
         *(f"notebooks/{p.name}" for p in notebooks.notebook_paths()),
         *(f"notebooks/exercises/{p.name}" for p in sorted(notebooks.EXERCISES.glob("*.ipynb")))]
MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS",
           "### END HIDDEN TESTS"}


def _model_answer(source):
    """A question's model answer (between nbgrader's markers) as a collapsed block, so
    that the reader answers before reading it (and the markers are no headings)."""
    source = source.replace("### BEGIN SOLUTION",
                            "<details><summary>A model answer</summary>\n")
    return source.replace("### END SOLUTION", "\n</details>")


LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\))")


def _rewrite_links(text, page, pages):
    """Relative links to files that are not pages of the site point to GitHub."""
    folder = pathlib.PurePosixPath(page).parent

    def replace(match):
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            return match.group(0)  # an address, not a file
        resolved = pathlib.PurePosixPath(*_normalise(folder / target))
        if str(resolved) in pages:
            return match.group(0)
        kind = "tree" if not resolved.suffix else "blob"
        url = f"{notebooks.repository_url()}/{kind}/main/{resolved}"
        return f"{match.group(1)}{url}{match.group(3) or ''}{match.group(4)}"

    return LINK.sub(replace, text)


def _normalise(path):
    parts = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return parts


TOC = """

```{{toctree}}
:hidden:
:caption: Lessons

{lessons}
```

```{{toctree}}
:hidden:
:caption: Exercise versions

{exercises}
```

```{{toctree}}
:hidden:
:caption: Teaching and measuring

notebooks/README
benchmarks/README
```
"""


def stage(source_dir):
    if source_dir.exists():
        shutil.rmtree(source_dir)
    pages = set(PAGES)
    for page in PAGES:
        target = source_dir / ("index.md" if page == "README.md" else page)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / page).read_text()
        if page.endswith(".ipynb"):
            nb = json.loads(text)
            for cell in nb["cells"]:
                source = "".join(cell["source"])
                if cell["cell_type"] == "markdown":
                    cell["source"] = _rewrite_links(_model_answer(source), page, pages)
                else:  # the solution's code, without nbgrader's markers
                    cell["source"] = "\n".join(line for line in source.split("\n")
                                               if line.strip() not in MARKERS)
                    if "alt" in cell["metadata"]:  # a figure's description, for MyST-NB
                        cell["metadata"].setdefault("mystnb", {})["image"] = {
                            "alt": cell["metadata"]["alt"]}
            text = json.dumps(nb, indent=1, ensure_ascii=False)
        else:
            text = _rewrite_links(text, page, pages)
        if page == "README.md":
            lessons = "\n".join(p[:-len(".ipynb")] for p in PAGES
                                if p.startswith("notebooks/0"))
            exercises = "\n".join(p[:-len(".ipynb")] for p in PAGES
                                  if p.startswith("notebooks/exercises/"))
            text += TOC.format(lessons=lessons, exercises=exercises)
        target.write_text(text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = pathlib.Path(argv[0] if argv else ROOT / "build" / "book")
    source_dir = out.with_name(out.name + "-src")
    stage(source_dir)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(ROOT / "book"),
               str(source_dir), str(out)]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
