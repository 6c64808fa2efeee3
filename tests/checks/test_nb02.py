"""utils.checks: the checks of notebook 02 (utils/checks/nb02.py)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.checks.answers import outcome
from utils.checks import check_channel_grid, check_clipped_symmetric_limits


def grid_by_rows(maps, ncols):
    channels, height, width = maps.shape
    rows = math.ceil(channels / ncols)
    padded = torch.cat([maps, maps.new_zeros(rows * ncols - channels, height, width)])
    return padded.view(rows, ncols, height, width).permute(0, 2, 1, 3).reshape(rows * height, ncols * width)


def percentile_limits(m, q):
    vmax = float(m.abs().flatten().quantile(q / 100))
    return -vmax, vmax


def test_a_right_grid_passes(capsys):
    assert outcome(capsys, check_channel_grid(grid_by_rows))[0]


def test_an_unanswered_grid_asks_for_it(capsys):
    ok, message = outcome(capsys, check_channel_grid(None))
    assert not ok and "`channel_grid`" in message and "still None" in message


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda maps, ncols: maps, "ONE 2-D image"),
    (lambda maps, ncols: torch.cat(list(maps), dim=1), "rows = ceil(C / ncols)"),
    (lambda maps, ncols: grid_by_rows(maps, ncols).T.contiguous().T * 0, "not where they belong"),
    (lambda maps, ncols: grid_by_rows(maps.transpose(1, 2), ncols), "rows = ceil"),
    (lambda maps, ncols: 1 / 0, "ZeroDivisionError"),
    (lambda maps, ncols: "a grid", "2-D tensor"),
])
def test_wrong_grids_fail_with_a_reason(wrong, hint, capsys):
    ok, message = outcome(capsys, check_channel_grid(wrong))
    assert not ok and hint in message, message


def test_a_grid_filled_down_the_columns_is_named(capsys):
    def by_columns(maps, ncols):
        channels, height, width = maps.shape
        rows = math.ceil(channels / ncols)
        padded = torch.cat([maps, maps.new_zeros(rows * ncols - channels, height, width)])
        return padded.view(ncols, rows, height, width).permute(1, 2, 0, 3).reshape(rows * height, ncols * width)

    ok, message = outcome(capsys, check_channel_grid(by_columns))
    assert not ok and "down the columns" in message


def test_a_grid_that_changes_its_input_fails(capsys):
    def scaling_in_place(maps, ncols):
        maps /= maps.max()
        return grid_by_rows(maps, ncols)

    ok, message = outcome(capsys, check_channel_grid(scaling_in_place))
    assert not ok and "changed the tensor" in message


@pytest.mark.parametrize("how", ["linear", "lower", "higher", "nearest"])
def test_any_percentile_interpolation_passes(how, capsys):
    def limits(m, q):
        vmax = float(m.abs().flatten().quantile(q / 100, interpolation=how))
        return -vmax, vmax

    assert outcome(capsys, check_clipped_symmetric_limits(limits))[0]


@pytest.mark.parametrize(("wrong", "hint"), [
    (lambda m, q: (-float(m.abs().max()), float(m.abs().max())), "nothing is clipped"),
    (lambda m, q: (-float(m.quantile(q / 100)), float(m.quantile(q / 100))), "of the magnitudes"),
    (lambda m, q: (float(m.min()), float(m.max())), "opposites"),
    (lambda m, q: percentile_limits(m, q / 100), "should lie beyond vmax"),
    (lambda m, q: 3.0, "two numbers"),
    (lambda m, q: ("-1", "1"), "two numbers"),
    (lambda m, q: m.abs().quantile(q), "raised RuntimeError"),
])
def test_wrong_limits_fail_with_a_reason(wrong, hint, capsys):
    ok, message = outcome(capsys, check_clipped_symmetric_limits(wrong))
    assert not ok and hint in message, message


def test_clipped_limits_accept_tensors_as_numbers(capsys):
    def as_tensors(m, q):
        vmax = m.abs().flatten().quantile(q / 100)
        return -vmax, vmax

    assert outcome(capsys, check_clipped_symmetric_limits(as_tensors))[0]


def test_per_channel_normalization_by_hand_refuses_normalize_maps(capsys):
    """Expert review L2: normalize_maps(m, "channel"), shown in 02, passed the exercise that asks for it by hand."""
    import functools

    import utils
    from utils import normalize_maps
    from utils.checks import check_channel_normalization

    for bypass in (lambda m: normalize_maps(m, "channel"), lambda m: utils.normalize_maps(m, mode="channel"),
                   functools.partial(normalize_maps, mode="channel")):
        ok, message = outcome(capsys, check_channel_normalization(bypass))
        assert not ok and "calls `normalize_maps`" in message and "by hand" in message, message


def _normalize_helper(m):
    """A learner's module-level helper that calls the library function the exercise forbids."""
    from utils import normalize_maps

    return normalize_maps(m, "channel")


class _CallableNormalizer:
    def __call__(self, m):
        return _normalize_helper(m)


def _grid_helper(maps, ncols):
    import torchvision

    return torchvision.utils.make_grid(maps[:, None], nrow=ncols, padding=0)[0]


@pytest.mark.parametrize("bypass", [lambda m: _normalize_helper(m), _CallableNormalizer(),
                                    lambda m: getattr(__import__("utils"), "normalize_" + "maps")(m, "channel")],
                         ids=["helper", "callable-class", "getattr"])
def test_per_channel_normalization_refuses_normalize_maps_however_reached(capsys, bypass):
    """Expert review (issue 28): a helper, a callable class and getattr passed the by-hand normalization."""
    import utils
    from utils.checks import check_channel_normalization

    ok, message = outcome(capsys, check_channel_normalization(bypass))
    assert not ok and "by hand" in message, message
    assert utils.normalize_maps(torch.ones(1, 1, 2, 2)).shape == (1, 1, 2, 2)  # put back after the check


@pytest.mark.parametrize("bypass", [lambda maps, ncols: _grid_helper(maps, ncols),
                                    lambda maps, ncols: __import__("torchvision").utils.make_grid(
                                        maps[:, None], nrow=ncols, padding=0)[0]], ids=["helper", "direct"])
def test_channel_grid_refuses_make_grid(capsys, bypass):
    """Expert review (issue 28): torchvision.utils.make_grid passed "a grid by hand"."""
    from utils.checks import check_channel_grid

    ok, message = outcome(capsys, check_channel_grid(bypass))
    assert not ok and "by hand" in message, message


def _scale_rows_bypass(m):
    """What normalize_maps does inside, called directly: the course's own scaling of rows."""
    from utils.plot.scaling import scale_rows

    rows = m.detach().numpy().reshape(m.shape[0] * m.shape[1], -1)
    return torch.as_tensor(scale_rows(rows, "channel", None, 1e-7)).view_as(m)


_NORMALIZE = __import__("utils").normalize_maps


@pytest.mark.parametrize("bypass", [
    lambda m, f=_NORMALIZE: f(m, "channel"), _scale_rows_bypass, lambda m, *, f=_NORMALIZE: f(m, mode="channel"),
], ids=["default-argument", "scale_rows", "keyword-default"])
def test_per_channel_normalization_refuses_what_was_bound_or_called_inside(capsys, bypass):
    """Second expert read, item 4: a default argument holding normalize_maps, and scale_rows (which does its work),
    passed the by-hand exercise."""
    from utils.checks import check_channel_normalization

    ok, message = outcome(capsys, check_channel_normalization(bypass))
    assert not ok and "by hand" in message, message


def test_channel_grid_refuses_the_checks_own_reference(capsys):
    """Second expert read, item 5: the docstring named _reference_grid, and passing it passed the check."""
    from utils.checks.nb02 import _reference_grid

    for bypass in (_reference_grid, lambda maps, ncols: _reference_grid(maps, ncols),
                   lambda maps, ncols: getattr(__import__("utils.checks.nb02").checks.nb02, "_reference_" + "grid")(
                       maps, ncols)):
        ok, message = outcome(capsys, check_channel_grid(bypass))
        assert not ok and "_reference_grid" in message and "by hand" in message, message
    assert outcome(capsys, check_channel_grid(grid_by_rows))[0]  # put back after the check


def _course_grid_image(maps, ncols):
    """Third read, item 4: the course's own tiling, called directly, NaN padding made zero."""
    import numpy as np

    from utils.plot.grid import GridLayout, _grid_image

    channels, height, width = maps.shape
    image = _grid_image(maps.numpy(), GridLayout(channels, ncols, height, width, 1, 0, 0))
    return torch.as_tensor(np.nan_to_num(image))


def _course_layout_boxes(maps, ncols):
    from utils.plot import grid

    layout = getattr(grid, "Grid" + "Layout")(maps.shape[0], ncols, maps.shape[1], maps.shape[2], 1, 0, 0)
    out = torch.zeros(layout.shape)
    for k in range(maps.shape[0]):
        out[layout.box(k)] = maps[k]
    return out


@pytest.mark.parametrize("bypass", [_course_grid_image, _course_layout_boxes], ids=["_grid_image", "GridLayout"])
def test_channel_grid_refuses_the_courses_own_tiling(capsys, bypass):
    from utils.checks import check_channel_grid

    maps = torch.rand(6, 2, 3)
    assert torch.equal(bypass(maps, 4).float(), grid_by_rows(maps, 4).float())  # each tiles right: a real leak
    ok, message = outcome(capsys, check_channel_grid(bypass))
    assert not ok and "by hand" in message, message
    assert outcome(capsys, check_channel_grid(grid_by_rows))[0]  # put back after the check
