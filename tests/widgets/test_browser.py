"""The course's widgets in a real browser: one JupyterLab on loopback and one headless Chromium for every test here.

The widgets run in one notebook made of their lessons' own cells that build them (nbval runs the whole lessons):
01's setup cell, its next cell, the cell that loads the digits and the playground's cell, then 05's cell that loads
the model and the digits, its explorer's cell and its pad's cell. What the tests check:
- notebook 01's convolution playground: its stride and padding sliders change the size it shows and its picture;
- notebook 05's explorer and draw-a-digit pad: moving the explorer's image slider and choosing another layer change
  its figure; a 1 then a 0 drawn with the mouse are read as 1, then 0.

The committed notebooks are never touched (copies run in a temporary folder). Screenshots go to
test-artifacts/browser/. Skipped without Chromium and Playwright unless COURSE_REQUIRE_BROWSER=1
(tests/support/browser.py).
"""

from __future__ import annotations

import re
import shutil
import statistics

import pytest

from tests.conftest import ROOT
from tests.support import browser as lab
from tests.support.browser_draw import DIGITS, draw_and_read, pad_on_page, round_trips, undo_all

NOTEBOOK_01 = ROOT / "notebooks" / "01_convolution_from_scratch.ipynb"
NOTEBOOK_05 = ROOT / "notebooks" / "05_reading_feature_maps.ipynb"
# (lesson, the code cells taken before the first widget's, calls that mark the widgets' cells)
LESSONS = [(NOTEBOOK_01, range(2), ("load_mnist(", "conv_playground(")),
           (NOTEBOOK_05, [1], ("explore(", "draw_digit("))]
WIDGETS = "widgets.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PICTURE = "img.course-playground-picture-widget"  # the playground's input-and-output picture


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """(URL, browser, folder): JupyterLab serving a folder with the widgets' notebook made from 01 and 05."""
    lab.require_browser()
    committed = {path: path.read_bytes() for path in (NOTEBOOK_01, NOTEBOOK_05)}
    folder = tmp_path_factory.mktemp("browser") / "notebooks"
    folder.mkdir()
    lab.notebook_cells(folder / WIDGETS, [(lesson, lambda index, text, first=first, calls=calls: index in first or
                                           any(call in text for call in calls)) for lesson, first, calls in LESSONS])
    with lab.lab_browser(folder, ARTIFACTS) as (url, browser):
        yield url, browser, folder
    assert all(path.read_bytes() == data for path, data in committed.items()), "a committed notebook changed"


@pytest.fixture(scope="module")
def widgets(jupyterlab):
    """A page with the widgets' notebook run."""
    url, browser, _ = jupyterlab
    page = lab.run_all(browser, url, WIDGETS, ARTIFACTS, width=1500)
    yield page
    page.close()


def test_the_widgets_notebook_is_the_setup_cell_and_the_lessons_cells(jupyterlab):
    import nbformat

    cells = nbformat.read(jupyterlab[2] / WIDGETS, as_version=4).cells
    calls = [call for _, _, lesson_calls in LESSONS for call in lesson_calls]
    assert "from utils.course import setup" in cells[0].source, [cell.source[:60] for cell in cells]
    assert "load_trained_simplecnn(" in cells[4].source
    found = [call for cell in cells for call in calls if call in cell.source]
    assert found == ["load_mnist(", "conv_playground(", "load_mnist(", "explore(", "draw_digit("], found
    assert len(cells) == 3 + len(calls)


def changed_picture(page, selector: str, action) -> bytes:
    """Do `action`, wait until the image at `selector` shows a new picture, return its screenshot."""
    image = page.locator(selector).first
    old = image.get_attribute("src")
    action()
    page.wait_for_function("([selector, old]) => { const i = document.querySelector(selector);"
                           " return i && i.src !== old && i.complete; }", arg=[selector, old],
                           timeout=lab.REDRAW_S * 1000)
    page.wait_for_timeout(200)
    return image.screenshot()


def widget_with_controls(page, name: str, controls: tuple[str, ...]):
    """The widget `.course-<name>` of the page, scrolled into view, once each of its controls is visible."""
    widget = page.locator(f".course-{name}").first
    widget.wait_for(timeout=60_000)
    widget.scroll_into_view_if_needed()
    for control in controls:
        assert widget.locator(f".course-{name}-{control}").first.is_visible(), f"the {name} has no {control} control"
    return widget


def test_notebook_05_explorer_follows_its_image_slider_and_layer_menu(widgets):
    page = widgets
    with lab.screenshot_on_failure(page, ARTIFACTS / "failure_explorer.png"):
        explorer = widget_with_controls(page, "explorer", ("image", "layer", "channels", "scale"))
        image = explorer.locator("img").first
        image.wait_for(timeout=lab.REDRAW_S * 1000)
        label = explorer.locator(".course-explorer-label").first
        label_before = label.inner_text()
        page.screenshot(path=str(ARTIFACTS / "explorer_1.png"))
        first = image.screenshot()

        handle = explorer.locator(".course-explorer-image .noUi-handle").first
        second = changed_picture(page, ".course-explorer img", lambda: (handle.focus(), handle.press("ArrowRight")))
        assert second != first, "the figure did not change after moving the image slider"
        assert label.inner_text() != label_before, "the label did not follow the image slider"
        page.screenshot(path=str(ARTIFACTS / "explorer_2_next_image.png"))

        layers = explorer.locator(".course-explorer-layer select").first
        options = layers.locator("option").all_inner_texts()
        assert len(options) >= 2, f"expected at least two layers to choose from, got {options}"
        third = changed_picture(page, ".course-explorer img", lambda: layers.select_option(options[1]))
        assert third not in (first, second), "the figure did not change after choosing another layer"
        assert options[1] in label.inner_text()
        page.screenshot(path=str(ARTIFACTS / "explorer_3_other_layer.png"))


def test_notebook_05_pad_reads_a_1_then_a_0_drawn_with_the_mouse(widgets):
    page = widgets
    with lab.screenshot_on_failure(page, ARTIFACTS / "failure_draw.png"):
        pad = pad_on_page(page)
        shown = {digit: draw_and_read(page, pad, DIGITS[digit], f"draw_digit_{digit}", ARTIFACTS) for digit in (1, 0)}
        conv2 = pad.locator(".course-draw-stage canvas").nth(2)  # 8 x 4 tiles of 20 px, 2 px apart
        conv2.hover(position={"x": 22 + 5, "y": 22 + 5})  # row 1, column 1: channel 9, dead in the trained model
        named = conv2.get_attribute("title")
        after_undo = undo_all(page, pad, DIGITS[0])
    assert named == "channel 9 (silent)", named
    assert shown[1] == ("1", shown[1][1]) and shown[1][1].startswith("predicted 1 ("), shown
    assert shown[0] == ("0", shown[0][1]) and shown[0][1].startswith("predicted 0 ("), shown
    assert after_undo == ("", "draw a digit"), after_undo
    times = round_trips(pad)
    print(f"\nround trip, end of stroke to painted overview: median {statistics.median(times):.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}, {len(times)} updates)")


def shown_size(note) -> tuple[int, int]:
    """The output size in the playground's note line, e.g. 'output map 13x13 (input 28x28)' -> (13, 13)."""
    match = re.search(r"output map (\d+)x(\d+)", note.inner_text())
    assert match, f"no output size in the playground's note: {note.inner_text()!r}"
    return int(match.group(1)), int(match.group(2))


def press(playground, control: str, key: str):
    """What moving the slider `control` with `key` does (for changed_picture)."""
    handle = playground.locator(f".course-playground-{control} .noUi-handle").first
    return lambda: (handle.focus(), handle.press(key))


def test_notebook_01_playground_follows_its_stride_and_padding_sliders(widgets):
    page = widgets
    with lab.screenshot_on_failure(page, ARTIFACTS / "failure_playground.png"):
        playground = widget_with_controls(page, "playground", ("image", "preset", "kernel-text", "stride", "padding",
                                                               "dilation", "row", "col"))
        picture = playground.locator(PICTURE).first
        picture.wait_for(timeout=lab.REDRAW_S * 1000)
        note = playground.locator(".course-playground-note").first
        page.wait_for_timeout(500)
        assert shown_size(note) == (26, 26), note.inner_text()  # as it opens: 3x3 kernel, stride 1, no padding
        first = picture.screenshot()
        page.screenshot(path=str(ARTIFACTS / "playground_1.png"))

        second = changed_picture(page, PICTURE, press(playground, "stride", "ArrowRight"))
        assert shown_size(note) == (13, 13), note.inner_text()  # stride 2: floor(25 / 2) + 1 = 13
        assert second != first, "the map did not change after moving the stride slider"
        page.screenshot(path=str(ARTIFACTS / "playground_2_stride_2.png"))

        third = changed_picture(page, PICTURE, press(playground, "padding", "ArrowRight"))
        assert shown_size(note) == (14, 14), note.inner_text()  # padding 1: floor(27 / 2) + 1 = 14
        assert third not in (first, second), "the map did not change after moving the padding slider"
        assert "= 14</b>" in playground.locator(".course-playground-formula").first.inner_html()
        page.screenshot(path=str(ARTIFACTS / "playground_3_padding_1.png"))


def test_notebook_05_pad_as_a_newcomer_meets_it_at_1400_px_with_the_file_browser_open(widgets):
    """The learner review's pad items: the network row fits the output area (fc2 not cut off), the pen slider shows
    its value and reaches 6 px, a dot gets the message that the model always names a digit, and the prediction is
    not red (red means a mistake in the explorer)."""
    page = widgets
    page.set_viewport_size({"width": 1400, "height": 1000})
    try:
        with lab.screenshot_on_failure(page, ARTIFACTS / "failure_pad_1400.png"):
            if not page.locator("#filebrowser").is_visible():
                page.locator(".jp-SideBar [data-id='filebrowser']").first.click()
            assert page.locator("#filebrowser").is_visible()
            pad = pad_on_page(page)
            shown = draw_and_read(page, pad, DIGITS[7], "draw_digit_7_at_1400", ARTIFACTS)
            assert shown[1].startswith("predicted "), shown
            fits = pad.evaluate("""root => {
                const area = root.closest('.jp-OutputArea-output') || root.parentElement;
                const row = root.querySelector('.course-draw-network');
                const last = row.lastElementChild.getBoundingClientRect(), box = area.getBoundingClientRect();
                return [row.scrollWidth <= row.clientWidth, area.scrollWidth <= area.clientWidth,
                        last.right <= box.right + 1, row.lastElementChild.textContent];
            }""")
            assert fits[:3] == [True, True, True], fits
            assert fits[3].startswith("fc2"), fits
            colour = pad.locator(".course-draw-predicted").evaluate("e => getComputedStyle(e).color")
            assert colour != "rgb(214, 39, 40)", "the prediction is shown in the explorer's colour for a mistake"

            slider = pad.locator(".course-draw-pen input").first
            assert slider.get_attribute("min") == "6"
            slider.focus()
            slider.press("Home")
            assert pad.locator(".course-draw-pen-value").inner_text() == "6 px"
            page.screenshot(path=str(ARTIFACTS / "pad_1400_file_browser.png"))

            dot = draw_and_read(page, pad, [[(140, 140)]], "draw_digit_dot", ARTIFACTS)
            assert dot[1].startswith("predicted "), dot
            assert "always names one of the ten digits" in pad.locator(".course-draw-hint").inner_text()
            assert "always names one of the ten digits" in pad.locator(".course-draw-always").inner_text()
    finally:
        page.set_viewport_size({"width": 1500, "height": 1000})


def test_notebook_01_playground_weights_box_and_formula_as_a_newcomer_meets_them(widgets):
    """A 5x5 kernel's rows do not wrap in the weights box; half-typed weights put a dash, not a kernel of 0, in the
    formula line."""
    page = widgets
    with lab.screenshot_on_failure(page, ARTIFACTS / "failure_playground_weights.png"):
        playground = widget_with_controls(page, "playground", ("preset", "kernel-text", "formula"))
        box = playground.locator(".course-playground-kernel-text textarea").first
        playground.locator(".course-playground-preset select").first.select_option("blur 5x5 (binomial)")
        page.wait_for_function("() => document.querySelector('.course-playground-kernel-text textarea')"
                               ".value.split('\\n').length === 5", timeout=lab.REDRAW_S * 1000)
        widths = box.evaluate("""t => {
            const style = getComputedStyle(t), ctx = document.createElement('canvas').getContext('2d');
            ctx.font = `${style.fontSize} ${style.fontFamily}`;
            const inner = t.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            return [Math.max(...t.value.split('\\n').map(line => ctx.measureText(line).width)), inner];
        }""")
        assert widths[0] <= widths[1], f"a row {widths[0]:.0f} px wide wraps in a box {widths[1]:.0f} px wide"
        page.screenshot(path=str(ARTIFACTS / "playground_blur_5x5.png"))

        formula = playground.locator(".course-playground-formula").first
        box.fill("1 2\n3")
        page.wait_for_function("() => document.querySelector('.course-playground-formula').innerText.includes('–')",
                               timeout=lab.REDRAW_S * 1000)
        text = formula.inner_text()
        assert "(0 − 1)" not in text and "not a kernel yet" in text, text
        note = playground.locator(".course-playground-note").first  # written by Python: a round trip later
        page.wait_for_function("note => note.innerText.includes('Cannot convolve')", arg=note.element_handle(),
                               timeout=lab.REDRAW_S * 1000)
        page.screenshot(path=str(ARTIFACTS / "playground_bad_weights.png"))


def test_notebook_01_opened_shows_its_questions_before_their_answers(jupyterlab):
    """Second expert read: whoever opened a notebook saw each question's evidence and answer under it. Opened (not
    run) in JupyterLab, 01's reveal cell shows its code and its outputs collapsed; expanded, the answer is still
    closed, and a click on it opens it."""
    url, browser, folder = jupyterlab
    shutil.copy(NOTEBOOK_01, folder / "folded.ipynb")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        with lab.screenshot_on_failure(page, ARTIFACTS / "failure_folded.png"):
            page.goto(f"{url}/lab/workspaces/folded/tree/folded.ipynb")
            prediction = page.locator(".jp-Notebook .jp-CodeCell", has_text="map_width = None").first
            prediction.wait_for(timeout=60_000)
            cell = prediction.locator("xpath=following-sibling::div[contains(@class, 'jp-CodeCell')][1]")
            cell.scroll_into_view_if_needed()
            assert cell.locator(".jp-InputPlaceholder").is_visible(), "the reveal's code states the answer: folded"
            assert not cell.locator(".jp-InputArea-editor").is_visible()
            assert not cell.locator(".jp-OutputArea").is_visible()
            cell.locator(".jp-InputPlaceholder").click()
            placeholder = cell.locator(".jp-OutputPlaceholder")
            assert placeholder.is_visible() and not cell.locator(".jp-OutputArea").is_visible()
            placeholder.click()
            details = cell.locator(".jp-OutputArea-output details")
            assert details.locator("summary").is_visible() and not details.locator("pre").is_visible()
            details.locator("summary").click()
            assert details.locator("pre").is_visible() and "The answer: 24" in details.locator("pre").inner_text()
    finally:
        page.close()


def test_without_chromium_it_skips_with_how_to_enable_or_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(lab, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("COURSE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium") as skipped:
        lab.require_browser()
    assert "pip install playwright" in str(skipped.value)
    monkeypatch.setenv("COURSE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="COURSE_REQUIRE_BROWSER=1"):
        lab.require_browser()
