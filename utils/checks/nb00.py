"""Checks for notebook 00, Start here: the shape of a batch, one pixel transformed."""

from __future__ import annotations

from .core import CheckResult, as_ints, as_number, fail, missing, not_answered, report

__all__ = ["check_batch_shape", "check_transformed_pixel"]


LAST_BATCH = 1000 % 64  # exercise 00.1: the digits left for the last batch of 64


def check_batch_shape(shape: object) -> CheckResult:
    """Exercise 00.1: the shape of the last batch when the test digits are cut into batches of 64, as (N, C, H, W).
    A wrong answer of any type gets a hint, never the answer.

    >>> check_batch_shape("64, 1, 28, 28")
    ✗ Not yet: give the shape as a tuple of four whole numbers, such as tuple(images.shape), not a str.
    CheckResult(ok=False, ...)
    """
    if not_answered(shape):
        return missing("`batch_shape`")
    try:
        length = None if isinstance(shape, (str, bytes)) else len(shape)  # type: ignore[arg-type]
    except TypeError:
        length = None
    numbers = as_ints(shape, length or 4)
    if numbers is None:
        return fail("give the shape as a tuple of four whole numbers, such as tuple(images.shape), not a "
                    f"{type(shape).__name__}" + (" holding other values." if length else "."))
    if len(numbers) != 4:
        return fail(f"{numbers} has {len(numbers)} numbers; images in PyTorch have 4: (N, C, H, W).")
    if numbers[0] == 64:
        return fail("64 is the size of a full batch; the last one holds the digits left over when the test digits "
                    "are cut into full batches: how many is that?")
    if numbers[0] != LAST_BATCH:
        return fail("the first number is N, the number of digits in the last batch: what is left of the test "
                    "digits after as many full batches of 64 as fit.")
    if numbers[1:] != (1, 28, 28):
        return fail("N is right; check C, H, W: how many colour channels does an MNIST digit have, and how many "
                    "pixels high and wide is it?")
    return report(True, f"Right: 1,000 = {1000 // 64} x 64 + {LAST_BATCH}, so {LAST_BATCH} digits, 1 channel (grey), "
                        "28 x 28 pixels.")


STORED_PIXEL = 51  # exercise 00.2: the file's value asked about (51 / 255 = 0.2)


def check_transformed_pixel(value: object) -> CheckResult:
    """Exercise 00.2: the value the model sees for a pixel stored as 51 (of 255) in the MNIST file, after the
    course's transform (ToTensor, then Normalize); the usual slips (one step only, the mean minus the value) get a
    hint that does not confirm any part of the answer.

    >>> bool(check_transformed_pixel(51 / 255))
    ✗ Not yet: that is the value after ToTensor only; Normalize((0.5,), (0.5,)) comes next.
    False
    """
    if not_answered(value):
        return missing("`seen`")
    number = as_number(value)
    if number is None:
        return fail(f"give the value as one number, not a {type(value).__name__}.")
    scaled = STORED_PIXEL / 255
    if abs(number - (scaled - 0.5) / 0.5) <= 1e-3:
        return report(True, "Right: 51 / 255 = 0.2 after ToTensor, then (0.2 - 0.5) / 0.5 = -0.6 after Normalize.")
    if abs(number - STORED_PIXEL) <= 1e-3:
        return fail("that is the value in the file; the transform changes it twice: ToTensor, then Normalize.")
    if abs(number - scaled) <= 1e-3:
        return fail("that is the value after ToTensor only; Normalize((0.5,), (0.5,)) comes next.")
    if abs(number + (scaled - 0.5) / 0.5) <= 1e-3:
        return fail("Normalize computes (x - mean) / std: the value minus the mean, in that order, then divided "
                    "by the std.")
    if abs(number - (scaled - 0.5)) <= 1e-3:
        return fail("you subtracted the mean; Normalize then divides by the std (0.5) as well.")
    return fail("ToTensor divides by 255; Normalize((0.5,), (0.5,)) then computes (x - 0.5) / 0.5.")
