"""utils.checks: the checks of notebook 06 (utils/checks/nb06.py)."""

from __future__ import annotations

import torch

from tests.checks.answers import assert_fails, outcome
from utils import channel_stats, checks


def test_dead_fraction(capsys):
    ok, message = outcome(capsys, checks.check_dead_fraction(lambda m: channel_stats(m).dead.float().mean()))
    assert ok and message.startswith("✓")
    assert outcome(capsys, checks.check_dead_fraction(lambda m: (m.amax(dim=(0, 2, 3)) <= 0).float().mean().item()))[0]
    assert_fails(capsys, checks.check_dead_fraction(lambda m: int(channel_stats(m).dead.sum())), "count")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: 100 * channel_stats(m).dead.float().mean()),
                 "percentage")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: (m <= 0).float().mean()), "VALUES")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: (m == 0).all(3).all(2).all(0).float().mean()),
                 "POSITIVE")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: (m[0].amax(dim=(1, 2)) <= 0).float().mean()),
                 "ANY sample")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: 0.7), "channel_stats")
    assert_fails(capsys, checks.check_dead_fraction(lambda m: m.foo), "AttributeError")


def test_class_probe(capsys):
    def right(labels):
        return [int((labels == c).nonzero()[0]) for c in range(10)]

    assert outcome(capsys, checks.check_class_probe(right))[0]
    assert outcome(capsys, checks.check_class_probe(lambda labels: torch.tensor(right(labels))))[0]
    assert_fails(capsys, checks.check_class_probe(lambda labels: list(range(10))), "indices")
    assert_fails(capsys, checks.check_class_probe(lambda labels: sorted(right(labels))), "order")
    last = lambda labels: [int((labels == c).nonzero()[-1]) for c in range(10)]  # noqa: E731
    assert_fails(capsys, checks.check_class_probe(last), "FIRST")
    assert_fails(capsys, checks.check_class_probe(lambda labels: right(labels)[:9]), "10 in all")


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
