"""utils.checks: the checks of notebook 03 (utils/checks/nb03.py)."""

from __future__ import annotations

import pytest
import torch

from tests.checks.answers import outcome
from utils import checks
from utils.checks import check_wide_conv2_parameters

RIGHT = sum(p.numel() for p in torch.nn.Conv2d(16, 64, 3).parameters())


def test_per_class_accuracy_check(capsys):
    right = lambda counts: counts.diag() / counts.sum(1)  # noqa: E731
    assert outcome(capsys, checks.check_per_class_accuracy(right))[0]
    by_column = lambda counts: counts.diag() / counts.sum(0)  # noqa: E731
    ok, message = outcome(capsys, checks.check_per_class_accuracy(by_column))
    assert not ok and "column sums" in message
    percent = lambda counts: 100 * counts.diag() / counts.sum(1)  # noqa: E731
    ok, message = outcome(capsys, checks.check_per_class_accuracy(percent))
    assert not ok and "not percentages" in message
    ok, message = outcome(capsys, checks.check_per_class_accuracy(lambda counts: counts.diag()))
    assert not ok
    ok, message = outcome(capsys, checks.check_per_class_accuracy(lambda counts: 1 / 0))
    assert not ok and "ZeroDivisionError" in message


def test_numbers_from_tensors_and_numpy_are_accepted(capsys):
    import numpy as np

    assert checks.check_wide_conv2_parameters(torch.tensor(9280))
    assert checks.check_wide_conv2_parameters(np.int64(9280))
    assert not checks.check_wide_conv2_parameters(True)


def test_a_check_result_prints_once_and_is_truthy(capsys):
    result = checks.check_flatten_size(800)
    assert result and "✓" in repr(result)
    assert capsys.readouterr().out.count("✓") == 1


def test_a_function_that_changes_its_input_is_told(capsys):
    def in_place(counts):
        counts[0, 0] = 0
        return counts.diag() / counts.sum(1)

    ok, message = outcome(capsys, checks.check_per_class_accuracy(in_place))
    assert not ok and "changed the tensor it was given" in message


def test_the_right_count_passes_in_any_numeric_form(capsys):
    assert RIGHT == 9280
    for answer in (RIGHT, float(RIGHT), torch.tensor(RIGHT)):
        assert check_wide_conv2_parameters(answer)
    assert "fewer than the 12,832" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(("answer", "hint"), [
    (None, "still None"),
    (12832, "today's conv2"),
    (9216, "weights only"),
    (640, "all 16 input channels"),
    (9281, "plus one bias per output channel"),
    ("9280", "plus one bias"),
    ([9280], "plus one bias"),
])
def test_wrong_answers_get_a_hint_and_never_raise(capsys, answer, hint):
    assert not check_wide_conv2_parameters(answer)
    assert hint in " ".join(capsys.readouterr().out.split())
