"""utils.checks: the checks of notebook 00 (utils/checks/nb00.py)."""

from __future__ import annotations

import pytest
import torch

from tests.checks.answers import outcome
from utils import checks, load_mnist
from utils.checks.nb00 import STORED_PIXEL, check_transformed_pixel


@pytest.mark.parametrize("answer, expected_kind", [
    (8, "tuple of four whole numbers"), ("8, 1, 28, 28", "tuple of four whole numbers"),
    ([8.5, 1, 28, 28], "tuple of four whole numbers"), (object(), "tuple of four whole numbers"),
    ([8, 1, 28], "has 3 numbers"), (torch.zeros(8, 1, 28, 28), "tuple of four whole numbers"),
])
def test_batch_shape_check_never_raises_and_says_what_kind_of_answer(capsys, answer, expected_kind):
    ok, message = outcome(capsys, checks.check_batch_shape(answer))
    assert not ok and expected_kind in message, message
    assert outcome(capsys, checks.check_batch_shape(torch.Size([40, 1, 28, 28])))[0]
    assert outcome(capsys, checks.check_batch_shape([40.0, 1, 28, 28]))[0]


def test_the_answer_is_what_the_dataset_gives():
    test_set = load_mnist(train=False, verbose=False)
    index = next(i for i in range(len(test_set)) if (test_set.data[i] == STORED_PIXEL).any())
    where = (test_set.data[index] == STORED_PIXEL).nonzero()[0]
    seen = test_set[index][0][0, where[0], where[1]].item()
    assert check_transformed_pixel(seen)
    assert check_transformed_pixel(torch.tensor(seen))


@pytest.mark.parametrize("wrong,hint", [
    (51, "value in the file"), (0.2, "after ToTensor only"), (0.6, "the value minus the mean, in that order"),
    (-0.3, "divides by the std"), (-0.5, "ToTensor divides by 255"), ("-0.6", "one number"), ([-0.6], "one number"),
])
def test_wrong_answers_get_a_hint_and_never_the_answer(wrong, hint, capsys):
    result = check_transformed_pixel(wrong)
    assert not result
    assert hint in result.message
    assert "0.6" not in result.message and "size" not in result.message  # neither the answer nor its magnitude


def test_unanswered():
    assert "fill in `seen`" in check_transformed_pixel(None).message
