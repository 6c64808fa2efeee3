"""Checks for notebook 03, Training the SimpleCNN: per-class accuracy, the flatten size, a conv layer's parameters."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .core import CheckResult, fail, is_int, missing, not_answered, report, run_cases

__all__ = ["check_per_class_accuracy", "check_flatten_size", "check_wide_conv2_parameters"]


def check_per_class_accuracy(function: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 03.1: a function that turns a (10, 10) confusion matrix into each class's accuracy.

    >>> bool(check_per_class_accuracy(lambda m: m.diag() / m.sum(1)))
    ✓ Right: correct predictions of a class (diagonal) over all samples of that class (row).
    True
    """
    generator = torch.Generator().manual_seed(3)
    counts = torch.randint(0, 20, (10, 10), generator=generator) + torch.diag(torch.arange(50, 150, 10))

    def judge(result: object, counts: torch.Tensor) -> str | None:
        expected = counts.diag().double() / counts.sum(1).double()
        values = torch.as_tensor(result).double().flatten()
        if values.shape != (10,):
            return f"expected one accuracy per class (10 values), got {tuple(values.shape)}."
        if torch.allclose(values, counts.diag().double() / counts.sum(0).double()):
            return ("you divided by the column sums: rows are the true classes, so divide each diagonal count by "
                    "its row's total.")
        if torch.allclose(values, expected * 100, atol=1e-6):
            return "give fractions between 0 and 1, not percentages."
        if not torch.allclose(values, expected, atol=1e-6):
            return ("the values do not match the per-class accuracy of a test matrix: each class's correct count is "
                    "on the diagonal.")
        return None

    return run_cases(function, "`per_class_accuracy`", [(counts,)], judge,
                     "Right: correct predictions of a class (diagonal) over all samples of that class (row).")


def check_flatten_size(size: object) -> CheckResult:
    """Exercise 03.2: how many values conv2's pooled output has per sample for a 32x32 input."""
    if not_answered(size):
        return missing("`flatten_size`")
    if is_int(size, 512):
        return fail("512 = 32 x 4 x 4 is the size for 28 x 28 inputs; redo the arithmetic for 32 x 32.")
    if not is_int(size, 32 * 5 * 5):
        return fail("follow the sizes: conv 5x5 (no padding) removes 4 pixels, a 2x2 pool halves (rounding down); "
                    "then multiply by the 32 channels.")
    return report(True, "Right: 32 -> 28 -> 14 -> 10 -> 5, so 32 channels x 5 x 5 values.")


def check_wide_conv2_parameters(count: object) -> CheckResult:
    """Exercise 03.3: the trainable parameters of a conv2 with 64 filters of 3x3 (16 input channels), worked out.

    >>> bool(check_wide_conv2_parameters(64 * 16 * 3 * 3 + 64))
    ✓ Right: 64 filters x 16 input channels x 3 x 3 weights, plus 64 biases: fewer than the 12,832 of today's conv2.
    True
    """
    if not_answered(count):
        return missing("`wide_conv2_parameters`")
    if is_int(count, 16 * 32 * 5 * 5 + 32):
        return fail("that is today's conv2 (32 filters of 5x5), printed in section 2; count the one with 64 filters "
                    "of 3x3.")
    if is_int(count, 64 * 16 * 3 * 3):
        return fail("that counts the weights only: every output channel also has a bias.")
    if is_int(count, 64 * 3 * 3 + 64) or is_int(count, 64 * 3 * 3):
        return fail("each of the 64 filters sees all 16 input channels, so it has 16 x 3 x 3 weights.")
    if not is_int(count, 64 * 16 * 3 * 3 + 64):
        return fail("count weights (out x in x kernel height x kernel width) plus one bias per output channel; then "
                    "check with sum(p.numel() for p in torch.nn.Conv2d(16, 64, 3).parameters()).")
    return report(True, "Right: 64 filters x 16 input channels x 3 x 3 weights, plus 64 biases: fewer than the "
                        "12,832 of today's conv2.")
