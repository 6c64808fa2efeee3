"""Drawing feature maps and filters: scaling for display (`normalize_maps`), one-image grids, filters.

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

import math
import operator
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from torch import nn

from .grid import (
    DIVERGING,
    GridFigure,
    GridStyle,
    colormap_with_pad,
    default_ncols,
    draw_grid,
)
from .model_checks import ONE_D

__all__ = ["MODES", "normalize_maps", "plot_feature_maps", "plot_filters"]

MODES = ("layer", "channel", "symmetric")


# --- Normalization -----------------------------------------------------------------------------------------------

def normalize_maps(maps: torch.Tensor | np.ndarray, mode: str = "layer",
                   clip: tuple[float, float] | None = None) -> torch.Tensor:
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
    if t.is_quantized:  # a quantized model's maps (quint8): drawing needs only their real values
        t = t.dequantize()
    if t.is_complex():
        raise ValueError(f"{name} is complex; draw its magnitude, {name}.abs(), or its real part.")
    if t.dtype == torch.bool:
        t = t.float()
    return t


def _check_not_empty(x: torch.Tensor | np.ndarray, name: str) -> None:
    if (x.numel() if isinstance(x, torch.Tensor) else x.size) == 0:
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


def _check_options(ncols, title, ax) -> None:
    """plot_feature_maps' drawing options, refused with the fix before anything is drawn."""
    if ncols is not None and (isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1):
        raise TypeError(f"ncols={ncols!r}: the number of columns is a positive integer, such as ncols=4 "
                        "(None picks one).")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title={title!r}: a title is a string (None for the default, '' for none).")
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax={ax!r}: pass a matplotlib Axes to draw into (fig, ax = plt.subplots()), or None for a "
                        "figure of its own.")


def _pick_sample(x: torch.Tensor, sample) -> tuple[torch.Tensor, int | None]:
    """The (C, H, W) maps of one sample, and its index (None for input that was one sample already)."""
    shape = tuple(x.shape)
    if x.dim() == 3 and getattr(x, ONE_D, False):
        raise ValueError(f"plot_feature_maps got the output of a 1-D layer (such as nn.Conv1d), shape {shape} = "
                         "(N, C, L): 1-D maps are not images. Plot one sample's channels as curves instead, e.g. "
                         "plt.plot(maps[0].T), or show them as one image, plt.imshow(maps[0], aspect='auto').")
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
    x = _as_tensor(maps, "maps")
    if one_d:
        setattr(x, ONE_D, True)
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


def _values_for_display(one: np.ndarray, mode: str | None, clip, eps: float):
    """The values to draw, the colour limits, and the colorbar's label and ticks (None: matplotlib's own).

    Where one scale covers the grid ("layer", "symmetric", raw) the raw values are drawn and the colour limits do
    the scaling (matplotlib's Normalize, centred on 0 for signed data), so the colorbar is in the layer's units
    with ticks at round values of its own. Only "channel" mode, one scale per map, draws rescaled values.
    """
    whole = one.reshape(1, -1)
    if clip is not None:
        low, high = _percentiles(whole, clip)
        whole = np.clip(whole, low, high)
    lo, hi = float(whole.min()), float(whole.max())
    if mode == "channel":
        values = _scale(one.reshape(one.shape[0], -1), mode, clip, eps).reshape(one.shape)
        return values, 0.0, 1.0, "each channel on its own scale", ([0.0, 1.0], ["min", "max"])
    raw = whole.reshape(one.shape)
    if mode == "symmetric" or (mode is None and lo < 0):
        m = max(-lo, hi)
        return raw, -(m or 1.0), m or 1.0, "value", None
    flat = hi - lo <= 4 * eps * max(abs(lo), abs(hi)) if mode == "layer" else hi <= lo  # as normalize_maps
    return raw, lo, (lo + max(1.0, abs(lo)) if flat else hi), "value", None


def _extend(clip) -> str:
    """Which ends of the colorbar get an arrow: those where clipping cut values off."""
    if clip is None:
        return "neither"
    low, high = _check_clip(clip)
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((low > 0, high < 100), "neither")


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
        j = _index(in_channel, "in_channel")
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
