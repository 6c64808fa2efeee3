"""Sphinx configuration of the course's website (`make site`): the committed notebooks, as they are.

The notebooks are never executed here (their stored outputs are what the tests check). The launch buttons and
source links are built from the one repository address in pyproject.toml, as the notebooks' badges are.
`make site` runs `sphinx-build -c site notebooks build/site`: notebooks/ is the source, this folder the configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tools")]
import sync_notebooks  # noqa: E402  (tools/sync_notebooks.py: the repository address, the branch)

project = "Feature maps in PyTorch"
author = "The Feature maps in PyTorch authors"
release = version = sync_notebooks.version()
copyright = "2026. Text and figures CC BY 4.0, code MIT"  # the footer: "© Copyright 2026. Text ..."

extensions = ["myst_nb", "sphinx_external_toc", "course_site"]
external_toc_path = str(HERE / "_toc.yml")  # the table of contents: course map, lessons, solutions
exclude_patterns = ["**/.ipynb_checkpoints", "reports", "**/reports"]
nb_execution_mode = "off"  # the stored outputs, never re-executed
nb_custom_formats = {".ipynb": "course_site.read_notebook"}  # the setup cell folded
# A widget shows the text the notebook stores for it ("Explorer of 32 images ... run the notebook to use it"):
# the notebooks store no widget state, so the widget itself could not be drawn.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = [str(HERE / "_static")]
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": sync_notebooks.repo_url(),
    "repository_branch": sync_notebooks.BRANCH,
    "path_to_docs": "notebooks",
    "use_repository_button": True,
    "use_download_button": True,  # the .ipynb, to open in one's own Jupyter
    "launch_buttons": {
        "colab_url": "https://colab.research.google.com",
        "binderhub_url": "https://mybinder.org",
        "notebook_interface": "jupyterlab",
    },
    "navigation_with_keys": True,  # left and right arrows: previous and next page
}
