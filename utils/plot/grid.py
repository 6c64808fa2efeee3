"""The grid figure every plot in the course draws: tiles laid out in ONE image, sized to the grid, with labels,
dead-channel outlines, a title and a colorbar. One imshow for the whole grid keeps 64 channels fast, and tile labels
are glyph outlines (one filled path per colour, `text_patch`) rather than one Text artist per label.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps, rcParams
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.image import AxesImage
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath

__all__ = [
    "DEAD_COLOUR", "DIVERGING", "LABEL_COLOUR", "SEQUENTIAL", "colormap_with_pad", "default_ncols", "draw_grid",
    "text_patch", "text_width", "GridFigure", "GridLayout", "GridStyle",
]

SEQUENTIAL, DIVERGING = "viridis", "RdBu_r"  # default colormaps: values >= 0, signed values
DEAD_COLOUR, LABEL_COLOUR = "#d62728", "#222222"
PAD_CANDIDATES = ("#ffffff", "#9a9a9a", "#7ea6d6", "#e8d3a0")  # the one farthest from every colormap colour wins
MAX_WIDTH, MAX_HEIGHT, MAX_TILE = 9.0, 12.0, 1.3  # inches: the grid's size limits, the largest tile
TITLE_SIZE = 11  # points
MIN_TILE_PX = 20  # tiles smaller than this (5x5 filters, 4x4 maps) are enlarged by a whole factor (pixels repeated)


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

    `layout` (a GridLayout), `channels` (the channel of each tile, in order), `silent` (feature maps with no positive
    value in this sample) and `dead` (all-zero filters) describe the grid; `tile_values(channel)` reads back the
    values drawn for one channel.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.layout: GridLayout | None = None
        self.channels: list[int] = []
        self.dead: list[int] = []
        self.silent: list[int] = []

    def tile_values(self, channel: int) -> np.ndarray:
        """The values drawn for `channel` (after scaling), read back from the image."""
        if self.layout is None or channel not in self.channels:
            raise KeyError(f"channel {channel} is not in this grid; it shows channels {self.channels}.")
        shown = self.axes[0].images[0].get_array()
        assert shown is not None  # the grid's image always holds data
        image = np.ma.getdata(shown)
        return self.layout.tile(np.asarray(image), self.channels.index(channel))

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


def default_ncols(count: int) -> int:
    """Columns for `count` tiles: one row up to 8, then a near-square grid at least 8 wide.

    >>> default_ncols(6), default_ncols(64), default_ncols(120)
    (6, 8, 11)
    """
    return count if count <= 8 else max(8, math.ceil(math.sqrt(count)))


def _pad_colour(cmap: Colormap) -> tuple[float, float, float]:
    """The candidate colour farthest from every colour of the colormap, so padding never looks like data."""
    colours = np.asarray(cmap(np.linspace(0, 1, 64)))[:, :3]
    distance = [np.linalg.norm(colours - np.asarray(to_rgb(c)), axis=1).min() for c in PAD_CANDIDATES]
    return to_rgb(PAD_CANDIDATES[int(np.argmax(distance))])


def colormap_with_pad(cmap: str | Colormap | None, signed: bool, pad_color: str | None = None) -> Colormap:
    """The colormap (a default one for signed or non-negative data when None) whose 'bad' colour marks padding."""
    base = colormaps[cmap or (DIVERGING if signed else SEQUENTIAL)] if not isinstance(cmap, Colormap) else cmap
    return base.with_extremes(bad=pad_color if pad_color is not None else _pad_colour(base))


@dataclass
class GridStyle:
    """What to draw besides the image: labels, marks, title, colour scale and colorbar."""

    labels: list[str] | None
    dead: list[int]  # positions (tile indices) to outline and label with `mark`
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
    mark: str = "dead"  # the word after an outlined tile's number: "silent" for one sample's maps, "dead" for filters


def draw_grid(tiles: np.ndarray, ncols: int, style: GridStyle, ax: Axes | None) -> Figure:
    """Lay the tiles out, size the figure to the grid (unless drawing into `ax`), draw everything; the Figure."""
    count, h, w = tiles.shape
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    scale = max(1, math.ceil(MIN_TILE_PX / max(h, w)))
    given = ax is not None
    if ax is not None:
        box, (fig_w, fig_h) = ax.get_position(), ax.figure.get_size_inches()  # type: ignore[union-attr]
        tile_in = min(box.width * fig_w / ncols, box.height * fig_h / nrows)
        pixel_in = tile_in / (max(h, w) * scale)
    else:  # every value gets a whole number of screen pixels, so that all of them are drawn the same size
        dpi = float(rcParams["figure.dpi"])
        tile_in = min(MAX_TILE, MAX_WIDTH / ncols, MAX_HEIGHT / nrows)  # the tile's longer side, in inches
        pixel_in = max(1, math.floor(tile_in * dpi / (max(h, w) * scale))) / dpi
        tile_in = pixel_in * max(h, w) * scale
    fontsize = float(np.clip(tile_in * 8, 8, 9))  # points: tile numbers stay readable on a 900 px page
    band = math.ceil(fontsize * 1.45 / 72 / pixel_in) if style.labels else 0
    layout = GridLayout(count, ncols, h * scale, w * scale, scale, max(1, round(0.06 / pixel_in)), band)
    image = _grid_image(tiles, layout)

    figure: Figure
    if ax is not None:
        figure = ax.figure  # type: ignore[assignment]  # a SubFigure draws the same
    else:
        figure, ax = _new_figure(layout, pixel_in, style)
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
    if isinstance(figure, GridFigure) and not given:
        figure.layout = layout
    return figure


def _new_figure(layout: GridLayout, pixel_in: float, style: GridStyle) -> tuple[GridFigure, Axes]:
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


def _annotate(ax: Axes, layout: GridLayout, style: GridStyle, fontsize: float, pixel_in: float) -> None:
    """Labels above the tiles, red outlines on the marked ones (silent maps, dead filters), row/column labels."""
    dead = set(style.dead)
    if style.labels:
        plain: list[tuple[float, float, str]] = []
        marked: list[tuple[float, float, str]] = []
        units = 1 / 72 / pixel_in  # image pixels per point
        for k in range(layout.count):
            rows, cols = layout.box(k)
            spot = (cols.start - 0.5, rows.start - 0.5 - 0.28 * layout.band)
            label = style.labels[k] + (f" {style.mark}" if k in dead else "")
            if k in dead and text_width(label, fontsize * units, bold=True) > layout.width:
                label = style.labels[k]  # the word would run over the next tile's label: the red outline says it
            (marked if k in dead else plain).append((*spot, label))
        for items, colour, bold in ((plain, LABEL_COLOUR, False), (marked, DEAD_COLOUR, True)):
            if items:
                ax.add_artist(text_patch(items, fontsize * units, colour, bold))
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


def _add_colorbar(figure: Figure, ax: Axes, shown: AxesImage, style: GridStyle, own_axes: bool) -> None:
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


_GLYPH_SIZE = 100.0  # points; outlines are computed at this size and scaled


@functools.lru_cache(maxsize=512)
def _glyph(char: str, font_file: str) -> tuple[np.ndarray, np.ndarray, float]:
    """The outline of one character in one font file (vertices in points at _GLYPH_SIZE, codes), and its advance."""
    font = get_font(font_file)
    font.set_size(_GLYPH_SIZE, 72)
    advance = font.load_char(ord(char)).linearHoriAdvance / 65536
    if char.isspace():
        return np.zeros((0, 2)), np.zeros(0, dtype=MplPath.code_type), advance
    path = TextPath((0, 0), char, prop=FontProperties(fname=font_file, size=_GLYPH_SIZE))
    return np.asarray(path.vertices, dtype=float), np.asarray(path.codes), advance


def text_width(text: str, size: float, bold: bool = False) -> float:
    """How wide `text` is drawn by `text_patch` at `size` units per em, in the same units.

    >>> text_width("10", 10.0) > text_width("1", 10.0) > 0
    True
    """
    font_file = findfont(FontProperties(weight="bold" if bold else "normal"))
    return sum(_glyph(char, font_file)[2] for char in text) * size / _GLYPH_SIZE


def text_patch(items: list[tuple[float, float, str]], size: float, colour: str, bold: bool = False) -> PathPatch:
    """Texts (x, baseline y, string) in an image's data coordinates (y down), `size` image pixels per em, as one patch.

    The font is matplotlib's current default (rcParams), looked up at each call.

    >>> patch = text_patch([(0.0, 10.0, "ch 0"), (30.0, 10.0, "ch 1")], size=8.0, colour="black")
    >>> patch.get_path().vertices.shape[1], patch.get_visible()
    (2, True)
    """
    font_file = findfont(FontProperties(weight="bold" if bold else "normal"))
    factor = size / _GLYPH_SIZE
    vertices, codes = [], []
    for x, y, text in items:
        cursor = 0.0
        for char in text:
            outline, kinds, advance = _glyph(char, font_file)
            if len(outline):
                vertices.append(np.column_stack([x + (outline[:, 0] + cursor) * factor, y - outline[:, 1] * factor]))
                codes.append(kinds)
            cursor += advance
    if not vertices:
        return PathPatch(MplPath(np.zeros((1, 2))), visible=False)
    return PathPatch(MplPath(np.concatenate(vertices), np.concatenate(codes)), facecolor=colour, edgecolor="none",
                     linewidth=0)
