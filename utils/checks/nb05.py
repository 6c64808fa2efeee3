"""Checks for notebook 05, Reading feature maps: dead channels, a horizontal-bar channel, frac_zero by hand, and a
7 turned into a 2 by one stroke on the drawing pad."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from ..analysis.stats import channel_stats
from ..train import load_trained_simplecnn
from ..widgets.draw import strokes_to_digit
from ..widgets.network_view import network_view
from .core import CheckResult, as_number, fail, missing, not_answered, report, run_cases
from .exercise_models import bar_images, conv2_maps, damaged_simplecnn, held_out_digits

__all__ = ["check_dead_channels", "check_horizontal_channel", "check_frac_zero", "check_seven_to_two"]

# What computes the per-channel statistics that frac_zero (here) and dead_fraction (notebook 06) ask for by hand:
# the function and the classes behind it (ChannelStatsAccumulator().update(maps); .result() gives them too).
STATS_HELPERS = ("channel_stats", "ChannelStats", "ChannelStatsAccumulator")


def _channel_list(channels: object, count: int) -> list[int] | str:
    """channels (ints, or a boolean mask of `count` values) as sorted ints, or a message saying what is wrong."""
    if isinstance(channels, torch.Tensor):
        channels = channels.flatten().tolist()
    if not isinstance(channels, Iterable) or isinstance(channels, (str, bytes)):
        return "give a list of channel numbers, e.g. [0, 5], or the boolean mask stats.dead."
    items = list(channels)
    if items and all(isinstance(v, bool) for v in items):
        if len(items) != count:
            return f"a boolean mask needs one value per channel ({count})."
        return [i for i, dead in enumerate(items) if dead]
    numbers = [as_number(v) for v in items]
    whole = [int(n) for n in numbers if n is not None and n == int(n)]
    if len(whole) != len(items):
        return "give channel numbers as integers."
    if any(not 0 <= n < count for n in whole):
        return f"the layer has {count} channels, numbered 0 to {count - 1}."
    return sorted(set(whole))


def check_dead_channels(channels: object) -> CheckResult:
    """Exercise 05.1: the dead channels of damaged_simplecnn()'s conv2 over every test digit."""
    if not_answered(channels):
        return missing("`dead_channels`")
    answer = _channel_list(channels, 32)
    if isinstance(answer, str):
        return fail(answer)
    stats = channel_stats(conv2_maps(damaged_simplecnn(), held_out_digits()))
    dead = set(stats.health()["dead"])
    extra, found = set(answer) - dead, set(answer) & dead
    if extra & set(stats.health()["sparse"]):
        return fail("your list has a channel that is zero almost everywhere but positive somewhere: "
                    "that is sparse, not dead. Dead means never positive (frac_zero == 1, max <= 0).")
    if extra:
        return fail("some channels in your list are positive on some digits, so the ReLU lets them "
                    "through: they are not dead.")
    if found != dead:
        return fail(f"all {len(found)} channel(s) in your list are dead, but some dead ones are "
                    "missing. Look at all 32 channels over all the test digits; some were dead before "
                    "anyone broke the model.")
    return report(True, f"Right: these {len(dead)} channels never pass the ReLU on any test digit. Some were broken "
                        "on purpose; the others were dead already in the trained model.")


def check_horizontal_channel(channel: object) -> CheckResult:
    """Exercise 05.2: the conv1 channel that prefers the horizontal bar over the vertical one the most."""
    if not_answered(channel):
        return missing("`horizontal_channel`")
    number = as_number(channel)
    if number is None or number != int(number) or not 0 <= number < 16:
        return fail("give one channel number of conv1: an integer from 0 to 15.")
    conv1 = load_trained_simplecnn().conv1
    bars = bar_images()
    with torch.no_grad():
        horizontal, vertical, empty = (torch.relu(conv1(image)).amax(dim=(0, 2, 3))
                                       for image in (*bars, torch.full_like(bars[0], -1.0)))
    preference = horizontal - vertical
    channel = int(number)
    if channel == int(preference.argmax()):
        return report(True, f"Right: channel {channel} answers the horizontal bar much more strongly than the "
                            "vertical one. Look at its filter and its maps of a digit.")
    if channel == int(horizontal.argmax()):  # the trap: its maximum is the background around the bar
        return fail(f"channel {channel}'s map of the horizontal bar reaches the highest value of all "
                    f"({horizontal[channel]:.2f}), but its map of an empty image, no bar at all, reaches "
                    f"{empty[channel]:.2f}, and of the vertical bar {vertical[channel]:.2f}: it answers the "
                    "empty background around the bars (section 2), not a bar. Compare each channel's response "
                    "to both bars.")
    if preference[channel] > 0:
        return fail(f"channel {channel} does prefer the horizontal bar, but another channel prefers "
                    "it by more: compare max(horizontal) - max(vertical) for every channel.")
    return fail(f"channel {channel} answers the vertical bar at least as strongly as the horizontal "
                "one; look for the channel whose strongest response to the horizontal bar exceeds "
                "its strongest response to the vertical one by the most.")


def _frac_zero_cases() -> list[tuple[torch.Tensor, int]]:
    """conv2's maps of 64 held-out digits (channel 5, then 12), and small maps with exact zeros and one sample whose
    channel is all negative, so that <= 0 and < 0, and one sample or one channel against all, give other numbers."""
    maps = conv2_maps(load_trained_simplecnn(), held_out_digits(64))
    generator = torch.Generator().manual_seed(5)
    small = torch.randn(3, 4, 5, 5, generator=generator)
    small[:, 1, :2] = 0.0
    small[0, 1] = -small[0, 1].abs() - 0.1
    return [(maps, 5), (maps, 12), (small, 1)]


def _judge_frac_zero(result: object, maps: torch.Tensor, channel: int) -> str | None:
    number = as_number(result)
    if number is None:
        return "return one number, a fraction between 0 and 1 (use .item() on a one-value tensor)."
    truth = float((maps[:, channel] <= 0).float().mean())

    def near(x: float) -> bool:
        return abs(number - x) < 1e-4

    if near(truth):
        return None
    if near(100 * truth):
        return "give a fraction between 0 and 1, not a percentage."
    if near(float((maps[:, channel] == 0).float().mean())) or near(float((maps[:, channel] < 0).float().mean())):
        return ("maps are captured before the ReLU: count every value the ReLU turns into zero, those <= 0 "
                "(negative or exactly zero).")
    if near(1 - truth):
        return "that is the share of values that pass the ReLU (positive); frac_zero counts the others."
    if near(float((maps <= 0).float().mean())):
        return "that is the share over all channels; take the one channel asked for: maps[:, channel]."
    if near(float((maps[0, channel] <= 0).float().mean())):
        return "that is one sample's map; frac_zero is over all samples and every position."
    return ("not the share of the channel's values that are <= 0 over all samples and positions; "
            "channel_stats(maps).frac_zero[channel] is a way to check yourself, outside your function.")


def check_frac_zero(function: object) -> CheckResult:
    """Exercise 05.3: frac_zero(maps, channel), the share of one channel's values that the ReLU turns into zero,
    written without channel_stats or the classes behind it (a function that uses one, under any name, is refused)."""
    return run_cases(function, "`frac_zero`", _frac_zero_cases(), _judge_frac_zero,
                     "Right: the share of the channel's values, over every sample and position, that are not "
                     "positive, so that the ReLU sets them to zero.", by_hand=STATS_HELPERS)


def _read(model: torch.nn.Module, strokes: list) -> tuple[int, float] | None:
    """What the model says about a drawing: (class, probability), or None when nothing is drawn."""
    digit = strokes_to_digit(strokes)
    if digit is None:
        return None
    view = network_view(model, digit)
    return view.predicted, float(view.probabilities.max())


def _bend(stroke: object) -> float | None:
    """A stroke's path length over the distance between its ends (1 for a straight line); None when unreadable."""
    try:
        points = np.asarray(stroke, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        return None
    if len(points) < 2 or not np.isfinite(points).all():
        return None
    chord = float(np.linalg.norm(points[-1] - points[0]))
    path = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
    return path / chord if chord > 0 else (1.0 if path == 0 else float("inf"))


def check_seven_to_two(strokes: object) -> CheckResult:
    """Exercise 05.5: strokes (canvas pixels, as `pad.draw` takes them) that the trained model reads as a 7
    without their last stroke and as a 2 with it; the last stroke straight (a whole 2 in one stroke is not it)."""
    if not_answered(strokes):
        return missing("`seven_to_two`")
    if isinstance(strokes, (str, bytes)) or not isinstance(strokes, (list, tuple)):
        return fail("give a list of strokes, each a list of (x, y) points in the pad's pixels (0 to 280), as "
                    "pad.draw takes them.")
    if len(strokes) < 2:
        return fail("give at least two strokes: the 7 first, then the one stroke that turns it into a 2.")
    if isinstance(strokes[-1], (list, tuple)) and not strokes[-1]:
        return fail("your last stroke has no points: give it at least two (x, y) points.")
    bent = _bend(strokes[-1])
    if bent is not None and bent > 1.1:
        return fail(f"your last stroke bends (its path is {bent:.1f} times as long as the line between its ends): "
                    "the exercise adds one straight stroke, a line from one point to another.")
    model = load_trained_simplecnn()
    try:
        before, after = _read(model, list(strokes[:-1])), _read(model, list(strokes))
    except (TypeError, ValueError) as error:
        return fail(f"these strokes cannot be drawn: {error}")
    if before is None or after is None:
        return fail("some strokes have no points: every stroke needs at least one (x, y) point.")
    if before[0] != 7:
        return fail(f"without its last stroke your drawing is read as a {before[0]} ({before[1]:.0%}), not a 7: "
                    "start from a 7 the model recognises, such as [(80, 50), (205, 50), (125, 245)].")
    if after[0] == 7:
        return fail(f"with the last stroke it is still read as a 7 ({after[1]:.0%}). What does a 2 have that a 7 "
                    "lacks? Look at where the two digits differ, and put the stroke there.")
    if after[0] != 2:
        return fail(f"the last stroke changed the answer, but to a {after[0]} ({after[1]:.0%}), not a 2: move it "
                    "to where a 2 differs from a 7.")
    return report(True, f"Right: a 7 ({before[1]:.0%}) becomes a 2 ({after[1]:.0%}) with one stroke. Compare "
                        "conv2's maps before and after it (pad.draw, then plot_network) to see which channels "
                        "the new stroke woke up.")
