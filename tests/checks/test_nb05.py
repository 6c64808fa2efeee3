"""utils.checks: the checks of notebook 05 (utils/checks/nb05.py)."""

from __future__ import annotations

import pytest
import torch

from tests.checks.answers import outcome
from utils import channel_stats, checks, get_feature_maps, load_mnist, load_trained_simplecnn
from utils.analysis import stats as stats_module
from utils.analysis.stats import ChannelStatsAccumulator
from utils.checks import check_seven_to_two


@pytest.fixture(scope="module")
def test_images():
    test_set = load_mnist(train=False, verbose=False)
    return torch.stack([test_set[i][0] for i in range(len(test_set))])


SEVEN = [(80, 50), (205, 50), (125, 245)]


def damage():
    """What damaged_simplecnn did to conv2, read from the biases: (channels pushed far down, channels pushed less)."""
    lowered = load_trained_simplecnn().conv2.bias.detach() - checks.damaged_simplecnn().conv2.bias.detach()
    far, less = (lowered > 20).nonzero().flatten().tolist(), ((lowered > 1) & (lowered <= 20)).nonzero().flatten()
    return far, less.tolist()


def test_the_damage_is_no_public_constant():
    """Exercise 05.1's answer is measured, not imported: exercise_models exports no names of broken channels."""
    from utils.checks import exercise_models

    far, less = damage()
    assert len(far) == 3 and len(less) == 1
    for name in dir(exercise_models):
        value = getattr(exercise_models, name)
        if isinstance(value, (tuple, list, set, int)) and not isinstance(value, bool):
            assert value not in (tuple(far), far, set(far), less[0]), name


def test_dead_channels(capsys, test_images):
    stats = channel_stats(get_feature_maps(checks.damaged_simplecnn(), test_images, ["conv2"])["conv2"])
    dead = stats.health()["dead"]
    sparse = stats.health()["sparse"]
    broken, rare = damage()
    assert set(broken) < set(dead) and sparse == rare  # the exercise is what it says
    answer_text = str(dead)
    for right in (dead, stats.dead, torch.tensor(dead), tuple(reversed(dead))):
        ok, message = outcome(capsys, checks.check_dead_channels(right))
        assert ok and message.startswith("✓"), message
    wrongs = {"sparse, not dead": dead + sparse, "not dead": dead + [0], "missing": dead[:-2],
              "32 channels": [40], "mask": [True] * 5, "integers": [1.5]}
    for expected, wrong in wrongs.items():
        ok, message = outcome(capsys, checks.check_dead_channels(wrong))
        assert not ok and message.startswith("✗ Not yet:") and expected in message, (wrong, message)
        assert answer_text not in message
    ok, message = outcome(capsys, checks.check_dead_channels(broken))  # only the broken ones
    assert not ok and "before anyone broke" in message


def test_horizontal_channel(capsys):
    conv1 = load_trained_simplecnn().conv1
    with torch.no_grad():
        horizontal, vertical = (torch.relu(conv1(bar)).amax(dim=(0, 2, 3)) for bar in checks.bar_images())
        empty = torch.relu(conv1(torch.full((1, 1, 28, 28), -1.0))).amax(dim=(0, 2, 3))
    best, strongest = int((horizontal - vertical).argmax()), int(horizontal.argmax())
    assert best != strongest  # the exercise's trap: the strongest response is not the most selective one
    assert empty[strongest] > 0.95 * horizontal[strongest]  # ... it is the background's, as the hint says
    ok, message = outcome(capsys, checks.check_horizontal_channel(best))
    assert ok and message.startswith("✓")
    ok, message = outcome(capsys, checks.check_horizontal_channel(torch.tensor(best)))
    assert ok
    ok, message = outcome(capsys, checks.check_horizontal_channel(strongest))
    assert not ok and "empty background around the bars" in message and f"{float(empty[strongest]):.2f}" in message
    prefers_vertical = int((horizontal - vertical).argmin())
    ok, message = outcome(capsys, checks.check_horizontal_channel(prefers_vertical))
    assert not ok and "vertical bar at least as strongly" in message
    runner_up = int((horizontal - vertical).argsort(descending=True)[1])
    ok, message = outcome(capsys, checks.check_horizontal_channel(runner_up))
    assert not ok and "another channel prefers" in message and str(best) not in message.replace(str(runner_up), "")
    for bad in (16, -1, 2.5, "seven"):
        ok, message = outcome(capsys, checks.check_horizontal_channel(bad))
        assert not ok and "0 to 15" in message


def test_bar_images():
    horizontal, vertical = checks.bar_images()
    assert horizontal.shape == vertical.shape == (1, 1, 28, 28)
    assert torch.equal(horizontal[0, 0].T, vertical[0, 0]) and int((horizontal == 1).sum()) == 3 * 28


def frac_zero_by_hand(maps, channel):
    return (maps[:, channel] <= 0).float().mean().item()


stats_alias = channel_stats  # a learner's alias, made outside the function that uses it


def frac_zero_by_accumulator(maps, channel):
    accumulator = ChannelStatsAccumulator()
    accumulator.update(maps)
    return accumulator.result().frac_zero[channel].item()


def stats_by_helper(maps):
    """A learner's helper that reaches the accumulator through the module it lives in (no name calls_any reads)."""
    accumulator = getattr(stats_module, "ChannelStats" + "Accumulator")()
    accumulator.update(maps)
    return accumulator.result()


def test_frac_zero(capsys, test_images):
    maps = get_feature_maps(load_trained_simplecnn(), test_images[:64], ["conv2"])["conv2"]
    assert abs(frac_zero_by_hand(maps, 5) - float(channel_stats(maps).frac_zero[5])) < 1e-6
    for right in (frac_zero_by_hand, lambda m, c: (m[:, c] <= 0).float().mean()):
        ok, message = outcome(capsys, checks.check_frac_zero(right))
        assert ok and message.startswith("✓")
    wrongs = {"percentage": lambda m, c: 100 * frac_zero_by_hand(m, c),
              "<= 0": lambda m, c: (m[:, c] < 0).float().mean(),
              "pass the ReLU": lambda m, c: 1 - frac_zero_by_hand(m, c),
              "all channels": lambda m, c: (m <= 0).float().mean(),
              "one sample": lambda m, c: (m[0, c] <= 0).float().mean(),
              "check yourself": lambda m, c: frac_zero_by_hand(m, c) + 0.01,
              "one number": lambda m, c: [0.5, 0.5],
              "channel 5 only": lambda m, c: frac_zero_by_hand(m, 5)}
    for expected, wrong in wrongs.items():
        ok, message = outcome(capsys, checks.check_frac_zero(wrong))
        assert not ok and (expected in message or expected == "channel 5 only"), (expected, message)
    # the library call the exercise names is refused, by name or under an alias, though its value is right
    for library in (lambda m, c: channel_stats(m).frac_zero[c].item(), lambda m, c: stats_alias(m).frac_zero[c]):
        ok, message = outcome(capsys, checks.check_frac_zero(library))
        assert not ok and "calls `channel_stats`" in message
    # the class behind channel_stats is refused too (second expert read: it passed), by name or reached in a helper
    ok, message = outcome(capsys, checks.check_frac_zero(frac_zero_by_accumulator))
    assert not ok and "calls `ChannelStatsAccumulator`" in message, message
    ok, message = outcome(capsys, checks.check_frac_zero(lambda m, c: stats_by_helper(m).frac_zero[c].item()))
    assert not ok and "`ChannelStatsAccumulator` was called" in message, message
    ok, message = outcome(capsys, checks.check_frac_zero(0.54))
    assert not ok and "should be a function" in message


@pytest.mark.parametrize("check", [checks.check_dead_channels, checks.check_horizontal_channel,
                                   checks.check_frac_zero])
def test_unanswered(capsys, check):
    ok, message = outcome(capsys, check(None))
    assert not ok and "still None" in message


def test_a_bottom_bar_turns_the_seven_into_a_two(capsys):
    assert check_seven_to_two([SEVEN, [(125, 245), (210, 245)]])
    assert capsys.readouterr().out.startswith("✓ Right: a 7")


def test_tuples_of_strokes_work_too():
    assert check_seven_to_two((SEVEN, ((125, 245), (210, 245))))


@pytest.mark.parametrize(("strokes", "hint"), [
    (None, "still None"),
    ("a seven", "list of strokes"),
    (42, "list of strokes"),
    ([SEVEN], "at least two strokes"),
    ([SEVEN, []], "no points"),
    ([SEVEN, [(float("nan"), 1.0)]], "NaN"),
    ([[(140, 40), (140, 240)], [(125, 245), (210, 245)]], "not a 7"),  # starts from a 1
    ([SEVEN, [(100, 150), (170, 150)]], "still read as a 7"),  # a crossbar: still a 7
    ([SEVEN, [(40, 245), (125, 245)]], "not a 2"),  # a long bar to the left: a 3 (91%)
    ([SEVEN, [(80, 90), (140, 40), (200, 90), (80, 240), (210, 240)]], "bends"),  # a whole 2 (93%) in one stroke
])
def test_wrong_drawings_get_a_hint_and_never_raise(capsys, strokes, hint):
    assert not check_seven_to_two(strokes)
    assert hint in capsys.readouterr().out
