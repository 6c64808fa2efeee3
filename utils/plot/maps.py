"""Drawing one sample's feature maps as the tiles of one image (`plot_feature_maps`).

Scaling for display (`normalize_maps`) lives in `utils.plot.scaling`, filters (`plot_filters`) in
`utils.plot.filters`.

A layer's maps are drawn as the tiles of ONE image with one `imshow`, not one subplot per channel: 64 channels
draw in a fraction of the time, and the whole grid shares one colour scale and one colorbar. The padding between
tiles has a neutral colour that is not in the colormap, channel numbers sit above the tiles, and silent maps
(no positive value in the sample drawn: all zeros after a ReLU) are outlined in red and labelled "silent". "Dead" is
kept for the dataset-wide property that `channel_stats` measures (never positive on any input); all-zero filters
are labelled "dead" by `plot_filters`, since a zero filter is silent for every input.

The figures are `matplotlib.figure.Figure` objects made without `pyplot`: pyplot keeps no reference to them, so a
loop that draws hundreds of them leaks nothing, and nothing is shown twice. In a notebook, end the cell with the
call (or `display(fig)`): the figure shows once. In a script, `fig.savefig("maps.png")`. To draw into a figure of
your own (a pyplot window, a panel next to other plots), pass `ax=`, then `plt.show()` as usual.

>>> fig = plot_feature_maps(torch.rand(8, 16, 24, 24), sample=3)   # (N, C, H, W): sample 3, all 16 channels
>>> len(fig.axes), len(fig.axes[0].images)                          # one axes, one image
(1, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from ..capturing.guards import ONE_D
from .grid import GridFigure, GridStyle, colormap_with_pad, default_ncols, draw_grid
from .scaling import (
    as_index,
    as_tensor,
    check_clip,
    check_finite,
    check_mode,
    check_not_empty,
    float_epsilon,
    row_percentiles,
    scale_rows,
    to_numpy,
)

__all__ = ["plot_feature_maps"]


# --- Drawing options ---------------------------------------------------------------------------------------------

def _check_options(ncols: object, title: object, ax: object) -> None:
    """plot_feature_maps' drawing options, refused with the fix before anything is drawn."""
    if ncols is not None and (isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1):
        raise TypeError(f"ncols={ncols!r}: the number of columns is a positive integer, such as ncols=4 "
                        "(None picks one).")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title={title!r}: a title is a string (None for the default, '' for none).")
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax={ax!r}: pass a matplotlib Axes to draw into (fig, ax = plt.subplots()), or None for a "
                        "figure of its own.")


def _pick_sample(x: torch.Tensor, sample: object) -> tuple[torch.Tensor, int | None]:
    """The (C, H, W) maps of one sample, and its index (None for input that was one sample already)."""
    shape = tuple(x.shape)
    if x.dim() == 3 and getattr(x, ONE_D, False):
        raise ValueError(f"plot_feature_maps got the output of a 1-D layer (such as nn.Conv1d), shape {shape} = "
                         "(N, C, L): 1-D maps are not images. Plot one sample's channels as curves instead, e.g. "
                         "plt.plot(maps[0].T), or show them as one image, plt.imshow(maps[0], aspect='auto').")
    if x.dim() == 4:
        index = as_index(sample, "sample")
        count = shape[0]
        if not -count <= index < count:
            raise IndexError(f"sample={index} is past the batch: the maps hold {count} sample(s), numbered 0 to "
                             f"{count - 1} (shape {shape} is (N, C, H, W)).")
        return x[index], index % count
    if x.dim() == 3:
        if as_index(sample, "sample") not in (0, -1):
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


def _pick_channels(channels: Any, count: int) -> list[int]:
    """The channel numbers `channels` selects (None: all; an int; a slice; a range, list or tensor of ints or bools)."""
    everything = list(range(count))
    valid = f"the layer has {count} channel(s), numbered 0 to {count - 1}"
    if channels is None:
        return everything
    if isinstance(channels, slice):
        chosen = everything[channels]
    elif isinstance(channels, (int, np.integer)) or (isinstance(channels, torch.Tensor) and channels.dim() == 0):
        chosen = [as_index(channels, "channels")]
    else:
        if isinstance(channels, (str, bytes)) or not isinstance(channels, (Iterable, Sequence)):
            raise TypeError(f"channels={channels!r}: give None, an int, a slice, a range or a list of ints.")
        items = list(channels.tolist() if isinstance(channels, (torch.Tensor, np.ndarray)) else channels)
        if items and all(isinstance(v, (bool, np.bool_)) for v in items):
            if len(items) != count:
                raise ValueError(f"channels is a mask of {len(items)} booleans, but {valid}.")
            items = [i for i, keep in enumerate(items) if keep]
        chosen = [as_index(v, "each channel") for v in items]
    if not chosen:
        raise ValueError(f"channels={channels!r} selects no channel; {valid} (e.g. channels=range(8)).")
    bad = [c for c in chosen if not -count <= c < count]
    if bad:
        raise IndexError(f"channel {bad[0]} does not exist: {valid}.")
    return [c % count for c in chosen]


# --- Feature maps ------------------------------------------------------------------------------------------------

def plot_feature_maps(maps: torch.Tensor | np.ndarray, *, sample: int = 0, channels: Iterable[int] | None = None,
                      mode: str | None = "auto",
                      clip: tuple[float, float] | None = None, cmap: str | Colormap | None = None,
                      ncols: int | None = None, colorbar: bool = False, title: str | None = None,
                      labels: bool = True, ax: Axes | None = None, pad_color: str | None = None) -> Figure:
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
    - Each tile is labelled with its channel number (`labels=False` drops them); a silent map (no positive value
      in this sample, so all zeros after a ReLU) is outlined in red and labelled "silent". One sample cannot tell
      whether the channel is dead (never positive on any input): `channel_stats` over many inputs can. The
      figure's size follows the grid (`ncols` columns, by default 8, more for many channels), and every value
      gets a whole number of screen pixels. The padding colour is picked to differ from every colour of the
      colormap (`pad_color` overrides it). `ax=` draws into an existing axes instead, and returns that axes' figure.
    - The returned GridFigure knows its grid: `fig.channels`, `fig.silent`, `fig.layout`, `fig.tile_values(c)`.

    Raises ValueError for another shape (1-D maps (N, C, L) from capture included), an empty or invalid
    selection, NaN or infinite values in the sample; TypeError for a wrong kind of `ncols`, `title` or `ax`;
    IndexError for a sample past the batch or a channel that does not exist.

    >>> maps = torch.relu(torch.randn(4, 32, 12, 12))
    >>> fig = plot_feature_maps(maps, sample=1, channels=range(8), colorbar=True)
    >>> fig.channels, [type(a).__name__ for a in fig.axes]
    ([0, 1, 2, 3, 4, 5, 6, 7], ['Axes', 'Axes'])
    """
    _check_options(ncols, title, ax)
    one_d = getattr(maps, ONE_D, False)
    x = as_tensor(maps, "maps")
    if one_d:
        setattr(x, ONE_D, True)
    picked, index = _pick_sample(x, sample)
    check_not_empty(picked, "maps")
    chosen = _pick_channels(channels, picked.shape[0])
    one = to_numpy(picked)
    check_finite(one, "maps" if index is None else f"maps[{index}]")
    if mode == "auto":
        mode = "symmetric" if bool((one < 0).any()) else "layer"
    if mode is not None:
        check_mode(mode)
    values, vmin, vmax, bar_label, bar_ticks = _values_for_display(one, mode, clip, float_epsilon(x.dtype))
    tiles = values[chosen].astype(np.float32)
    silent = [k for k, c in enumerate(chosen) if not (one[c] > 0).any()]  # no positive value in this sample
    style = GridStyle(labels=[str(c) for c in chosen] if labels else None, dead=silent, mark="silent",
                   cmap=colormap_with_pad(cmap, vmin < 0, pad_color), vmin=vmin, vmax=vmax,
                   title=_maps_title(title, one.shape, index, chosen, mode, clip), colorbar=colorbar,
                   colorbar_label=bar_label, colorbar_ticks=bar_ticks, extend=_extend(clip))
    figure = draw_grid(tiles, ncols or default_ncols(len(chosen)), style, ax)
    if isinstance(figure, GridFigure):
        figure.channels = list(chosen)
        figure.silent = [chosen[k] for k in silent]
    return figure


def _values_for_display(one: np.ndarray, mode: str | None, clip: tuple[float, float] | None,
                        eps: float) -> tuple[np.ndarray, float, float, str, tuple[list[float], list[str]] | None]:
    """The values to draw, the colour limits, and the colorbar's label and ticks (None: matplotlib's own).

    Where one scale covers the grid ("layer", "symmetric", raw) the raw values are drawn and the colour limits do
    the scaling (matplotlib's Normalize, centred on 0 for signed data), so the colorbar is in the layer's units
    with ticks at round values of its own. Only "channel" mode, one scale per map, draws rescaled values.
    """
    whole: np.ndarray = one.reshape(1, -1)  # numpy 2.2's stubs (for Python 3.10) would fix it as 2-D
    if clip is not None:
        low, high = row_percentiles(whole, clip)
        whole = np.clip(whole, low, high)
    lo, hi = float(whole.min()), float(whole.max())
    if mode == "channel":
        values = scale_rows(one.reshape(one.shape[0], -1), mode, clip, eps).reshape(one.shape)
        return values, 0.0, 1.0, "each channel on its own scale", ([0.0, 1.0], ["min", "max"])
    raw = whole.reshape(one.shape)
    if mode == "symmetric" or (mode is None and lo < 0):
        m = max(-lo, hi)
        return raw, -(m or 1.0), m or 1.0, "value", None
    flat = hi - lo <= 4 * eps * max(abs(lo), abs(hi)) if mode == "layer" else hi <= lo  # as normalize_maps
    return raw, lo, (lo + max(1.0, abs(lo)) if flat else hi), "value", None


def _extend(clip: tuple[float, float] | None) -> str:
    """Which ends of the colorbar get an arrow: those where clipping cut values off."""
    if clip is None:
        return "neither"
    low, high = check_clip(clip)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((low > 0, high < 100), "neither")


def _maps_title(title: str | None, shape: tuple[int, ...], index: int | None, chosen: list[int], mode: str | None,
                clip: tuple[float, float] | None) -> str:
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

