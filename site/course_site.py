"""What the course's website adds to MyST-NB (a Sphinx extension, loaded by site/conf.py).

- `read_notebook`: the notebooks as committed, with the shared setup cell folded away ("Show code cell source"),
  since it opens every page and is the same everywhere.
- Remote images (the Colab and Binder badges in each notebook's header) become text buttons with the same links:
  the site must read the same offline, from disk, as online.
- A link from a notebook to a file of the repository that is not a page of the site (`solutions/`, `../README.md`)
  goes to that file on GitHub instead of nowhere.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import sync_notebooks  # tools/, put on sys.path by conf.py
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

FOLDED_TAG = "hide-input"


def read_notebook(text: str) -> nbformat.NotebookNode:
    """A notebook from its JSON text, its setup cell (id "course-setup") tagged to show folded."""
    notebook = nbformat.reads(text, as_version=4)
    for cell in notebook.cells:
        if cell.get("id") == sync_notebooks.SETUP_ID:
            tags = cell.metadata.setdefault("tags", [])
            if FOLDED_TAG not in tags:
                tags.append(FOLDED_TAG)
    return notebook


def remote_images_as_text(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Replace each image loaded from the internet by its alt text, styled as a button (course.css)."""
    for image in list(doctree.findall(nodes.image)):
        if image["uri"].startswith(("http://", "https://")):
            text = image.get("alt") or image["uri"]
            image.replace_self(nodes.inline(text, text, classes=["course-badge"]))


class RepositoryLinks(SphinxPostTransform):
    """A MyST link to a repository file or folder that is not a page becomes a link to it on GitHub.

    Runs just before MyST's own resolver (priority 9), which would otherwise warn and leave a dead link.
    """

    default_priority = 8

    def run(self, **kwargs) -> None:
        srcdir = Path(self.env.srcdir)
        root = sync_notebooks.ROOT
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") == "doc":
                continue
            target = node["reftarget"].split("#")[0]
            if not target:
                continue
            here = (srcdir / node.get("refdoc", self.env.docname)).parent
            path = (here / target).resolve()
            if not path.exists() or root not in path.parents or path.suffix == ".ipynb":
                continue
            kind = "tree" if path.is_dir() else "blob"
            url = f"{sync_notebooks.repo_url()}/{kind}/{sync_notebooks.BRANCH}/{path.relative_to(root).as_posix()}"
            reference = nodes.reference("", "", refuri=url, internal=False)
            reference += node.children
            node.replace_self(reference)


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", lambda app, doctree: remote_images_as_text(app, doctree, app.env.docname))
    app.add_post_transform(RepositoryLinks)
    app.add_css_file("course.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
