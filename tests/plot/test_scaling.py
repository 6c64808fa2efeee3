"""utils.plot.scaling: normalize_maps and the value checks every drawing helper makes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from utils import normalize_maps  # noqa: E402


def test_layer_mode_is_one_scale_per_sample_and_keeps_relative_strength(maps):
    out = normalize_maps(maps, "layer")
    for n in range(3):
        expected = (maps[n] - maps[n].min()) / (maps[n].max() - maps[n].min())
        assert torch.allclose(out[n], expected, atol=1e-6)
        assert out[n].min() == 0 and out[n].max() == 1
    # a weak channel stays weak next to a strong one
    assert out[1, 0].max() < 0.05 < 0.9 < out[1, 15].max()


def test_channel_mode_scales_every_map_to_the_full_range(maps):
    out = normalize_maps(maps, "channel")
    for n, c in [(0, 0), (1, 0), (2, 15)]:
        m = maps[n, c]
        assert torch.allclose(out[n, c], (m - m.min()) / (m.max() - m.min()), atol=1e-6)
    assert torch.equal(out[0, 3], torch.zeros(12, 12))  # the dead map: zeros, not 0/0


def test_symmetric_mode_keeps_zero_and_sign():
    x = torch.tensor([[[[-4.0, 0.0], [1.0, 2.0]]], [[[0.0, 0.5], [0.0, -0.25]]]])  # (2, 1, 2, 2)
    out = normalize_maps(x, "symmetric")
    assert torch.equal(out[0], x[0] / 4) and torch.equal(out[1], x[1] / 0.5)
    assert torch.equal(torch.sign(out), torch.sign(x))
    assert torch.equal(out == 0, x == 0)
    assert out.abs().amax(dim=(1, 2, 3)).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("mode", ["layer", "channel", "symmetric"])
def test_constant_and_zero_maps_give_zeros_not_nan(mode):
    zeros = normalize_maps(torch.zeros(2, 3, 5, 5), mode)
    assert torch.equal(zeros, torch.zeros(2, 3, 5, 5))
    constant = normalize_maps(torch.full((3, 5, 5), 7.0), mode)
    assert torch.isfinite(constant).all()
    if mode != "symmetric":
        assert torch.equal(constant, torch.zeros(3, 5, 5))
    else:  # symmetric keeps the value relative to the largest magnitude (and its sign)
        assert torch.equal(constant, torch.ones(3, 5, 5))


def test_rounding_noise_counts_as_constant_but_tiny_real_signals_do_not():
    noisy = torch.full((4, 4), 1000.0) + torch.tensor([0.0, 2.0**-14] * 8).view(4, 4)  # 1 float32 step apart
    assert torch.equal(normalize_maps(noisy), torch.zeros(4, 4))
    tiny = torch.tensor([[1e-30, 2e-30], [3e-30, 5e-30]])
    assert torch.allclose(normalize_maps(tiny), torch.tensor([[0.0, 0.25], [0.5, 1.0]]))


def test_extreme_values_do_not_overflow():
    out = normalize_maps(torch.tensor([[-3e38, 0.0, 3e38]]))
    assert torch.isfinite(out).all() and out.tolist() == [[0.0, 0.5, 1.0]]


@pytest.mark.parametrize("mode", ["layer", "channel", "symmetric"])
def test_input_is_never_changed_and_never_shared(maps, mode):
    before = maps.clone()
    out = normalize_maps(maps, mode, clip=(1, 99))
    assert torch.equal(maps, before)
    out += 100
    assert torch.equal(maps, before)


def test_dtypes_devices_and_arrays():
    assert normalize_maps(torch.arange(6.0, dtype=torch.float64).view(2, 3)).dtype == torch.float64
    assert normalize_maps(torch.arange(6).view(2, 3)).dtype == torch.float32
    assert normalize_maps(torch.arange(6.0, dtype=torch.float16).view(2, 3)).dtype == torch.float32
    from_numpy = normalize_maps(np.arange(6.0).reshape(2, 3))
    assert isinstance(from_numpy, torch.Tensor) and from_numpy.max() == 1
    grad = torch.rand(2, 3, requires_grad=True)
    assert not normalize_maps(grad).requires_grad


def test_clip_uses_percentiles_of_each_group_and_reveals_structure():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(2, 4, 8, 8, generator=generator)
    x[0, 0, 0, 0] = 1000.0  # one hot pixel squashes everything else in sample 0
    plain = normalize_maps(x, "layer")
    assert plain[0].flatten().sort().values[-2] < 0.002
    clipped = normalize_maps(x, "layer", clip=(2, 98))
    for n in range(2):
        low, high = np.percentile(x[n].numpy(), [2, 98])
        expected = (np.clip(x[n].numpy(), low, high) - low) / (high - low)
        assert np.allclose(clipped[n].numpy(), expected, atol=1e-5)
    assert clipped[0, 0, 0, 0] == 1 and clipped[0].median() > 0.3
    per_map = normalize_maps(x, "channel", clip=(0, 50))
    assert (per_map.flatten(2).max(dim=2).values == 1).all()


@pytest.mark.parametrize("bad, error, words", [
    (torch.rand(5), ValueError, "(H, W), (C, H, W) or (N, C, H, W)"),
    (torch.rand(1, 2, 3, 4, 5), ValueError, "got shape (1, 2, 3, 4, 5)"),
    (torch.rand(0, 4, 4), ValueError, "empty"),
    (torch.tensor([[1.0, float("nan")], [float("inf"), 0.0]]), ValueError, "2 value(s) that are NaN or infinite"),
    ({"conv1": torch.rand(2, 2, 2)}, TypeError, "maps['conv1']"),
    ("pixels", TypeError, "tensor or an array"),
])
def test_bad_maps_say_what_was_expected(bad, error, words):
    with pytest.raises(error) as caught:
        normalize_maps(bad)
    assert words in str(caught.value)


def test_nan_error_says_where_and_what_to_do():
    x = torch.zeros(2, 3, 4, 4)
    x[1, 2, 0, 3] = float("nan")
    with pytest.raises(ValueError, match=r"index \(1, 2, 0, 3\).*nan_to_num"):
        normalize_maps(x)


@pytest.mark.parametrize("mode, clip, words", [
    ("layers", None, "'layer' (one scale per sample)"),
    ("layer", (99, 1), "0 <= low < high <= 100"),
    ("layer", (0.01, 0.99), "not fractions"),
    ("layer", 99, "pair of percentiles"),
])
def test_bad_mode_or_clip(mode, clip, words):
    with pytest.raises(ValueError) as caught:
        normalize_maps(torch.rand(3, 4, 4), mode, clip)
    assert words in str(caught.value)
