"""What every exercise check shares: the result it returns, the one-line report, answer parsing, and the runner
that calls a learner's function on test cases.

A check prints one line, "✓ ..." or "✗ Not yet: ...", and returns a CheckResult that is true or false. A wrong
answer of any type never raises (so a notebook still runs top to bottom), and the message says what is wrong, or
what kind of answer is expected, without giving the answer away.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import sys
import textwrap
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch

__all__ = ["CheckResult", "wrap", "report", "fail", "as_number", "as_ints", "is_int", "not_answered", "missing", "call",
           "calls_any", "run_cases", "ByHandError", "forbidding", "CONVOLUTION"]


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


def calls_any(function: object, names: Iterable[str]) -> str | None:
    """The first of `names` that `function` uses (or is), else None: how a check tells a function written by hand
    from one that calls the library function the exercise forbids.

    It reads the names in the function's code (nested functions and lambdas included), so `normalize_maps(m)`,
    `utils.normalize_maps(m)` and `partial(normalize_maps, ...)` are all found, before anything runs; a global
    name bound to the library function under another name (`nm = normalize_maps` outside, `nm(m)` inside) is
    found by looking up what the name holds in the function's globals.

    >>> calls_any(lambda m: normalize_maps(m, "channel"), ["normalize_maps"]), calls_any(abs, ["normalize_maps"])
    ('normalize_maps', None)
    """
    wanted = set(names)
    target = getattr(function, "func", function)  # a functools.partial
    if not isinstance(target, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, type)):
        target = type(target).__call__ if callable(target) else target  # an instance of a class with __call__
    name = getattr(target, "__name__", None)
    code = getattr(target, "__code__", None)
    if name in wanted and (code is None or str(getattr(target, "__module__", "")).startswith(("utils", "torch"))):
        return str(name)  # the library's own function (or a built-in), passed as it is
    stack = [code] if isinstance(code, types.CodeType) else []
    used: list[str] = []
    while stack:
        used += stack[0].co_names + stack[0].co_freevars
        stack = stack[1:] + [c for c in stack[0].co_consts if isinstance(c, types.CodeType)]
    found = sorted(wanted & set(used))
    if found:
        return found[0]
    scope = getattr(target, "__globals__", {})
    for alias in used:  # an alias: the library function under another global name
        held = getattr(scope.get(alias), "__name__", None)
        if held in wanted and str(getattr(scope[alias], "__module__", "")).startswith(("utils", "torch")):
            return str(held)
    return None


# Every way into PyTorch's 2-D convolution a by-hand exercise forbids: the Python functions, the layer, and the ATen
# operators behind them (torch.ops.aten.<name>), which `forbidding` replaces while the learner's function runs.
CONVOLUTION = ("conv2d", "Conv2d", "convolution", "_convolution", "_convolution_mode", "conv1d", "conv3d",
               "conv_transpose2d", "mkldnn_convolution", "_slow_conv2d_forward", "thnn_conv2d",
               "slow_conv_dilated2d", "_nnpack_spatial_convolution", "conv_tbc")


class ByHandError(RuntimeError):
    """Raised when a learner's function reaches a function its by-hand exercise forbids, however it got there."""


class _Forbidden:
    """Stands in for a forbidden function: calling it, or reading any attribute (torch.ops.aten.X.default), raises."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _refuse(self) -> ByHandError:
        return ByHandError(f"`{self._name}` was called; this exercise is by hand: write it with tensor operations "
                           "(sums, slices, loops), not with the library function (nor through a helper that calls it).")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._refuse()

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise self._refuse()


def _namespaces(function: object) -> list[Any]:
    """Where a forbidden name can be reached from: the course's modules, torch's public and internal entry points,
    torchvision.utils, and the globals of the learner's function (the notebook)."""
    spaces: list[Any] = [m for name, m in list(sys.modules.items())
                         if m is not None and (name == "utils" or name.startswith("utils."))]
    spaces += [torch, torch.nn, torch.nn.functional, torch._C._VariableFunctions, torch._C._nn, torch.ops.aten]
    if "torchvision.utils" in sys.modules:
        spaces.append(sys.modules["torchvision.utils"])
    target = getattr(function, "func", function)
    for candidate in (target, type(target).__call__ if callable(target) else None):
        scope = getattr(candidate, "__globals__", None)
        if isinstance(scope, dict):
            spaces.append(scope)
    return spaces


def _is_library(value: object) -> bool:
    """True for a function or class of torch, torchvision or the course (not one the learner wrote)."""
    module = str(getattr(value, "__module__", None) or "")
    return module.startswith(("utils", "torch")) or isinstance(value, (types.BuiltinFunctionType,
                                                                       torch._ops.OpOverloadPacket))


@contextlib.contextmanager
def forbidding(names: Iterable[str], function: object = None) -> Iterator[None]:
    """While the block runs, every library function in `names` raises ByHandError, wherever it is reached from:
    a helper, a callable class, getattr(utils, "normalize_" + "maps"), torch.ops.aten... (what `calls_any`, which
    reads the code, cannot see). Everything is put back when the block ends."""
    saved: list[tuple[Any, str, Any]] = []
    try:
        for space in _namespaces(function):
            for name in names:
                is_dict = isinstance(space, dict)
                if space is torch.ops.aten:
                    original = getattr(space, name, None)  # created on first access
                else:
                    original = (space if is_dict else getattr(space, "__dict__", {})).get(name)
                if original is None or not _is_library(original):
                    continue
                try:
                    if is_dict:
                        space[name] = _Forbidden(name)
                    else:
                        setattr(space, name, _Forbidden(name))
                except (AttributeError, TypeError):  # a built-in type that cannot be changed
                    continue
                saved.append((space, name, original))
        yield
    finally:
        for space, name, original in reversed(saved):
            if isinstance(space, dict):
                space[name] = original
            else:
                setattr(space, name, original)


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
