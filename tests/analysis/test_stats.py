"""channel_stats: known answers on synthetic maps, batch-by-batch accumulation, channel health, clear errors."""

from __future__ import annotations

import pytest
import torch

from utils import channel_stats, get_feature_maps, load_mnist, load_trained_simplecnn
from utils.analysis.stats import ChannelStats, ChannelStatsAccumulator, health_warnings


def known_maps() -> torch.Tensor:
    """(N=2, C=4, H=2, W=2) maps whose statistics are easy to work out by hand."""
    maps = torch.zeros(2, 4, 2, 2)
    maps[:, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # always positive, values 1..4 on both samples
    maps[:, 1] = -1.0  # never positive: dead
    maps[0, 2] = torch.tensor([[-1.0, -1.0], [-1.0, 5.0]])  # positive once in 8 values
    maps[1, 2] = -1.0
    maps[:, 3] = 7.0  # positive and constant: saturated
    return maps


def test_known_answers():
    stats = channel_stats(known_maps())
    torch.testing.assert_close(stats.mean, torch.tensor([2.5, -1.0, -0.25, 7.0]))
    torch.testing.assert_close(stats.std, torch.tensor([1.25**0.5, 0.0, (63 / 16) ** 0.5, 0.0]))
    torch.testing.assert_close(stats.max, torch.tensor([4.0, -1.0, 5.0, 7.0]))
    torch.testing.assert_close(stats.min, torch.tensor([1.0, -1.0, -1.0, 7.0]))
    torch.testing.assert_close(stats.frac_zero, torch.tensor([0.0, 1.0, 7 / 8, 0.0]))
    assert stats.dead.tolist() == [False, True, False, False]
    assert stats.dead.dtype == torch.bool
    assert (stats.samples, stats.values, stats.channels) == (2, 8, 4)


def test_std_is_the_population_std_and_every_field_matches_torch():
    maps = torch.randn(5, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    stats = channel_stats(maps)
    per_channel = maps.transpose(0, 1).reshape(3, -1)
    torch.testing.assert_close(stats.mean, per_channel.mean(1))
    torch.testing.assert_close(stats.std, per_channel.std(1, correction=0))
    torch.testing.assert_close(stats.max, per_channel.amax(1))
    torch.testing.assert_close(stats.frac_zero, (per_channel <= 0).float().mean(1))


def test_fields_by_attribute_and_by_key():
    stats = channel_stats(known_maps())
    assert list(stats) == ["mean", "std", "min", "max", "frac_zero", "dead"] and len(stats) == 6
    for key in stats:
        assert stats[key] is getattr(stats, key)
        assert stats[key].shape == (4,) and stats[key].device.type == "cpu"
    assert "dead" in stats and "samples" not in stats
    with pytest.raises(KeyError, match="frac_zero"):
        stats["zeros"]
    assert dict(stats)["dead"] is stats.dead


def test_zero_after_a_relu_counts_as_zero_and_dead_means_never_positive():
    before = torch.tensor([[[[-2.0, 0.0, 3.0, -0.5]]]])
    after = torch.relu(before)
    assert channel_stats(before).frac_zero.item() == channel_stats(after).frac_zero.item() == 0.75
    zeros_and_negatives = torch.tensor([[[[0.0, -1.0]]], [[[0.0, -3.0]]]])
    assert channel_stats(zeros_and_negatives).dead.item()
    assert not channel_stats(zeros_and_negatives + 1e-6).dead.item()


def test_health_names_dead_sparse_and_saturated_channels():
    stats = channel_stats(known_maps())
    assert stats.health() == {"dead": [1], "sparse": [], "saturated": [3]}  # 7/8 zero is below the default 90%
    assert stats.sparse(threshold=0.875).tolist() == [False, False, True, False]  # the dead channel is not sparse
    assert stats.sparse(threshold=0.9).tolist() == [False] * 4
    assert stats.saturated().tolist() == [False, False, False, True]
    assert stats.saturated(rtol=1.0).tolist() == [True, False, False, True]  # std/mean of channel 0 is 0.45
    assert stats.health(sparse_threshold=0.8, saturated_rtol=1.0) == {"dead": [1], "sparse": [2],
                                                                      "saturated": [0, 3]}
    assert stats.summary("conv1") == "conv1: 4 channels over 2 samples: 1 dead, 0 sparse, 1 saturated"
    assert "1 dead" in repr(stats)


def test_a_nearly_constant_channel_with_noise_is_saturated_and_a_varying_one_is_not():
    generator = torch.Generator().manual_seed(1)
    maps = torch.stack([10 + 0.1 * torch.randn(50, 8, 8, generator=generator),
                        torch.randn(50, 8, 8, generator=generator).abs() + 0.1], dim=1)
    assert channel_stats(maps).saturated().tolist() == [True, False]


@pytest.mark.parametrize("sizes", [[8], [3, 5], [1, 1, 1, 1, 1, 1, 1, 1], [0, 4, 0, 4]])
def test_accumulated_over_batches_equals_all_at_once(sizes):
    generator = torch.Generator().manual_seed(2)
    maps = 3 * torch.randn(sum(sizes), 6, 5, 5, generator=generator) + torch.arange(6.0).view(1, 6, 1, 1) - 2
    maps[:, 4] = -torch.rand(sum(sizes), 5, 5, generator=generator)  # a dead channel
    whole = channel_stats(maps)
    batches = list(maps.split(sizes)) if 0 not in sizes else [maps[:0], maps[:4], maps[:0], maps[4:]]
    pieces = channel_stats(iter(batches))  # a one-shot iterator, as a generator over a DataLoader would be
    for key in whole:
        torch.testing.assert_close(pieces[key], whole[key], rtol=1e-5, atol=1e-6)
    assert (pieces.samples, pieces.values) == (whole.samples, whole.values) == (8, 200)
    accumulator = ChannelStatsAccumulator()
    for batch in batches:
        accumulator.update(batch)
    torch.testing.assert_close(accumulator.result().std, whole.std)


def test_accumulating_is_numerically_stable_for_large_offsets():
    generator = torch.Generator().manual_seed(3)
    maps = 1e4 + torch.randn(64, 2, 4, 4, generator=generator)
    stats = channel_stats(maps.split(4))
    torch.testing.assert_close(stats.std, maps.double().transpose(0, 1).reshape(2, -1).std(1, correction=0).float(),
                               rtol=1e-3, atol=0)


def test_over_a_loader_of_feature_maps():
    from torch.utils.data import DataLoader, TensorDataset

    maps = torch.randn(20, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    loader = DataLoader(TensorDataset(maps), batch_size=6)
    stats = channel_stats(batch for (batch,) in loader)
    torch.testing.assert_close(stats.mean, channel_stats(maps).mean)


def test_integer_and_half_maps_are_accepted():
    stats = channel_stats(torch.tensor([[[[1, -1]]]]))
    assert stats.mean.dtype == torch.float32 and stats.frac_zero.item() == 0.5
    assert channel_stats(torch.ones(1, 2, 2, 2, dtype=torch.float16)).mean.tolist() == [1.0, 1.0]


def test_the_input_is_not_changed():
    maps = known_maps()
    before = maps.clone()
    channel_stats(maps)
    assert torch.equal(maps, before)


@pytest.mark.parametrize("shape, hint", [((4, 24, 24), "unsqueeze"), ((8, 10), "fully connected"),
                                         ((2, 3, 4, 5, 6), "5 dimensions"), ((24,), "1 dimensions")])
def test_wrong_shapes_say_what_was_expected(shape, hint):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)") as error:
        channel_stats(torch.zeros(shape))
    assert hint in str(error.value)


def test_other_errors_are_clear():
    with pytest.raises(ValueError, match="same layer"):
        channel_stats([torch.zeros(2, 3, 4, 4), torch.zeros(2, 5, 4, 4)])
    with pytest.raises(ValueError, match="No feature maps yet"):
        channel_stats([])
    with pytest.raises(ValueError, match="No feature maps yet"):
        channel_stats(torch.zeros(0, 3, 4, 4))
    with pytest.raises(ValueError, match="no values per sample"):
        channel_stats(torch.zeros(2, 3, 0, 4))
    with pytest.raises(TypeError, match="pick one"):
        channel_stats({"conv1": torch.zeros(1, 2, 3, 3)})
    with pytest.raises(TypeError, match="tensor of shape"):
        channel_stats(3.0)
    with pytest.raises(TypeError, match="tensor of shape"):
        channel_stats([[[[1.0]]]])  # nested lists: the iterable's items are not tensors
    with pytest.raises(TypeError, match="real-valued"):
        channel_stats(torch.zeros(1, 1, 2, 2, dtype=torch.bool))


def test_on_the_trained_model():
    from utils import load_mnist, load_trained_simplecnn

    model = load_trained_simplecnn()
    images = torch.stack([load_mnist(train=False, verbose=False)[i][0] for i in range(32)])
    with torch.no_grad():
        conv1 = model.conv1(images)
    stats = channel_stats(conv1)
    assert isinstance(stats, ChannelStats) and stats.channels == 16 and stats.samples == 32
    assert ((stats.frac_zero > 0) & (stats.frac_zero < 1)).all()


# --- health_warnings --------------------------------------------------------------------------------------------------

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
