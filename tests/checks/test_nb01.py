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


def _size_helper(n, k, s=1, p=0, d=1):
    """A learner's module-level helper that calls the library: the check must see through it when it runs."""
    from utils.widgets import conv_geometry

    return conv_geometry.output_size(n, k, s, p, d)


def _conv_helper(image, kernel):
    import torch.nn.functional as F

    return F.conv2d(image[None, None], kernel[None, None])[0, 0]


class _CallableConv:
    def __call__(self, image, kernel):
        return _conv_helper(image, kernel)


def _aten(name):
    return getattr(torch.ops.aten, name)


@pytest.mark.parametrize("bypass", [
    lambda image, kernel: _conv_helper(image, kernel),
    _CallableConv(),
    lambda image, kernel: torch.conv2d(image[None, None], kernel[None, None])[0, 0],
    lambda image, kernel: _aten("_con" + "volution")(image[None, None], kernel[None, None], None, [1, 1], [0, 0],
                                                     [1, 1], False, [0, 0], 1, False, False, True, True)[0, 0],
    lambda image, kernel: _aten("con" + "volution").default(image[None, None], kernel[None, None], None, [1, 1],
                                                             [0, 0], [1, 1], False, [0, 0], 1)[0, 0],
    lambda image, kernel: torch.nn.Conv2d(1, 1, tuple(kernel.shape), bias=False)(image[None, None])[0, 0],
], ids=["helper", "callable-class", "torch.conv2d", "aten._convolution", "aten.convolution.default", "nn.Conv2d"])
def test_conv2d_by_hand_refuses_convolution_however_it_is_reached(capsys, bypass):
    """Expert review (issue 28): a helper, a callable class and torch.ops.aten passed the by-hand convolution."""
    from utils.checks import check_conv2d_by_hand

    ok, message = outcome(capsys, check_conv2d_by_hand(bypass))
    assert not ok and "by hand" in message, message
    assert torch.nn.functional.conv2d is torch.conv2d or callable(torch.nn.functional.conv2d)  # put back
    assert isinstance(torch.nn.Conv2d, type) and not hasattr(torch.ops.aten._convolution, "_refuse")


@pytest.mark.parametrize("bypass", [lambda n, k, s=1, p=0, d=1: _size_helper(n, k, s, p, d),
                                    lambda n, k, s=1, p=0, d=1: getattr(torch.nn, "Conv" + "2d")(1, 1, k, s, p, d)(
                                        torch.zeros(1, 1, n, n)).shape[-1]], ids=["helper", "nn.Conv2d"])
def test_output_size_refuses_the_library_through_a_helper(capsys, bypass):
    from utils.checks import check_input_size, check_output_size

    ok, message = outcome(capsys, check_output_size(bypass))
    assert not ok and "by hand" in message, message
    ok, message = outcome(capsys, check_input_size(lambda o, k, s=1, p=0, d=1: min(
        n for n in range(1, 80) if _size_helper(n, k, s, p, d) >= o)))
    assert not ok and "by hand" in message, message
    from utils.widgets import conv_geometry
    assert conv_geometry.output_size(28, 5) == 24  # put back after the check
