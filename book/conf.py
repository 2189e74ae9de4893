"""Sphinx configuration of the course's website (make book).

The pages are the committed notebooks with their stored outputs (never re-executed),
rendered by MyST-NB with the Sphinx Book Theme: the whole toolchain installs from PyPI
and builds offline. ``book/build.py`` stages the sources and runs Sphinx on them.
"""

import os

project = "resnet-lab"
author = "the resnet-lab authors"
copyright = "the resnet-lab authors"  # noqa: A001 - Sphinx's name for it

extensions = ["myst_nb"]
nb_execution_mode = "off"  # the stored outputs, as committed
nb_merge_streams = True
myst_heading_anchors = 3  # links to a section, [text](#a-heading), as on GitHub
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "resnet-lab: residual networks with Keras 3"
html_static_path = []
_repository = os.environ.get("RESNET_LAB_REPOSITORY", "https://github.com/resnet-lab/resnet-lab")
html_theme_options = {
    "repository_url": _repository,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    # An "Open in Colab" button on every notebook page (the pages also link both the
    # solution and the exercise version in their introduction).
    "launch_buttons": {"colab_url": "https://colab.research.google.com",
                       "binderhub_url": "https://mybinder.org"},
    "show_toc_level": 2,
}
html_last_updated_fmt = None
# The reader's light or dark mode, as their system says (pydata-sphinx-theme's default;
# said explicitly, or the theme's script reports an empty mode on a first visit).
html_context = {"default_mode": "auto"}
html_favicon = "favicon.svg"
