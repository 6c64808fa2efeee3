"""utils.checks: the checks of notebook 01 (utils/checks/nb01.py)."""

from __future__ import annotations

import pytest
import torch

from utils.checks.nb01 import check_shift_kernel

RIGHT = [[0, 0, 0], [1, 0, 0], [0, 0, 0]]


def test_the_right_kernel_in_any_form():
    assert check_shift_kernel(RIGHT)
    assert check_shift_kernel(torch.tensor(RIGHT, dtype=torch.float32))


@pytest.mark.parametrize("wrong,hint", [
    ([[0, 0, 0], [0, 0, 1], [0, 0, 0]], "to the left"),
    ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], "leaves the image where it is"),
    ([[0, 0, 0], [2, 0, 0], [0, 0, 0]], "single 1 among zeros"),
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], "not one pixel to the right"),
    ([[1, 0], [0, 0]], "shape (2, 2)"),
    ("right", "3x3 tensor"),
])
def test_wrong_kernels_get_a_hint(wrong, hint):
    result = check_shift_kernel(wrong)
    assert not result
    assert hint in result.message


def test_unanswered():
    assert "fill in `shift_kernel`" in check_shift_kernel(None).message
