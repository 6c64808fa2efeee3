"""The exercise checks: right answers pass, wrong ones fail with a message that does not give the answer away."""

from __future__ import annotations

import pytest
import torch

from utils import checks


def outcome(capsys, result):
    return bool(result), capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    "check, right, wrongs, answer_text",
    [
        (checks.check_batch_shape, [(8, 1, 28, 28)], [[(1, 28, 28)], [(64, 1, 28, 28)], [(8, 28, 28, 1)]],
         "(8, 1, 28, 28)"),
        (checks.check_pixel_range, [-1.0, 1.0], [[0, 1], [0, 255], [-0.5, 0.5]], "-1"),
        (checks.check_flatten_size, [800], [[512], [799], ["800?"]], "800"),
        (checks.check_wide_conv2_parameters, [9280], [[9216], [640], [12832]], "9280"),
    ],
)
def test_value_checks(capsys, check, right, wrongs, answer_text):
    ok, message = outcome(capsys, check(*right))
    assert ok and message.startswith("✓")
    for wrong in wrongs:
        ok, message = outcome(capsys, check(*wrong))
        assert not ok and message.startswith("✗ Not yet:"), (wrong, message)
        assert answer_text not in message, f"the message for {wrong} gives the answer away: {message}"


@pytest.mark.parametrize("check, arity", [(checks.check_batch_shape, 1), (checks.check_pixel_range, 2),
                                          (checks.check_flatten_size, 1), (checks.check_wide_conv2_parameters, 1),
                                          (checks.check_per_class_accuracy, 1)])
def test_unanswered_exercises_say_so(capsys, check, arity):
    ok, message = outcome(capsys, check(*[None] * arity))
    assert not ok and "still None" in message


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


@pytest.mark.parametrize("answer, expected_kind", [
    (8, "tuple of four whole numbers"), ("8, 1, 28, 28", "tuple of four whole numbers"),
    ([8.5, 1, 28, 28], "tuple of four whole numbers"), (object(), "tuple of four whole numbers"),
    ([8, 1, 28], "has 3 numbers"), (torch.zeros(8, 1, 28, 28), "tuple of four whole numbers"),
])
def test_batch_shape_check_never_raises_and_says_what_kind_of_answer(capsys, answer, expected_kind):
    ok, message = outcome(capsys, checks.check_batch_shape(answer))
    assert not ok and expected_kind in message, message
    assert outcome(capsys, checks.check_batch_shape(torch.Size([8, 1, 28, 28])))[0]
    assert outcome(capsys, checks.check_batch_shape([8.0, 1, 28, 28]))[0]


@pytest.mark.parametrize("check, answer", [
    (checks.check_pool_calls, (4, "4, 32, 4, 4")), (checks.check_pool_calls, (4, [4.5, 32, 4, 4])),
    (checks.check_pool_calls, (4, 7)), (checks.check_flatten_size, ("800",)), (checks.check_pixel_range, ("a", [])),
    (checks.check_nested_layer_name, (3,)), (checks.check_horizontal_edge_kernel, ("abc",)),
    (checks.check_per_class_accuracy, (5,)), (checks.check_sample_channels, ("not a function",)),
])
def test_wrong_answers_of_any_type_do_not_raise(capsys, check, answer):
    ok, message = outcome(capsys, check(*answer))
    assert not ok and message.startswith("✗ Not yet:"), message


def test_a_function_that_changes_its_input_is_told(capsys):
    def in_place(counts):
        counts[0, 0] = 0
        return counts.diag() / counts.sum(1)

    ok, message = outcome(capsys, checks.check_per_class_accuracy(in_place))
    assert not ok and "changed the tensor it was given" in message
