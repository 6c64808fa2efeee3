"""Checks for notebook 06, Feature maps during training: the dead fraction, a class probe, the first alarm."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .core import CheckResult, as_number, run_cases
from .nb05 import STATS_HELPERS

__all__ = ["check_dead_fraction", "check_class_probe", "check_first_alarm"]


def _dead_fraction_cases() -> list[tuple[torch.Tensor]]:
    """Maps (N, C, H, W) where dead channels, zeros, and channels dead on one sample only are easy to tell apart."""
    cases = []
    for seed, channels in ((6, 8), (7, 12)):
        generator = torch.Generator().manual_seed(seed)
        maps = torch.randn(3, channels, 4, 4, generator=generator)
        maps[:, 0] = -torch.rand(3, 4, 4, generator=generator) - 0.1  # negative everywhere: dead
        maps[:, 1] = 0.0  # exactly zero: also never positive, dead
        maps[:, 2] = -1.0
        maps[2, 2, 3, 3] = 0.5  # positive once, on the last sample: alive (sparse)
        maps[0, 3] = -1.0  # dead on the first sample only: alive
        maps[1:, 3] = maps[1:, 3].abs() + 0.1
        if channels > 8:
            maps[:, 4:6] = -2.0  # two more dead channels in the second case
        cases.append((maps,))
    return cases


def _judge_dead_fraction(result: object, maps: torch.Tensor) -> str | None:
    never_positive = (maps <= 0).flatten(2).all(2)  # (N, C): not positive anywhere in that sample's map
    expected = float(never_positive.all(0).float().mean())
    number = as_number(result)
    if number is None:
        return "return one number, a fraction (use .item() on a one-value tensor)."
    if abs(number - expected) < 1e-6:
        return None
    if abs(number - expected * maps.shape[1]) < 1e-6:
        return "that is a count of channels; give the fraction of the layer's channels."
    if abs(number - 100 * expected) < 1e-4:
        return "give a fraction between 0 and 1, not a percentage."
    if abs(number - float((maps <= 0).float().mean())) < 1e-6:
        return ("that is the share of VALUES that are not positive; the question is about CHANNELS: a channel is dead "
                "when none of its values is positive.")
    if abs(number - float((maps == 0).transpose(0, 1).flatten(1).all(1).float().mean())) < 1e-6:
        return ("maps captured before the ReLU are rarely exactly zero: a dead channel is one that is never POSITIVE "
                "(<= 0 everywhere), so the ReLU always outputs 0.")
    if any(abs(number - float(share)) < 1e-6 for share in (never_positive[0].float().mean(),
                                                            never_positive.any(0).float().mean())):
        return ("a channel is dead only when it is never positive on ANY sample of the batch: one sample is not "
                "enough.")
    return ("not the fraction of channels that are never positive on any sample at any position; "
            "channel_stats(maps).dead is a way to check yourself.")


def check_dead_fraction(function: Callable[[torch.Tensor], float]) -> CheckResult:
    """Exercise 06.1: dead_fraction(maps), the fraction of the channels of (N, C, H, W) maps that are dead, written
    without channel_stats or the classes behind it (a function that uses one, under any name, is refused)."""
    return run_cases(function, "`dead_fraction`", _dead_fraction_cases(), _judge_dead_fraction,
                     "Right: a channel counts as dead only if no sample, at no position, makes it positive.",
                     by_hand=STATS_HELPERS)


def _label_cases() -> list[tuple[torch.Tensor, int]]:
    """Label lists with at least 3 samples of every class, each with a number k of samples to take per class."""
    generator = torch.Generator().manual_seed(6)
    cases = [torch.randint(0, 10, (40,), generator=generator), torch.arange(29, -1, -1) % 10]
    padded = [torch.cat([labels, torch.arange(10).repeat(3)]) for labels in cases]
    return [(padded[0], 3), (padded[1], 2), (padded[0], 1)]


def _judge_probe(result: object, labels: torch.Tensor, k: int) -> str | None:
    expected = [int(i) for c in range(10) for i in (labels == c).nonzero().flatten()[:k]]
    try:
        indices = [int(i) for i in (result.tolist() if isinstance(result, torch.Tensor) else result)]  # type: ignore
    except (TypeError, ValueError):
        return "return the indices as one flat list (or a tensor) of ints."
    if indices == expected:
        return None
    if len(indices) == 10 and k > 1:
        return f"got one index per class; with k={k} the probe takes the first {k} samples of each class."
    if len(indices) != 10 * k:
        return f"got {len(indices)} indices; k={k} per class, {10 * k} in all."
    if [int(labels[i]) for i in expected] == indices or sorted(indices) == sorted(int(labels[i]) for i in expected):
        return "return the positions of the samples in the dataset (indices), not their labels."
    if sorted(indices) == sorted(expected):
        return ("the right samples in another order: class by class, the first k 0s, then the first k 1s, and so "
                "on up to 9.")
    if sorted(int(labels[i]) for i in indices if 0 <= i < len(labels)) == sorted(int(labels[i]) for i in expected):
        return "k samples of each class, but not the FIRST k of each."
    return f"not the indices of the first {k} samples of each class 0..9, class by class."


def check_class_probe(function: Callable[[torch.Tensor, int], object]) -> CheckResult:
    """Exercise 06.2: class_probe(labels, k) -> the indices of the first k samples of each class, class by class."""
    return run_cases(function, "`class_probe`", _label_cases(), _judge_probe,
                     "Right: k digits of every class, in class order, so every class is watched during training.")


def _history(epochs: list[int], warned: list[int]) -> list[dict]:
    return [{"epoch": e, "loss": 1.0 / (e + 1), "warnings": ["conv2: 9 of 32 channels dead"] if e in warned else []}
            for e in epochs]


_ALARM_CASES = [  # a history, the right answer, and the hint for a wrong one
    (_history(list(range(6)), [2, 3, 4, 5]), 2, ""),
    (_history([0, 2, 4, 6, 8], [4, 6]), 4, "return the record's \"epoch\", not its position in the list (this "
                                           "history was probed every 2 epochs)."),
    (_history(list(range(4)), []), None, "when no record has a warning, return None."),
    (_history(list(range(4)), [0, 1]), 0, "epoch 0 (before training) counts too; careful: 0 is false in Python, "
                                          "so test `is None`, not truthiness."),
]


def _judge_alarm(result: object, history: list[dict]) -> str | None:
    expected, hint = next((answer, hint) for case, answer, hint in _ALARM_CASES if case == history)
    if result is None or expected is None:
        if result is expected:
            return None
        if expected is None or expected == 0:
            return hint
        return "you returned None for a history with warnings: return the epoch of the first one."
    number = as_number(result)
    if number == expected:
        return None
    warned = [r["epoch"] for r in history if r["warnings"]]
    if warned and number == warned[-1]:
        return "that is the LAST epoch with a warning; the alarm should sound at the first."
    return hint or "not the epoch of the first record whose \"warnings\" list is not empty."


def check_first_alarm(function: Callable[[list[dict]], object]) -> CheckResult:
    """Exercise 06.3: first_alarm(history) -> the epoch of the first record with a warning; None when there is none."""
    cases = [([dict(record) for record in history],) for history, _, _ in _ALARM_CASES]
    return run_cases(function, "`first_alarm`", cases, _judge_alarm,
                     "Right: the first warned epoch, read from the record, and None for a healthy run.")
