"""utils.checks: the checks of notebook 01 (utils/checks/nb01.py)."""

from __future__ import annotations

import pytest
import torch

from tests.checks.answers import outcome
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


def test_by_hand_exercises_refuse_the_library_call_they_name(capsys):
    """Expert review L1 and section 2: utils.conv_geometry.output_size and F.conv2d passed the "by hand" checks."""
    import functools

    import torch.nn.functional as F

    from utils.checks import check_conv2d_by_hand, check_output_size
    from utils.widgets import conv_geometry

    for bypass in (conv_geometry.output_size, lambda n, k, s=1, p=0, d=1: conv_geometry.output_size(n, k, s, p, d),
                   functools.partial(conv_geometry.output_size)):
        ok, message = outcome(capsys, check_output_size(bypass))
        assert not ok and "calls `output_size`" in message, message
    for bypass in (lambda image, kernel: F.conv2d(image[None, None], kernel[None, None])[0, 0],
                   lambda image, kernel: torch.nn.functional.conv2d(image[None, None], kernel[None, None])[0, 0]):
        ok, message = outcome(capsys, check_conv2d_by_hand(bypass))
        assert not ok and "calls `conv2d`" in message and "by hand" in message, message
    assert outcome(capsys, check_output_size(lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) // s + 1))[0]


def test_input_size_is_the_formula_turned_around(capsys):
    """Exercise 01.1 asks for what the playground's formula line does not show: the smallest input for `out` outputs."""
    from utils.checks import check_input_size
    from utils.widgets.conv_geometry import output_size

    def right(out, kernel, stride=1, padding=0, dilation=1):
        return dilation * (kernel - 1) + 1 + (out - 1) * stride - 2 * padding

    assert outcome(capsys, check_input_size(right))[0]
    for wrong, words in [
        (lambda o, k, s=1, p=0, d=1: right(o, k, s, p, d) + s - 1, "the smallest is asked for"),
        (lambda o, k, s=1, p=0, d=1: right(o, k, s, p, 1), "right without dilation"),
        (lambda o, k, s=1, p=0, d=1: next(n for n in range(1, 99) if output_size(n, k, s, p, d) == o), "calls"),
        (lambda o, k, s=1, p=0, d=1: str(right(o, k, s, p, d)), "whole number"),
    ]:
        ok, message = outcome(capsys, check_input_size(wrong))
        assert not ok and words in message, message
