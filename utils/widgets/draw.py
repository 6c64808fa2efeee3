"""Draw a digit and watch the whole network respond: `draw_digit(model)` returns the widget.

The learner draws in the browser (mouse, pen or finger); at the end of each stroke the strokes go to Python in one
message, become a 28x28 input the way MNIST's digits were made (`strokes_to_digit`), and the model runs once with
hooks on every layer (`network_view`). The browser then draws every stage from the numbers it gets
back: the input the model sees, conv1's maps, the maps after ReLU and pooling, conv2's maps, the fully connected
layers as bars and the 10 probabilities. Colours are the course's: signed maps on the diverging scale centred on 0,
maps after a ReLU on viridis, dead channels outlined in red.

It is a small anywidget (draw.js, draw.css) rather than a matplotlib figure in an `ipywidgets.Image` as `explore`
uses: the standard widgets cannot take mouse strokes, and redrawing the whole network with matplotlib on every
stroke is far slower than sending the numbers to the browser (benchmarks/bench_draw.py measures both). The pad
draws locally and sends one message per stroke. Without anywidget installed, `import utils` still works and
`draw_digit` says what to install.

    pad = draw_digit(load_trained_simplecnn())   # end a cell with it; draw with the mouse
    pad.show(image)                               # or give it a digit from load_mnist: (1, 28, 28), normalized
    pad.predicted, pad.probabilities              # what the model says about what is shown
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image, ImageDraw
from torch import nn

from ..plot.grid import DIVERGING, SEQUENTIAL
from ..plot.scaling import normalize_maps
from .network_view import NetworkView, as_digit, check_digit_model, grid_columns, network_view, plot_network

__all__ = ["CANVAS_PX", "DEFAULT_PEN", "EMPTY_MESSAGE", "UNSURE_HINT", "draw_digit", "strokes_to_digit"]

HERE = Path(__file__).resolve().parent
CANVAS_PX = 280  # the drawing area's side, in canvas pixels (strokes are given in these units)
DEFAULT_PEN = 22  # pen width in canvas pixels; the widget's slider changes it
BOX, FIELD = 20, 28  # MNIST: the digit's bounding box scaled into 20x20, centred by its centre of mass in 28x28
CENTRE = FIELD / 2  # where MNIST's digits have their centre of mass: pixel (14.0, 14.0) on average (14.01, 13.99 on
# the bundled test digits), not the middle of the field (13.5): half a pixel costs drawn digits 2 points of accuracy
EMPTY_MESSAGE = "draw a digit"
UNSURE = 0.7  # below this probability the pad adds UNSURE_HINT (a dot was read as 8 at 54%, a scribble as 2 at 57%)
UNSURE_HINT = ("unsure: the model always names one of the ten digits, even for a dot or a scribble; a low "
               "probability is all it has to say that it does not know")

Point = Sequence[float]
Stroke = Sequence[Point]


# --- Strokes -> a 28x28 input, the way MNIST's digits were made --------------------------------------------------

def _parse(strokes: object, pen: float) -> list[tuple[float, np.ndarray]]:
    """Strokes as (width, points (n, 2)) pairs. A stroke is a list of (x, y) points, or a dict with "points" and
    "width" (what the browser sends)."""
    if isinstance(strokes, (str, bytes)) or not isinstance(strokes, Sequence):
        raise TypeError(f"strokes must be a list of strokes, each a list of (x, y) points, not "
                        f"{type(strokes).__name__}.")
    parsed = []
    for k, stroke in enumerate(strokes):
        width = float(stroke.get("width", pen)) if isinstance(stroke, dict) else float(pen)
        points = stroke.get("points", []) if isinstance(stroke, dict) else stroke
        array = np.asarray(points, dtype=np.float64).reshape(-1, 2) if len(points) else np.zeros((0, 2))
        if not np.isfinite(array).all():
            raise ValueError(f"stroke {k} has NaN or infinite coordinates.")
        if not width > 0:
            raise ValueError(f"stroke {k} has pen width {width}; it must be above 0.")
        if len(array):
            parsed.append((width, array))
    return parsed


def _rasterize(strokes: list[tuple[float, np.ndarray]], size: int) -> np.ndarray:
    """The strokes drawn white on black at the canvas's size, with round ends and joints, as floats in [0, 1]."""
    image = Image.new("L", (size, size), 0)
    pen = ImageDraw.Draw(image)
    for width, points in strokes:
        points = np.clip(points, 0, size)  # a stroke that left the canvas is cut at its border
        if len(points) > 1:
            pen.line([tuple(p) for p in points], fill=255, width=max(1, round(width)), joint="curve")
        r = width / 2
        for x, y in (points[0], points[-1]):
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(image, dtype=np.float32) / 255


def _into_field(ink: np.ndarray) -> np.ndarray:
    """MNIST's recipe: the ink's bounding box scaled (aspect kept) into 20x20, placed in 28x28 so that its centre
    of mass sits where MNIST's do, at pixel (14, 14)."""
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop, mode="F").resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    small = np.clip(small, 0, 1)
    if small.sum() <= 0:  # a speck that the resampling lost: keep it as one pixel
        small = np.ones_like(small)
    ys, xs = np.indices(small.shape)
    cy, cx = (ys * small).sum() / small.sum(), (xs * small).sum() / small.sum()
    top = int(np.clip(round(CENTRE - cy), 0, FIELD - small.shape[0]))
    left = int(np.clip(round(CENTRE - cx), 0, FIELD - small.shape[1]))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top:top + small.shape[0], left:left + small.shape[1]] = small
    return field


def strokes_to_digit(strokes: Sequence[Stroke | dict[str, Any]], *, pen: float = DEFAULT_PEN,
                     size: int = CANVAS_PX) -> torch.Tensor | None:
    """A drawing as the model's input: (1, 28, 28), normalized like `load_mnist` gives digits; None when empty.

    `strokes` is a list of strokes, each a list of (x, y) points in canvas pixels (0 to `size`), drawn with a round
    pen `pen` pixels wide (a stroke may also be a dict {"points": [...], "width": w}). The ink's bounding box is
    scaled into 20x20 (aspect kept), placed so that its centre of mass is at pixel (14, 14) of 28x28 (where
    MNIST's digits have theirs), then normalized with `(x - 0.5) / 0.5`: background -1, ink up to 1.

    >>> one = strokes_to_digit([[(140, 40), (140, 240)]])           # a vertical line: a "1"
    >>> one.shape, float(one.min()), float(one.max())
    (torch.Size([1, 28, 28]), -1.0, 1.0)
    >>> strokes_to_digit([]) is None                                 # nothing drawn
    True
    """
    parsed = _parse(strokes, pen)
    if not parsed:
        return None
    ink = _rasterize(parsed, size)
    if not ink.any():
        return None
    field = _into_field(ink)
    return torch.from_numpy((field - 0.5) / 0.5)[None]


# --- What the browser is sent ------------------------------------------------------------------------------------

def _bytes(values: np.ndarray) -> str:
    """Values in [0, 1] as base64 bytes 0-255: a layer's maps travel in a few kilobytes."""
    return base64.b64encode(np.round(np.clip(values, 0, 1) * 255).astype(np.uint8).tobytes()).decode("ascii")


@functools.lru_cache(maxsize=1)
def colour_tables() -> dict[str, str]:
    """The course's colormaps as 256 RGB entries each (base64), so that the browser paints exactly its colours."""
    return {name: _bytes(colormaps[name](np.linspace(0, 1, 256))[:, :3]) for name in (SEQUENTIAL, DIVERGING)}


def encode_view(view: NetworkView | None, seq: int = 0, source: str = "drawing") -> dict:
    """The overview as plain JSON for the browser: every stage scaled to bytes, the bars and the probabilities."""
    if view is None:
        return {"seq": seq, "empty": True, "message": EMPTY_MESSAGE, "source": source}
    stages = []
    for stage in view.stages:
        if stage.is_maps:
            values = stage.values.numpy()
            signed = bool((values < 0).any())
            scaled = normalize_maps(stage.values, "symmetric" if signed else "layer").numpy()
            stages.append({"name": stage.name, "label": stage.label, "kind": "maps", "shape": list(values.shape),
                           "ncols": grid_columns(values.shape[0]),
                           "cmap": DIVERGING if signed else SEQUENTIAL,
                           "data": _bytes((scaled + 1) / 2 if signed else scaled),
                           "dead": np.flatnonzero(~(values > 0).any(axis=(1, 2))).tolist()})
        else:
            stages.append({"name": stage.name, "label": stage.label, "kind": "bars",
                           "values": np.round(stage.values.numpy().astype(np.float64), 4).tolist()})
    return {"seq": seq, "empty": False, "source": source, "input": _bytes((view.input[0].numpy() + 1) / 2),
            "stages": stages, "probabilities": np.round(view.probabilities.numpy().astype(np.float64), 4).tolist(),
            "predicted": view.predicted, "message": prediction_message(view), "hint": hint(view)}


def prediction_message(view: NetworkView) -> str:
    """'predicted 7 (98%)': the class and its probability, as the pad shows it."""
    return f"predicted {view.predicted} ({100 * float(view.probabilities.max()):.0f}%)"


def hint(view: NetworkView) -> str:
    """What the pad adds under an unsure prediction (UNSURE_HINT), or ""."""
    return UNSURE_HINT if float(view.probabilities.max()) < UNSURE else ""


# --- The widget --------------------------------------------------------------------------------------------------

class _DigitPadLogic:
    """What the widget does in Python; `_widget_class` mixes it with anywidget.AnyWidget."""

    model: nn.Module
    network: NetworkView | None
    strokes: dict[str, Any]  # a traitlet of the widget: {"seq": int, "strokes": [...]}, set by the browser
    observe: Any  # traitlets' observe, from the widget class this is mixed into

    def _setup(self, model: nn.Module) -> None:
        self.model = model
        self.network = None
        self.update_seconds: list[float] = []  # Python's time from strokes received to view sent, per update
        self._holding = False
        self.observe(self._on_strokes, "strokes")
        self.colormaps = colour_tables()
        encode_view(network_view(model, torch.zeros(1, FIELD, FIELD)))  # warm-up: the first stroke is not slower
        self.view = encode_view(None)

    @property
    def input(self) -> torch.Tensor | None:
        """The (1, 28, 28) input the model sees now (normalized), or None when nothing is drawn."""
        return None if self.network is None else self.network.input

    @property
    def predicted(self) -> int | None:
        """The predicted class of what is shown, or None for an empty canvas."""
        return None if self.network is None else self.network.predicted

    @property
    def probabilities(self) -> list[float] | None:
        """The 10 class probabilities of what is shown (they sum to 1), or None for an empty canvas."""
        return None if self.network is None else self.network.probabilities.tolist()

    @property
    def message(self) -> str:
        """What the widget says above the probabilities: "draw a digit", or the prediction."""
        return EMPTY_MESSAGE if self.network is None else prediction_message(self.network)

    @property
    def hint(self) -> str:
        """What the widget says under an unsure prediction (below UNSURE): that the model always names a digit."""
        return "" if self.network is None else hint(self.network)

    def show(self, image: torch.Tensor) -> _DigitPadLogic:
        """Show a digit given from Python, (1, 28, 28) and normalized as `load_mnist` gives it; the canvas is
        cleared. Returns the widget, so that a cell can end with it.

        >>> pad.show(load_mnist(train=False)[0][0]).predicted  # doctest: +SKIP
        7
        """
        digit = as_digit(image)
        self._set_strokes([])
        self._update(digit, int(self.strokes.get("seq", 0)), "image")
        return self

    def draw(self, strokes: Sequence[Stroke | dict[str, Any]], pen: float = DEFAULT_PEN) -> _DigitPadLogic:
        """Draw strokes from Python as if drawn by hand: a list of strokes, each a list of (x, y) canvas pixels
        (0 to 280). Returns the widget."""
        parsed = _parse(strokes, pen)
        self._set_strokes([{"width": w, "points": p.tolist()} for w, p in parsed])
        self._on_strokes()
        return self

    def clear(self) -> _DigitPadLogic:
        """Empty the canvas: the widget says "draw a digit" again."""
        return self.draw([])

    def figure(self) -> Figure | None:
        """The current view as a static matplotlib figure (`plot_network`), or None for an empty canvas."""
        return None if self.network is None else plot_network(self.model, self.network.input)

    def _set_strokes(self, strokes: list) -> None:
        self._holding = True
        try:
            self.strokes = {"seq": int(self.strokes.get("seq", 0)) + 1, "strokes": strokes}
        finally:
            self._holding = False

    def _on_strokes(self, change: object = None) -> None:
        if self._holding:
            return
        start = time.perf_counter()
        state = dict(self.strokes)
        self._update(strokes_to_digit(state.get("strokes", [])), int(state.get("seq", 0)), "drawing", start)

    def _update(self, digit: torch.Tensor | None, seq: int, source: str, start: float | None = None) -> None:
        start = time.perf_counter() if start is None else start
        self.network = None if digit is None else network_view(self.model, digit)
        self.view = encode_view(self.network, seq, source)
        self.update_seconds.append(time.perf_counter() - start)

    def __repr__(self) -> str:
        return f"draw_digit({type(self.model).__name__}): {self.message} (run the notebook to draw)"


@functools.lru_cache(maxsize=1)
def _widget_class() -> type:
    """The widget class, made on first use, so that `import utils` works where anywidget is not installed."""
    try:
        import anywidget
        import traitlets
    except ImportError as error:
        raise ImportError("draw_digit needs the anywidget package: pip install anywidget "
                          "(it is in the course's requirements.txt).") from error

    class DrawDigit(_DigitPadLogic, anywidget.AnyWidget):
        """A drawing pad and the whole network's response; see `draw_digit`."""

        _esm = HERE / "draw.js"
        _css = HERE / "draw.css"
        strokes = traitlets.Dict({"seq": 0, "strokes": []}).tag(sync=True)  # from the browser, or set by Python
        view = traitlets.Dict().tag(sync=True)  # to the browser: what to draw (encode_view)
        colormaps = traitlets.Dict().tag(sync=True)
        canvas_size = traitlets.Int(CANVAS_PX).tag(sync=True)
        pen = traitlets.Float(DEFAULT_PEN).tag(sync=True)

        def __init__(self, model: nn.Module) -> None:
            super().__init__()
            self._setup(model)

    return DrawDigit


def draw_digit(model: nn.Module) -> _DigitPadLogic:
    """A widget to draw a digit and watch the whole network respond, live, offline, in the notebook.

    Draw with the mouse, a pen or a finger; "undo" removes the last stroke, "clear" everything, the slider sets the
    pen's width. At the end of each stroke the drawing becomes the model's 28x28 input (shown, as the model sees
    it), and every stage updates: conv1's maps, the maps after ReLU and pooling, conv2's maps, the fully connected
    layers as bars, the 10 class probabilities with the predicted class marked. An empty canvas says "draw a digit".

    From Python: `pad.show(image)` shows a digit from `load_mnist` ((1, 28, 28), normalized); `pad.draw(strokes)`
    draws strokes; `pad.predicted` (an int) and `pad.probabilities` (10 floats summing to 1) report what the model
    says about what is shown (None for an empty canvas); `pad.input` is the (1, 28, 28) input; `pad.figure()` the
    same view as a static figure (`plot_network`).

    `model` must take a (N, 1, 28, 28) batch and return (N, 10) class scores, like the SimpleCNN; any such model
    works (every Conv2d, pooling and Linear layer is shown in the order it runs). Another model, such as a
    torchvision resnet18, gets a ModelShapeError saying so.

    >>> pad = draw_digit(load_trained_simplecnn())                       # doctest: +SKIP
    >>> pad.draw([[(140, 40), (140, 240)]]).predicted                    # doctest: +SKIP
    1
    """
    check_digit_model(model)
    return _widget_class()(model)
