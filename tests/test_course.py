"""The shared setup cell: as on Colab (clone, then run), twice in a row, and from a folder outside the course."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT
from tests.support import forked_kernel

SETUP_SOURCE = nbformat.read(ROOT / "notebooks" / "00_start_here.ipynb", as_version=4).cells[1].source
FAKE_COLAB = """
import sys, types
colab = types.ModuleType("google.colab")
colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: None)
sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = colab
"""


def run_python(code: str, cwd, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_notebook_00_alone_in_an_empty_folder_runs_as_on_colab(tmp_path, monkeypatch):
    """Copied alone into an empty folder with google.colab imported, notebook 00 clones the course and runs as far
    as loading the bundled digits and the shipped model from the clone (nbval runs the whole notebook)."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("the course folder is not a git repository with a commit to clone")
    notebook = tmp_path / "00_start_here.ipynb"
    shutil.copy(ROOT / "notebooks" / notebook.name, notebook)
    nb = nbformat.read(notebook, as_version=4)
    setup = nb.cells[1]
    first_load = next(i for i, cell in enumerate(nb.cells) if "load_mnist(" in cell.source)
    nb.cells = nb.cells[:first_load + 1]  # up to the first cell that loads the digits (the rest is nbval's)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FAKE_COLAB))  # Colab imports google.colab before any cell
    nb.cells.append(nbformat.v4.new_code_cell(setup.source))  # running the setup cell again is harmless
    nb.cells.append(nbformat.v4.new_code_cell("import utils\nprint(utils.__file__)"))
    monkeypatch.setenv("COURSE_REPO_URL", str(ROOT))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    NotebookClient(nb, timeout=600, kernel_name=forked_kernel.kernel_name(),
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    clone = tmp_path / "feature-maps-in-pytorch"
    assert (clone / "data" / "simplecnn.pt").is_file()
    assert nb.cells[-1].outputs[0].text.strip() == str(clone / "utils" / "__init__.py")
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "MNIST test: 1,000 digits, bundled subset" in printed


def test_setup_cell_runs_twice_and_from_outside_the_course(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP_SOURCE + "\n" + SETUP_SOURCE)])
    NotebookClient(nb, timeout=600, kernel_name=forked_kernel.kernel_name(),
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises if the cell fails
    assert "".join(output.get("text", "") for output in nb.cells[0].outputs).count("Course setup: device cpu") == 2
    assert not any(tmp_path.iterdir()), "outside Colab the setup cell clones nothing"


def test_setup_cell_explains_when_the_course_cannot_be_found(tmp_path):
    hide_utils = "import sys\nsys.modules['utils'] = None  # as if the package were neither here nor installed\n"
    result = run_python(hide_utils + SETUP_SOURCE, cwd=tmp_path)
    assert result.returncode != 0
    assert "open this notebook from the course's notebooks/ folder" in result.stderr
