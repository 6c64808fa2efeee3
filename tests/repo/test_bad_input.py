"""Wrong arguments get an error from the package that names the argument and the fix, never one from inside torch."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from utils import capture, channel_stats, explore, get_feature_maps, list_layers, plot_feature_maps  # noqa: E402
from utils.models import SimpleCNN  # noqa: E402


@pytest.fixture(scope="module")
def model() -> SimpleCNN:
    torch.manual_seed(0)
    return SimpleCNN().eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("bad, message", [
    (lambda v: v, "takes the model as an nn.Module instance.*not function"),
    (None, "not NoneType"),
    (SimpleCNN, r"got the class SimpleCNN, not a model: create one first, model = SimpleCNN\(\)"),
])
def test_a_model_that_is_not_a_module_instance(bad, message, x):
    for call in (lambda: get_feature_maps(bad, x), lambda: list_layers(bad, x), lambda: capture(bad).__enter__(),
                 lambda: explore(bad, x)):
        with pytest.raises(TypeError, match=message):
            call()


@pytest.mark.parametrize("make, error, message", [
    (lambda x: x.numpy(), TypeError, r"{a} is a NumPy array.*torch.from_numpy\({a}\).float\(\)"),
    (lambda x: (x * 255).to(torch.uint8), TypeError, r"{a} has dtype torch.uint8.*{a}.float\(\) / 255"),
    (lambda x: x.long(), TypeError, r"{a} has dtype torch.int64.*{a}.float\(\)"),
    (lambda x: x[0], ValueError, r"{a} has shape \(1, 28, 28\), one input without its batch dimension.*"
                                  r"{a}.unsqueeze\(0\)"),
    (lambda x: x[0, 0], ValueError, r"{a} has shape \(28, 28\).*{a}\[None, None\]"),
])
def test_an_input_of_the_wrong_kind(model, x, make, error, message):
    with pytest.raises(error, match="get_feature_maps: " + message.format(a="x")):
        get_feature_maps(model, make(x))
    with pytest.raises(error, match="list_layers: " + message.format(a="example")):
        list_layers(model, make(x))


def test_uint8_images_to_explore(model, x):
    with pytest.raises(TypeError, match=r"explore: images has dtype torch.uint8.*images.float\(\) / 255"):
        explore(model, (x * 255).to(torch.uint8))


@pytest.mark.parametrize("layers, message", [
    (123, r"layers=123: give a layer name such as 'conv1', a list of names, or None"),
    ([1, 2], r"layers holds 1 \(int\): each layer is a name such as 'conv1'"),
])
def test_layers_of_the_wrong_kind(model, x, layers, message):
    with pytest.raises(TypeError, match=message):
        get_feature_maps(model, x, layers)


@pytest.mark.parametrize("option, message", [
    ({"ncols": "4"}, r"ncols='4': the number of columns is a positive integer, such as ncols=4"),
    ({"ncols": 0}, r"ncols=0"),
    ({"title": 123}, r"title=123: a title is a string"),
    ({"ax": "x"}, r"ax='x': pass a matplotlib Axes"),
])
def test_plot_options_of_the_wrong_kind(option, message):
    with pytest.raises(TypeError, match=message):
        plot_feature_maps(torch.rand(1, 4, 5, 5), **option)


def test_channel_stats_of_huge_finite_values_stay_finite():
    maps = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 1e20
    stats = channel_stats(maps)
    expected = maps.double().transpose(0, 1).reshape(3, -1).std(1, correction=0)
    assert torch.isfinite(stats.std).all()
    assert torch.allclose(stats.std.double(), expected, rtol=1e-5)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_channel_stats_refuses_nan_and_inf_saying_where(value):
    maps = torch.zeros(2, 3, 4, 4)
    maps[1, 2, 0, 3] = value
    with pytest.raises(ValueError, match=r"1 value\(s\) that are NaN or infinite \(the first at index "
                                         r"\(1, 2, 0, 3\)\).*torch.nan_to_num"):
        channel_stats(maps)


def test_explorer_show_checks_its_arguments(model, x):
    explorer = explore(model, x[:2])
    redraws = explorer.redraws
    with pytest.raises(ValueError, match=r"image=5: this explorer has 2 image\(s\), numbered 0 to 1"):
        explorer.show(image=5)
    with pytest.raises(ValueError, match=r"scale='bogus' is not a scale: use one of 'layer', 'channel', "
                                         "'symmetric'"):
        explorer.show(scale="bogus")
    with pytest.raises(ValueError, match=r"channels=\(0, 99\): need 0 <= first <= last <= 15"):
        explorer.show(channels=(0, 99))
    assert explorer.redraws == redraws and explorer.view.image == 0


def test_explorer_shows_a_normalized_photo_as_a_photo_without_warnings():
    torch.manual_seed(0)
    photo = torch.rand(1, 3, 16, 16)  # a photo in [0, 1], then ImageNet-normalized
    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    normalized = (photo - mean) / std
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warned on every redraw when it clipped the RGB input
        explorer = explore(model, normalized)
        explorer.show(scale="layer")
    shown = explorer.picture(0)
    assert shown.shape == (16, 16, 3) and shown.min() >= 0 and shown.max() <= 1
    stretched = photo[0].reshape(3, -1)
    stretched = (stretched - stretched.min(1, keepdim=True).values) / (
        stretched.max(1, keepdim=True).values - stretched.min(1, keepdim=True).values)
    assert np.allclose(shown, stretched.reshape(3, 16, 16).permute(1, 2, 0).numpy(), atol=1e-5)

