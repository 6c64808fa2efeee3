"""What every exercise check shares: the result it returns, the one-line report, answer parsing, and the runner
that calls a learner's function on test cases.

A check prints one line, "✓ ..." or "✗ Not yet: ...", and returns a CheckResult that is true or false. A wrong
answer of any type never raises (so a notebook still runs top to bottom), and the message says what is wrong, or
what kind of answer is expected, without giving the answer away.
"""

from __future__ import annotations

import copy
import numbers
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from .by_hand import ByHandError, calls_any, forbidding

__all__ = ["CheckResult", "wrap", "report", "fail", "as_number", "as_ints", "is_int", "not_answered", "missing", "call",
           "run_cases"]


# The longest line a check prints. A notebook's output area breaks a longer line anywhere, even mid-word, so the
# message is broken at spaces first, to fit a narrow window (JupyterLab beside its file browser, Colab, GitHub).
WIDTH = 88


def wrap(message: str, width: int = WIDTH) -> str:
    """message with every line broken at spaces to at most `width` characters (a longer word stays whole).

    >>> print(wrap("one two three four", width=9))
    one two
    three
    four
    """
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) or line
                     for line in message.split("\n"))


class CheckResult:
    """What a check returns: true when the answer is right; its message is printed once, when it is made, in lines
    short enough that no output area breaks a word (`wrap`).

    >>> bool(CheckResult(False, "✗ Not yet: try again"))
    ✗ Not yet: try again
    False
    """

    def __init__(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message
        print(wrap(message))

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"CheckResult(ok={self.ok}, message={self.message!r})"

    def _ipython_display_(self) -> None:
        """Show nothing more in a notebook: the message was printed already."""


def report(ok: bool, success: str, problem: str = "") -> CheckResult:
    """Print the outcome of a check and return it (true when ok).

    >>> report(True, "Right.")
    ✓ Right.
    CheckResult(ok=True, message='✓ Right.')
    """
    return CheckResult(ok, f"✓ {success}" if ok else f"✗ Not yet: {problem}")


def fail(problem: str) -> CheckResult:
    """report() for a wrong answer."""
    return report(False, "", problem)


def as_number(value: object) -> float | None:
    """value as a float when it is a plain real number (or a one-element tensor or array), else None.

    >>> as_number(torch.tensor([2])), as_number("2"), as_number(True)
    (2.0, None, None)
    """
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "numel", lambda: getattr(value, "size", 0))() == 1:
        value = item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def as_ints(value: object, count: int) -> tuple[int, ...] | None:
    """value as `count` whole numbers (a tuple, list, torch.Size or 1-D tensor), else None: never raises.

    >>> as_ints(torch.Size([8, 1, 28, 28]), 4), as_ints([8.5, 1, 28, 28], 4), as_ints("8, 1", 2), as_ints(8, 1)
    ((8, 1, 28, 28), None, None, None)
    """
    if isinstance(value, torch.Tensor):
        value = value.flatten().tolist() if value.dim() <= 1 else None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return None
    items = list(value)
    found = [as_number(item) for item in items]
    if len(found) != count or any(n is None or n != int(n) for n in found):
        return None
    return tuple(int(n) for n in found)  # type: ignore[arg-type]


def is_int(value: object, expected: int) -> bool:
    """True when value is a number equal to `expected`."""
    number = as_number(value)
    return number is not None and number == expected


def not_answered(value: object) -> bool:
    """True for the placeholders an exercise cell starts with: None or ..."""
    return value is None or value is ...


def missing(what: str) -> CheckResult:
    """The report for an exercise whose answer is still the placeholder."""
    return fail(f"fill in {what} in the cell above (it is still None), then run this check again.")


def call(function: Callable[..., Any], *args: Any) -> Any:
    """function(*args), or the error it raised (as the value), so that a check can report it."""
    try:
        return function(*args)
    except Exception as error:  # the learner's code failed: say how, instead of a stack trace from in here
        return error


def _fresh(value: object) -> object:
    """A copy of an argument the learner's function may change: tensors, lists and dicts (not models)."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


def run_cases(function: object, name: str, cases: Iterable[Sequence[Any]],
              judge: Callable[..., str | None], success: str, *, by_hand: Sequence[str] = ()) -> CheckResult:
    """Run the learner's `function` on every case (a tuple of arguments) and report the first problem.

    `by_hand` names the library functions the exercise asks the learner not to call: a function that names one
    fails before it runs, and one that reaches it another way (a helper, getattr) fails when it does (`forbidding`):
    an exercise that says "by hand" must not be passable by the one call it names.

    The function gets copies of tensor arguments; an exception it raises or a change it makes to a tensor it was
    given becomes the report. `judge(result, *case)` returns None when the result is right, else the message.

    >>> run_cases(lambda x: x * 2, "`double`", [(1,), (2,)], lambda r, x: None if r == 2 * x else "no", "Right.")
    ✓ Right.
    CheckResult(ok=True, message='✓ Right.')
    """
    if not_answered(function):
        return missing(name)
    if not callable(function):
        return fail(f"{name} should be a function (def ...), not a {type(function).__name__}.")
    forbidden = calls_any(function, by_hand)
    if forbidden:
        return fail(f"your {name} calls `{forbidden}`; the exercise asks you to write it by hand, with tensor "
                    "operations (min, max, sums, slices, loops).")
    for case in cases:
        given = [_fresh(arg) for arg in case]
        with forbidding(by_hand, function):
            result = call(function, *given)
        if isinstance(result, ByHandError):
            return fail(f"your {name} reached a library function: {result}")
        if isinstance(result, Exception):
            return fail(f"your function raised {type(result).__name__}: {result}")
        if any(isinstance(a, torch.Tensor) and not torch.equal(a, b) for a, b in zip(given, case)):
            return fail("your function changed the tensor it was given; compute into a new tensor (x = x - m makes "
                        "a new one, x -= m changes x in place).")
        problem = judge(result, *case)
        if problem:
            return fail(problem)
    return report(True, success)
