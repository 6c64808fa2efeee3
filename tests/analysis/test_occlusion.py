"""utils.analysis.occlusion against Captum's Occlusion, by its definition on a linear model, and its bounds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils.analysis.occlusion import occlusion

captum_attr = pytest.importorskip("captum.attr")


@pytest.fixture
def digits() -> torch.Tensor:
    return torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("window, stride", [(8, 4), ((5, 7), (3, 2)), (3, 1)])
def test_matches_captum_occlusion(trained, real_digits, window, stride):
    x, targets = real_digits[:3], [1, 2, 3]
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    reference = captum_attr.Occlusion(trained).attribute(x, sliding_window_shapes=(1, *pair(window)),
                                                         strides=(1, *pair(stride)), target=targets, baselines=-1.0)
    ours = occlusion(trained, x, targets, window=window, stride=stride, baseline=-1.0, batch_size=7)
    assert ours.shape == (3, 28, 28) and reference.abs().max() > 0.1
    assert (ours - reference[:, 0]).abs().max() < 1e-4


def test_a_linear_models_drop_is_weight_times_the_hidden_value():
    linear = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = torch.randn(2, 1, 3, 4, generator=torch.Generator().manual_seed(0))
    drop = occlusion(linear, x, target=2, window=1, baseline=0.5)
    assert torch.allclose(drop, linear[1].weight[2].reshape(3, 4) * (x[:, 0] - 0.5), atol=1e-6)


def test_target_none_is_the_class_predicted_on_the_whole_image(trained, real_digits):
    x = real_digits[:2]
    predicted = trained(x).argmax(1)
    assert torch.equal(occlusion(trained, x, window=7), occlusion(trained, x, predicted, window=7))


def test_bounded_before_anything_runs_and_bad_arguments_are_named(cnn, digits):
    with pytest.raises(ValueError, match="max_evaluations=100.*Raise the stride"):
        occlusion(cnn, digits, window=2, stride=1, max_evaluations=100)
    for kwargs, error, words in [({"window": 0}, ValueError, "window must be at least 1"),
                                 ({"window": (2, 2, 2)}, TypeError, "window must be an int or a pair"),
                                 ({"window": 40}, ValueError, "larger than the image"),
                                 ({"stride": 1.5}, TypeError, "stride must be"),
                                 ({"baseline": "black"}, TypeError, "baseline must be a number"),
                                 ({"batch_size": 0}, ValueError, "batch_size")]:
        with pytest.raises(error, match=words):
            occlusion(cnn, digits, **kwargs)
    with pytest.raises(ValueError, match="out of range"):
        occlusion(cnn, digits, target=10)
