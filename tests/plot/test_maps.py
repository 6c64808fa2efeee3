"""utils.plot.maps: plot_feature_maps draws one image for the grid, and its errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import PathPatch, Rectangle  # noqa: E402

from utils import normalize_maps, plot_feature_maps  # noqa: E402
from utils.plot.grid import (  # noqa: E402
    DEAD_COLOUR,
    GridFigure,
    text_patch,  # noqa: E402
)


def image_of(fig: Figure) -> np.ndarray:
    return np.ma.getdata(fig.axes[0].images[0].get_array())


def test_64_channels_are_one_image_in_one_axes():
    fig = plot_feature_maps(torch.rand(2, 64, 32, 32))
    assert isinstance(fig, GridFigure)
    assert len(fig.axes) == 1 and len(fig.axes[0].images) == 1
    assert fig.layout.count == 64 and fig.layout.ncols == 8
    with_bar = plot_feature_maps(torch.rand(64, 8, 8), colorbar=True)
    assert len(with_bar.axes) == 2 and len(with_bar.axes[0].images) == 1


def test_tiles_hold_the_normalized_channels_of_the_chosen_sample(maps):
    fig = plot_feature_maps(maps, sample=2, channels=[5, 1, 15], mode="layer")
    assert fig.channels == [5, 1, 15]
    expected = normalize_maps(maps[2], "layer")  # one scale over ALL 16 channels, not just the 3 drawn
    shown = fig.axes[0].images[0]
    image = image_of(fig)
    for k, c in enumerate([5, 1, 15]):  # raw values drawn; the colour limits (a Normalize) do the scaling
        assert np.array_equal(fig.tile_values(c), maps[2, c].numpy())
        assert np.allclose(shown.norm(fig.layout.tile(image, k)), expected[c].numpy(), atol=1e-6)
    assert shown.get_clim() == (float(maps[2].min()), float(maps[2].max()))


def test_channel_mode_and_negative_sample_index(maps):
    fig = plot_feature_maps(maps, sample=-1, channels=slice(0, 4), mode="channel")
    assert "sample 2" in fig.texts[0].get_text()
    assert np.allclose(fig.tile_values(0), normalize_maps(maps[2], "channel")[0].numpy())


def test_padding_is_masked_and_drawn_in_a_colour_not_in_the_colormap(maps):
    for data in (maps, maps - 0.5):  # sequential and diverging
        fig = plot_feature_maps(data)
        shown = fig.axes[0].images[0]
        mask = np.ma.getmaskarray(shown.get_array())
        rows, cols = fig.layout.box(0)
        assert mask[rows.stop, cols.start] and mask[rows.start, cols.stop]  # below and right of tile 0
        assert not mask[rows, cols].any()
        bad = np.asarray(to_rgb(shown.cmap.get_bad()))
        colours = shown.cmap(np.linspace(0, 1, 256))[:, :3]
        assert np.linalg.norm(colours - bad, axis=1).min() > 0.2


def test_signed_maps_get_a_diverging_colormap_centred_on_zero(maps):
    signed = maps - maps.mean()
    fig = plot_feature_maps(signed)
    shown = fig.axes[0].images[0]
    vmin, vmax = shown.get_clim()
    assert vmin == -vmax and shown.cmap.name.startswith("RdBu")
    assert vmax == pytest.approx(float(signed[0].abs().max()))  # Normalize centred on 0, in the maps' units
    assert np.allclose(shown.norm(fig.tile_values(0)), (signed[0, 0] / signed[0].abs().max() + 1).numpy() / 2,
                       atol=1e-6)
    raw = plot_feature_maps(signed, mode=None).axes[0].images[0]
    assert raw.get_clim() == pytest.approx((-float(signed[0].abs().max()), float(signed[0].abs().max())))
    gray = plot_feature_maps(signed, cmap="gray").axes[0].images[0]
    assert gray.get_clim()[0] == -gray.get_clim()[1]
    unsigned = plot_feature_maps(maps).axes[0].images[0]
    assert unsigned.get_clim() == (float(maps[0].min()), float(maps[0].max()))
    assert unsigned.cmap.name.startswith("viridis")


def test_silent_maps_are_outlined_and_labelled_silent_not_dead(maps):
    """One sample's all-zero map is "silent"; "dead" is kept for channel_stats' dataset-wide property."""
    fig = plot_feature_maps(maps, sample=0)
    assert fig.silent == [3] and fig.dead == []
    ax = fig.axes[0]
    outlines = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_edgecolor()[:3] == to_rgb(DEAD_COLOUR)]
    assert len(outlines) == 1
    rows, cols = fig.layout.box(3)
    assert outlines[0].get_xy() == (cols.start - 0.5, rows.start - 0.5)
    red_text = [p for p in ax.patches if isinstance(p, PathPatch) and p.get_facecolor()[:3] == to_rgb(DEAD_COLOUR)]
    assert len(red_text) == 1
    drawn = len(red_text[0].get_path().vertices)  # the glyphs drawn: those of "3 silent", not "3 dead"
    assert drawn == len(text_patch([(0.0, 0.0, "3 silent")], 1.0, DEAD_COLOUR, bold=True).get_path().vertices)
    assert drawn != len(text_patch([(0.0, 0.0, "3 dead")], 1.0, DEAD_COLOUR, bold=True).get_path().vertices)
    assert plot_feature_maps(maps, sample=1).silent == []


def test_a_never_positive_pre_relu_map_is_silent_too():
    """Signed maps (a conv before its ReLU): a map with no positive value in this sample is silent."""
    signed = torch.randn(1, 4, 6, 6)
    signed[0, 2] = -signed[0, 2].abs() - 0.1
    assert plot_feature_maps(signed).silent == [2]


def test_channel_numbers_sit_in_the_band_above_their_tiles(maps):
    fig = plot_feature_maps(maps, channels=[0, 1, 2])
    labels = [p for p in fig.axes[0].patches if isinstance(p, PathPatch)]
    assert len(labels) == 1
    extent = labels[0].get_path().get_extents()
    top = fig.layout.box(0)[0].start
    assert 0 <= extent.y0 and extent.y1 <= top  # between the image's top and the first row of tiles
    assert extent.height > 0.4 * fig.layout.band
    assert not [p for p in plot_feature_maps(maps, labels=False).axes[0].patches if isinstance(p, PathPatch)]


def test_a_silent_label_never_runs_over_its_neighbours_label():
    """On tiles too narrow for "7 silent" the number alone is written (the red outline says silent): the word ran
    over the next tile's number in plot_network's conv2 grid."""
    import matplotlib.pyplot as plt

    maps = torch.rand(1, 32, 8, 8)
    maps[0, 7] = 0
    for size in (2.0, 12.0):  # narrow tiles, wide tiles
        fig, ax = plt.subplots(figsize=(size, size))
        plot_feature_maps(maps, ncols=8, ax=ax)
        layout_width = ax.images[0].get_array().shape[1] / 8  # a tile and its padding, in image pixels
        (marked,) = [p for p in ax.patches if isinstance(p, PathPatch) and p.get_facecolor()[0] > 0.8]
        extent = marked.get_path().get_extents()
        if size == 2.0:
            assert extent.width < layout_width and extent.width < 1.5 * extent.height  # "7"
        else:
            assert extent.width > 3 * extent.height  # "7 silent"
        plt.close(fig)


def test_figure_size_follows_the_grid_and_values_get_whole_screen_pixels():
    small = plot_feature_maps(torch.rand(4, 24, 24))
    large = plot_feature_maps(torch.rand(64, 24, 24))
    assert small.get_figwidth() < large.get_figwidth() <= 10
    assert small.get_figheight() < large.get_figheight() <= 13
    for fig in (small, large):
        width_px = fig.axes[0].get_position().width * fig.get_figwidth() * fig.dpi
        per_pixel = width_px / fig.layout.shape[1]
        assert abs(per_pixel - round(per_pixel)) < 1e-6 and round(per_pixel) >= 1


def test_drawing_in_a_loop_leaks_no_pyplot_figure_and_never_shows(maps, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plot_feature_maps must not call plt.show()"))
    before = plt.get_fignums()
    for n in range(3):
        for c in range(10):
            plot_feature_maps(maps, sample=n, channels=c)
    assert plt.get_fignums() == before


def test_displays_itself_as_png_once(maps):
    png = plot_feature_maps(maps)._repr_png_()
    assert png.startswith(b"\x89PNG")


def test_draws_into_a_given_axes(maps):
    host = Figure(figsize=(6, 3))
    ax = host.add_subplot()
    result = plot_feature_maps(maps, channels=range(4), ax=ax, colorbar=True, title="mine")
    assert result is host and len(ax.images) == 1 and ax.get_title() == "mine"


def test_input_is_not_changed_by_drawing(maps):
    before = maps.clone()
    plot_feature_maps(maps, clip=(1, 99), mode="channel")
    assert torch.equal(maps, before)


@pytest.mark.parametrize("bad, kwargs, error, words", [
    (torch.rand(24, 24), {}, ValueError, "maps[None]"),
    (torch.rand(2, 3, 4, 4, 4), {}, ValueError, "(C, H, W) or (N, C, H, W)"),
    (torch.rand(10), {}, ValueError, "fully connected"),
    (torch.rand(8, 16, 6, 6), {"sample": 8}, IndexError, "8 sample(s), numbered 0 to 7"),
    (torch.rand(8, 16, 6, 6), {"sample": -9}, IndexError, "past the batch"),
    (torch.rand(16, 6, 6), {"sample": 2}, IndexError, "(C, H, W), which is one sample"),
    (torch.rand(8, 16, 6, 6), {"sample": 1.5}, TypeError, "integer"),
    (torch.rand(8, 16, 6, 6), {"channels": []}, ValueError, "selects no channel"),
    (torch.rand(8, 16, 6, 6), {"channels": slice(20, 30)}, ValueError, "16 channel(s), numbered 0 to 15"),
    (torch.rand(8, 16, 6, 6), {"channels": [2, 16]}, IndexError, "channel 16 does not exist"),
    (torch.rand(8, 16, 6, 6), {"channels": 16}, IndexError, "numbered 0 to 15"),
    (torch.rand(8, 16, 6, 6), {"channels": [True, False]}, ValueError, "mask of 2 booleans"),
    (torch.rand(8, 16, 6, 6), {"channels": "all"}, TypeError, "a range or a list of ints"),
    (torch.rand(8, 0, 6, 6), {}, ValueError, "empty"),
    (torch.rand(8, 16, 6, 6), {"mode": "per-channel"}, ValueError, "not a scaling mode"),
])
def test_bad_input_raises_a_helpful_error(bad, kwargs, error, words):
    with pytest.raises(error) as caught:
        plot_feature_maps(bad, **kwargs)
    assert words in str(caught.value)


def test_non_finite_values_in_the_drawn_sample_raise(maps):
    broken = maps.clone()
    broken[1, 4, 2, 2] = float("inf")
    with pytest.raises(ValueError, match=r"maps\[1\] has 1 value\(s\) that are NaN or infinite"):
        plot_feature_maps(broken, sample=1)
    assert plot_feature_maps(broken, sample=0).channels == list(range(16))  # the other samples draw fine


def test_channel_selections_of_every_kind(maps):
    picks = [(None, list(range(16))), (3, [3]), (-1, [15]), (range(2, 5), [2, 3, 4]),
             (slice(None, None, 5), [0, 5, 10, 15]), ((7, 0), [7, 0]), (torch.tensor([1, 2]), [1, 2]),
             (np.array([4]), [4]), (np.int64(5), [5])]
    for channels, expected in picks:
        assert plot_feature_maps(maps, channels=channels).channels == expected
    mask = torch.zeros(16, dtype=torch.bool)
    mask[[2, 9]] = True
    assert plot_feature_maps(maps, channels=mask).channels == [2, 9]


def test_colorbar_arrows_mark_the_clipped_ends_and_ticks_use_raw_units(maps):
    for clip, extend in [(None, "neither"), ((0, 99), "max"), ((1, 100), "min"), ((1, 99), "both")]:
        shown = plot_feature_maps(maps, clip=clip, colorbar=True).axes[0].images[0]
        assert shown.colorbar.extend == extend
    bar = plot_feature_maps(maps, sample=1, colorbar=True).axes[0].images[0].colorbar
    fig = bar.ax.figure
    fig.canvas.draw()  # tick labels are made when drawn
    labels = [float(t.get_text().replace("−", "-")) for t in bar.ax.get_yticklabels() if t.get_text()]
    low, high = float(maps[1].min()), float(maps[1].max())
    assert bar.vmin == low and bar.vmax == high  # the bar's own scale is the raw one: no relabelled positions
    visible = [v for v in bar.get_ticks() if low <= v <= high]
    assert len(visible) >= 2 and np.allclose(visible, labels[:len(visible)])
