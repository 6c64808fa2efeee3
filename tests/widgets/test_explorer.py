"""explore: the controls, capture once, redraw what the controls say, label it, clear errors."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from torch import nn

from utils import LayerNotRunError, ReusedLayerError, SimpleCNN, explore
from utils.plot.scaling import normalize_maps
from utils.widgets.explorer import Explorer


@pytest.fixture(scope="module")
def digits(test_set):
    return [test_set[i] for i in range(12)]


@pytest.fixture
def explorer(trained, digits):
    return explore(trained, digits)


def grid_values(explorer: Explorer) -> np.ndarray:
    """The distinct colour positions (0 to 1 along the colormap) drawn in the grid (the padding is NaN)."""
    shown = explorer.figure.axes[1].images[0]
    image = np.ma.getdata(shown.get_array()).astype(np.float64)
    return np.unique(np.round(np.asarray(shown.norm(image[np.isfinite(image)])), 5))


def expected_values(explorer: Explorer) -> np.ndarray:
    view = explorer.view
    low, high = view.channels
    scaled = normalize_maps(explorer.maps[view.layer][view.image], view.scale)[low:high + 1].double()
    if view.scale == "symmetric":  # [-1, 1] with 0 in the middle of the colormap
        scaled = (scaled + 1) / 2
    return np.unique(np.round(scaled.numpy(), 5))


def test_it_is_a_widget_with_the_four_controls(explorer):
    assert isinstance(explorer, widgets.Widget)
    assert isinstance(explorer.image, widgets.IntSlider) and explorer.image.max == 11
    assert explorer.layer.options == ("conv1", "conv2")
    assert explorer.channels.value == (0, 15) and explorer.channels.max == 15
    assert explorer.scale.options == ("layer", "channel", "symmetric")
    assert explorer.scale.value == "symmetric"  # conv maps before the ReLU are signed
    assert "course-explorer" in explorer._dom_classes
    assert explorer.redraws == 1 and bytes(explorer.picture_widget.value).startswith(b"\x89PNG")


def test_it_captures_once_and_moving_controls_only_redraws(trained, digits):
    calls = []
    handle = trained.register_forward_hook(lambda *args: calls.append(1))
    try:
        explorer = explore(trained, digits)
        assert len(calls) == 1
        explorer.image.value = 3
        explorer.layer.value = "conv2"
        explorer.channels.value = (4, 9)
        explorer.scale.value = "channel"
        assert len(calls) == 1
    finally:
        handle.remove()
    assert explorer.redraws == 5  # the first draw, then exactly one per move (the layer change included)


def test_each_control_changes_the_figure_to_what_it_says(explorer):
    pictures = {bytes(explorer.picture_widget.value)}
    for control, value in [("image", 5), ("layer", "conv2"), ("channels", (8, 11)), ("scale", "layer")]:
        getattr(explorer, control).value = value
        np.testing.assert_allclose(grid_values(explorer), expected_values(explorer), atol=2e-5)
        assert bytes(explorer.picture_widget.value) not in pictures
        pictures.add(bytes(explorer.picture_widget.value))


def test_a_new_layer_shows_all_its_channels(explorer):
    explorer.channels.value = (2, 4)
    explorer.layer.value = "conv2"
    assert explorer.channels.max == 31 and explorer.channels.value == (0, 31)
    explorer.layer.value = "conv1"
    assert explorer.channels.max == 15 and explorer.channels.value == (0, 15)


def test_what_is_shown_is_labelled(explorer, digits, trained):
    explorer.show(image=7, layer="conv2", channels=(0, 7), scale="channel")
    label, predicted = digits[7][1], int(trained(digits[7][0][None]).argmax())
    words = explorer.describe()
    assert f"image 7, label {label}, predicted {predicted}" in words
    assert "layer conv2: channels 0-7 of 32 (8x8)" in words and "scale channel" in words
    assert "conv2" in explorer.label.value and "channels 0-7" in explorer.label.value
    texts = [ax.get_title() for ax in explorer.figure.axes]
    assert any("conv2: channels 0-7 of 32" in t and "scale: channel" in t for t in texts)
    assert any(f"label {label}" in t and f"predicted {predicted}" in t for t in texts)


def test_a_misclassified_image_is_marked(trained, test_set):
    images = torch.stack([test_set[i][0] for i in range(200)])
    predicted = trained(images).argmax(1)
    labels = torch.tensor([test_set[i][1] for i in range(200)])
    wrong = int((predicted != labels).nonzero()[0])
    explorer = explore(trained, images[wrong:wrong + 2], labels=labels[wrong:wrong + 2])
    assert explorer.caption_colour(0) != "black" and explorer.figure.axes[0].title.get_color() != "black"
    assert explorer.predictions[0] == int(predicted[wrong])


def test_show_sets_several_controls_with_one_redraw(explorer):
    before = explorer.redraws
    explorer.show(image=2, layer="conv2", channels=(3, 5), scale="layer")
    assert explorer.redraws == before + 1
    assert explorer.view.channels == (3, 5) and explorer.view.layer == "conv2"
    with pytest.raises(ValueError, match="conv1, conv2"):
        explorer.show(layer="fc1")


def test_render_draws_a_view_from_scratch_without_changing_the_explorer(explorer):
    before = explorer.view
    figure = explorer.render(explorer.view.__class__(1, "conv2", (0, 3), "channel"))
    assert figure is not explorer.figure and explorer.view == before
    assert "conv2: channels 0-3" in " ".join(ax.get_title() for ax in figure.axes)


def test_the_model_is_left_as_it_was(digits):
    model = SimpleCNN().train()
    explore(model, digits[:2])
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())


def test_inputs(trained, digits):
    images = torch.stack([image for image, _ in digits])
    explorer = explore(trained, images)
    assert explorer.labels is None and "label" not in explorer.describe().split(";")[0]
    assert explore(trained, images[0]).image.disabled  # one image (C, H, W): nothing to slide
    named = explore(trained, images[:3], labels=[1, 2, 3], class_names=[f"class {k}" for k in range(10)])
    assert "label class 1" in named.describe()
    only = explore(trained, images[:3], layers=["conv2"])
    assert only.layer.options == ("conv2",) and only.channels.value == (0, 31)
    assert len(repr(explorer)) <= 110 and "conv1, conv2" in repr(explorer)


def test_clear_errors(trained, digits):
    images = torch.stack([image for image, _ in digits])
    with pytest.raises(ValueError, match="labels"):
        explore(trained, images, labels=[1, 2])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        explore(trained, images[:, 0, 0])
    with pytest.raises(ValueError, match="no images"):
        explore(trained, [])
    with pytest.raises(TypeError, match="tensor"):
        explore(trained, "digits.png")
    with pytest.raises(ValueError, match="not \\(N, C, H, W\\)"):
        explore(trained, images, layers=["conv1", "fc1"])
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        explore(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), images)


class WithSpare(nn.Module):
    """A conv that runs, a spare one that never does, and a pool used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.spare, self.pool = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 1), nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.pool(self.conv(x))).flatten(1)


def test_explore_names_a_layer_that_never_runs_and_keeps_none_silently():
    images = torch.zeros(2, 1, 12, 12)
    for layers in (["spare"], ["conv", "spare"]):
        with pytest.raises(LayerNotRunError, match="'spare' did not run"):
            explore(WithSpare(), images, layers=layers)


def test_explore_says_what_to_do_with_a_reused_layer():
    with pytest.raises(ReusedLayerError, match=r"runs 2 times.*Explore the layer that feeds"):
        explore(WithSpare(), torch.zeros(2, 1, 12, 12), layers=["pool"])


def test_explore_restores_every_submodule_mode():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    model[1].eval()
    explorer = explore(model, torch.zeros(2, 1, 8, 8))
    assert model.training and model[0].training and not model[1].training
    assert list(explorer.maps) == ["0"]
