"""Exercise 00.2's check: the value a stored pixel of 51 becomes after the course's transform."""

from __future__ import annotations

import pytest
import torch

from utils import load_mnist
from utils.checks.nb00 import STORED_PIXEL, check_transformed_pixel


def test_the_answer_is_what_the_dataset_gives():
    test_set = load_mnist(train=False, verbose=False)
    index = next(i for i in range(len(test_set)) if (test_set.data[i] == STORED_PIXEL).any())
    where = (test_set.data[index] == STORED_PIXEL).nonzero()[0]
    seen = test_set[index][0][0, where[0], where[1]].item()
    assert check_transformed_pixel(seen)
    assert check_transformed_pixel(torch.tensor(seen))


@pytest.mark.parametrize("wrong,hint", [
    (51, "value in the file"), (0.2, "after ToTensor only"), (0.6, "wrong sign"), (-0.3, "divides by the std"),
    (-0.5, "ToTensor divides by 255"), ("-0.6", "one number"), ([-0.6], "one number"),
])
def test_wrong_answers_get_a_hint_and_never_the_answer(wrong, hint, capsys):
    result = check_transformed_pixel(wrong)
    assert not result
    assert hint in result.message
    assert "-0.6" not in result.message


def test_unanswered():
    assert "fill in `seen`" in check_transformed_pixel(None).message
