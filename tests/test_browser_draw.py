"""draw_digit in a real browser: JupyterLab on loopback, headless Chromium, digits drawn with the mouse.

The test runs a copy of notebook 05 (NOTEBOOK below; the committed file is never changed), whose closing section
shows `draw_digit(model)`, draws a "1" (one vertical stroke) and a "0" (a closed loop) with the mouse on that pad,
and checks that the widget shows 1, then 0. COURSE_DRAW_NOTEBOOK=path runs another notebook that shows a pad, and
COURSE_DRAW_NOTEBOOK=small a one-cell notebook written on the fly (the widget alone, in seconds). It also reports
the round trip from the end of a stroke to the painted overview (not asserted: timings vary). Screenshots go to
test-artifacts/browser_draw/.

    python -m tests.test_browser_draw        # draws every digit 0-9 and prints what the model said

It reuses the JupyterLab and Chromium helpers of tests/test_browser.py; each server gets a free port of its own,
so the two browser tests can run side by side. Skipped without Chromium unless COURSE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
from pathlib import Path

import nbformat

from tests.conftest import ROOT
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, errors_in_page, jupyter_lab, open_and_run_all, require_browser

NOTEBOOK = ROOT / "notebooks" / "05_reading_feature_maps.ipynb"  # its section 10 shows the pad
ARTIFACTS = ROOT / "test-artifacts" / "browser_draw"
UPDATE_S = 30
CELLS = ["from utils import draw_digit, load_trained_simplecnn\n\npad = draw_digit(load_trained_simplecnn())\npad"]

# Mouse strokes in the pad's own pixels (280x280, y down), drawn the way a person would draw each digit.
DIGITS = {
    0: [[(140 + 60 * math.sin(t / 24 * 2 * math.pi), 140 - 95 * math.cos(t / 24 * 2 * math.pi)) for t in range(25)]],
    1: [[(140, 40), (142, 140), (144, 240)]],
    2: [[(85, 95), (110, 55), (160, 50), (190, 85), (185, 125), (90, 235), (205, 235)]],
    3: [[(85, 60), (150, 45), (190, 85), (140, 135), (195, 180), (160, 235), (85, 230)]],
    4: [[(160, 40), (75, 170), (210, 170)], [(165, 90), (165, 250)]],
    5: [[(195, 50), (105, 50), (100, 130), (165, 125), (195, 175), (165, 230), (90, 225)]],
    6: [[(180, 45), (115, 105), (90, 180), (115, 235), (170, 225), (180, 175), (130, 150), (95, 185)]],
    7: [[(80, 50), (205, 50), (125, 245)]],
    8: [[(180, 70), (140, 45), (95, 70), (110, 120), (170, 160), (180, 215), (140, 242), (95, 215), (105, 160),
         (170, 120), (182, 72)]],
    9: [[(185, 85), (140, 50), (95, 85), (110, 135), (180, 115), (185, 85)], [(185, 85), (175, 250)]],
}


def notebook_to_run(folder: Path) -> Path:
    """The notebook under test, in `folder`: a copy of COURSE_DRAW_NOTEBOOK or NOTEBOOK, or the small one."""
    given = os.environ.get("COURSE_DRAW_NOTEBOOK") or str(NOTEBOOK)
    if given != "small":
        return Path(shutil.copy(given, folder / Path(given).name))
    path = folder / "draw_digit.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(notebook, path)
    return path


def draw(page, pad, strokes) -> None:
    """Draw `strokes` on the pad with the mouse: press, move through every point (in small steps), release."""
    box = pad.bounding_box()
    scale = box["width"] / 280

    def at(point):
        return box["x"] + point[0] * scale, box["y"] + point[1] * scale

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*at(point), steps=6)
        page.mouse.up()


def wait_for_update(page, widget, sent_before: str | None) -> None:
    """Wait until the widget has sent a newer drawing than `sent_before` and painted the view Python made of it."""
    page.wait_for_function("([before]) => { const r = document.querySelector('.course-draw');"
                           " return r && r.dataset.sent !== before && r.dataset.seq === r.dataset.sent; }",
                           arg=[sent_before], timeout=UPDATE_S * 1000)


def draw_and_read(page, widget, strokes, name: str) -> tuple[str, str]:
    """Clear the pad, draw `strokes` stroke by stroke, wait for each update; the prediction shown (attribute, text)."""
    before = widget.get_attribute("data-sent")
    widget.locator(".course-draw-clear").click()
    wait_for_update(page, widget, before)
    assert widget.locator(".course-draw-predicted").inner_text() == "draw a digit"
    for stroke in strokes:
        before = widget.get_attribute("data-sent")
        draw(page, widget.locator(".course-draw-canvas"), [stroke])
        wait_for_update(page, widget, before)
    page.wait_for_timeout(100)
    widget.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    return widget.get_attribute("data-predicted"), widget.locator(".course-draw-predicted").inner_text()


def run_in_browser(tmp_path: Path, digits: dict[int, list]) -> tuple[dict, list[float]]:
    """Open the notebook in JupyterLab, Run All, draw each digit, then undo the last one stroke by stroke.

    Returns what was shown for each digit (and "after undo") as (data-predicted, text), and the round trips in ms.
    """
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = notebook_to_run(folder)
    shown = {}
    with jupyter_lab(folder, ARTIFACTS / "jupyterlab.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        try:
            open_and_run_all(page, url, notebook.name)
            assert not errors_in_page(page), errors_in_page(page)
            widget = page.locator(".course-draw").first
            widget.wait_for(timeout=60_000)
            widget.scroll_into_view_if_needed()
            assert widget.locator(".course-draw-predicted").inner_text() == "draw a digit"
            for digit, strokes in digits.items():
                shown[digit] = draw_and_read(page, widget, strokes, f"digit_{digit}")
            times = [trip for trip, _painting in json.loads(widget.get_attribute("data-roundtrips"))]
            painting = [paint for _trip, paint in json.loads(widget.get_attribute("data-roundtrips"))]
            print(f"painting the overview in the browser: median {statistics.median(painting):.0f} ms")
            for _ in next(reversed(digits.values())):  # undo every stroke of the last digit: empty again
                before = widget.get_attribute("data-sent")
                widget.locator(".course-draw-undo").click()
                wait_for_update(page, widget, before)
            shown["after undo"] = (widget.get_attribute("data-predicted"),
                                   widget.locator(".course-draw-predicted").inner_text())
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            raise
        finally:
            browser.close()
    return shown, times


def test_drawing_a_1_then_a_0_with_the_mouse_shows_1_then_0(tmp_path):
    require_browser()
    shown, times = run_in_browser(tmp_path, {1: DIGITS[1], 0: DIGITS[0]})
    assert shown[1] == ("1", shown[1][1]) and shown[1][1].startswith("predicted 1 ("), shown
    assert shown[0] == ("0", shown[0][1]) and shown[0][1].startswith("predicted 0 ("), shown
    assert shown["after undo"] == ("", "draw a digit"), shown
    print(f"\nround trip, end of stroke to painted overview: median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}, {len(times)} updates)")


if __name__ == "__main__":  # use it yourself: every digit 0-9, screenshots in test-artifacts/browser_draw/
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        shown, times = run_in_browser(Path(tmp), DIGITS)
    right = sum(int(shown[d][0] or -1) == d for d in DIGITS)
    for digit, (_predicted, text) in shown.items():
        print(f"{digit}: {text}")
    print(f"{right} of {len(DIGITS)} right; round trip median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}, {len(times)} updates)")
