"""utils.checks: the checks of notebook 06 (utils/checks/nb06.py)."""

from __future__ import annotations

import torch

from tests.checks.answers import assert_fails, outcome
from utils import channel_stats, checks
from utils.analysis import stats as stats_module
from utils.analysis.stats import ChannelStatsAccumulator

stats_alias = channel_stats  # a learner's alias, made outside the function that uses it


def dead_by_accumulator(maps):
    accumulator = ChannelStatsAccumulator()
    accumulator.update(maps)
    return accumulator.result().dead.float().mean().item()


def stats_class(maps):
    """A helper that reaches the accumulator by getattr, a name no reading of the code finds."""
    accumulator = getattr(stats_module, "ChannelStats" + "Accumulator")()
    accumulator.update(maps)
    return accumulator.result()


def test_dead_fraction(capsys):
    # the library call the exercise forbids is refused, even though its value is right
    assert_fails(capsys, checks.check_dead_fraction(lambda m: channel_stats(m).dead.float().mean()),
                 "calls `channel_stats`")
    # also under another name given outside the function (the alias is looked up in the function's globals)
    assert_fails(capsys, checks.check_dead_fraction(lambda m: stats_alias(m).dead.float().mean()),
                 "calls `channel_stats`")
    # and so is the class behind it (second expert read: ChannelStatsAccumulator passed)
    assert_fails(capsys, checks.check_dead_fraction(dead_by_accumulator), "calls `ChannelStatsAccumulator`")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: stats_class(m).dead.float().mean()),
                 "`ChannelStatsAccumulator` was called")
    assert outcome(capsys, checks.check_dead_fraction(lambda m: (m.amax(dim=(0, 2, 3)) <= 0).float().mean().item()))[0]
    assert_fails(capsys, checks.check_dead_fraction(lambda m: int((m.amax(dim=(0, 2, 3)) <= 0).sum())), "count")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: 100 * (m.amax(dim=(0, 2, 3)) <= 0).float().mean()),
                 "percentage")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: (m <= 0).float().mean()), "VALUES")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: (m == 0).all(3).all(2).all(0).float().mean()),
                 "POSITIVE")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: (m[0].amax(dim=(1, 2)) <= 0).float().mean()),
                 "ANY sample")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: 0.7), "channel_stats")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: m.foo), "AttributeError")


def test_class_probe(capsys):
    def right(labels, k):
        return [int(i) for c in range(10) for i in (labels == c).nonzero().flatten()[:k]]

    assert outcome(capsys, checks.check_class_probe(right))[0]
    assert outcome(capsys, checks.check_class_probe(lambda labels, k: torch.tensor(right(labels, k))))[0]
    first_of_each = lambda labels, k: [int((labels == c).nonzero()[0]) for c in range(10)]  # noqa: E731
    assert_fails(capsys, checks.check_class_probe(first_of_each), "first 3 samples of each class")
    assert_fails(capsys, checks.check_class_probe(lambda labels, k: [int(labels[i]) for i in right(labels, k)]),
                 "indices")
    assert_fails(capsys, checks.check_class_probe(lambda labels, k: sorted(right(labels, k))), "order")
    last = lambda labels, k: [int(i) for c in range(10) for i in (labels == c).nonzero().flatten()[-k:]]  # noqa: E731
    assert_fails(capsys, checks.check_class_probe(last), "FIRST")
    assert_fails(capsys, checks.check_class_probe(lambda labels, k: right(labels, k)[:-1]), "in all")


def test_first_alarm(capsys):
    def right(history):
        return next((r["epoch"] for r in history if r["warnings"]), None)

    assert outcome(capsys, checks.check_first_alarm(right))[0]
    by_position = lambda h: next((i for i, r in enumerate(h) if r["warnings"]), None)  # noqa: E731
    assert_fails(capsys, checks.check_first_alarm(by_position), "position")
    last = lambda h: ([r["epoch"] for r in h if r["warnings"]] or [None])[-1]  # noqa: E731
    assert_fails(capsys, checks.check_first_alarm(last), "LAST")
    minus_one = lambda h: next((r["epoch"] for r in h if r["warnings"]), -1)  # noqa: E731
    assert_fails(capsys, checks.check_first_alarm(minus_one), "return None")
    falsy = lambda h: next((r["epoch"] for r in h if r["warnings"]), None) or None  # noqa: E731
    assert_fails(capsys, checks.check_first_alarm(falsy), "is None")
    assert_fails(capsys, checks.check_first_alarm(lambda h: None), "history with warnings")
