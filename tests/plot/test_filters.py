"""utils.plot.filters: plot_filters and its errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from utils.plot.filters import plot_filters  # noqa: E402


def image_of(fig: Figure) -> np.ndarray:
    return np.ma.getdata(fig.axes[0].images[0].get_array())


def test_filters_of_a_first_layer_share_one_symmetric_scale():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 16, kernel_size=5)
    fig = plot_filters(conv)
    shown = fig.axes[0].images[0]
    magnitude = float(conv.weight.detach().abs().max())
    assert shown.get_clim() == pytest.approx((-magnitude, magnitude))
    assert fig.layout.count == 16 and len(fig.axes) == 2  # the grid and its colorbar
    image = image_of(fig)
    for o in (0, 9, 15):
        assert np.allclose(fig.layout.tile(image, o), conv.weight[o, 0].detach().numpy())


def test_filters_with_many_inputs_as_a_table_or_one_input_channel():
    torch.manual_seed(0)
    weights = torch.randn(6, 4, 3, 3)
    table = plot_filters(weights)
    assert (table.layout.count, table.layout.ncols) == (24, 4)
    image = image_of(table)
    assert np.allclose(table.layout.tile(image, 2 * 4 + 3), weights[2, 3].numpy())  # row: filter 2, column: input 3
    assert table.axes[0].get_ylabel().startswith("output channel")
    one = plot_filters(weights, in_channel=3)
    assert one.layout.count == 6
    assert np.allclose(one.layout.tile(image_of(one), 5), weights[5, 3].numpy())


def test_zero_filters_are_marked_dead():
    weights = torch.randn(8, 1, 3, 3)
    weights[6] = 0
    assert plot_filters(weights).dead == [6]


@pytest.mark.parametrize("bad, kwargs, error, words", [
    (nn.Linear(4, 2), {}, TypeError, "no 2-D filters"),
    (torch.rand(16, 5, 5), {}, ValueError, "(out_channels, in_channels, kh, kw)"),
    (torch.rand(8, 3, 3, 3), {"in_channel": 3}, IndexError, "numbered 0 to 2"),
    (torch.full((2, 1, 3, 3), float("nan")), {}, ValueError, "NaN"),
])
def test_bad_filters_raise_a_helpful_error(bad, kwargs, error, words):
    with pytest.raises(error) as caught:
        plot_filters(bad, **kwargs)
    assert words in str(caught.value)
