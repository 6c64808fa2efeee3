"""Drawing a convolution's filters (`plot_filters`): one image, one colour scale centred on 0, in weight units.

>>> fig = plot_filters(nn.Conv2d(3, 8, kernel_size=3))   # 8 filters x 3 input channels: a table of 24 tiles
>>> fig.layout.count
24
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from torch import nn

from .grid import DIVERGING, GridFigure, GridStyle, colormap_with_pad, default_ncols, draw_grid
from .scaling import as_index, as_tensor, check_finite, check_not_empty, to_numpy

__all__ = ["plot_filters"]


def plot_filters(weights_or_conv: torch.Tensor | nn.Conv2d, *, in_channel: int | None = None, ncols: int | None = None,
                 cmap: str | Colormap = DIVERGING, colorbar: bool = True, title: str | None = None,
                 labels: bool = True, ax: Axes | None = None, pad_color: str | None = None) -> Figure:
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
        j = as_index(in_channel, "in_channel")
        if not -in_channels <= j < in_channels:
            raise IndexError(f"in_channel={j} does not exist: the filters have {in_channels} input channel(s), "
                             f"numbered 0 to {in_channels - 1}.")
        j %= in_channels
        tiles, order = weights[:, j], list(range(out_channels))
        columns = ncols or default_ncols(out_channels)
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
    style = GridStyle(labels=tile_labels, dead=dead, cmap=colormap_with_pad(cmap, True, pad_color), vmin=-magnitude,
                   vmax=magnitude, colorbar=colorbar, colorbar_label="weight",
                   title=title if title is not None else f"{out_channels} filters of {kh}x{kw}{where}",
                   row_labels=row_labels, col_labels=col_labels)
    figure = draw_grid(tiles.astype(np.float32), columns, style, ax)
    if isinstance(figure, GridFigure):
        figure.channels = list(range(len(tiles)))
        figure.dead = dead
    return figure


def _filter_weights(weights_or_conv: object) -> np.ndarray:
    """The weights as a float NumPy array (out_channels, in_channels, kh, kw), or the error that says what to pass."""
    if isinstance(weights_or_conv, nn.Module):
        if not isinstance(weights_or_conv, nn.Conv2d):
            raise TypeError(f"{type(weights_or_conv).__name__} has no 2-D filters: pass an nn.Conv2d (e.g. "
                            "model.conv1) or a weight tensor of shape (out_channels, in_channels, kh, kw).")
        weights_or_conv = weights_or_conv.weight
    weights = as_tensor(weights_or_conv, "weights")
    if weights.dim() != 4:
        raise ValueError(f"plot_filters wants a Conv2d or weights of shape (out_channels, in_channels, kh, kw); "
                         f"got shape {tuple(weights.shape)}.")
    check_not_empty(weights, "weights")
    values = to_numpy(weights)
    check_finite(values, "weights")
    return values
