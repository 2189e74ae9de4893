"""The lessons as files: where they are, their addresses on GitHub and Colab, and
reading and writing them.

The solution notebooks are ``notebooks/NN_*.ipynb`` in a copy of the repository, their
exercise versions ``notebooks/exercises/``. The repository's address is kept in one
place, ``[project.urls]`` in pyproject.toml, and every Colab link is made from it.
"""

import pathlib
import re
import tomllib

from resnet_lab.files import write_atomically

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = NOTEBOOKS / "exercises"
COLAB = "https://colab.research.google.com/github/"
# The "Open in Colab" badge: its image (group 1), then the address it opens.
BADGE = re.compile(r"(\[!\[Open In Colab\]\([^)]*\)\])"
                   r"\(https://colab\.research\.google\.com/github/[^)]*\)")


def notebook_paths():
    """The lessons, in order: the solution notebooks in notebooks/."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def repository_url():
    """The one place the repository URL is kept: [project.urls] in pyproject.toml (read
    from the installed package's metadata outside a copy of the repository)."""
    pyproject = ROOT / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text())["project"]
        return project["urls"]["Repository"].rstrip("/")
    from importlib import metadata

    for entry in metadata.metadata("resnet-lab").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise LookupError("resnet-lab's metadata has no Repository URL")


def colab_url(notebook_name, ref="main"):
    """The "Open in Colab" address of ``notebooks/<notebook_name>`` on GitHub."""
    repo = repository_url().removeprefix("https://github.com/")
    return f"{COLAB}{repo}/blob/{ref}/notebooks/{notebook_name}"


def github_url(notebook_name, ref="main"):
    """The address of ``notebooks/<notebook_name>`` on GitHub."""
    return f"{repository_url()}/blob/{ref}/notebooks/{notebook_name}"


def read_notebook(path):
    """The notebook at ``path`` as an nbformat (version 4) node."""
    import nbformat

    return nbformat.read(path, as_version=4)


def notebook_text(nb):
    """The file content of a notebook, as ``nbformat.write`` saves it."""
    import nbformat

    return nbformat.writes(nb) + "\n"


def write_notebook(path, nb):
    """Save a notebook atomically: a kill leaves the old file or the new, never half."""
    return write_atomically(path, notebook_text(nb))
