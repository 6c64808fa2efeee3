"""Repository checks: environment files agree, notebooks are generated, complete and linked correctly."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest
from packaging.version import Version

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import sync_notebooks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
ALL = NOTEBOOKS + SOLUTIONS
CONDA_TO_PIP = {"pytorch-cpu": "torch", "matplotlib-base": "matplotlib"}


def requirement(line: str) -> tuple[str, str]:
    name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def pip_requirements() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return dict(requirement(line) for line in lines if line.strip() and not line.startswith("#"))


def conda_requirements() -> dict[str, str]:
    found = {}
    dependencies = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    for line in dependencies.splitlines():
        item = re.match(r"\s+- ([A-Za-z][^#]*)", line)
        if item and not item.group(1).startswith(("python", "pip")):
            name, spec = requirement(item.group(1))
            found[CONDA_TO_PIP.get(name, name)] = spec
    return found


def optional_dependencies(name: str) -> dict[str, str]:
    """The [project.optional-dependencies] entry `name` of pyproject.toml, as {package: version spec}."""
    line = re.search(rf"^{name} = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    return dict(requirement(item) for item in re.findall(r'"([^"]+)"', line))


def test_environment_yml_and_requirements_txt_agree():
    """conda gets requirements.txt plus what the README's test command needs (pytest, nbval)."""
    runner = {name: spec for name, spec in optional_dependencies("test").items() if name in ("pytest", "nbval")}
    assert conda_requirements() == pip_requirements() | runner


def package_dependencies() -> dict[str, str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    return dict(requirement(item) for item in re.findall(r'"([^"]+)"', block))


def test_package_dependencies_are_in_requirements_txt():
    """The same ranges, except that requirements.txt (JupyterLab) may raise a floor: ipywidgets 8 for Lab 4."""
    pip = pip_requirements()
    for name, spec in package_dependencies().items():
        assert name in pip, f"{name} is a dependency of the package but missing from requirements.txt"
        if spec != pip[name]:
            assert spec.startswith(">=") and pip[name].startswith(">="), (name, spec, pip[name])
            assert Version(pip[name][2:]) > Version(spec[2:]), f"requirements.txt lowers the floor of {name}"


def test_environment_yml_is_cpu_only():
    text = (ROOT / "environment.yml").read_text()
    assert "pytorch-cpu" in text and "cuda" not in text.lower().replace("no multi-gb cuda", "")


def test_generated_cells_and_outline_are_in_sync():
    assert sync_notebooks.sync(write=False) == [], "run `make sync` (python tools/sync_notebooks.py)"


def test_what_answers_a_prediction_and_only_that_opens_folded():
    """Second and third expert reads: a notebook opened before it runs showed each question's evidence under it.
    Folded: the outputs of the cells from the one after the prediction is written to the reveal, and the reveal's
    code (its explanation states the answer); not the prediction, not others."""
    import nbformat

    new = nbformat.v4
    cells = [new.new_code_cell("print('before')"), new.new_code_cell("guess = None  # your prediction"),
             new.new_markdown_cell("Now look:"), new.new_code_cell("plot(maps)"),
             new.new_code_cell("print(x)\nreveal(guess, 2, 'why')"),
             new.new_code_cell("for g in guesses:\n    reveal(g, 2, 'why')"),
             new.new_code_cell("print(1)", metadata={"tags": ["hide-output"], "jupyter": {"outputs_hidden": True}})]
    notebook = new.new_notebook(cells=cells)
    assert sync_notebooks.fold_reveals(notebook) and not sync_notebooks.fold_reveals(notebook)
    folded = {"jupyter": {"outputs_hidden": True}, "tags": ["hide-output"]}
    reveal = {"jupyter": {"outputs_hidden": True, "source_hidden": True}, "tags": ["hide-output", "hide-input"]}
    assert [c.metadata for c in cells] == [{}, {}, {}, folded, reveal, reveal, {}]


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_notebook_is_committed_run_and_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3", "nbval and Colab need the python3 kernel"
    assert [c.id for c in nb.cells[:2]] == ["course-header", "course-setup"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "run it with `make notebooks` before committing"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom, once"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"stored error output: {errors[0].ename if errors else ''}"
    assert path.stat().st_size < 2_000_000, "keep notebooks small enough for GitHub to render"
    for cell in code:
        for output in cell.outputs:
            png = output.get("data", {}).get("image/png", "")
            assert len(png) * 3 / 4 < 300_000, f"a figure over 300 KB in cell {cell.id}: lower its size or dpi"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_exercises_and_worked_solutions(path):
    text = path.read_text()
    assert "## Exercises" in text and "check_" in text
    solution = path.parent / "solutions" / path.name
    assert solution.exists(), f"worked solutions belong in {solution.relative_to(ROOT)}"
    assert "assert check_" in solution.read_text(), "solutions assert that each check passes"


def markdown_links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("path", ALL + [ROOT / "README.md", ROOT / "INSTRUCTORS.md", ROOT / "data" / "README.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_at_files_that_exist(path):
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text()
    slug = sync_notebooks.repo_slug()
    for link in markdown_links(text):
        if link.startswith(("https://colab.research.google.com/github/", "https://mybinder.org/v2/gh/")):
            assert f"/{slug}/" in link, f"{link} is not built from the repository address in pyproject.toml"
            target = re.search(r"(?:blob/main/|urlpath=lab/tree/)(.+)$", link).group(1)
            assert (ROOT / target).is_file(), f"{link} opens {target}, which does not exist"
        elif not link.startswith(("http://", "https://", "#", "mailto:")):
            assert (path.parent / link.split("#")[0]).exists(), f"{path.name} links to {link}, which does not exist"


def test_readme_outline_lists_every_notebook_in_order():
    readme = (ROOT / "README.md").read_text()
    listed = re.findall(r"\(notebooks/(\d\d_[a-z0-9_]+\.ipynb)\)", readme)
    assert listed == [p.name for p in NOTEBOOKS]


def test_instructors_schedule_lists_every_notebook_in_order_with_its_run_time():
    text = (ROOT / "INSTRUCTORS.md").read_text()
    rows = re.findall(r"^\| \[\d\d · [^]]+\]\(notebooks/(\d\d_[a-z0-9_]+\.ipynb)\) \|.*\| (\d+) s \|$", text, re.M)
    assert [name for name, _ in rows] == [p.name for p in NOTEBOOKS], "run `make bench` to update the schedule"


def test_binder_badge_opens_jupyterlab_on_notebook_00():
    readme = (ROOT / "README.md").read_text()
    link = f"https://mybinder.org/v2/gh/{sync_notebooks.repo_slug()}/main?urlpath=lab/tree/notebooks/00_start_here.ipynb"
    assert link in readme


def test_sync_check_fails_on_a_stale_notebook(tmp_path):
    """The sync test above can fail: a notebook whose setup cell was edited by hand is reported."""
    copy = tmp_path / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(copy)], check=True)
    nb_path = copy / "notebooks" / "00_start_here.ipynb"
    nb = json.loads(nb_path.read_text())
    nb["cells"][1]["source"] = ["print('edited by hand')"]
    nb_path.write_text(json.dumps(nb))
    result = subprocess.run([sys.executable, str(copy / "tools" / "sync_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "00_start_here.ipynb" in result.stderr


def test_the_files_run_first_exist():
    """conftest.py's SLOWEST_FIRST names files by path: a renamed file would silently lose its place."""
    import runpy

    SLOWEST_FIRST = runpy.run_path(str(ROOT / "conftest.py"))["SLOWEST_FIRST"]
    missing = [path for path in SLOWEST_FIRST if not (ROOT / path).is_file()]
    assert SLOWEST_FIRST and not missing, missing
