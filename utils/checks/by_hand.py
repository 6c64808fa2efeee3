"""How a by-hand exercise's check tells a function written by hand from one that uses the library function the
exercise forbids: `calls_any` looks, before the function runs, at everything it names or holds, and `forbidding`
makes the library functions refuse to run while it runs. Together they catch a call by name, through a helper, a
default argument, a closure, a callable object's attribute, getattr or torch.ops.aten; for convolutions, a
dispatcher mode also refuses the operator itself, however it was reached (torch._C, torch.ops.mkldnn, a cached
reference).
"""

from __future__ import annotations

import builtins
import contextlib
import dis
import functools
import importlib
import numbers
import re
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["CONVOLUTION", "CONVOLUTION_OPERATOR", "ByHandError", "RefusingOperators", "calls_any", "forbidding"]


# Every way into PyTorch's convolutions a by-hand exercise forbids: the Python functions and layers (1-D, 2-D, 3-D,
# transposed), the gradients of a convolution in torch.nn.grad (themselves convolutions), and the ATen operators
# behind them (torch.*, torch._C._nn.*, torch.ops.aten.*, backward ones included: a weight gradient is a correlation).
CONVOLUTION = (
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "conv_tbc",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
    "conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight", "conv3d_input", "conv3d_weight",
    "convolution", "_convolution", "_convolution_mode", "convolution_overrideable", "convolution_backward",
    "convolution_backward_overrideable", "_convolution_double_backward", "conv_tbc_backward",
    "_slow_conv2d_forward", "_slow_conv2d_backward", "thnn_conv2d", "slow_conv3d", "slow_conv3d_forward",
    "slow_conv_dilated2d", "slow_conv_dilated3d", "slow_conv_transpose2d", "slow_conv_transpose3d",
    "_conv_depthwise2d", "conv_depthwise3d", "_nnpack_spatial_convolution", "mkldnn_convolution",
    "cudnn_convolution", "cudnn_convolution_transpose", "cudnn_convolution_relu", "cudnn_convolution_add_relu",
    "miopen_convolution", "miopen_convolution_transpose", "miopen_depthwise_convolution", "miopen_convolution_relu",
    "miopen_convolution_add_relu", "_mps_convolution", "_mps_convolution_transpose", "mps_convolution_backward",
    "mps_convolution_transpose_backward",
    # Other libraries' convolutions (numpy's 1-D ones, scipy.signal's and scipy.ndimage's), looked for where a
    # search or `forbidding` looks: in numpy, and in scipy.signal and scipy.ndimage once imported.
    *("convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve", "convolve1d", "correlate1d"),
)

# An operator the dispatcher runs that is a convolution, in any namespace (aten.convolution, aten._convolution,
# mkldnn._convolution_pointwise, aten.conv2d, aten._conv_depthwise2d, quantized.conv2d...), not aten._convert_*.
CONVOLUTION_OPERATOR = re.compile(r"(^|_)conv(\d|_|olution|$)")

# Modules whose objects a search never looks inside: the library and Python's own types (their code is not the
# learner's; what they reach at run time, `forbidding` catches).
_NOT_LEARNERS = ("utils", "torch", "numpy", "matplotlib", "PIL", "builtins", "IPython", "ipywidgets", "scipy",
                 "captum")
_MISSING = object()
PACKAGES = ("captum",)  # libraries a check may forbid whole, by their package's name


def _module(value: object) -> str:
    return str(getattr(value, "__module__", None) or "")


def _is_library(value: object) -> bool:
    """True for a function or class of torch, torchvision, numpy, scipy, Captum or the course (not the learner's)."""
    library = ("utils", "torch", "numpy", "scipy", "captum")
    return _module(value).startswith(library) or isinstance(value, (types.BuiltinFunctionType,
                                                                     torch._ops.OpOverloadPacket))


def _library_spaces() -> list[Any]:
    """Where a forbidden name is looked up: the course's modules, torch's public and internal entry points,
    torch.nn.grad and torchvision.utils (imported here, so that a learner's function cannot be the first to)."""
    for optional in ("torchvision.utils", "torch.nn.grad"):
        with contextlib.suppress(ImportError):
            importlib.import_module(optional)
    spaces: list[Any] = [m for name, m in list(sys.modules.items())
                         if m is not None and (name == "utils" or name.startswith("utils."))]
    spaces += [torch, torch.nn, torch.nn.functional, torch._C._VariableFunctions, torch._C._nn, torch.ops.aten]
    others = ("torch.nn.grad", "torchvision.utils", "numpy", "scipy.signal", "scipy.ndimage")
    captum = [m for name, m in list(sys.modules.items()) if m is not None and name.split(".")[0] == "captum"]
    return spaces + [sys.modules[name] for name in others if name in sys.modules] + captum


def _looked_up(space: Any, name: str) -> Any:
    """space.name without side effects, or None (torch.ops.aten makes its operators on first access)."""
    if space is torch.ops.aten:
        return getattr(space, name, None)
    return getattr(space, "__dict__", {}).get(name)


def _forbidden_objects(names: Iterable[str]) -> dict[int, tuple[Any, str]]:
    """id -> (object, name) for every library object that one of `names` names, wherever the library keeps it.

    The course's public names load on first use (utils/__init__.py), so those asked for are loaded first."""
    names = tuple(names)
    course = sys.modules.get("utils")
    for name in names:
        if name in getattr(course, "_HOME", {}):
            getattr(course, name)
    found: dict[int, tuple[Any, str]] = {}
    for name in names:  # a forbidden package, such as captum: the module itself
        module = sys.modules.get(name) if name in PACKAGES else None
        if module is not None:
            found[id(module)] = (module, name)
    for space in _library_spaces():
        for name in names:
            value = _looked_up(space, name)
            if value is not None and _is_library(value):
                found[id(value)] = (value, name)
    return found


class _Search:
    """Looks for a forbidden object in what a learner's function holds before it runs: the globals its code names
    (attributes of modules followed: F.conv2d), its default arguments, keyword defaults and closure cells, a
    partial's arguments, a callable object's attributes and class, and the learner's helpers, recursively.

    Objects are compared by identity, so a learner's own function that happens to be called `output_size` is not
    the course's."""

    def __init__(self, forbidden: dict[int, tuple[Any, str]], names: Iterable[str] = ()) -> None:
        self.forbidden, self.names, self.budget = forbidden, set(names), 5000
        self.seen: set[int] = set()

    def hit(self, value: object) -> str | None:
        """The forbidden name `value` is (an operator's overload counts as its operator), else None."""
        if isinstance(value, _Imported):  # `from torchvision... import create_feature_extractor` in the function
            return value.name if value.name in self.names else None
        if isinstance(value, torch._ops.OpOverload):
            value = value.overloadpacket
        known = self.forbidden.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        for cls in getattr(type(value), "__mro__", ()):  # an instance of a forbidden layer, or of a subclass
            known = self.forbidden.get(id(cls))
            if known is not None and known[0] is cls:
                return known[1]
        return None

    def find(self, value: object, depth: int = 0) -> str | None:
        if depth > 8 or self.budget <= 0 or id(value) in self.seen:
            return None
        self.seen.add(id(value))
        self.budget -= 1
        found = self.hit(value)
        if found or isinstance(value, (torch.Tensor, types.ModuleType, str, bytes, numbers.Number, type(None))):
            return found
        if isinstance(value, functools.partial):
            return self.find_all([value.func, *value.args, *value.keywords.values()], depth)
        if isinstance(value, (staticmethod, classmethod, types.MethodType)):
            return self.find_all([value.__func__, getattr(value, "__self__", None)], depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            return self.find_all(list(value)[:256], depth)
        if isinstance(value, dict):
            return self.find_all(list(value.values())[:256], depth)
        if isinstance(value, types.FunctionType):
            library = depth > 0 and _module(value).startswith(_NOT_LEARNERS)  # the function given is always read
            return None if library else self.in_function(value, depth)
        if isinstance(value, type):
            if _module(value).startswith(_NOT_LEARNERS):
                return None
            return self.find_all([*vars(value).values(), *value.__bases__], depth)
        if _module(type(value)).startswith(_NOT_LEARNERS):
            return None
        try:  # an instance of a class the learner wrote: its class (methods) and its attributes
            held = list(vars(value).values())
        except TypeError:
            held = []
        return self.find_all([type(value), *held], depth)

    def find_all(self, values: Iterable[object], depth: int) -> str | None:
        for value in values:
            found = self.find(value, depth + 1)
            if found:
                return found
        return None

    def in_function(self, function: types.FunctionType, depth: int) -> str | None:
        cells = {}
        for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
            with contextlib.suppress(ValueError):  # a cell not filled yet
                cells[name] = cell.cell_contents
        held = [*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values(), *cells.values()]
        return self.find_all(held + _names_in(function.__code__, function.__globals__, cells), depth)


@dataclass(frozen=True)
class _Imported:
    """A name a function imports itself (`from module import name`): matched by name, not identity."""

    name: str


def _names_in(code: types.CodeType, scope: dict[str, Any], cells: dict[str, Any]) -> list[Any]:
    """What the global and closure names in `code` (nested functions and lambdas included) hold now, with attribute
    chains on modules and classes followed: `F.conv2d` gives F and F.conv2d, `torch.ops.aten.convolution` each step."""
    values: list[Any] = []
    stack = [code]
    while stack:
        current = stack.pop()
        stack += [c for c in current.co_consts if isinstance(c, types.CodeType)]
        value: Any = _MISSING  # what the chain of loads read so far holds
        for instruction in dis.get_instructions(current):
            op, name = instruction.opname, instruction.argval
            if op in ("CACHE", "PRECALL", "EXTENDED_ARG", "NOP"):
                continue
            if op in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(name, str):
                value = scope.get(name, getattr(builtins, name, _MISSING))
            elif op == "IMPORT_NAME" and isinstance(name, str):  # `import captum.robust`: the package, by name
                values.append(_Imported(name.split(".")[0]))
                value = _MISSING
                continue
            elif op == "IMPORT_FROM" and isinstance(name, str):  # its module may not be imported yet: by name
                values.append(_Imported(name))
                value = _MISSING
                continue
            elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF") and isinstance(name, str):
                value = cells.get(name, _MISSING)
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(name, str) and \
                    (isinstance(value, (types.ModuleType, type, torch._ops.OpOverloadPacket))
                     or value is torch._C._VariableFunctions):
                try:
                    value = getattr(value, name, _MISSING)
                except Exception:  # an attribute that runs code and fails: nothing to follow
                    value = _MISSING
            else:
                value = _MISSING
            if value is not _MISSING:
                values.append(value)
    return values


def calls_any(function: object, names: Iterable[str]) -> str | None:
    """The name (one of `names`) of a library object that `function` is, calls or holds, else None: how a check
    tells a function written by hand from one that uses the library function the exercise forbids, before it runs.

    "Holds" covers what the function can reach without naming it: a default argument (`_f=F.conv2d`), a keyword
    default, a closure cell, a partial's arguments, a callable object's attributes, a global alias
    (`nm = normalize_maps`), a helper of the learner's that does any of these. Objects are compared by identity with
    the library's, so a learner's own function named like the library's is not refused.

    >>> import torch.nn.functional as F
    >>> calls_any(lambda image, kernel, f=F.conv2d: f(image, kernel), CONVOLUTION)
    'conv2d'
    >>> def output_size(size, kernel):  # the learner's own function, not the course's
    ...     return size - kernel + 1
    >>> calls_any(output_size, ["output_size"]) is None
    True
    """
    names = tuple(names)
    return _Search(_forbidden_objects(names), names).find(function)


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


def _learner_scopes(function: object) -> list[dict[str, Any]]:
    """The globals of the learner's function (the notebook's): a partial's, or a callable object's __call__'s."""
    target = getattr(function, "func", function)
    scopes: list[dict[str, Any]] = []
    for candidate in (target, type(target).__call__ if callable(target) else None):
        scope = getattr(candidate, "__globals__", None)
        if isinstance(scope, dict) and all(scope is not s for s in scopes):
            scopes.append(scope)
    return scopes


class RefusingOperators(TorchDispatchMode):
    """While active, every operator the dispatcher is asked to run whose name `pattern` finds raises ByHandError,
    whichever Python object led there (torch._C._VariableFunctions.conv2d, torch.ops.mkldnn..., a reference cached
    before the check); every other operator (the learner's sums, products, slices) runs as usual."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__()
        self.pattern = pattern

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        namespace, _, name = func._schema.name.partition("::")
        if self.pattern.search(name):
            raise ByHandError(f"the library operator `{namespace}.{name}` was run; this exercise is by hand: write it "
                              "with tensor operations (sums, slices, loops), not with the library function, however "
                              "it is reached.")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbidding(names: Iterable[str], function: object = None, operators: re.Pattern[str] | None = None
               ) -> Iterator[None]:
    """While the block runs, every library function in `names` raises ByHandError, wherever it is reached from:
    a helper, a callable class, getattr(utils, "normalize_" + "maps"), torch.ops.aten..., and any global of the
    learner's function that holds one under another name (what `calls_any`, which runs first, cannot see).
    The dispatcher refuses every operator whose name `operators` finds (by default every convolution operator when
    `names` include a convolution), which no name can hide. Everything is put back when the block ends.

    >>> import torch.nn.functional as F
    >>> with forbidding(["conv2d"]):
    ...     F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ByHandError: `conv2d` was called; this exercise is by hand ...
    >>> F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3)).item()
    9.0
    """
    names = tuple(names)
    forbidden = _forbidden_objects(names)
    saved: list[tuple[Any, str, Any]] = []
    try:
        for space in _library_spaces():
            for name in names:
                original = _looked_up(space, name)
                if original is None or id(original) not in forbidden:
                    continue
                try:
                    setattr(space, name, _Forbidden(name))
                except (AttributeError, TypeError):  # a built-in type that cannot be changed
                    continue
                saved.append((space, name, original))
        for scope in _learner_scopes(function):
            for key, value in list(scope.items()):
                known = forbidden.get(id(value))
                if known is not None and known[0] is value:
                    scope[key] = _Forbidden(known[1])
                    saved.append((scope, key, value))
        if operators is None and set(names) & set(CONVOLUTION):
            operators = CONVOLUTION_OPERATOR
        with RefusingOperators(operators) if operators else contextlib.nullcontext():
            yield
    finally:
        for space, name, original in reversed(saved):
            if isinstance(space, dict):
                space[name] = original
            else:
                setattr(space, name, original)
