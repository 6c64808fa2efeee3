"""utils.analysis.feature_visualization by the properties that define it: the unit's activation rises, the
regularizers bound the image, the same seed gives the same picture; and its bad-input errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils.analysis.feature_visualization import feature_visualization, gaussian_blur


def smooth_model() -> nn.Module:
    """A small conv net with smooth activations: plain gradient ascent must then rise at every small step."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Conv2d(4, 6, 3), nn.Tanh(), nn.Flatten(),
                         nn.Linear(6 * 8 * 8, 5)).eval()


@pytest.mark.parametrize("layer, channels", [("2", [0, 3, 5]), ("5", [1, 4])])
def test_without_regularizers_the_activation_rises_at_every_step(layer, channels):
    result = feature_visualization(smooth_model(), layer, channels, size=(1, 12, 12), steps=60, lr=0.01)
    assert result.activation.shape == (61, len(channels))
    assert bool((result.activation.diff(dim=0) > 0).all())


def test_on_the_trained_simplecnn_every_class_score_rises_far_above_the_real_digits(trained, real_digits):
    result = feature_visualization(trained, "fc3", list(range(10)), steps=100, lr=0.05)
    assert bool((result.activation.diff(dim=0) > 0).float().mean() > 0.95)  # ReLU kinks may cost a rare step
    with torch.no_grad():
        assert bool((result.activation[-1] > 2 * trained(real_digits).max()).all())
        assert torch.equal(trained(result.images).argmax(1), torch.arange(10))


def test_a_conv_cell_and_a_conv_channel_mean_both_rise(trained):
    for cell in [None, (3, 3)]:
        result = feature_visualization(trained, "conv2", [0, 4], cell=cell, steps=40)
        assert bool((result.activation[-1] > result.activation[0] + 1).all())


def test_the_same_seed_gives_the_same_picture_and_another_seed_another(trained):
    settings = {"steps": 30, "jitter": 2, "blur": 0.5, "decay": 0.02, "bounds": (-1.0, 1.0)}
    first = feature_visualization(trained, "conv2", [4], seed=3, **settings)
    again = feature_visualization(trained, "conv2", [4], seed=3, **settings)
    other = feature_visualization(trained, "conv2", [4], seed=4, **settings)
    assert torch.equal(first.images, again.images) and torch.equal(first.activation, again.activation)
    assert not torch.allclose(first.images, other.images)


def test_bounds_clip_every_pixel_and_decay_bounds_the_root_mean_square(trained):
    clipped = feature_visualization(trained, "fc3", [3], steps=50, lr=0.2, bounds=(-1.0, 1.0))
    assert clipped.images.min() >= -1 and clipped.images.max() <= 1
    free = feature_visualization(trained, "fc3", [3], steps=200, lr=0.05)
    decayed = feature_visualization(trained, "fc3", [3], steps=200, lr=0.05, decay=0.05)
    rms = lambda image: float(image.pow(2).mean().sqrt())  # noqa: E731
    assert rms(decayed.images) <= 0.05 / 0.05 + 1e-4 < rms(free.images)  # rms <= lr / decay


def test_blur_takes_out_high_frequencies(trained):
    def roughness(image):  # mean squared difference between neighbouring pixels
        return float((image.diff(dim=-1) ** 2).mean() + (image.diff(dim=-2) ** 2).mean())

    sharp = feature_visualization(trained, "conv2", [2], steps=100)
    blurred = feature_visualization(trained, "conv2", [2], steps=100, blur=1.0)
    assert roughness(blurred.images) < 0.5 * roughness(sharp.images)


def test_gaussian_blur_keeps_constants_and_the_range():
    images = torch.rand(2, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    blurred = gaussian_blur(images, 1.5)
    assert blurred.shape == images.shape
    assert blurred.min() >= images.min() and blurred.max() <= images.max()
    assert torch.allclose(blurred.mean(dim=(2, 3)), images.mean(dim=(2, 3)), atol=0.05)


def test_the_model_is_left_as_it_was(trained):
    trained.train()
    try:
        feature_visualization(trained, "fc1", [0], steps=3)
        assert trained.training and all(p.grad is None for p in trained.parameters())
    finally:
        trained.eval()


@pytest.mark.parametrize("kwargs, error, words", [
    ({"layer": "conv3"}, KeyError, "Did you mean"),
    ({"layer": 2}, TypeError, "layer must be a layer's name"),
    ({"channels": 40}, ValueError, "out of range: 'conv2' has 32 channels"),
    ({"channels": []}, TypeError, "non-empty list"),
    ({"channels": "3"}, TypeError, "channels must be"),
    ({"size": (28, 28)}, ValueError, "size must be one input's"),
    ({"steps": 100_000}, ValueError, "above max_steps"),
    ({"lr": 0}, ValueError, "lr must be a positive number"),
    ({"jitter": -1}, ValueError, "jitter must be"),
    ({"blur": -1.0}, ValueError, "blur must be"),
    ({"decay": 1.0}, ValueError, "decay must be"),
    ({"bounds": (1.0, -1.0)}, ValueError, "bounds must be"),
    ({"cell": (9, 0)}, ValueError, "outside 'conv2'"),
    ({"channels": list(range(32)), "size": (1, 600, 600)}, ValueError, "above max_pixels"),
])
def test_bad_arguments_say_what_to_pass(trained, kwargs, error, words):
    arguments = {"layer": "conv2", "channels": 0, "steps": 2, **kwargs}
    with pytest.raises(error, match=words):
        feature_visualization(trained, arguments.pop("layer"), arguments.pop("channels"), **arguments)


def test_a_cell_on_a_linear_layer_is_refused_with_the_fix(trained):
    with pytest.raises(ValueError, match="cell=None for a linear layer"):
        feature_visualization(trained, "fc1", 0, cell=(0, 0), steps=1)


def test_a_reused_layer_is_refused(trained):
    with pytest.raises(RuntimeError, match="ran 2 times"):
        feature_visualization(trained, "pool", 0, steps=1)
