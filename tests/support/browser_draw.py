"""Drawing digits with the mouse on draw_digit's pad in a real browser (JupyterLab, headless Chromium).

tests/widgets/test_browser.py draws a 1 and a 0 on notebook 05's pad with these helpers. Run this file to draw every
digit 0-9 on a pad of its own (a one-cell notebook) and print what the model said, with screenshots in
test-artifacts/browser_draw/:

    python -m tests.support.browser_draw            # --json: the same as one JSON line; --strokes: DIGITS only

benchmarks/bench_draw.py runs it as that command (nothing outside tests/ imports from tests/) for the strokes and
for the round trip from the end of a stroke to the painted overview.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import nbformat

from tests.support.browser import lab_browser, run_all, screenshot_on_failure

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser_draw"
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


def draw_and_read(page, widget, strokes, name: str, artifacts: Path) -> tuple[str, str]:
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
    widget.screenshot(path=str(artifacts / f"{name}.png"))
    return widget.get_attribute("data-predicted"), widget.locator(".course-draw-predicted").inner_text()


def pad_on_page(page):
    """The pad of the notebook open in `page` (run already), scrolled into view and still empty."""
    widget = page.locator(".course-draw").first
    widget.wait_for(timeout=60_000)
    widget.scroll_into_view_if_needed()
    assert widget.locator(".course-draw-predicted").inner_text() == "draw a digit"
    return widget


def undo_all(page, widget, strokes) -> tuple[str | None, str]:
    """Undo `strokes` one by one; what the pad shows then (data-predicted, text)."""
    for _ in strokes:
        before = widget.get_attribute("data-sent")
        widget.locator(".course-draw-undo").click()
        wait_for_update(page, widget, before)
    return widget.get_attribute("data-predicted"), widget.locator(".course-draw-predicted").inner_text()


def round_trips(widget) -> list[float]:
    """The round trips (ms) from the end of each stroke to the painted overview, as the pad recorded them."""
    return [trip for trip, _painting in json.loads(widget.get_attribute("data-roundtrips"))]


def run_in_browser(folder: Path, digits: dict[int, list]) -> tuple[dict, list[float]]:
    """Draw each of `digits` on a pad of its own in JupyterLab; (what was shown for each, round trips in ms)."""
    path = folder / "draw_digit.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(notebook, path)
    with lab_browser(folder, ARTIFACTS) as (url, browser):
        page = run_all(browser, url, path.name, ARTIFACTS, width=1500)
        with screenshot_on_failure(page, ARTIFACTS / "failure.png"):
            widget = pad_on_page(page)
            shown = {digit: draw_and_read(page, widget, strokes, f"digit_{digit}", ARTIFACTS)
                     for digit, strokes in digits.items()}
            return shown, round_trips(widget)


def main(argv: list[str]) -> None:
    import sys
    import tempfile

    import pytest

    from tests.support.browser import require_browser

    if "--strokes" in argv:
        print(json.dumps(DIGITS))
        return
    try:
        require_browser()
    except pytest.skip.Exception as skipped:
        if "--json" in argv:
            print(json.dumps({"skipped": str(skipped)}))
            return
        sys.exit(str(skipped))
    with tempfile.TemporaryDirectory() as tmp:
        shown, times = run_in_browser(Path(tmp), DIGITS)
    if "--json" in argv:
        print(json.dumps({"shown": shown, "times": times}))
        return
    right = sum(shown[d][0] == str(d) for d in DIGITS)
    for digit, (_predicted, text) in shown.items():
        print(f"{digit}: {text}")
    print(f"{right} of {len(DIGITS)} right; round trip median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}, {len(times)} updates)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
