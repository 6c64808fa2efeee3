"""The whole network for one digit: every layer's output in the order the model runs, and a static overview figure.

`network_view(model, image)` runs the model once on one (1, 28, 28) digit with forward hooks on every Conv2d,
pooling and Linear layer, and returns what each of them produced (a layer that runs twice, like SimpleCNN's one
`pool`, appears twice), with the class probabilities. `plot_network(model, image)` draws that as one figure:
input -> conv1's maps -> after ReLU and pooling -> conv2's maps -> the fully connected layers as bars -> the 10
probabilities, each grid at the same size per value, so the maps visibly shrink from layer to layer. The
draw-a-digit widget (`utils.widgets.draw`) shows the same stages, live.

Any model that takes a (N, 1, 28, 28) batch and returns (N, 10) class scores works; another model gets a
ModelShapeError saying what is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from ..capturing.guards import check_model, eval_mode, num_threads, to_model_device
from ..plot.grid import text_width
from ..plot.maps import plot_feature_maps

__all__ = ["ModelShapeError", "NetworkView", "Stage", "check_digit_model", "grid_columns", "network_view",
           "plot_network"]

STAGE_TYPES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d, nn.Linear)
NEEDS = ("a model that takes digits as a (N, 1, 28, 28) batch and returns 10 class scores (N, 10), like the "
         "SimpleCNN; any such model works (every Conv2d, pooling and Linear layer is shown in the order it runs)")
POSITIVE, NEGATIVE, PREDICTED, OTHER = "#b2182b", "#2166ac", "#d62728", "#9a9a9a"
# plot_network's page, in inches: 9 wide (900 px, a notebook's width on GitHub); a grid value is UNIT wide at most
PAGE, UNIT, GAP = 9.0, 0.035, 0.3
BARS_WIDTH, BARS_HEIGHT, PROBABILITIES_WIDTH = 0.9, 1.7, 1.2
TITLE_ROOM, ROW_MARGINS, SUPTITLE = 0.45, 0.7, 0.55  # above a row's panels, above and below them, the figure title
NUMBERED_TILE, LABEL_BAND = 0.25, 8 * 1.45 / 72  # inches: tiles this wide get their channel number, in a band


class ModelShapeError(ValueError):
    """A model that does not take one 1x28x28 digit, or does not return 10 class scores."""


@dataclass(frozen=True)
class Stage:
    """One layer's output for the digit: `values` is (C, H, W) for maps, (K,) for a fully connected layer."""

    name: str  # the module's name, with the call number for a module that runs more than once ("pool #2")
    kind: str  # "conv", "pool" or "linear"
    values: torch.Tensor

    @property
    def is_maps(self) -> bool:
        return self.values.dim() == 3

    @property
    def label(self) -> str:
        """What the stage is, with its shape, e.g. "conv2: 32 maps of 8x8"."""
        if self.is_maps:
            c, h, w = self.values.shape
            after = " (after ReLU)" if self.kind == "pool" and not bool((self.values < 0).any()) else ""
            return f"{self.name}{after}: {c} maps of {h}x{w}"
        return f"{self.name}: {self.values.numel()} units"


@dataclass(frozen=True)
class NetworkView:
    """What the model does with one digit: its input (1, 28, 28), every stage, the 10 class probabilities."""

    input: torch.Tensor
    stages: list[Stage]
    probabilities: torch.Tensor

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())


def as_digit(image: object, name: str = "image") -> torch.Tensor:
    """`image` as a float (1, 28, 28) CPU tensor (a (28, 28) or (1, 1, 28, 28) one is reshaped); else ValueError."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape (1, 28, 28), as load_mnist gives it, not "
                        f"{type(image).__name__}.")
    x = image.detach().float().cpu()
    if x.shape in ((28, 28), (1, 1, 28, 28)):
        x = x.reshape(1, 28, 28)
    if x.shape != (1, 28, 28):
        raise ValueError(f"{name} has shape {tuple(image.shape)}; a digit is (1, 28, 28), as load_mnist gives it "
                         "(e.g. `image, label = load_mnist(train=False)[0]`).")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} has NaN or infinite values; a digit from load_mnist is in [-1, 1].")
    return x


def check_digit_model(model: object) -> None:
    """TypeError unless `model` is an nn.Module; ModelShapeError unless it maps a (1, 1, 28, 28) batch to (1, 10)."""
    check_model(model, "draw_digit")
    assert isinstance(model, nn.Module)
    network_view(model, torch.zeros(1, 28, 28))


def network_view(model: nn.Module, image: torch.Tensor) -> NetworkView:
    """Run `model` once on `image` (1, 28, 28) in eval mode without gradients; every stage's output, in order.

    >>> from utils import SimpleCNN
    >>> view = network_view(SimpleCNN(), torch.zeros(1, 28, 28))
    >>> [s.name for s in view.stages], view.probabilities.shape
    (['conv1', 'pool #1', 'conv2', 'pool #2', 'fc1', 'fc2'], torch.Size([10]))
    """
    x = as_digit(image)
    records: list[tuple[str, nn.Module, torch.Tensor]] = []
    hooks = [module.register_forward_hook(lambda m, args, out, name=name: records.append((name, m, out)))
             for name, module in model.named_modules() if isinstance(module, STAGE_TYPES)]
    try:  # one thread: for one digit a thread pool costs more than the work (25 ms against 1 ms, 2 busy cores)
        with eval_mode(model), num_threads(1), torch.no_grad():
            output = model(to_model_device(model, x[None]))
    except Exception as error:  # the model's own error, kept as the cause
        raise ModelShapeError(f"draw_digit and plot_network need {NEEDS}. {type(model).__name__} raised "
                              f"{type(error).__name__} on a (1, 1, 28, 28) batch: {error}") from error
    finally:
        for hook in hooks:
            hook.remove()
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (1, 10):
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ModelShapeError(f"draw_digit and plot_network need {NEEDS}; {type(model).__name__} returned {got}.")
    return NetworkView(x, _stages(records, output), torch.softmax(output[0].float().cpu(), 0))


def _stages(records: list[tuple[str, nn.Module, torch.Tensor]], output: torch.Tensor) -> list[Stage]:
    """One Stage per hooked call, except the layer that produced the model's output (shown as probabilities)."""
    calls = {name: sum(n == name for n, _, _ in records) for name, _, _ in records}
    seen: dict[str, int] = {}
    stages = []
    for name, module, out in records:
        seen[name] = seen.get(name, 0) + 1
        if out is output or not isinstance(out, torch.Tensor) or out.dim() not in (2, 4):
            continue
        label = f"{name} #{seen[name]}" if calls[name] > 1 else name
        kind = "conv" if isinstance(module, nn.Conv2d) else "linear" if isinstance(module, nn.Linear) else "pool"
        stages.append(Stage(label, kind, out[0].detach().float().cpu()))
    return stages


# --- The static overview -----------------------------------------------------------------------------------------

def plot_network(model: nn.Module, image: torch.Tensor, *, label: int | None = None) -> Figure:
    """The whole network's response to one digit as one figure, for readers who cannot run the widget.

    In reading order, in rows as wide as a notebook page: the input (1, 28, 28) -> every map stage as a grid
    (signed maps on the diverging scale centred on 0, maps after ReLU on one scale from their min to their max, as
    `plot_feature_maps` draws them) -> the fully connected layers as bars (red above 0: passed on by the ReLU;
    blue below: cut) -> the 10 class probabilities, the predicted class in red. The input and the grids are drawn
    at one size per value, so the maps shrink as they do in the network; tiles wide enough carry their channel
    number, and a silent map (no value above 0) is outlined in red. `label`, if given, is written under the input.

    >>> from utils import load_mnist, load_trained_simplecnn
    >>> image, label = load_mnist(train=False, verbose=False)[0]
    >>> fig = plot_network(load_trained_simplecnn(), image, label=label)
    >>> fig.network.predicted == label
    True
    """
    view = network_view(model, image)
    maps = [s for s in view.stages if s.is_maps]
    bars = [s for s in view.stages if not s.is_maps]
    widest = max([28.0] + [_grid_shape(s)[1] for s in maps])
    unit = min(UNIT, (PAGE - 0.6) / widest)  # one size per value; a model with very wide grids gets a smaller one
    titles = ["input: 1 x 28x28\n(what the model sees)"] + [s.label.replace(": ", "\n") for s in maps] + [
        f"{s.name}\n{s.values.numel()} units" for s in bars] + [f"probabilities\npredicted {view.predicted}"]
    numbered = [s.values.shape[2] * unit >= NUMBERED_TILE for s in maps]  # tiles wide enough for their number
    grids = [(unit * _grid_shape(s)[1], unit * _grid_shape(s)[0] + (_grid_rows(s) * LABEL_BAND if n else 0))
             for s, n in zip(maps, numbered)]  # (width, height) in inches, with the bands for the numbers
    contents = [(28 * unit, 28 * unit), *grids, *[(BARS_WIDTH, BARS_HEIGHT)] * len(bars),
                (PROBABILITIES_WIDTH, BARS_HEIGHT)]
    widths = [max(w, _text_width(t)) for (w, _), t in zip(contents, titles)]
    size, boxes = _layout(contents, widths)
    figure = Figure(figsize=size, dpi=100)
    figure.network = view  # type: ignore[attr-defined]  # the numbers behind the picture, for tests
    axes = [figure.add_axes(box) for box in boxes]
    _plot_input(axes[0], view.input, label, titles[0])
    for ax, stage, title, n in zip(axes[1:], maps, titles[1:], numbered):
        plot_feature_maps(stage.values, ncols=grid_columns(stage.values.shape[0]), ax=ax, title=title, labels=n)
        ax.title.set_fontsize(9)
    for ax, stage, title in zip(axes[1 + len(maps):], bars, titles[1 + len(maps):]):
        _plot_bars(ax, stage, title, size[1])
    _plot_probabilities(axes[-1], view, titles[-1])
    figure.suptitle(f"The whole network for one digit: predicted {view.predicted} "
                    f"({100 * float(view.probabilities.max()):.0f}%)\n", fontsize=11, y=1 - 0.08 / size[1], va="top")
    figure.text(0.5, 1 - 0.32 / size[1], "outlined in red: a map with no value above 0 (silent); bars: red is above "
                "0 and passes the ReLU, blue is cut", ha="center", va="top", fontsize=9)
    return figure


def grid_columns(channels: int) -> int:
    """Columns for a stage's grid, here and on the pad: a divisor of `channels` from its square root to twice that,
    so that no row is left part-empty, else the near-square grid.

    >>> grid_columns(16), grid_columns(32), grid_columns(7)
    (4, 8, 3)
    """
    root = math.sqrt(channels)
    return next((n for n in range(math.ceil(root), math.floor(2 * root) + 1) if channels % n == 0), math.ceil(root))


def _grid_rows(stage: Stage) -> int:
    return math.ceil(stage.values.shape[0] / grid_columns(stage.values.shape[0]))


def _grid_shape(stage: Stage) -> tuple[int, int]:
    """The grid's size in values (rows, columns), with one value between tiles."""
    c, h, w = stage.values.shape
    return _grid_rows(stage) * (h + 1), grid_columns(c) * (w + 1)


def _text_width(title: str, size: float = 9) -> float:
    """The widest line of a title, in inches."""
    return max(text_width(line, size) for line in title.split("\n")) / 72  # points to inches


def _rows(widths: list[float]) -> list[list[int]]:
    """Panels (by index) filled into rows no wider than the page, in order."""
    rows: list[list[int]] = [[]]
    used = 0.0
    for k, width in enumerate(widths):
        need = width + (GAP if rows[-1] else 0)
        if rows[-1] and used + need > PAGE - 0.3:
            rows.append([])
            used, need = 0.0, width
        rows[-1].append(k)
        used += need
    return rows


def _layout(contents: list[tuple[float, float]], widths: list[float]) -> tuple[tuple[float, float], list[tuple]]:
    """The figure's size and each panel's box (in figure fractions): panels filled into rows, each row centred on
    the page, each panel's content (width, height in inches) centred in its width and hung under the row's titles."""
    rows = _rows(widths)
    heights = [max(contents[k][1] for k in row) + ROW_MARGINS for row in rows]
    size = (PAGE, sum(heights) + SUPTITLE)
    boxes, top = [], size[1] - SUPTITLE
    for row, height in zip(rows, heights):
        left = (PAGE - sum(widths[k] for k in row) - GAP * (len(row) - 1)) / 2
        for k in row:
            w, h = contents[k]
            boxes.append(((left + (widths[k] - w) / 2) / size[0], (top - TITLE_ROOM - h) / size[1], w / size[0],
                          h / size[1]))
            left += widths[k] + GAP
        top -= height
    return size, boxes


def _plot_input(ax: Axes, image: torch.Tensor, label: int | None, title: str) -> None:
    ax.imshow(image[0].numpy(), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if label is not None:
        ax.set_xlabel(f"label {label}", fontsize=9)


def _plot_bars(ax: Axes, stage: Stage, title: str, figure_height: float) -> None:
    values = stage.values.numpy()
    points = ax.get_position().height * figure_height * 72  # one line per unit, as thick as it fits
    ax.hlines(np.arange(len(values)), 0, values, colors=[POSITIVE if v > 0 else NEGATIVE for v in values],
              linewidth=points / len(values))  # one artist for all bars: 120 Rectangles take 0.3 s to make
    ax.axvline(0, color="black", lw=0.6)
    ax.set_ylim(len(values) - 0.5, -0.5)
    ax.set_yticks([])
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)


def _plot_probabilities(ax: Axes, view: NetworkView, title: str) -> None:
    p = view.probabilities.numpy()
    colours = [PREDICTED if k == view.predicted else OTHER for k in range(10)]
    ax.barh(np.arange(10), p, color=colours)
    ax.set_xlim(0, 1)
    ax.set_yticks(range(10), [str(k) for k in range(10)], fontsize=8)
    ax.invert_yaxis()
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(title, fontsize=9, color=PREDICTED)
