"""Checks for notebook 01, Convolution from scratch: the input size a layer needs, a shift kernel, conv2d by hand."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..widgets.conv_geometry import output_size as _formula  # the playground's, which the learner may not call
from .by_hand import CONVOLUTION, CONVOLUTION_OPERATOR, ByHandError, calls_any, forbidding
from .core import CheckResult, as_number, call, fail, missing, not_answered, report, run_cases

__all__ = ["check_input_size", "check_conv2d_by_hand", "check_shift_kernel"]

SizeCase = tuple[int, int, int, int, int]  # size, kernel, stride, padding, dilation


def _forward(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int | None:
    """The output size along one dimension, None where the kernel fits nowhere (the playground's formula)."""
    fits = size + 2 * padding >= dilation * (kernel - 1) + 1
    return _formula(size, kernel, stride, padding, dilation) if fits else None


_SETTINGS = 4 * 4 * 3 * 3 * 3  # out, kernel, stride, padding, dilation: the values _input_cases tries


def _input_cases() -> list[tuple[SizeCase, int]]:
    """(out, kernel, stride, padding, dilation) and the smallest input size that gives `out` outputs, found by
    trying every size from 1 up (a search, not the inverse formula the learner is asked for). Cases whose answer
    is 1 stay in: there padding alone covers the kernel's span, and the formula must not go below one pixel.
    Settings no input size reaches are left out: where one padded pixel already gives more than `out` outputs
    (a 1x1 kernel, padding 1, stride 1 gives 3 from 1 pixel), no input gives exactly `out`."""
    cases = []
    for out in (1, 2, 5, 13):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                for padding in (0, 1, 2):
                    for dilation in (1, 2, 3):
                        case = (out, kernel, stride, padding, dilation)
                        sizes = [n for n in range(1, 80) if _forward(n, *case[1:]) == out]
                        if sizes:  # no size at all when padding alone gives more than `out` outputs
                            cases.append((case, sizes[0]))
    return cases


# The course's formula, this check's answers, and the library functions that compute an output size for you
# (convolutions, unfold, pooling), by name and, at the dispatcher, as operators (aten.im2col, aten.max_pool2d...).
_SIZE_TOOLS = ("unfold", "fold", "Unfold", "Fold", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
               "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d")
_BY_HAND = ("output_size", "_input_cases", *CONVOLUTION, *_SIZE_TOOLS)
_SIZE_OPERATORS = re.compile(f"{CONVOLUTION_OPERATOR.pattern}|unfold|im2col|col2im|pool")


def _run_inverse(function: Callable[..., int],
                 cases: list[tuple[SizeCase, int]]) -> list[tuple[SizeCase, int]] | CheckResult:
    """The cases `function` gets wrong, with its answers, or the failed check when it raises or returns no size."""
    wrong = []
    with forbidding(_BY_HAND, function, _SIZE_OPERATORS):
        for case, expected in cases:
            result = call(function, *case)
            if isinstance(result, ByHandError):
                return fail(f"your `input_size` reached a library function: {result}")
            if isinstance(result, Exception):
                return fail(f"input_size{case} raised {type(result).__name__}: {result}")
            number = as_number(result)
            if number is None or number != int(number):
                return fail(f"input_size{case} returned {result!r}; return the size as a whole number.")
            if number != expected:
                wrong.append((case, int(number)))
    return wrong


def check_input_size(function: Callable[..., int]) -> CheckResult:
    """Exercise 01.1: input_size(out, kernel, stride, padding, dilation), the smallest input size along one dimension
    for which the layer gives `out` outputs. Checked against a search: input sizes 1, 2, 3, ... through the
    playground's output-size formula, in several hundred cases (settings no input reaches are left out, and the
    report says how many); a function that calls the course's `output_size`, a convolution, unfold or pooling (the
    library working out the size) is refused.

    >>> bool(check_input_size(lambda out, kernel, stride=1, padding=0, dilation=1: "28"))
    ✗ Not yet: input_size(1, 1, 1, 0, 1) returned '28'; return the size as a whole number.
    False
    """
    if not_answered(function):
        return missing("`input_size`")
    forbidden = calls_any(function, _BY_HAND)
    if forbidden:
        return fail(f"your `input_size` calls `{forbidden}`; the exercise asks for the formula, worked out by hand: "
                    "no library function, convolution, unfold or pooling inside.")
    cases = _input_cases()
    wrong = _run_inverse(function, cases)
    if isinstance(wrong, CheckResult):
        return wrong
    if not wrong:
        return report(True, f"Right: your inverse gives the smallest input size in all {len(cases)} cases (the "
                            f"{_SETTINGS - len(cases)} settings of {_SETTINGS} where no input gives exactly `out` "
                            "outputs are left out).")
    if all(yours == _forward(*case) for case, yours in wrong):
        return fail("that is the output size of an input of size `out`: go the other way, from the outputs back to "
                    "the input.")
    answers = dict(cases)
    if all(answers[case] == 1 and yours < 1 for case, yours in wrong):
        return fail("right wherever the answer is 2 pixels or more; where padding alone covers the kernel's span your "
                    "function gives 0 or less, but an input has at least one pixel.")
    if all(case[4] > 1 for case, _ in wrong):
        return fail("right without dilation, wrong with it: how many input pixels does a kernel of size k span when "
                    "its taps are d pixels apart?")
    if all(_forward(yours, *case[1:]) == case[0] for case, yours in wrong):
        return fail("each size you give does produce `out` outputs, but a smaller one does too: with stride > 1 "
                    "several input sizes give the same output size, and the smallest is asked for.")
    (out, kernel, stride, padding, dilation), yours = wrong[0]
    return fail(f"{len(wrong)} of {len(cases)} cases differ, e.g. out={out}, kernel={kernel}, stride={stride}, "
                f"padding={padding}, dilation={dilation}: yours gives {yours}; try input sizes on "
                "nn.Conv2d(1, 1, kernel, stride, padding, dilation) with torch.zeros(1, 1, size, size).")


def _kernel_3x3(kernel: object) -> torch.Tensor | CheckResult:
    """The learner's kernel as a 3x3 float64 tensor, or the failed check that says what shape is expected."""
    try:
        weights = torch.as_tensor(kernel, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return fail("give the kernel as a 3x3 tensor (or a nested list of numbers).")
    if tuple(weights.shape) != (3, 3):
        return fail(f"the kernel has shape {tuple(weights.shape)}; make it 3 rows of 3 numbers.")
    return weights


def _conv_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(shape, generator=generator), torch.randn(kernel_shape, generator=generator))
            for shape, kernel_shape in [((5, 5), (3, 3)), ((6, 9), (2, 4)), ((7, 4), (3, 1)), ((4, 4), (4, 4))]]


def _judge_conv(result: object, image: torch.Tensor, kernel: torch.Tensor) -> str | None:
    sizes = f"a {tuple(image.shape)} image and a {tuple(kernel.shape)} kernel"
    expected = F.conv2d(image[None, None], kernel[None, None])[0, 0]
    try:
        values = torch.as_tensor(result, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        return "return the output as a tensor (or a nested list of numbers)."
    if values.shape != expected.shape:
        return (f"for {sizes} the output should have one value per position where the whole kernel fits; yours has "
                f"shape {tuple(values.shape)}.")
    if torch.allclose(values, expected, atol=1e-4):
        return None
    if torch.allclose(values, F.conv2d(image[None, None], kernel.flip(0, 1)[None, None])[0, 0], atol=1e-4):
        return ("you flipped the kernel: that is convolution as signal processing defines it. PyTorch's conv2d "
                "slides the kernel as it is (cross-correlation).")
    return (f"the shape is right but the values differ from F.conv2d ({sizes}): each output is the sum of the kernel "
            "times the patch under it.")


def check_conv2d_by_hand(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 01.3: conv2d(image, kernel) for one 2-D image and kernel, stride 1, no padding, like F.conv2d, on
    4 shapes. By hand: a function that calls or holds any of PyTorch's convolutions (CONVOLUTION, numpy's and
    scipy's included) is refused, and while it runs the dispatcher refuses every convolution operator, however it
    is reached (torch._C, torch.ops.mkldnn, a reference cached beforehand).

    >>> bool(check_conv2d_by_hand(lambda image, kernel, f=F.conv_transpose2d: f(image, kernel)))
    ✗ Not yet: your `conv2d` calls `conv_transpose2d`; the exercise asks you to write it by
    hand, with tensor operations (min, max, sums, slices, loops).
    False
    """
    return run_cases(function, "`conv2d`", _conv_cases(), _judge_conv,
                     "Right: your sliding dot product matches F.conv2d on 4 images and kernels.",
                     by_hand=CONVOLUTION)


def _shift_right(images: torch.Tensor) -> torch.Tensor:
    """Every image moved one pixel to the right, a column of zeros coming in on the left."""
    return F.pad(images, (1, 0))[..., :-1]


def check_shift_kernel(kernel: object) -> CheckResult:
    """Exercise 01.2: a 3x3 kernel that, with padding=1, moves any image one pixel to the right (checked on four
    random images); a kernel that moves it the other way, or not at all, is named.

    >>> bool(check_shift_kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]))
    ✗ Not yet: that kernel leaves the image where it is; which input pixel must output pixel (i,
    j) copy?
    False
    """
    if not_answered(kernel):
        return missing("`shift_kernel`")
    weights = _kernel_3x3(kernel)
    if isinstance(weights, CheckResult):
        return weights
    images = torch.rand(4, 1, 9, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = F.conv2d(images, weights.view(1, 1, 3, 3), padding=1)
    if torch.allclose(out, _shift_right(images)):
        return report(True, "Right: F.conv2d(image, kernel, padding=1) is the image moved one pixel to the right.")
    if torch.allclose(out, _shift_right(images.flip(-1)).flip(-1)):
        return fail("your kernel moves the image to the left: conv2d does not flip the kernel (section 3), so "
                    "output pixel (i, j) reads the input where the kernel's 1 sits, relative to its centre.")
    if torch.allclose(out, images):
        return fail("that kernel leaves the image where it is; which input pixel must output pixel (i, j) copy?")
    if weights.sum().item() != 1 or int((weights != 0).sum()) != 1:
        return fail("a shift copies one pixel unchanged: a single 1 among zeros, placed relative to the centre.")
    return fail("that kernel moves the image, but not one pixel to the right: try it on a small tensor with a "
                "single bright pixel and see where the pixel goes.")
