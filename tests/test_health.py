"""utils.analysis.stats.health_warnings: the check notebook 06 runs on a probe batch after every epoch."""

from __future__ import annotations

import pytest
import torch

from utils import get_feature_maps, load_mnist, load_trained_simplecnn
from utils.analysis.stats import health_warnings


def layer(channels: int, dead: int = 0, sparse: int = 0) -> torch.Tensor:
    """(N=2, C, 5, 4) maps: the first `dead` channels never positive, the next `sparse` positive once in 40."""
    maps = torch.rand(2, channels, 5, 4, generator=torch.Generator().manual_seed(channels)) + 0.1
    maps[:, :dead + sparse] = -1.0
    maps[0, dead:dead + sparse, 0, 0] = 1.0
    return maps


def test_healthy_layers_give_no_warning():
    assert health_warnings({"conv1": layer(16), "conv2": layer(32, dead=8)}) == []  # 25% is still allowed


def test_dead_channels_beyond_the_limit_are_flagged():
    assert health_warnings({"conv1": layer(16), "conv2": layer(32, dead=9)}) == [
        "conv2: 9 of 32 channels dead (28%, limit 25%)"]
    assert health_warnings({"a": layer(4, dead=2)}, max_dead=0.5) == []
    assert health_warnings({"a": layer(4, dead=3)}, max_dead=0.5) == ["a: 3 of 4 channels dead (75%, limit 50%)"]


def test_sparse_channels_count_with_the_dead_ones():
    assert health_warnings({"conv1": layer(10, dead=2, sparse=3)}) == []  # 5 of 10: not more than half
    assert health_warnings({"conv1": layer(10, dead=2, sparse=4)}) == [
        "conv1: 6 of 10 channels dead or sparse (60%, limit 50%)"]
    assert health_warnings({"conv1": layer(10, sparse=6)}, sparse_threshold=0.99) == []  # 39 of 40 zero < 99%


def test_the_shipped_model_is_healthy_and_a_dead_one_is_not():
    model = load_trained_simplecnn()
    test_set = load_mnist(train=False, verbose=False)
    probe = torch.stack([test_set[i][0] for i in range(64)])
    assert health_warnings(get_feature_maps(model, probe)) == []
    with torch.no_grad():
        model.conv2.bias -= 100.0  # every conv2 output negative: the ReLU after it lets nothing through
    assert health_warnings(get_feature_maps(model, probe)) == ["conv2: 32 of 32 channels dead (100%, limit 25%)"]


def test_bad_input_says_what_to_pass():
    with pytest.raises(TypeError, match="mapping of layer names"):
        health_warnings(layer(4))
    with pytest.raises(ValueError, match="no spatial maps"):
        health_warnings({"fc1": torch.randn(4, 120)})
