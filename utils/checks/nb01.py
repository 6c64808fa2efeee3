"""Checks for notebook 01, Convolution from scratch: output sizes, an edge kernel, conv2d by hand, a shift."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..widgets.conv_geometry import output_size as _formula  # the playground's; a learner's output_size is forbidden
from .core import (
    CONVOLUTION,
    ByHandError,
    CheckResult,
    as_number,
    call,
    calls_any,
    fail,
    forbidding,
    missing,
    not_answered,
    report,
    run_cases,
)

__all__ = ["check_output_size", "check_input_size", "check_horizontal_edge_kernel", "check_conv2d_by_hand",
           "check_shift_kernel"]

SizeCase = tuple[int, int, int, int, int]  # size, kernel, stride, padding, dilation


def _conv_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """What PyTorch itself gives along one dimension (run, not computed from a formula)."""
    x, w = torch.zeros(1, 1, size, 1), torch.zeros(1, 1, kernel, 1)
    return F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1)).shape[2]


def _size_cases() -> list[SizeCase]:
    return [(size, kernel, stride, padding, dilation)
            for size in (1, 5, 7, 28, 32) for kernel in (1, 2, 3, 5) for stride in (1, 2, 3)
            for padding in (0, 1, 2) for dilation in (1, 2, 3)
            if size + 2 * padding >= dilation * (kernel - 1) + 1]


def _size_hint(wrong: list[tuple[SizeCase, int]], total: int) -> str:
    """What the wrong cases have in common, or one of them to try by hand."""
    if all(case[4] > 1 for case, _ in wrong):
        return ("right without dilation, wrong when dilation > 1: how many input pixels does a kernel of size k span "
                "when its taps are d pixels apart?")
    if all(case[3] > 0 for case, _ in wrong):
        return "right without padding, wrong with it: padding is added on both sides."
    if all(case[2] > 1 for case, _ in wrong):
        return ("right with stride 1, wrong with larger strides: count the kernel's positions, which are `stride` "
                "pixels apart.")
    (size, kernel, stride, padding, dilation), yours = wrong[0]
    return (f"{len(wrong)} of {total} cases differ, e.g. size={size}, kernel={kernel}, stride={stride}, "
            f"padding={padding}, dilation={dilation}: yours gives {yours}; try that case with nn.Conv2d on "
            "torch.zeros(1, 1, size, size).")


def check_output_size(function: Callable[..., int]) -> CheckResult:
    """Exercise 01.1: output_size(size, kernel, stride, padding, dilation), checked against PyTorch's convolution.

    >>> bool(check_output_size(lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s + 1))
    ✓ Right: your formula matches nn.Conv2d in all 456 cases.
    True
    """
    if not_answered(function):
        return missing("`output_size`")
    forbidden = calls_any(function, ("output_size", "_conv_size", *CONVOLUTION))
    if forbidden:
        return fail(f"your `output_size` calls `{forbidden}`; the exercise asks for the formula, worked out by "
                    "you: no library function or convolution inside.")
    cases, wrong = _size_cases(), []
    for case in cases:
        with forbidding(("output_size", *CONVOLUTION), function):
            result = call(function, *case)
        if isinstance(result, ByHandError):
            return fail(f"your `output_size` reached a library function: {result}")
        if isinstance(result, Exception):
            return fail(f"output_size{case} raised {type(result).__name__}: {result}")
        number = as_number(result)
        if number is None:
            return fail(f"output_size{case} returned {result!r}; return the size as a whole number.")
        if number != int(number):
            return fail(f"output_size{case} returned {number}, which is not a whole number: a position where the "
                        "kernel does not fit entirely is not computed, so round down (//).")
        if number != _conv_size(*case):
            wrong.append((case, int(number)))
    if wrong:
        return fail(_size_hint(wrong, len(cases)))
    return report(True, f"Right: your formula matches nn.Conv2d in all {len(cases)} cases.")


def _forward(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int | None:
    """The output size along one dimension, None where the kernel fits nowhere (the playground's formula)."""
    fits = size + 2 * padding >= dilation * (kernel - 1) + 1
    return _formula(size, kernel, stride, padding, dilation) if fits else None


def _input_cases() -> list[tuple[SizeCase, int]]:
    """(out, kernel, stride, padding, dilation) and the smallest input size that gives `out` outputs, found by
    trying every size from 1 up (a search, not the inverse formula the learner is asked for)."""
    cases = []
    for out in (1, 2, 5, 13):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                for padding in (0, 1, 2):
                    for dilation in (1, 2, 3):
                        case = (out, kernel, stride, padding, dilation)
                        sizes = [n for n in range(1, 80) if _forward(n, *case[1:]) == out]
                        if sizes and sizes[0] > 1:  # a case where the answer is not simply "any size"
                            cases.append((case, sizes[0]))
    return cases


def check_input_size(function: Callable[..., int]) -> CheckResult:
    """Exercise 01.1: input_size(out, kernel, stride, padding, dilation), the smallest input size along one dimension
    for which the layer gives `out` outputs: the size formula turned around.

    >>> bool(check_input_size(lambda o, k, s=1, p=0, d=1: (o - 1) * s + d * (k - 1) + 1 - 2 * p))
    ✓ Right: your inverse matches nn.Conv2d in all 351 cases.
    True
    """
    if not_answered(function):
        return missing("`input_size`")
    forbidden = calls_any(function, ("output_size", "_forward", *CONVOLUTION))
    if forbidden:
        return fail(f"your `input_size` calls `{forbidden}`; the exercise asks for the formula, worked out by you: "
                    "no library function or convolution inside.")
    cases, wrong = _input_cases(), []
    for case, expected in cases:
        with forbidding(("output_size", *CONVOLUTION), function):
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
    if not wrong:
        return report(True, f"Right: your inverse matches nn.Conv2d in all {len(cases)} cases.")
    if all(yours == _forward(*case) for case, yours in wrong):
        return fail("that is the output size of an input of size `out`: go the other way, from the outputs back to "
                    "the input.")
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


def _edge_responses(kernel: torch.Tensor) -> list[float]:
    """Largest |response| of the kernel to a horizontal edge, a vertical edge and a flat image."""
    horizontal = torch.zeros(9, 9, dtype=torch.float64)
    horizontal[5:] = 1.0  # dark above, bright below: an edge that runs from left to right
    images = torch.stack([horizontal, horizontal.T.clone(), torch.ones(9, 9, dtype=torch.float64)])[:, None]
    out = F.conv2d(images, kernel.view(1, 1, 3, 3))
    return [float(out[i].abs().max()) for i in range(3)]


def _kernel_3x3(kernel: object) -> torch.Tensor | CheckResult:
    """The learner's kernel as a 3x3 float64 tensor, or the failed check that says what shape is expected."""
    try:
        weights = torch.as_tensor(kernel, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return fail("give the kernel as a 3x3 tensor (or a nested list of numbers).")
    if tuple(weights.shape) != (3, 3):
        return fail(f"the kernel has shape {tuple(weights.shape)}; make it 3 rows of 3 numbers.")
    return weights


def check_horizontal_edge_kernel(kernel: object) -> CheckResult:
    """Exercise 01.2: a 3x3 kernel that responds to horizontal edges, not to vertical ones or flat areas."""
    if not_answered(kernel):
        return missing("`kernel`")
    weights = _kernel_3x3(kernel)
    if isinstance(weights, CheckResult):
        return weights
    if not torch.isfinite(weights).all() or weights.abs().max() == 0:
        return fail("the kernel must hold finite numbers, not all zero.")
    h, v, flat = _edge_responses(weights)
    if flat > 1e-6 * float(weights.abs().max()):
        return fail("it responds to a flat area, where there is no edge at all: what must its weights add up to?")
    if v >= h:
        return fail("it responds to vertical edges (brightness changing from left to right) at least as much as to "
                    "horizontal ones (brightness changing from top to bottom).")
    if v > 0.1 * h:
        return fail("it responds to vertical edges too; make every column of the kernel the same, so that a change "
                    "from left to right cancels out.")
    return report(True, "Right: it responds where brightness changes from top to bottom, and not to left-right "
                        "changes or flat areas.")


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
    """Exercise 01.3: conv2d(image, kernel) for one 2-D image and kernel, stride 1, no padding, like F.conv2d."""
    return run_cases(function, "`conv2d`", _conv_cases(), _judge_conv,
                     "Right: your sliding dot product matches F.conv2d on 4 images and kernels.",
                     by_hand=CONVOLUTION)


def _shift_right(images: torch.Tensor) -> torch.Tensor:
    """Every image moved one pixel to the right, a column of zeros coming in on the left."""
    return F.pad(images, (1, 0))[..., :-1]


def check_shift_kernel(kernel: object) -> CheckResult:
    """Exercise 01.2: a 3x3 kernel that, with padding=1, moves any image one pixel to the right.

    >>> bool(check_shift_kernel([[0, 0, 0], [1, 0, 0], [0, 0, 0]]))
    ✓ Right: F.conv2d(image, kernel, padding=1) is the image moved one pixel to the right.
    True
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
