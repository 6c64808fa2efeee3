"""Checks for notebook 02, From filters to feature maps: a grid by hand, per-channel scaling, picking channels,
symmetric limits that clip the largest magnitudes."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .core import CheckResult, as_number, run_cases

__all__ = ["check_channel_grid", "check_channel_normalization", "check_sample_channels",
           "check_clipped_symmetric_limits"]


def _normalization_case() -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    maps = torch.randn(2, 3, 4, 5, generator=generator) * torch.tensor([0.01, 1.0, 30.0]).view(1, 3, 1, 1)
    maps[0, 1] = 0.0  # an all-zero (silent) map
    maps[1, 2] = 2.5  # a constant one
    return maps


def _judge_normalization(result: object, maps: torch.Tensor) -> str | None:
    try:
        values = torch.as_tensor(result, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return "return a tensor of the same shape as the input."
    if values.shape != maps.shape:
        return f"the result has shape {tuple(values.shape)}; it should keep the input's shape {tuple(maps.shape)}."
    flat = maps.double().flatten(2)
    low, high = flat.min(2, keepdim=True).values, flat.max(2, keepdim=True).values
    constant = (high - low) == 0
    expected = torch.where(constant, 0.0, (flat - low) / torch.where(constant, 1.0, high - low)).view_as(maps)
    if torch.isnan(values).any():
        return "some maps became NaN: a map whose values are all equal gives 0 / 0. Give such maps zeros."
    if torch.allclose(values, expected, atol=1e-5):
        return None
    moving = ~constant.view(maps.shape[:2])
    if torch.allclose(values[moving], expected[moving], atol=1e-5):
        return "the varying maps are right; a map with no variation (all zeros, or all one value) should become zeros."
    whole = (maps - maps.min()) / (maps.max() - maps.min())
    low_n, high_n = maps.amin((1, 2, 3), keepdim=True), maps.amax((1, 2, 3), keepdim=True)
    per_sample = (maps - low_n) / (high_n - low_n)
    if torch.allclose(values, whole.double(), atol=1e-5) or torch.allclose(values, per_sample.double(), atol=1e-5):
        return ("you used one min and max for several maps; each (H, W) map needs its own (reduce over the last two "
                "dimensions only).")
    return "some maps are not scaled to run from 0 (at their own min) to 1 (at their own max)."


def check_channel_normalization(function: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 02.1: scale every (H, W) map of an (N, C, H, W) tensor to [0, 1] on its own; constant maps to 0.
    By hand: a function that calls normalize_maps, or scale_rows (which does its work), is refused.

    >>> bool(check_channel_normalization(lambda m: (m - m.min()) / (m.max() - m.min())))
    ✗ Not yet: you used one min and max for several maps; each (H, W) map needs its own
    (reduce over the last two dimensions only).
    False
    """
    return run_cases(function, "`normalize_per_channel`", [(_normalization_case(),)], _judge_normalization,
                     "Right: every map runs from 0 to 1 on its own, and the all-zero and constant maps are zeros.",
                     by_hand=("normalize_maps", "scale_rows"))


def _judge_selection(result: object, maps: torch.Tensor) -> str | None:
    try:
        values = torch.as_tensor(result)
    except (TypeError, ValueError, RuntimeError):
        return "return a tensor, (channels, H, W)."
    if values.dim() == 4 and values.shape[0] == 1:
        return ("the result still has a batch dimension of 1: index the sample with a plain integer, which drops that "
                "dimension, to get (channels, H, W).")
    if values.dim() != 3 or tuple(values.shape[1:]) != (3, 3) or not len(values):
        return f"expected (channels, H, W) for one sample; got shape {tuple(values.shape)}."
    n, c = maps.shape[:2]
    samples = sorted({int(v) // 100 for v in values[:, 0, 0].tolist()})
    channels = [int(v) % 100 for v in values[:, 0, 0].tolist()]
    if len(samples) > 1:
        return "your maps come from several samples: the first index picks the sample, the second the channel."
    if samples != [n - 2]:
        return "that is not the second-to-last sample: a negative index counts from the end, -1 being the last."
    wanted = list(range(c - 1, c - 5, -1))
    if channels == wanted:
        return None
    if channels == wanted[::-1]:
        return "the right four channels, in the wrong order: the last channel comes first (.flip(0) reverses)."
    return f"those are {len(channels)} channel(s) but not the last four, from the last one down."


def check_sample_channels(select: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 02.2: select(maps) -> the last four channels of the second-to-last sample of an (N, C, H, W) batch,
    the last channel first, for any N and C (two batch sizes are tried).

    >>> bool(check_sample_channels(lambda maps: maps[0, :4]))
    ✗ Not yet: that is not the second-to-last sample: a negative index counts from the end, -1
    being the last.
    False
    """
    cases = []
    for n_samples, n_channels in ((8, 16), (5, 32)):  # two sizes: counting from the end must not be hard-coded
        n, c = torch.meshgrid(torch.arange(float(n_samples)), torch.arange(float(n_channels)), indexing="ij")
        cases.append(((100 * n + c).view(n_samples, n_channels, 1, 1).expand(-1, -1, 3, 3).contiguous(),))
    return run_cases(select, "`select`", cases, _judge_selection,
                     "Right: the second-to-last sample, its last four channels from the last one down, as a (4, H, W) "
                     "tensor.")


def _two_numbers(result: object) -> tuple[float, float] | str:
    """(vmin, vmax) from whatever the learner returned, or what to return instead."""
    try:
        vmin, vmax = (as_number(v) for v in result)  # type: ignore[attr-defined]  # anything: errors are caught
    except (TypeError, ValueError):
        return "return two numbers, (vmin, vmax)."
    if vmin is None or vmax is None:
        return "return two numbers, (vmin, vmax)."
    return vmin, vmax


def _reference_grid(maps: torch.Tensor, ncols: int) -> torch.Tensor:
    channels, height, width = maps.shape
    rows = -(-channels // ncols)
    grid = torch.zeros(rows * height, ncols * width, dtype=maps.dtype)
    for k in range(channels):
        r, c = divmod(k, ncols)
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = maps[k]
    return grid


def _judge_grid(result: object, maps: torch.Tensor, ncols: int) -> str | None:
    try:
        grid = torch.as_tensor(result, dtype=maps.dtype)
    except (TypeError, ValueError, RuntimeError):
        return "return one 2-D tensor: the whole grid as a single image."
    expected = _reference_grid(maps, ncols)
    if grid.dim() != 2:
        return (f"the result has shape {tuple(grid.shape)}: a grid is ONE 2-D image, (rows * H, ncols * W), "
                "not a stack of maps.")
    if grid.shape != expected.shape:
        channels, height, width = maps.shape
        return (f"for {channels} maps of {height}x{width} in {ncols} columns the grid should be "
                f"(rows * H, ncols * W) with rows = ceil(C / ncols); yours is {tuple(grid.shape)}.")
    if torch.equal(grid, expected):
        return None
    rows = expected.shape[0] // maps.shape[1]
    by_column = torch.zeros_like(expected)  # tiles filled column by column instead of row by row
    for k in range(maps.shape[0]):
        c, r = divmod(k, rows)
        if c < ncols:
            by_column[r * maps.shape[1]:(r + 1) * maps.shape[1], c * maps.shape[2]:(c + 1) * maps.shape[2]] = maps[k]
    if torch.equal(grid, by_column):
        return "the tiles go down the columns first: put channels 0, 1, 2, ... along the first row, as text is read."
    return "some tiles are not where they belong: map k goes to row k // ncols, column k % ncols; empty tiles are 0."


def check_channel_grid(function: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Section 3's task (a grid by hand): channel_grid(maps, ncols) -> one 2-D image with the (C, H, W) maps as
    tiles, row by row. By hand: torchvision's make_grid, the course's own tiling (utils.plot.grid's GridLayout,
    _grid_image and draw_grid, and the plots that call them) and this check's reference are refused.

    >>> bool(check_channel_grid(lambda maps, ncols: maps))
    ✗ Not yet: the result has shape (16, 3, 5): a grid is ONE 2-D image, (rows * H, ncols *
    W), not a stack of maps.
    False
    """
    generator = torch.Generator().manual_seed(5)
    cases = [(torch.rand(16, 3, 5, generator=generator), 4), (torch.rand(6, 2, 3, generator=generator) + 1, 4)]
    return run_cases(function, "`channel_grid`", cases, _judge_grid,
                     "Right: one image, map k at row k // ncols and column k % ncols, empty tiles zero, the input "
                     "unchanged.", by_hand=_GRID_BY_HAND)


# Everything that tiles maps into one image for the learner: torchvision's, the course's, this check's own.
_GRID_BY_HAND = ("make_grid", "GridLayout", "_grid_image", "draw_grid", "plot_feature_maps", "plot_filters",
                 "_reference_grid")


def _judge_clipped_limits(result: object, m: torch.Tensor, q: float) -> str | None:
    limits = _two_numbers(result)
    if isinstance(limits, str):
        return limits
    vmin, vmax = limits
    if abs(vmin + vmax) > 1e-6 or vmax < 0:
        return "vmin and vmax must be opposites (vmin = -vmax), so that zero sits in the middle."
    size = m.abs().flatten().double()
    low, high = (float(size.quantile(q / 100, interpolation=how)) for how in ("lower", "higher"))
    if low - 1e-6 <= vmax <= high + 1e-6:
        return None
    if abs(vmax - float(size.max())) < 1e-6:
        return "that is the largest |value|, so nothing is clipped: use the q-th percentile of the magnitudes instead."
    signed = m.flatten().double()
    if any(abs(vmax - float(signed.quantile(q / 100, interpolation=how))) < 1e-6 for how in ("lower", "higher",
                                                                                            "linear")):
        return ("that is a percentile of the signed values: take it of the magnitudes |m|, so that large negative "
                "values count as much as large positive ones.")
    return f"with q = {q:g}, about {100 - q:g}% of the values (those of largest magnitude) should lie beyond vmax."


def check_clipped_symmetric_limits(function: Callable[[torch.Tensor, float], tuple[float, float]]) -> CheckResult:
    """Exercise 02.3: symmetric colour limits (vmin, vmax) that clip only the (100 - q)% values of largest magnitude.

    >>> bool(check_clipped_symmetric_limits(lambda m, q: (float(m.min()), float(m.max()))))
    ✗ Not yet: vmin and vmax must be opposites (vmin = -vmax), so that zero sits in the middle.
    False
    """
    generator = torch.Generator().manual_seed(3)
    spiky = torch.randn(6, 7, generator=generator)
    spiky[2, 3] = -40.0  # one extreme negative value
    cases = [(spiky, 99.0), (torch.randn(10, 10, generator=generator) * 3 + 1, 90.0)]
    return run_cases(function, "`symmetric_limits`", cases, _judge_clipped_limits,
                     "Right: zero in the middle, and only the values of largest magnitude beyond the limits.")
