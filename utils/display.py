"""Drawing feature maps and filters: scaling for display (`normalize_maps`), one-image grids, filters.

A layer's maps are drawn as the tiles of ONE image with one `imshow`, not one subplot per channel: 64 channels
draw in a fraction of the time, and the whole grid shares one colour scale and one colorbar. The padding between
tiles has a neutral colour that is not in the colormap, channel numbers sit above the tiles, and dead channels
(never positive: all zeros after a ReLU) are outlined in red and labelled "dead".

The figures are `matplotlib.figure.Figure` objects made without `pyplot`: pyplot keeps no reference to them, so a
loop that draws hundreds of them leaks nothing, and nothing is shown twice. In a notebook, end the cell with the
call (or `display(fig)`): the figure shows once. In a script, `fig.savefig("maps.png")`. To draw into a figure of
your own (a pyplot window, a panel next to other plots), pass `ax=`, then `plt.show()` as usual.

>>> fig = plot_feature_maps(torch.rand(8, 16, 24, 24), sample=3)   # (N, C, H, W): sample 3, all 16 channels
>>> len(fig.axes), len(fig.axes[0].images)                          # one axes, one image
(1, 1)
"""

from __future__ import annotations

import functools
import io
import math
import operator
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib import colormaps, rcParams, ticker
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath
from torch import nn

__all__ = ["GridFigure", "GridLayout", "MODES", "normalize_maps", "plot_feature_maps", "plot_filters"]

MODES = ("layer", "channel", "symmetric")
SEQUENTIAL, DIVERGING = "viridis", "RdBu_r"  # default colormaps: values >= 0, signed values
DEAD_COLOUR, LABEL_COLOUR = "#d62728", "#222222"
PAD_CANDIDATES = ("#ffffff", "#9a9a9a", "#7ea6d6", "#e8d3a0")  # the one farthest from every colormap colour wins
MAX_WIDTH, MAX_HEIGHT, MAX_TILE = 9.0, 12.0, 1.3  # inches: the grid's size limits, the largest tile
TITLE_SIZE = 11  # points
MIN_TILE_PX = 20  # tiles smaller than this (5x5 filters, 4x4 maps) are enlarged by a whole factor (pixels repeated)


# --- Normalization -----------------------------------------------------------------------------------------------

def normalize_maps(maps, mode: str = "layer", clip: tuple[float, float] | None = None) -> torch.Tensor:
    """Feature maps scaled for display, in a new tensor: `maps` is never changed, and no NaN or inf comes out.

    `maps` is a tensor or array of shape (H, W), (C, H, W) or (N, C, H, W). Modes and what they return:

    - "layer": one scale per sample over all of its channels, `(x - min) / (max - min)`, in [0, 1]. For
      (N, C, H, W) every sample gets its own min and max; inside a sample the channels keep their relative
      strength, so a weak channel looks weak. (C, H, W) and (H, W) are one sample.
    - "channel": each (H, W) map on its own, `(x - min) / (max - min)`, in [0, 1]. Weak channels become visible;
      how strong they are compared with the others is lost.
    - "symmetric": one scale per sample like "layer", but `x / max|x|`, in [-1, 1]: 0 stays 0 and every sign is
      kept. For signed values (a convolution before its ReLU, filters), drawn with a diverging colormap.

    A map (or sample) with no variation, whose max - min is below 4 float epsilons of its largest magnitude (a
    dead channel of zeros, a constant one), becomes zeros in "layer" and "channel" mode instead of 0 / 0 = NaN.
    In "symmetric" mode only an all-zero sample has no scale; it stays zeros.

    `clip=(low, high)` first clips every group (the same groups as the scale: sample or map) at its low-th and
    high-th percentiles (0 <= low < high <= 100 and high > 1, linear interpolation as in `numpy.percentile`), so
    that a few extreme values do not squash all the others into one colour; then the mode scales the clipped
    values. (A `high` of 1 or less is refused: it is almost always a fraction meant as a percentile.)

    Returns float32 (float64 for float64 input), same shape, same device. Raises ValueError for another rank, an
    empty tensor, an unknown mode, a bad `clip`, or values that are NaN or infinite (it says where).

    >>> normalize_maps(torch.tensor([[0.0, 2.0], [4.0, 8.0]])).tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    >>> normalize_maps(torch.tensor([[-2.0, 1.0]]), "symmetric").tolist()
    [[-1.0, 0.5]]
    >>> normalize_maps(torch.zeros(3, 4, 4), "channel").abs().max().item()  # constant maps: zeros, not NaN
    0.0
    """
    x = _as_tensor(maps, "maps")
    if x.dim() not in (2, 3, 4):
        raise ValueError(f"normalize_maps wants maps of shape (H, W), (C, H, W) or (N, C, H, W); got shape "
                         f"{tuple(x.shape)}.")
    _check_mode(mode)
    _check_not_empty(x, "maps")
    values = _numpy(x)
    _check_finite(values, "maps")
    rows = x.shape[0] if x.dim() == 4 else 1
    if mode == "channel":
        rows = math.prod(x.shape[:-2])
    scaled = _scale(values.reshape(rows, -1), mode, clip, _epsilon(x.dtype)).reshape(values.shape)
    return torch.from_numpy(scaled).to(x.device)


# The arithmetic runs in NumPy on the CPU: display-sized maps are small, and torch's thread pool costs more
# than the work for them (tens of milliseconds on a busy 2-core machine, for 64 maps of 32x32).

def _numpy(x: torch.Tensor) -> np.ndarray:
    """x on the CPU as a NumPy array of float32 (float64 kept); a view of x where possible, never written to."""
    x = x.detach().cpu()
    return x.numpy() if x.dtype in (torch.float32, torch.float64) else x.float().numpy()


def _epsilon(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps if dtype.is_floating_point else torch.finfo(torch.float32).eps


def _scale(groups: np.ndarray, mode: str, clip, eps: float) -> np.ndarray:
    """Each row of `groups` clipped (if asked), then scaled: "symmetric" to [-1, 1], the others to [0, 1]."""
    if clip is not None:
        low, high = _percentiles(groups, clip)
        groups = np.clip(groups, low, high)
    magnitude = np.abs(groups).max(axis=1, keepdims=True)
    y = groups / np.where(magnitude > 0, magnitude, 1)  # first to [-1, 1]: no overflow in max - min below
    if mode == "symmetric":
        return np.clip(y, -1, 1).astype(groups.dtype, copy=False)
    low, high = y.min(axis=1, keepdims=True), y.max(axis=1, keepdims=True)
    flat = (high - low) <= 4 * eps  # max|y| is 1 (or the row is all zeros): a tolerance relative to the row
    scaled = np.where(flat, 0, (y - low) / np.where(flat, 1, high - low))
    return np.clip(scaled, 0, 1).astype(groups.dtype, copy=False)


def _percentiles(groups: np.ndarray, clip) -> tuple[np.ndarray, np.ndarray]:
    """The low-th and high-th percentiles of every row, as columns (numpy's default, linear interpolation)."""
    low, high = np.percentile(groups, _check_clip(clip), axis=1, keepdims=True)
    return low.astype(groups.dtype), high.astype(groups.dtype)


# --- Input checks ------------------------------------------------------------------------------------------------

def _as_tensor(maps, name: str) -> torch.Tensor:
    """maps as a detached tensor (numpy arrays and nested lists too); booleans become 0.0 / 1.0."""
    if isinstance(maps, Mapping):
        keys = [repr(k) for k in list(maps)[:4]]
        example = f", e.g. {name}[{keys[0]}]" if keys else ""
        raise TypeError(f"{name} is a mapping ({', '.join(keys)}): pass one layer's tensor{example}.")
    if isinstance(maps, torch.Tensor):
        t = maps.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(maps))
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a tensor or an array of numbers, not {type(maps).__name__}.") from error
    if t.is_complex():
        raise ValueError(f"{name} is complex; draw its magnitude, {name}.abs(), or its real part.")
    if t.dtype == torch.bool:
        t = t.float()
    return t


def _check_not_empty(x: torch.Tensor | np.ndarray, name: str) -> None:
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): there is nothing to draw.")


def _check_finite(x: np.ndarray, name: str) -> None:
    finite = np.isfinite(x)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} has {int((~finite).sum())} value(s) that are NaN or infinite (the first at index {first}), "
            "and such values have no colour. A NaN usually means the training diverged (look at the loss); if you only "
            f"want a picture, torch.nan_to_num({name}) replaces them.")


def _check_mode(mode) -> None:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a scaling mode: use 'layer' (one scale per sample), 'channel' (one "
                         "scale per map) or 'symmetric' (signed values, 0 stays 0).")


def _check_clip(clip) -> tuple[float, float]:
    example = "clip=(1, 99) clips at the 1st and 99th percentiles"
    try:
        low, high = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip={clip!r} must be a pair of percentiles (low, high); {example}.") from None
    if not (0 <= low < high <= 100):
        raise ValueError(f"clip={clip!r}: need 0 <= low < high <= 100; {example}.")
    if high <= 1:  # clipping at the 1st percentile or lower would paint almost everything in one colour
        raise ValueError(f"clip={clip!r} looks like fractions: percentiles go up to 100, they are not fractions; "
                         f"{example}.")
    return low, high


def _index(value, name: str) -> int:
    """value as a Python int (numpy and 0-d tensor integers too); bools and floats are refused."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a bool.")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} ({value!r}).") from None


def _pick_sample(x: torch.Tensor, sample) -> tuple[torch.Tensor, int | None]:
    """The (C, H, W) maps of one sample, and its index (None for input that was one sample already)."""
    shape = tuple(x.shape)
    if x.dim() == 4:
        index = _index(sample, "sample")
        count = shape[0]
        if not -count <= index < count:
            raise IndexError(f"sample={index} is past the batch: the maps hold {count} sample(s), numbered 0 to "
                             f"{count - 1} (shape {shape} is (N, C, H, W)).")
        return x[index], index % count
    if x.dim() == 3:
        if _index(sample, "sample") not in (0, -1):
            raise IndexError(f"sample={sample}: the maps have shape {shape}, (C, H, W), which is one sample; pass "
                             "the whole batch (N, C, H, W) to choose another sample.")
        return x, None
    if x.dim() == 2:
        hint = "it looks like one map: pass maps[None] to draw it as a single channel"
    elif x.dim() < 2:
        hint = "a fully connected layer's output has no maps to draw"
    else:
        hint = "select the dimensions to draw first"
    raise ValueError(f"plot_feature_maps wants maps of shape (C, H, W) or (N, C, H, W); got shape {shape}: {hint}.")


def _pick_channels(channels, count: int) -> list[int]:
    """The channel numbers `channels` selects (None: all; an int; a slice; a range, list or tensor of ints or bools)."""
    everything = list(range(count))
    valid = f"the layer has {count} channel(s), numbered 0 to {count - 1}"
    if channels is None:
        return everything
    if isinstance(channels, slice):
        chosen = everything[channels]
    elif isinstance(channels, (int, np.integer)) or (isinstance(channels, torch.Tensor) and channels.dim() == 0):
        chosen = [_index(channels, "channels")]
    else:
        if isinstance(channels, (str, bytes)) or not isinstance(channels, (Iterable, Sequence)):
            raise TypeError(f"channels={channels!r}: give None, an int, a slice, a range or a list of ints.")
        items = list(channels.tolist() if isinstance(channels, (torch.Tensor, np.ndarray)) else channels)
        if items and all(isinstance(v, (bool, np.bool_)) for v in items):
            if len(items) != count:
                raise ValueError(f"channels is a mask of {len(items)} booleans, but {valid}.")
            items = [i for i, keep in enumerate(items) if keep]
        chosen = [_index(v, "each channel") for v in items]
    if not chosen:
        raise ValueError(f"channels={channels!r} selects no channel; {valid} (e.g. channels=range(8)).")
    bad = [c for c in chosen if not -count <= c < count]
    if bad:
        raise IndexError(f"channel {bad[0]} does not exist: {valid}.")
    return [c % count for c in chosen]


# --- The grid ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridLayout:
    """Where the tiles sit in a grid image, in image pixels: tile k is at row k // ncols, column k % ncols.

    Each tile is `height` x `width` pixels (the map enlarged `scale` times, every value a `scale` x `scale`
    block); `pad` pixels separate neighbouring tiles, and a `band` of pixels above each tile holds its label.

    >>> layout = GridLayout(count=3, ncols=2, height=4, width=4, scale=1, pad=1, band=2)
    >>> layout.shape, layout.box(2)
    ((13, 9), (slice(9, 13, None), slice(0, 4, None)))
    """

    count: int
    ncols: int
    height: int
    width: int
    scale: int
    pad: int
    band: int

    @property
    def nrows(self) -> int:
        return math.ceil(self.count / self.ncols)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nrows * (self.band + self.height + self.pad) - self.pad,
                self.ncols * (self.width + self.pad) - self.pad)

    def box(self, k: int) -> tuple[slice, slice]:
        """Row and column slices of tile k in the grid image."""
        row, col = divmod(k, self.ncols)
        top = self.band + row * (self.band + self.height + self.pad)
        left = col * (self.width + self.pad)
        return slice(top, top + self.height), slice(left, left + self.width)

    def tile(self, image: np.ndarray, k: int) -> np.ndarray:
        """The values of tile k, at their original size (one value per `scale` x `scale` block)."""
        rows, cols = self.box(k)
        return np.asarray(image)[rows, cols][:: self.scale, :: self.scale]


class GridFigure(Figure):
    """A matplotlib Figure that shows itself in a notebook (once), and remembers what its grid shows.

    `layout` (a GridLayout), `channels` (the channel of each tile, in order) and `dead` (the dead ones among them)
    describe the grid; `tile_values(channel)` reads back the values drawn for one channel.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layout: GridLayout | None = None
        self.channels: list[int] = []
        self.dead: list[int] = []

    def tile_values(self, channel: int) -> np.ndarray:
        """The values drawn for `channel` (after scaling), read back from the image."""
        if self.layout is None or channel not in self.channels:
            raise KeyError(f"channel {channel} is not in this grid; it shows channels {self.channels}.")
        image = self.axes[0].images[0].get_array()
        return self.layout.tile(np.ma.getdata(image), self.channels.index(channel))

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def _grid_image(tiles: np.ndarray, layout: GridLayout) -> np.ndarray:
    """The tiles (K, h, w) placed in one float image; NaN everywhere else (drawn in the padding colour)."""
    image = np.full(layout.shape, np.nan, dtype=np.float32)
    for k, tile in enumerate(tiles):
        rows, cols = layout.box(k)
        image[rows, cols] = np.kron(tile, np.ones((layout.scale, layout.scale), dtype=np.float32))
    return image


def _default_ncols(count: int) -> int:
    return count if count <= 8 else max(8, math.ceil(math.sqrt(count)))


def _pad_colour(cmap: Colormap) -> tuple[float, float, float]:
    """The candidate colour farthest from every colour of the colormap, so padding never looks like data."""
    colours = np.asarray(cmap(np.linspace(0, 1, 64)))[:, :3]
    distance = [np.linalg.norm(colours - np.asarray(to_rgb(c)), axis=1).min() for c in PAD_CANDIDATES]
    return to_rgb(PAD_CANDIDATES[int(np.argmax(distance))])


def _colormap(cmap, signed: bool, pad_color) -> Colormap:
    base = colormaps[cmap or (DIVERGING if signed else SEQUENTIAL)] if not isinstance(cmap, Colormap) else cmap
    return base.with_extremes(bad=pad_color if pad_color is not None else _pad_colour(base))


@dataclass
class _Style:
    """What to draw besides the image: labels, marks, title, colour scale and colorbar."""

    labels: list[str] | None
    dead: list[int]  # positions (tile indices) to outline and label as dead
    cmap: Colormap
    vmin: float
    vmax: float
    title: str | None
    colorbar: bool
    colorbar_label: str = ""
    colorbar_ticks: tuple[list[float], list[str]] | None = None  # positions and labels, when values were rescaled
    extend: str = "neither"
    row_labels: tuple[list[str], str] | None = None  # (labels, axis title) for rows of a table layout
    col_labels: tuple[list[str], str] | None = None


def _draw(tiles: np.ndarray, ncols: int, style: _Style, ax: Axes | None) -> Figure:
    """Lay the tiles out, size the figure to the grid (unless drawing into `ax`), draw everything; the Figure."""
    count, h, w = tiles.shape
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    scale = max(1, math.ceil(MIN_TILE_PX / max(h, w)))
    given = ax is not None
    if given:
        box = ax.get_position()
        tile_in = min(box.width * ax.figure.get_figwidth() / ncols, box.height * ax.figure.get_figheight() / nrows)
        pixel_in = tile_in / (max(h, w) * scale)
    else:  # every value gets a whole number of screen pixels, so that all of them are drawn the same size
        dpi = float(rcParams["figure.dpi"])
        tile_in = min(MAX_TILE, MAX_WIDTH / ncols, MAX_HEIGHT / nrows)  # the tile's longer side, in inches
        pixel_in = max(1, math.floor(tile_in * dpi / (max(h, w) * scale))) / dpi
        tile_in = pixel_in * max(h, w) * scale
    fontsize = float(np.clip(tile_in * 8, 6.5, 9))
    band = math.ceil(fontsize * 1.45 / 72 / pixel_in) if style.labels else 0
    layout = GridLayout(count, ncols, h * scale, w * scale, scale, max(1, round(0.06 / pixel_in)), band)
    image = _grid_image(tiles, layout)

    figure, ax = (ax.figure, ax) if given else _new_figure(layout, pixel_in, style)
    shown = ax.imshow(image, cmap=style.cmap, vmin=style.vmin, vmax=style.vmax, interpolation="nearest",
                      interpolation_stage="rgba")  # colours first, at the grid's size: then only pixels are copied
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    _annotate(ax, layout, style, fontsize, pixel_in)
    if style.colorbar:
        _add_colorbar(figure, ax, shown, style, own_axes=not given)
    if given and style.title:
        ax.set_title(style.title)
    if not given:
        figure.layout = layout
    return figure


def _new_figure(layout: GridLayout, pixel_in: float, style: _Style) -> tuple[GridFigure, Axes]:
    """A GridFigure sized to the grid, with one axes and room for the title, row/column labels and colorbar."""
    dpi = float(rcParams["figure.dpi"])
    grid_h, grid_w = layout.shape[0] * pixel_in, layout.shape[1] * pixel_in
    left = 0.55 if style.row_labels else 0.05
    right = 0.95 if style.colorbar else 0.05
    top = 0.1 + (0.3 if style.col_labels else 0)
    title = ""
    if style.title:  # wrapped here, by an estimate of the text's width (matplotlib's wrap=True is slow)
        characters = max(20, int((grid_w + left + right) * 72 / (TITLE_SIZE * 0.56)))
        title = "\n".join(textwrap.fill(line, characters) for line in style.title.split("\n"))
        top += 0.12 + 0.22 * (title.count("\n") + 1)
    left, right, top, bottom = (round(m * dpi) / dpi for m in (left, right, top, 0.05))  # whole pixels
    size = (grid_w + left + right, grid_h + top + bottom)
    figure = GridFigure(figsize=size, dpi=dpi)
    ax = figure.add_axes((left / size[0], bottom / size[1], grid_w / size[0], grid_h / size[1]))
    if title:
        figure.text(0.5, 1 - 0.08 / size[1], title, ha="center", va="top", fontsize=TITLE_SIZE)
    return figure, ax


def _annotate(ax: Axes, layout: GridLayout, style: _Style, fontsize: float, pixel_in: float) -> None:
    """Labels above the tiles, red outlines on dead ones, row and column labels for a table layout."""
    dead = set(style.dead)
    if style.labels:
        plain, marked = [], []
        for k in range(layout.count):
            rows, cols = layout.box(k)
            spot = (cols.start - 0.5, rows.start - 0.5 - 0.28 * layout.band)
            (marked if k in dead else plain).append((*spot, style.labels[k] + (" dead" if k in dead else "")))
        units = 1 / 72 / pixel_in  # image pixels per point
        for items, colour, bold in ((plain, LABEL_COLOUR, False), (marked, DEAD_COLOUR, True)):
            if items:
                ax.add_artist(_text_patch(items, fontsize * units, colour, bold))
    for k in sorted(dead):
        rows, cols = layout.box(k)
        ax.add_artist(Rectangle((cols.start - 0.5, rows.start - 0.5), layout.width, layout.height, fill=False,
                               edgecolor=DEAD_COLOUR, linewidth=1.5))
    if style.row_labels:
        names, title = style.row_labels
        centres = [layout.box(r * layout.ncols)[0].start + layout.height / 2 - 0.5 for r in range(layout.nrows)]
        ax.set_yticks(centres, names, fontsize=7)
        ax.set_ylabel(title, fontsize=9)
    if style.col_labels:
        names, title = style.col_labels
        centres = [layout.box(c)[1].start + layout.width / 2 - 0.5 for c in range(layout.ncols)]
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_xticks(centres, names, fontsize=7)
        ax.set_xlabel(title, fontsize=9)
    ax.tick_params(length=0, pad=2)


# Tile labels are drawn as ONE filled path per colour, built from glyph outlines cached once per character:
# 64 separate Text artists would cost more to lay out and draw than the whole image.
_GLYPH_SIZE = 100.0  # points; outlines are computed at this size and scaled


@functools.lru_cache(maxsize=256)
def _glyph(char: str, bold: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """The outline of one character (vertices in points at _GLYPH_SIZE, path codes) and its advance width."""
    prop = FontProperties(weight="bold" if bold else "normal", size=_GLYPH_SIZE)
    font = get_font(findfont(prop))
    font.set_size(_GLYPH_SIZE, 72)
    advance = font.load_char(ord(char)).linearHoriAdvance / 65536
    if char.isspace():
        return np.zeros((0, 2)), np.zeros(0, dtype=MplPath.code_type), advance
    path = TextPath((0, 0), char, prop=prop)
    return np.asarray(path.vertices, dtype=float), np.asarray(path.codes), advance


def _text_patch(items: list[tuple[float, float, str]], size: float, colour: str, bold: bool) -> PathPatch:
    """Texts (x, baseline y, string) in an image's data coordinates (y down), `size` image pixels per em."""
    factor = size / _GLYPH_SIZE
    vertices, codes = [], []
    for x, y, text in items:
        cursor = 0.0
        for char in text:
            outline, kinds, advance = _glyph(char, bold)
            if len(outline):
                vertices.append(np.column_stack([x + (outline[:, 0] + cursor) * factor, y - outline[:, 1] * factor]))
                codes.append(kinds)
            cursor += advance
    if not vertices:
        return PathPatch(MplPath(np.zeros((1, 2))), visible=False)
    return PathPatch(MplPath(np.concatenate(vertices), np.concatenate(codes)), facecolor=colour, edgecolor="none",
                     linewidth=0)


def _add_colorbar(figure: Figure, ax: Axes, shown, style: _Style, own_axes: bool) -> None:
    if own_axes:  # a figure we sized: the colorbar goes in the margin kept for it
        box = ax.get_position()
        width, height = figure.get_size_inches()
        cax = figure.add_axes((box.x1 + 0.12 / width, box.y0, 0.12 / width, box.height))
        bar = figure.colorbar(shown, cax=cax, extend=style.extend)
    else:
        bar = figure.colorbar(shown, ax=ax, extend=style.extend, fraction=0.05, pad=0.02)
    if style.colorbar_ticks:
        positions, names = style.colorbar_ticks
        bar.set_ticks(positions, labels=names)
    bar.ax.tick_params(labelsize=8)
    bar.set_label(style.colorbar_label, fontsize=8)


# --- Feature maps ------------------------------------------------------------------------------------------------

def plot_feature_maps(maps, *, sample: int = 0, channels=None, mode: str | None = "auto",
                      clip: tuple[float, float] | None = None, cmap: str | Colormap | None = None,
                      ncols: int | None = None, colorbar: bool = False, title: str | None = None,
                      labels: bool = True, ax: Axes | None = None, pad_color=None) -> Figure:
    """Draw one sample's feature maps as a grid of tiles in ONE image; returns the Figure (never calls show).

    - `maps`: (C, H, W), or (N, C, H, W) with `sample` choosing the sample (negative counts from the end).
    - `channels`: which channels, in order: None (all), an int, a slice, a range, a list, or a boolean mask.
    - `mode`: how values become colours, see `normalize_maps`: "layer", "channel" or "symmetric"; "auto" (the
      default) is "symmetric" when the sample has negative values, else "layer"; None draws the raw values. The
      scale is computed over ALL the sample's channels, also those not shown, so a channel looks the same
      whichever others you select. `clip=(low, high)` clips at percentiles first.
    - Colours: symmetric scaling (and raw signed values) use a diverging colormap centred on zero (blue below,
      red above, `vmin == -vmax`); the others `viridis`. `cmap` overrides it (e.g. "gray").
    - `colorbar=True` adds a colour scale labelled in the layer's own units when one scale covers the grid
      ("layer", "symmetric", raw); in "channel" mode every map has its own scale, so it reads "min" to "max".
    - Each tile is labelled with its channel number (`labels=False` drops them); a dead channel (never positive
      in this sample, so all zeros after a ReLU: the definition `channel_stats` uses) is outlined in red and
      labelled "dead". The figure's size follows the grid (`ncols` columns,
      by default 8, more for many channels), and every value gets a whole number of screen pixels. The padding
      colour is picked to differ from every colour of the colormap (`pad_color` overrides it). `ax=` draws into
      an existing axes instead, and returns that axes' figure.
    - The returned GridFigure knows its grid: `fig.channels`, `fig.dead`, `fig.layout`, `fig.tile_values(c)`.

    Raises ValueError for another shape, an empty or invalid selection, NaN or infinite values in the sample;
    IndexError for a sample past the batch or a channel that does not exist.

    >>> maps = torch.relu(torch.randn(4, 32, 12, 12))
    >>> fig = plot_feature_maps(maps, sample=1, channels=range(8), colorbar=True)
    >>> fig.channels, [type(a).__name__ for a in fig.axes]
    ([0, 1, 2, 3, 4, 5, 6, 7], ['Axes', 'Axes'])
    """
    x = _as_tensor(maps, "maps")
    picked, index = _pick_sample(x, sample)
    _check_not_empty(picked, "maps")
    chosen = _pick_channels(channels, picked.shape[0])
    one = _numpy(picked)
    _check_finite(one, "maps" if index is None else f"maps[{index}]")
    if mode == "auto":
        mode = "symmetric" if bool((one < 0).any()) else "layer"
    if mode is not None:
        _check_mode(mode)
    values, vmin, vmax, bar_label, bar_ticks = _values_for_display(one, mode, clip, _epsilon(x.dtype))
    tiles = values[chosen].astype(np.float32)
    dead = [k for k, c in enumerate(chosen) if not (one[c] > 0).any()]  # as in channel_stats: never positive
    style = _Style(labels=[str(c) for c in chosen] if labels else None, dead=dead,
                   cmap=_colormap(cmap, vmin < 0, pad_color), vmin=vmin, vmax=vmax,
                   title=_maps_title(title, one.shape, index, chosen, mode, clip), colorbar=colorbar,
                   colorbar_label=bar_label, colorbar_ticks=bar_ticks, extend=_extend(clip))
    figure = _draw(tiles, ncols or _default_ncols(len(chosen)), style, ax)
    if isinstance(figure, GridFigure):
        figure.channels = list(chosen)
        figure.dead = [chosen[k] for k in dead]
    return figure


def _values_for_display(one: np.ndarray, mode: str | None, clip, eps: float):
    """The scaled values of every channel, the colour limits, and the colorbar's label and ticks (raw units)."""
    whole = one.reshape(1, -1)
    if clip is not None:
        low, high = _percentiles(whole, clip)
        whole = np.clip(whole, low, high)
    lo, hi = float(whole.min()), float(whole.max())
    if mode is None:
        if lo < 0:
            lo, hi = -max(-lo, hi), max(-lo, hi)
        return whole.reshape(one.shape), lo, hi if hi > lo else lo + 1, "value", None
    groups = one.reshape(one.shape[0], -1) if mode == "channel" else one.reshape(1, -1)
    values = _scale(groups, mode, clip, eps).reshape(one.shape)
    if mode == "channel":
        return values, 0.0, 1.0, "each channel on its own scale", ([0.0, 1.0], ["min", "max"])
    if mode == "symmetric":
        m = max(-lo, hi)
        return values, -1.0, 1.0, "value", _raw_ticks(-m, m, -1.0, 1.0)
    return values, 0.0, 1.0, "value", _raw_ticks(lo, hi, 0.0, 1.0)


def _extend(clip) -> str:
    """Which ends of the colorbar get an arrow: those where clipping cut values off."""
    if clip is None:
        return "neither"
    low, high = _check_clip(clip)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((low > 0, high < 100), "neither")


def _raw_ticks(lo: float, hi: float, start: float, stop: float) -> tuple[list[float], list[str]] | None:
    """Colorbar ticks at round raw values: positions on the scaled axis [start, stop] and their labels."""
    if not hi > lo:
        return [start], [f"{lo:.3g}"]
    values = [v for v in ticker.MaxNLocator(5).tick_values(lo, hi) if lo - 1e-12 <= v <= hi + 1e-12]
    positions = [start + (v - lo) / (hi - lo) * (stop - start) for v in values]
    return positions, [f"{v:.3g}" for v in values]


def _maps_title(title: str | None, shape, index: int | None, chosen: list[int], mode: str | None, clip) -> str:
    if title is not None:
        return title
    count, h, w = shape
    if len(chosen) == count and chosen == list(range(count)):
        which = f"all {count} channels"
    elif chosen == list(range(chosen[0], chosen[0] + len(chosen))) and len(chosen) > 1:
        which = f"channels {chosen[0]}-{chosen[-1]} of {count}"
    else:
        which = f"{len(chosen)} of {count} channels"
    scale = {"layer": "one scale for the layer", "channel": "each channel scaled alone",
             "symmetric": "symmetric scale, 0 in the middle", None: "raw values"}[mode]
    if clip is not None:
        scale += f", clipped at percentiles {clip[0]:g}-{clip[1]:g}"
    sample = "" if index is None else f"sample {index}: "
    return f"Feature maps, {sample}{which} ({h}x{w}), {scale}"


# --- Filters -----------------------------------------------------------------------------------------------------

def plot_filters(weights_or_conv, *, in_channel: int | None = None, ncols: int | None = None,
                 cmap: str | Colormap = DIVERGING, colorbar: bool = True, title: str | None = None,
                 labels: bool = True, ax: Axes | None = None, pad_color=None) -> Figure:
    """Draw a convolution's filters as one image, on one colour scale centred on 0 (`vmin == -vmax`).

    `weights_or_conv` is an `nn.Conv2d` or its weight tensor, shape (out_channels, in_channels, kh, kw). Every
    weight shares one scale, so strong and weak filters can be compared; the colorbar is in weight units.

    - in_channels == 1 (a first layer on grey images): one tile per filter, labelled with its output channel.
    - `in_channel=j`: the slice of every filter that looks at input channel j, one tile per filter.
    - in_channels > 1 and `in_channel=None`: all of them as a table, one row per filter (output channel) and one
      column per input channel.

    An all-zero filter is outlined in red and labelled "dead". Raises ValueError for other shapes or NaN/inf
    weights, IndexError for an input channel that does not exist.

    >>> fig = plot_filters(nn.Conv2d(1, 16, kernel_size=5))
    >>> fig.layout.count, fig.axes[0].images[0].get_clim()[0] == -fig.axes[0].images[0].get_clim()[1]
    (16, True)
    """
    weights = _filter_weights(weights_or_conv)
    out_channels, in_channels = weights.shape[:2]
    if in_channel is None and in_channels == 1:
        in_channel = 0
    if in_channel is not None:
        j = _index(in_channel, "in_channel")
        if not -in_channels <= j < in_channels:
            raise IndexError(f"in_channel={j} does not exist: the filters have {in_channels} input channel(s), "
                             f"numbered 0 to {in_channels - 1}.")
        j %= in_channels
        tiles, order = weights[:, j], list(range(out_channels))
        columns = ncols or _default_ncols(out_channels)
        row_labels = col_labels = None
        tile_labels = [str(o) for o in order] if labels else None
        dead = [o for o in order if not tiles[o].any()]
    else:
        tiles = weights.reshape(-1, *weights.shape[2:])
        columns = in_channels
        tile_labels = None
        row_labels = ([str(o) for o in range(out_channels)], "output channel (filter)") if labels else None
        col_labels = ([str(i) for i in range(in_channels)], "input channel") if labels else None
        dead = [k for k in range(len(tiles)) if not tiles[k].any()]
    magnitude = float(np.abs(weights).max()) or 1.0
    kh, kw = weights.shape[2:]
    where = "" if in_channels == 1 else (f", input channel {in_channel % in_channels}" if in_channel is not None
                                         else ", every input channel")
    style = _Style(labels=tile_labels, dead=dead, cmap=_colormap(cmap, True, pad_color), vmin=-magnitude,
                   vmax=magnitude, colorbar=colorbar, colorbar_label="weight",
                   title=title if title is not None else f"{out_channels} filters of {kh}x{kw}{where}",
                   row_labels=row_labels, col_labels=col_labels)
    figure = _draw(tiles.astype(np.float32), columns, style, ax)
    if isinstance(figure, GridFigure):
        figure.channels = list(range(len(tiles)))
        figure.dead = dead
    return figure


def _filter_weights(weights_or_conv) -> np.ndarray:
    if isinstance(weights_or_conv, nn.Module):
        if not isinstance(weights_or_conv, nn.Conv2d):
            raise TypeError(f"{type(weights_or_conv).__name__} has no 2-D filters: pass an nn.Conv2d (e.g. "
                            "model.conv1) or a weight tensor of shape (out_channels, in_channels, kh, kw).")
        weights_or_conv = weights_or_conv.weight
    weights = _as_tensor(weights_or_conv, "weights")
    if weights.dim() != 4:
        raise ValueError(f"plot_filters wants a Conv2d or weights of shape (out_channels, in_channels, kh, kw); "
                         f"got shape {tuple(weights.shape)}.")
    _check_not_empty(weights, "weights")
    values = _numpy(weights)
    _check_finite(values, "weights")
    return values
