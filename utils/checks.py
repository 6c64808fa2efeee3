"""Checks for the notebooks' exercises.

Each check prints one line, "✓ ..." or "✗ Not yet: ...", and returns a CheckResult that is true or false. A wrong
answer never raises (so a notebook still runs top to bottom) and the message says what is wrong without giving the
answer away.
The worked solutions in notebooks/solutions/ assert that every check returns True.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch


class CheckResult:
    """What a check returns: true when the answer is right; its message is printed once, when it is made."""

    def __init__(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message
        print(message)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"CheckResult(ok={self.ok}, message={self.message!r})"

    def _ipython_display_(self) -> None:
        """Show nothing more in a notebook: the message was printed already."""


def report(ok: bool, success: str, problem: str = "") -> CheckResult:
    """Print the outcome of a check and return it (true when ok)."""
    return CheckResult(ok, f"✓ {success}" if ok else f"✗ Not yet: {problem}")


def _as_number(value) -> float | None:
    """value as a float when it is a plain number (or a one-element tensor or array), else None."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if hasattr(value, "item") and getattr(value, "size", None) == 1:
        return value.item()
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return float(value)
    return None


def _is_int(value, expected: int) -> bool:
    number = _as_number(value)
    return number is not None and number == expected


def _not_answered(value) -> bool:
    return value is None or value is ...


def _missing(what: str) -> CheckResult:
    return report(False, "", f"fill in {what} in the cell above (it is still None), then run this check again.")


def _call(function: Callable, *args):
    """function(*args), or the error it raised (as the value), so that a check can report it."""
    try:
        return function(*args)
    except Exception as error:  # the learner's code failed: say how, instead of a stack trace from in here
        return error


# --- 00 · Start here -------------------------------------------------------------------------------------------

def check_batch_shape(shape) -> CheckResult:
    """Exercise 00.1: the shape of a batch of 8 MNIST test digits, as (N, C, H, W)."""
    if _not_answered(shape):
        return _missing("`batch_shape`")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4:
        return report(False, "", f"{shape} has {len(shape)} numbers; images in PyTorch have 4: (N, C, H, W).")
    if shape[0] != 8:
        return report(False, "", "the first number is the batch size N: the batch asked for has 8 digits.")
    if shape[1:] != (1, 28, 28):
        return report(False, "", "N is right; check C, H, W: how many colour channels does an MNIST digit have, "
                                 "and how many pixels high and wide is it?")
    return report(True, "Right: 8 digits, 1 channel (grey), 28 x 28 pixels.")


def check_pixel_range(low, high) -> CheckResult:
    """Exercise 00.2: the smallest and largest pixel value after the course's transform."""
    if _not_answered(low) or _not_answered(high):
        return _missing("`low` and `high`")
    low, high = _as_number(low), _as_number(high)
    if low is None or high is None:
        return report(False, "", "give `low` and `high` as numbers.")
    if (low, high) == (0, 1) or (low, high) == (0, 255):
        return report(False, "", "that is the range before Normalize((0.5,), (0.5,)); what does (x - 0.5) / 0.5 do "
                                 "to it?")
    if abs(low + 1) > 1e-6 or abs(high - 1) > 1e-6:
        return report(False, "", f"[{low}, {high}] is not the range the transform gives; measure it with "
                                 ".min() and .max() on a batch.")
    return report(True, "Right: Normalize((0.5,), (0.5,)) maps [0, 1] to [-1, 1] (background -1, ink +1).")


# --- 03 · Training the SimpleCNN ------------------------------------------------------------------------------

def check_per_class_accuracy(function: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 03.1: a function that turns a (10, 10) confusion matrix into each class's accuracy."""
    if _not_answered(function):
        return _missing("`per_class_accuracy`")
    generator = torch.Generator().manual_seed(3)
    counts = torch.randint(0, 20, (10, 10), generator=generator) + torch.diag(torch.arange(50, 150, 10))
    expected = counts.diag().double() / counts.sum(1).double()
    result = _call(function, counts.clone())
    if isinstance(result, Exception):
        return report(False, "", f"your function raised {type(result).__name__}: {result}")
    result = torch.as_tensor(result).double().flatten()
    if result.shape != (10,):
        return report(False, "", f"expected one accuracy per class (10 values), got {tuple(result.shape)}.")
    if torch.allclose(result, counts.diag().double() / counts.sum(0).double()):
        return report(False, "", "you divided by the column sums: rows are the true classes, so divide each "
                                 "diagonal count by its row's total.")
    if torch.allclose(result, expected * 100, atol=1e-6):
        return report(False, "", "give fractions between 0 and 1, not percentages.")
    if not torch.allclose(result, expected, atol=1e-6):
        return report(False, "", "the values do not match the per-class accuracy of a test matrix: each class's "
                                 "correct count is on the diagonal.")
    return report(True, "Right: correct predictions of a class (diagonal) over all samples of that class (row).")


def check_flatten_size(size) -> CheckResult:
    """Exercise 03.2: how many values conv2's pooled output has per sample for a 32x32 input."""
    if _not_answered(size):
        return _missing("`flatten_size`")
    if _is_int(size, 512):
        return report(False, "", "512 = 32 x 4 x 4 is the size for 28 x 28 inputs; redo the arithmetic for 32 x 32.")
    if _is_int(size, 32 * 4 * 4) or not _is_int(size, 32 * 5 * 5):
        return report(False, "", "follow the sizes: conv 5x5 (no padding) removes 4 pixels, a 2x2 pool halves "
                                 "(rounding down); then multiply by the 32 channels.")
    return report(True, "Right: 32 -> 28 -> 14 -> 10 -> 5, so 32 channels x 5 x 5 values.")


def check_conv2_parameters(count) -> CheckResult:
    """Exercise 03.3: the number of trainable parameters in conv2."""
    if _not_answered(count):
        return _missing("`conv2_parameters`")
    if _is_int(count, 16 * 32 * 5 * 5):
        return report(False, "", "that counts the weights only: every output channel also has a bias.")
    if _is_int(count, 32 * 5 * 5 + 32) or _is_int(count, 32 * 5 * 5):
        return report(False, "", "each of the 32 filters sees all 16 input channels, so it has 16 x 5 x 5 weights.")
    if not _is_int(count, 16 * 32 * 5 * 5 + 32):
        return report(False, "", "count weights (out x in x kernel height x kernel width) plus one bias per output "
                                 "channel; sum(p.numel() for p in model.conv2.parameters()) lets you check.")
    return report(True, "Right: 32 x 16 x 5 x 5 weights plus 32 biases.")
