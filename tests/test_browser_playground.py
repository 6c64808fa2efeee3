"""Notebook 01's convolution playground in a real browser: JupyterLab on loopback, headless Chromium (Playwright).

The test runs a copy of notebook 01 (the committed one is never touched), moves the stride and the padding
sliders with the keyboard and checks that the output size the playground shows and its picture change each time.
It reuses tests/test_browser.py's helpers (a fresh JupyterLab on a free port, Run All, the skip or the CI failure
when Chromium or Playwright is missing). Screenshots go to test-artifacts/browser-playground/.
"""

from __future__ import annotations

import re
import shutil

from tests.conftest import ROOT
from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    REDRAW_S,
    errors_in_page,
    jupyter_lab,
    open_and_run_all,
    require_browser,
)

NOTEBOOK = ROOT / "notebooks" / "01_convolution_from_scratch.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "browser-playground"
PICTURE = "img.course-playground-picture-widget"  # the input-and-output picture, inside .course-playground


def shown_size(note) -> tuple[int, int]:
    """The output size in the playground's note line, e.g. 'output map 13x13 (input 28x28)' -> (13, 13)."""
    match = re.search(r"output map (\d+)x(\d+)", note.inner_text())
    assert match, f"no output size in the playground's note: {note.inner_text()!r}"
    return int(match.group(1)), int(match.group(2))


def move(page, playground, control: str, key: str) -> bytes:
    """Press `key` on the slider `control`, wait until the picture is a new one, return its screenshot."""
    picture = playground.locator(PICTURE).first
    old = picture.get_attribute("src")
    handle = playground.locator(f".course-playground-{control} .noUi-handle").first
    handle.focus()
    handle.press(key)
    page.wait_for_function(f"([old]) => {{ const i = document.querySelector('{PICTURE}');"
                           " return i && i.src !== old && i.complete; }", arg=[old], timeout=REDRAW_S * 1000)
    page.wait_for_timeout(200)
    return picture.screenshot()


def test_notebook_01_playground_in_a_real_browser(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    assert NOTEBOOK.is_file(), f"{NOTEBOOK} is missing"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    before = NOTEBOOK.read_bytes()

    with jupyter_lab(folder, ARTIFACTS / "jupyterlab.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            open_and_run_all(page, url, NOTEBOOK.name)
            assert not errors_in_page(page), errors_in_page(page)

            playground = page.locator(".course-playground").first
            playground.wait_for(timeout=60_000)
            playground.scroll_into_view_if_needed()
            for control in ("image", "preset", "kernel-text", "stride", "padding", "dilation", "row", "col"):
                assert playground.locator(f".course-playground-{control}").first.is_visible(), f"no {control}"
            picture = playground.locator(PICTURE).first
            picture.wait_for(timeout=REDRAW_S * 1000)
            note = playground.locator(".course-playground-note").first
            page.wait_for_timeout(500)
            size = shown_size(note)  # the notebook left it at stride 2, no padding: 13x13
            assert size == (13, 13), size
            first = picture.screenshot()
            page.screenshot(path=str(ARTIFACTS / "1_playground.png"))

            second = move(page, playground, "stride", "ArrowRight")  # stride 3: floor(25 / 3) + 1 = 9
            assert shown_size(note) == (9, 9), note.inner_text()
            assert second != first, "the map did not change after moving the stride slider"
            page.screenshot(path=str(ARTIFACTS / "2_stride_3.png"))

            third = move(page, playground, "padding", "ArrowRight")  # padding 1: floor(27 / 3) + 1 = 10
            assert shown_size(note) == (10, 10), note.inner_text()
            assert third not in (first, second), "the map did not change after moving the padding slider"
            assert "= 10</b>" in playground.locator(".course-playground-formula").first.inner_html()
            page.screenshot(path=str(ARTIFACTS / "3_padding_1.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))  # what the page showed when it went wrong
            raise
        finally:
            browser.close()
    assert NOTEBOOK.read_bytes() == before, "the browser test changed the committed notebook"
