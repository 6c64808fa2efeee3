"""The models and inputs the exercises hand out: a damaged SimpleCNN, bar images, a nested model, test digits."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..capturing.guards import Device
from ..capturing.hooks import get_feature_maps
from ..data import load_mnist
from ..train import load_trained_simplecnn

__all__ = ["damaged_simplecnn", "bar_images", "nested_exercise_model", "held_out_digits", "conv2_maps"]


def damaged_simplecnn(device: Device | None = None) -> nn.Module:
    """Exercise 05.1: a copy of the trained SimpleCNN that someone broke; which conv2 channels died is the question.

    The damage is written here and nowhere else (no public constant names it), so that the answer is measured, not
    imported; tests find it from the biases, against the trained model's.

    >>> damaged_simplecnn().conv2.out_channels
    32
    """
    model = load_trained_simplecnn()
    bias = model.conv2.bias
    assert bias is not None  # the SimpleCNN's convolutions have biases
    with torch.no_grad():
        bias[[3, 12, 27]] -= 30.0  # never positive any more
        bias[18] -= 8.0  # positive only at its very strongest responses
    return model.to(device or "cpu")


def bar_images() -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 05.2: a horizontal and a vertical bar, 3 pixels thick, as (1, 1, 28, 28) digits (ink +1 on -1).

    >>> [tuple(bar.shape) for bar in bar_images()]
    [(1, 1, 28, 28), (1, 1, 28, 28)]
    """
    horizontal = torch.full((1, 1, 28, 28), -1.0)
    horizontal[..., 12:15, :] = 1.0
    return horizontal, horizontal.transpose(2, 3).contiguous()


def nested_exercise_model() -> nn.Module:
    """Exercise 04.4: a model with blocks inside blocks, whose layer names are the question.

    >>> nested_exercise_model()(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """

    def block(channels_in: int, channels_out: int) -> nn.Sequential:
        return nn.Sequential(OrderedDict(conv=nn.Conv2d(channels_in, channels_out, 3, padding=1),
                                         norm=nn.BatchNorm2d(channels_out), act=nn.ReLU()))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = nn.Sequential(OrderedDict(
            stem=nn.Conv2d(1, 8, 3, padding=1),
            stages=nn.Sequential(block(8, 16), block(16, 16), nn.MaxPool2d(2), block(16, 32)),
            head=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)),
        ))
    return model.eval()


def held_out_digits(count: int | None = None) -> torch.Tensor:
    """The first `count` digits of the test set (all of them by default) as one (N, 1, 28, 28) tensor."""
    test_set = load_mnist(train=False, verbose=False)
    count = len(test_set) if count is None else count
    return torch.stack([test_set[i][0] for i in range(count)])


def conv2_maps(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The model's conv2 maps of `images`, on the CPU, 500 images at a time."""
    model = model.to("cpu")
    return torch.cat([get_feature_maps(model, batch, ["conv2"])["conv2"] for batch in images.split(500)])
