"""draw_digit, its preprocessing of strokes into an MNIST-like input, and plot_network (utils/draw.py, overview.py)."""

from __future__ import annotations

import base64
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from utils import draw_digit
from utils.widgets.draw import EMPTY_MESSAGE, UNSURE_HINT, _widget_class, colour_tables, encode_view, strokes_to_digit
from utils.widgets.network_view import ModelShapeError, network_view, plot_network

# Synthetic strokes in canvas pixels (the pad is 280x280), as a learner would draw them.
ONE = [[(140, 40), (142, 140), (144, 240)]]
ZERO = [[(140 + 60 * math.sin(t / 24 * 2 * math.pi), 140 - 95 * math.cos(t / 24 * 2 * math.pi)) for t in range(25)]]


@pytest.fixture(scope="module")
def test_digits(test_set):
    return [test_set[i] for i in range(0, 1000, 100)]


def ink_box(digit: torch.Tensor) -> tuple[int, int]:
    rows, cols = np.nonzero(digit[0].numpy() > -1)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def centre_of_mass(digit: torch.Tensor) -> tuple[float, float]:
    ink = (digit[0].numpy() + 1) / 2
    ys, xs = np.indices(ink.shape)
    return (ys * ink).sum() / ink.sum(), (xs * ink).sum() / ink.sum()


def thinned(ink: np.ndarray) -> np.ndarray:
    """Zhang and Suen's thinning (1984): a boolean image peeled to lines one pixel wide."""
    image = np.pad(ink.astype(bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [np.roll(np.roll(image, -dy, 0), -dx, 1) for dy, dx in
                 [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]]  # P2 .. P9, clockwise
            neighbours = sum(q.astype(int) for q in p)
            transitions = sum((~p[k] & p[(k + 1) % 8]).astype(int) for k in range(8))
            a, b = (p[0] & p[2] & p[4], p[2] & p[4] & p[6]) if step == 0 else (p[0] & p[2] & p[6], p[0] & p[4] & p[6])
            peel = image & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & ~a & ~b
            if peel.any():
                image, changed = image & ~peel, True
        if not changed:
            return image[1:-1, 1:-1]


def traced_strokes(digit: torch.Tensor, scale: float = 10) -> list[list[tuple[float, float]]]:
    """A (1, 28, 28) test digit as a pen would draw it on the pad: its skeleton's links between neighbouring
    pixels as 2-point strokes (a lone pixel as a dot), in canvas pixels."""
    skeleton = thinned(digit[0].numpy() > 0)  # ink above mid-grey
    ys, xs = np.nonzero(skeleton)
    strokes = []
    for y, x in zip(ys.tolist(), xs.tolist()):
        here = ((x + 0.5) * scale, (y + 0.5) * scale)
        links = [(y + dy, x + dx) for dy, dx in [(0, 1), (1, -1), (1, 0), (1, 1)]
                 if 0 <= y + dy < 28 and 0 <= x + dx < 28 and skeleton[y + dy, x + dx]]
        strokes += [[here, ((nx + 0.5) * scale, (ny + 0.5) * scale)] for ny, nx in links] or [[here]]
    return strokes


# --- Preprocessing -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("strokes", [[], [[]], [{"points": [], "width": 20}]])
def test_an_empty_canvas_gives_no_input(strokes):
    assert strokes_to_digit(strokes) is None


@pytest.mark.parametrize("name, strokes", [
    ("a single dot", [[(200, 60)]]),
    ("a scribble over the whole area", [[(0, 0), (280, 280), (0, 280), (280, 0), (0, 0), (140, 280), (140, 0)]]),
    ("a stroke touching the border", [[(0, 20), (0, 260)], [(0, 260), (90, 280)]]),
    ("a stroke that leaves the canvas", [[(-50, 140), (400, 150)]]),
    ("a thin 1", [[(140, 40), (140, 240)]]),
])
def test_every_drawing_gives_an_mnist_like_input(name, strokes):
    digit = strokes_to_digit(strokes)
    assert digit.shape == (1, 28, 28) and digit.dtype == torch.float32
    assert torch.isfinite(digit).all(), name
    assert float(digit.min()) == -1.0 and float(digit.max()) == pytest.approx(1.0, abs=0.02)  # background, ink
    assert max(ink_box(digit)) <= 20 + 1, f"{name}: the ink should fit MNIST's 20x20 box (LANCZOS may bleed 1 px)"
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 14) <= 1.5 and abs(cx - 14) <= 1.5, f"{name}: centre of mass at ({cy:.1f}, {cx:.1f})"


def test_test_digits_traced_into_pen_strokes_read_nearly_as_well_as_the_raster_digits(trained, test_set):
    """The pad's pipeline places a drawing as MNIST places its digits (centre of mass at pixel (14, 14)): the 1000
    bundled test digits, thinned to their skeletons and traced into pen strokes, keep their accuracy within 3
    points of the raster digits', and the 7s within 5 (at (13.5, 13.5): 91.5% against 95.8%, 7s 73% against 84%)."""
    images = torch.stack([image for image, _ in test_set])
    labels = torch.tensor([label for _, label in test_set])
    traced = torch.stack([strokes_to_digit(traced_strokes(image)) for image in images])
    centres = np.array([centre_of_mass(digit) for digit in traced])
    assert np.abs(centres.mean(axis=0) - 14).max() < 0.2, centres.mean(axis=0)
    with torch.no_grad():
        raster, drawn = trained(images).argmax(1) == labels, trained(traced).argmax(1) == labels
    sevens = labels == 7
    print(f"\ntraced strokes {drawn.float().mean():.1%} (7s {drawn[sevens].float().mean():.1%}), raster digits "
          f"{raster.float().mean():.1%} (7s {raster[sevens].float().mean():.1%})")
    assert drawn.float().mean() >= raster.float().mean() - 0.03
    assert drawn[sevens].float().mean() >= raster[sevens].float().mean() - 0.05


def test_the_longer_side_of_the_drawing_becomes_20_pixels_and_the_aspect_is_kept():
    tall = strokes_to_digit([[(140, 30), (140, 250)]], pen=20)  # 20 wide, 240 tall (with the round ends)
    height, width = ink_box(tall)
    assert height in (20, 21) and width <= 4
    wide = strokes_to_digit([[(30, 140), (250, 140)]], pen=20)
    assert ink_box(wide) == (width, height)


def test_a_thicker_pen_gives_a_thicker_digit():
    thin, thick = strokes_to_digit(ONE, pen=10), strokes_to_digit(ONE, pen=40)
    assert (thick > 0).sum() > 1.5 * (thin > 0).sum()


@pytest.mark.parametrize("strokes, error, words", [
    ("oops", TypeError, "list of strokes"),
    ([[(float("nan"), 3)]], ValueError, "NaN"),
    ([{"points": [(1, 2)], "width": 0}], ValueError, "pen width"),
])
def test_bad_strokes_get_a_clear_error(strokes, error, words):
    with pytest.raises(error, match=words):
        strokes_to_digit(strokes)


# --- The widget from Python --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, strokes", [("a dot in the centre", [[(140, 140)]]),
                                           ("a dot in a corner", [[(30, 30)]])])
def test_an_unsure_prediction_says_the_model_always_names_a_digit(trained, name, strokes):
    pad = draw_digit(trained).draw(strokes)
    assert max(pad.probabilities) < 0.7, f"{name}: {pad.message}"
    assert pad.hint == UNSURE_HINT and "always names one of the ten digits" in pad.hint
    assert pad.view["hint"] == pad.hint and pad.view["message"] == pad.message
    assert pad.draw(ONE).hint == "" and pad.view["hint"] == "", "a clear 1 gets no hint"


def test_an_empty_pad_says_draw_a_digit(trained):
    pad = draw_digit(trained)
    assert pad.predicted is None and pad.probabilities is None and pad.input is None
    assert pad.message == EMPTY_MESSAGE and pad.view["empty"] and pad.view["message"] == "draw a digit"
    assert "draw a digit" in repr(pad) and "0x" not in repr(pad)  # stable text for the stored notebook output


def test_show_reports_the_models_own_prediction_for_real_test_digits(trained, test_digits):
    pad = draw_digit(trained)
    for image, _label in test_digits:
        pad.show(image)
        with torch.no_grad():
            expected = trained(image[None]).softmax(1)[0]
        assert pad.predicted == int(expected.argmax())
        assert len(pad.probabilities) == 10 and sum(pad.probabilities) == pytest.approx(1, abs=1e-5)
        assert pad.probabilities == pytest.approx(expected.tolist(), abs=1e-6)
        assert pad.view["predicted"] == pad.predicted and pad.view["source"] == "image"
        assert torch.equal(pad.input, image)
    correct = sum(pad.show(image).predicted == label for image, label in test_digits)
    assert correct >= 9, f"the shipped model got only {correct} of 10 test digits"


def test_show_refuses_what_is_not_a_digit(trained):
    pad = draw_digit(trained)
    with pytest.raises(ValueError, match=r"\(1, 28, 28\), as load_mnist gives it"):
        pad.show(torch.zeros(3, 32, 32))
    with pytest.raises(TypeError, match="tensor of shape"):
        pad.show([[0.0] * 28] * 28)


def test_a_drawn_1_and_0_are_recognized_then_undone_and_cleared(trained):
    pad = draw_digit(trained)
    assert pad.draw(ONE).predicted == 1
    assert pad.draw(ZERO).predicted == 0
    assert pad.strokes["strokes"] and pad.view["seq"] == pad.strokes["seq"]
    assert pad.clear().predicted is None and pad.message == "draw a digit"


def test_strokes_from_the_browser_update_the_view(trained):
    pad = draw_digit(trained)
    pad.strokes = {"seq": 7, "strokes": [{"width": 22, "points": [list(p) for p in ONE[0]]}]}  # what draw.js sends
    assert pad.predicted == 1 and pad.view["seq"] == 7 and pad.view["source"] == "drawing"
    pad.strokes = {"seq": 8, "strokes": []}  # "clear"
    assert pad.view["empty"] and pad.view["seq"] == 8


def test_the_view_sent_to_the_browser_has_every_stage_at_its_shape(trained, test_digits):
    view = encode_view(network_view(trained, test_digits[0][0]), seq=3)
    shapes = {s["name"]: s.get("shape") or len(s["values"]) for s in view["stages"]}
    assert shapes == {"conv1": [16, 24, 24], "pool #1": [16, 12, 12], "conv2": [32, 8, 8], "pool #2": [32, 4, 4],
                      "fc1": 120, "fc2": 84}
    for stage in view["stages"]:
        if stage["kind"] == "maps":
            assert len(base64.b64decode(stage["data"])) == math.prod(stage["shape"])
            assert stage["cmap"] == ("RdBu_r" if stage["name"].startswith("conv") else "viridis")
    assert len(base64.b64decode(view["input"])) == 28 * 28
    assert all(len(base64.b64decode(t)) == 256 * 3 for t in colour_tables().values())


def test_the_widget_leaves_the_model_and_threads_as_they_were(trained):
    trained.train()
    threads = torch.get_num_threads()
    try:
        draw_digit(trained).draw(ONE)
        assert trained.training and torch.get_num_threads() == threads
    finally:
        trained.eval()


# --- Other models ------------------------------------------------------------------------------------------------

def test_a_model_that_is_not_for_1x28x28_digits_gets_an_error_naming_what_is_needed():
    torchvision = pytest.importorskip("torchvision")
    resnet = torchvision.models.resnet18()
    with pytest.raises(ModelShapeError, match=r"\(N, 1, 28, 28\) batch and returns 10 class scores") as error:
        draw_digit(resnet)
    assert "ResNet raised RuntimeError" in str(error.value)
    assert not any(m._forward_hooks for m in resnet.modules()), "a hook was left on the model"
    assert resnet.training, "the model's train mode was not restored"
    with pytest.raises(ModelShapeError, match=r"returned \(1, 5\)"):
        draw_digit(nn.Sequential(nn.Flatten(), nn.Linear(784, 5)))
    with pytest.raises(TypeError, match="draw_digit takes the model as an nn.Module instance.*not str"):
        draw_digit("SimpleCNN")


def test_any_model_for_1x28x28_digits_works_and_shows_its_own_layers():
    torch.manual_seed(0)
    other = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 13 * 13, 10))
    pad = draw_digit(other).draw(ONE)
    assert [s["name"] for s in pad.view["stages"]] == ["0", "2"]  # the last Linear is shown as the probabilities
    assert pad.view["stages"][0]["shape"] == [8, 26, 26]
    assert sum(pad.probabilities) == pytest.approx(1, abs=1e-5)


def test_without_anywidget_utils_still_imports_and_draw_digit_says_what_to_install(monkeypatch, trained):
    monkeypatch.setitem(sys.modules, "anywidget", None)  # import anywidget now raises ImportError
    _widget_class.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install anywidget"):
            draw_digit(trained)
    finally:
        _widget_class.cache_clear()


# --- The static overview -----------------------------------------------------------------------------------------

def test_plot_network_draws_every_stage_and_the_prediction(trained, test_digits):
    image, label = test_digits[0]
    figure = plot_network(trained, image, label=label)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0].startswith("input") and titles[-1] == f"probabilities\npredicted {figure.network.predicted}"
    assert [t.split("\n")[0] for t in titles[1:5]] == ["conv1", "pool #1 (after ReLU)", "conv2",
                                                       "pool #2 (after ReLU)"]
    assert figure.network.predicted == label
    grids = [ax.images[0].get_window_extent().width for ax in figure.axes[1:5]]
    assert grids[0] > grids[1] > grids[3], "the maps should shrink from layer to layer on the page"


def test_plot_network_fits_a_notebook_page_with_every_map_readable(trained, test_digits):
    """GitHub shows a notebook about 900 px wide: at that width no panel or title may leave the page or overlap
    another, and pool #2's 4x4 maps (the smallest) must stay at least 3 px per value, all at one size per value."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = plot_network(trained, *test_digits[3][:1], label=None)
    renderer = FigureCanvasAgg(figure).get_renderer()
    assert figure.get_size_inches()[0] * figure.dpi <= 900
    boxes = [ax.get_tightbbox(renderer) for ax in figure.axes]
    width, height = figure.bbox.width, figure.bbox.height
    assert all(b.x0 >= 0 and b.x1 <= width and b.y0 >= 0 and b.y1 <= height for b in boxes), "a panel leaves the page"
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "two panels overlap"
    per_value = [ax.images[0].get_window_extent().width / columns for ax, columns in
                 zip(figure.axes[:5], (28, 4 * 25, 4 * 13, 8 * 9, 8 * 5))]  # input, then grids with 1 value between
    assert min(per_value) >= 3, f"pixels per value on the page: {per_value}"
    assert max(per_value) / min(per_value) < 1.2, f"one size per value: {per_value}"
