"""The course's website (`make site`, built by Sphinx into build/site/) opened from disk in headless Chromium.

Every notebook has a page; on each page every stored figure is drawn (each <img> loaded), nothing failed to render,
nothing is fetched from the internet, the Colab and Binder buttons open this notebook, and the previous/next links
follow the reading order. Search finds a lesson. Run by `make site-test` (and .ci/run), which builds the site first and
names it in COURSE_SITE; without it these browser tests are skipped. The checks of the publishing workflow and of the
README's address at the end run everywhere.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

from tests.conftest import ROOT
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, require_browser

sys.path.insert(0, str(ROOT / "tools"))
import sync_notebooks  # noqa: E402

SITE = Path(os.environ.get("COURSE_SITE", ROOT / "build" / "site")).resolve()
NOTEBOOKS = sync_notebooks.notebook_files()
FIGURE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
# What a page shows when something did not render: docutils' error boxes, a broken reference, a stored traceback.
RENDER_ERRORS = ".system-message, .problematic, .output.traceback, .output.error, div.admonition.error"


def page_of(notebook: Path) -> Path:
    """The built page of a notebook: its path under notebooks/, .ipynb -> .html, under the site."""
    return SITE / notebook.relative_to(ROOT / "notebooks").with_suffix(".html")


def stored_figures(notebook: Path) -> int:
    """How many figures the notebook stores in its outputs."""
    nb = nbformat.read(notebook, as_version=4)
    return sum(1 for cell in nb.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
               if any(kind in output.get("data", {}) for kind in FIGURE_TYPES))


def require_site() -> None:
    """Skip unless COURSE_SITE names a built site (`make site-test` sets it, after building); fail when that site is
    missing or older than a notebook. `make test` skips these tests: the site's tools are not in its install."""
    if "COURSE_SITE" not in os.environ:
        pytest.skip("the site's browser test runs in `make site-test`, which builds the site first")
    stale = [p.name for p in NOTEBOOKS if page_of(p).is_file() and p.stat().st_mtime > page_of(p).stat().st_mtime]
    if not (SITE / "index.html").is_file() or stale:
        problem = f"older than {', '.join(stale)}" if stale else "not built"
        pytest.fail(f"the site in {SITE} is {problem}: `make site` builds it", pytrace=False)


@pytest.fixture(scope="module")
def browser():
    require_site()
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A new page that records script errors and every request that leaves the disk."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.errors, page.remote = [], []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith(("file:", "data:", "blob:"))
            else page.remote.append(request.url))
    yield page
    page.close()


def local_path(href: str) -> Path:
    return Path(unquote(urlparse(href).path)).resolve()


def test_every_notebook_has_a_page_that_renders_completely(page):
    """Each page: its figures all loaded, no rendering error or script error, nothing fetched from the internet."""
    for notebook in NOTEBOOKS:
        built = page_of(notebook)
        assert built.is_file(), f"{notebook.relative_to(ROOT)} has no page ({built} is missing): run `make site`"
        page.goto(built.as_uri(), wait_until="load")
        name = notebook.relative_to(ROOT).as_posix()
        title = nbformat.read(notebook, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
        assert page.locator("article h1").first.inner_text().strip().rstrip("#").strip() == title, name
        broken = page.eval_on_selector_all(
            "img", "images => images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
        assert not broken, f"{name}: images that did not load: {broken}"
        shown = page.locator(".cell_output img").count()
        assert shown == stored_figures(notebook), f"{name}: {shown} figures on the page, the notebook stores " \
                                                  f"{stored_figures(notebook)}"
        errors = page.locator(RENDER_ERRORS).all_inner_texts()
        assert not errors, f"{name}: rendering errors on the page: {errors}"
        assert not page.errors, f"{name}: script errors: {page.errors}"
    assert not page.remote, f"the site fetched from the internet: {sorted(set(page.remote))[:5]}"


def test_launch_buttons_open_this_notebook_on_colab_and_binder(page):
    """The theme's launch buttons carry the same addresses as the notebooks' own badges (sync_notebooks)."""
    for notebook in NOTEBOOKS:
        page.goto(page_of(notebook).as_uri())
        links = set(page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"))
        rel = notebook.relative_to(ROOT).as_posix()
        missing = {sync_notebooks.colab_url(rel), sync_notebooks.binder_url(rel)} - links
        assert not missing, f"{rel}: no launch button for {missing}"


def test_previous_and_next_follow_the_reading_order(page):
    """Course map, lessons, then solutions: each page links to its neighbours, and following 'next' arrives."""
    pages = [page_of(notebook) for notebook in NOTEBOOKS]
    for i, built in enumerate(pages):
        page.goto(built.as_uri())
        prev = page.locator("a.left-prev")
        nxt = page.locator("a.right-next")
        assert (prev.count(), nxt.count()) == (int(i > 0), int(i + 1 < len(pages))), \
            f"{built.name}: {prev.count()} link(s) to the previous page and {nxt.count()} to the next"
        if i > 0:
            assert local_path(prev.evaluate("a => a.href")) == pages[i - 1], built.name
        if i + 1 < len(pages):
            assert local_path(nxt.evaluate("a => a.href")) == pages[i + 1], built.name
    page.goto(pages[0].as_uri())
    page.locator("a.right-next").click()
    page.wait_for_load_state("load")
    assert local_path(page.url) == pages[1]
    page.goto((SITE / "index.html").as_uri())  # the site's front door leads to the course map
    page.wait_for_url("**/00_start_here.html")


def test_search_finds_the_lesson_on_hooks(page):
    """Sphinx's search works from disk: a query lists the lesson that teaches it, and its link opens that page."""
    page.goto((SITE / "search.html").as_uri() + "?q=forward+hooks")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=20_000)
    hrefs = [local_path(href) for href in results.evaluate_all("links => links.map(a => a.href)")]
    hooks = page_of(ROOT / "notebooks" / "04_capturing_with_hooks.ipynb")
    assert hooks in hrefs, hrefs
    page.locator(f"#search-results ul.search li a[href*='{hooks.stem}']").first.click()
    page.wait_for_load_state("load")
    assert local_path(page.url) == hooks


# -- publishing: the workflow and the address in the README ------------------------------------------------------------

@pytest.fixture(scope="module")
def site_workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / ".github" / "workflows" / "site.yml").read_text())


def test_site_workflow_tests_every_pull_request_and_deploys_only_main(site_workflow):
    triggers = site_workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    assert site_workflow["permissions"] == {}, "no permission by default; each job asks for its own"
    build, deploy = site_workflow["jobs"]["build"], site_workflow["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert "make site-test" in [step.get("run") for step in build["steps"]]
    main_only = "github.event_name != 'pull_request' && github.ref == 'refs/heads/main'"
    upload = [step for step in build["steps"] if "upload-pages-artifact" in step.get("uses", "")]
    assert deploy["if"] == main_only and [step["if"] for step in upload] == [main_only]
    assert upload[0]["with"]["path"] == "build/site"  # where `make site` writes (Makefile: SITE)
    uses = [step["uses"] for job in site_workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", use) for use in uses), uses


def test_readme_gives_the_site_address_built_from_the_repository_address(monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    owner, name = sync_notebooks.repo_slug().split("/")
    assert f"<https://{owner.lower()}.github.io/{name}/>" in readme
    monkeypatch.setattr(sync_notebooks, "repo_url", lambda: "https://github.com/Someone-Else/a-fork")
    assert sync_notebooks.site_url() == "https://someone-else.github.io/a-fork/"  # Pages lowercases the owner
