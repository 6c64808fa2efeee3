"""Checks for notebook 04, Capturing feature maps with hooks: a first hook, shapes by hooks, reused layers, names."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import torch

from ..capturing.guards import hook_count
from ..capturing.hooks import get_feature_maps
from ..models import SimpleCNN
from ..train import load_trained_simplecnn
from .by_hand import calls_any, forbidding
from .core import (
    ByHandError,
    CheckResult,
    as_ints,
    as_number,
    call,
    fail,
    is_int,
    missing,
    not_answered,
    report,
)
from .exercise_models import held_out_digits, nested_exercise_model

__all__ = ["check_capture_conv1", "check_record_shapes", "check_pool_calls", "check_most_active_channel",
           "check_nested_layer_name"]


def _is_helper(module: str) -> bool:
    """True for a module of the course's helpers (utils), the checks aside (their examples are learners' code)."""
    return module.split(".")[0] == "utils" and not module.startswith("utils.checks")


def _library_origin(hook: object, caller: types.FrameType | None) -> str | None:
    """'module.function' of the course's code that made `hook` or registers it from `caller`, else None."""
    made = getattr(hook, "func", hook)  # a partial: the function it wraps
    made = getattr(made, "__func__", made)  # a bound method: its function
    module = str(getattr(made, "__module__", None) or "")
    if _is_helper(module):
        return f"{module}.{getattr(made, '__qualname__', type(made).__qualname__).split('.<locals>')[0]}"
    module = str(caller.f_globals.get("__name__", "")) if caller is not None else ""
    return f"{module}.{caller.f_code.co_name}" if caller is not None and _is_helper(module) else None


class _PreparedSimpleCNN(SimpleCNN):
    """The SimpleCNN with two extra steps in its forward pass: it mirrors the digits before conv1, and an in-place
    ReLU overwrites conv1's output right after the hooks ran. So conv1's real output differs from model.conv1(x)
    called by hand, and a stored output.detach() without .clone() loses its negative values.

    `library_hooks` names every hook on conv1 that the course's own code made or registered (a private helper
    such as utils.capturing.hooks._hooked): the exercise is to write the hook, not to borrow one."""

    def __init__(self) -> None:
        super().__init__()
        self.library_hooks: list[str] = []
        register = self.conv1.register_forward_hook

        def watched(hook: Callable, *args: Any, **kwargs: Any) -> Any:
            origin = _library_origin(hook, sys._getframe(1))
            if origin:
                self.library_hooks.append(origin)
            return register(hook, *args, **kwargs)

        self.conv1.register_forward_hook = watched  # type: ignore[method-assign]  # this module only: every helper registers through it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x.flip(-1))  # what conv1 really sees: the mirrored digits
        x = self.pool(x.relu_())  # in place: rewrites the tensor the hooks on conv1 received
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc3(torch.relu(self.fc2(x)))


def _judge_conv1_capture(result: object, model: SimpleCNN, x: torch.Tensor) -> str | None:
    if not isinstance(result, dict) or "conv1" not in result:
        return 'return the dictionary your hook filled, with the map under the key "conv1".'
    captured = result["conv1"]
    if not isinstance(captured, torch.Tensor):
        return 'store the tensor itself under "conv1" (the hook\'s `output`).'
    if captured.grad_fn is not None:
        return "the stored tensor still carries its autograd graph: store output.detach().clone()."
    with torch.no_grad():
        expected, by_hand = model.conv1(x.flip(-1)), model.conv1(x)
    if captured.shape != expected.shape:
        return (f"the stored tensor has shape {tuple(captured.shape)}, conv1's output {tuple(expected.shape)}: "
                "hook `model.conv1` and store its third argument, `output` (not `inputs`).")
    if torch.allclose(captured, expected, atol=1e-6):
        return None
    if torch.allclose(captured, by_hand, atol=1e-6):
        return ("that is model.conv1(x) called by hand. The check's model changes x in its forward before conv1 "
                "(as a real model may), so only a hook sees what conv1 computed during model(x).")
    if torch.allclose(captured, expected.relu(), atol=1e-6):
        return ("the stored map has lost its negative values, so it is not conv1's output any more. Store what the "
                "exercise asks for, output.detach().clone(); section 5 shows why the copy matters.")
    return "the stored tensor is not conv1's output: store the hook's `output` as it is, copied."


def _failing_pass_problem(function: Callable, model: torch.nn.Module, x: torch.Tensor,
                          leftover: str) -> CheckResult | None:
    """Run the learner's function on an input whose forward pass fails: no hook may stay, the error must show."""
    broken = call(function, model, x)
    if hook_count(model):
        return fail(leftover)
    if not isinstance(broken, Exception):
        return fail("when the forward pass fails, your function hides the error: let it propagate "
                    "(try/finally, not try/except).")
    return None


def _call_leaving_no_hook(function: Callable, model: torch.nn.Module, x: torch.Tensor, leftover: str) -> Any:
    """What the learner's function returned, or the failed check: a hook left on the model, or an exception."""
    result = call(function, model, x)
    if hook_count(model):
        return fail(leftover)
    if isinstance(result, Exception):
        return fail(f"your function raised {type(result).__name__}: {result}")
    return result


# The helpers that would do exercise 04.1's work (the course's and torchvision's): the exercise writes the hook.
_BY_HAND = ("get_feature_maps", "capture", "create_feature_extractor")


def check_capture_conv1(function: Callable) -> CheckResult:
    """Exercise 04.1: capture_conv1(model, x) -> {"conv1": conv1's output}, by a hook removed in `finally`.

    It runs on a SimpleCNN whose forward mirrors x before conv1 and rewrites conv1's output in place after it, so a
    call of model.conv1(x) by hand, or a stored output.detach() without .clone(), does not pass.

    >>> def capture_conv1(model, x):
    ...     store = {}
    ...     handle = model.conv1.register_forward_hook(lambda m, i, out: store.update(conv1=out.detach().clone()))
    ...     try:
    ...         model(x)
    ...     finally:
    ...         handle.remove()
    ...     return store
    >>> bool(check_capture_conv1(capture_conv1))
    ✓ Right: conv1's output as the forward pass computed it, copied, and no hook left on the model, even when the
    forward pass fails.
    True
    """
    if not_answered(function):
        return missing("`capture_conv1`")
    if not callable(function):
        return fail(f"`capture_conv1` should be a function (def ...), not a {type(function).__name__}.")
    refusal = ("the exercise asks for the hook itself: register_forward_hook on model.conv1, a store, and "
               "handle.remove().")
    forbidden = calls_any(function, _BY_HAND)
    if forbidden:
        return fail(f"your `capture_conv1` calls `{forbidden}`; {refusal}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = _PreparedSimpleCNN().eval()
        x = torch.randn(2, 1, 28, 28)
    with forbidding(_BY_HAND, function):
        result = call(function, model, x)
    if isinstance(result, ByHandError):  # reached another way (inside a helper, getattr): the error names it first
        return fail(f"your `capture_conv1` reached `{str(result).split('`')[1]}`; {refusal}")
    if model.library_hooks:  # a helper of the course's, private ones included, hooked conv1 for the learner
        return fail(f"the hook on conv1 came from the course's `{model.library_hooks[0]}`, not from your code; "
                    f"{refusal}")
    if hook_count(model):
        return fail("a hook is still attached to the model after your function returned: keep the handle that "
                    "register_forward_hook returns and call handle.remove().")
    if isinstance(result, Exception):
        return fail(f"your function raised {type(result).__name__}: {result}")
    problem = _judge_conv1_capture(result, model, x)
    if problem:
        return fail(problem)
    # conv1 runs, then fc1 gets the wrong size and fails
    with forbidding(_BY_HAND, function):
        failed = _failing_pass_problem(function, model, torch.zeros(1, 1, 20, 20), "when the forward pass fails "
                                       "(try a 20x20 image: conv1 runs, fc1 raises), your hook stays on the model: "
                                       "remove it in a `finally:` block.")
    if failed is not None:  # a failed CheckResult is false: test for None
        return failed
    return report(True, "Right: conv1's output as the forward pass computed it, copied, and no hook left on the "
                        "model, even when the forward pass fails.")


def _shapes_by_hooks(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """The reference answer of exercise 04.1, with the course's own discipline (handles removed in finally)."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    handles = [m.register_forward_hook(lambda mod, i, out, name=name: seen.append((name, tuple(out.shape))))
               for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def check_record_shapes(function: Callable) -> CheckResult:
    """Exercise 04.1: record_shapes(model, x) -> [(name, shape), ...] in the order the modules ran; hooks removed."""
    if not_answered(function):
        return missing("`record_shapes`")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = SimpleCNN().eval()
    x = torch.zeros(3, 1, 28, 28)
    expected = _shapes_by_hooks(model, x)
    result = _call_leaving_no_hook(function, model, x, "hooks are still attached to the model after your function "
                                   "returned: keep every handle and call .remove() on each.")
    if isinstance(result, CheckResult):
        return result
    try:
        pairs = [(name, shape) for name, shape in result]
    except (TypeError, ValueError):
        return fail("return a list of (name, shape) pairs, one per module call.")
    if any(isinstance(shape, torch.Tensor) for _, shape in pairs):
        return fail("record only the shape of each output (tuple(output.shape)), not the tensor.")
    try:
        pairs = [(name, tuple(int(s) for s in shape)) for name, shape in pairs]
    except (TypeError, ValueError):
        return fail("each shape should be a tuple of ints, such as tuple(output.shape).")
    names = [name for name, _ in pairs]
    if "" in names:
        return fail("the model itself (the name '') is in your list: skip it, hook its submodules only.")
    if names.count("pool") == 1:
        return fail("'pool' appears once, but the SimpleCNN calls it twice: record every call (append "
                    "to a list), do not keep one entry per name.")
    if sorted(pairs) == sorted(expected) and pairs != expected:
        return fail("the right records, in another order: list them in the order the modules ran.")
    if pairs != expected:
        return fail("the list does not match the modules' calls on a batch of 3 digits: hook every "
                    "module except the model itself, and record (name, tuple(output.shape)) per call.")
    failed = _failing_pass_problem(function, model, torch.zeros(3, 3, 28, 28), "when the forward pass fails (try an "
                                    "input with 3 channels), your hooks stay on the model: remove them in a "
                                    "`finally:` block.")  # 3 channels: conv1 fails inside forward
    if failed is not None:  # a failed CheckResult is false: test for None
        return failed
    return report(True, "Right: every call in order, pool twice, and no hook left behind, even after an error.")


def check_pool_calls(count: object, last_shape: object) -> CheckResult:
    """Exercise 04.2: how many pool outputs two forward passes (batches of 4) leave, and the last one's shape."""
    if not_answered(count) or not_answered(last_shape):
        return missing("`pool_calls` and `last_shape`")
    shape = as_ints(last_shape, len(last_shape) if isinstance(last_shape, (tuple, list)) else 4)
    if shape is None:
        return fail("give `last_shape` as a tuple of whole numbers, such as tuple(t.shape).")
    if as_number(count) is None:
        return fail(f"give `pool_calls` as a whole number without quotes (such as 3, not '3'); {count!r} is a "
                    f"{type(count).__name__}.")
    if is_int(count, 2):
        return fail("2 is what one forward pass leaves; the block ran the model twice.")
    if not is_int(count, 4):
        return fail("count again: how many times does the SimpleCNN call pool per forward pass, and how "
                    "many forward passes ran inside the block?")
    if len(shape) != 4:
        return fail("pool's output is (N, C, H, W): four numbers.")
    if shape[0] == 8:
        return fail("the count is right; each forward pass saw one batch, not all 8 digits.")
    if shape[1:] == (16, 12, 12):
        return fail("the count is right; that shape is a first call (after conv1). Which call comes "
                    "last in a forward pass?")
    if shape != (4, 32, 4, 4):
        return fail("the count is right; check the shape with tuple(maps.calls('pool')[-1].shape).")
    return report(True, "Right: pool runs twice per pass, two passes, and the last call pools conv2's 8x8 maps.")


def check_most_active_channel(function: Callable) -> CheckResult:
    """Exercise 04.3: most_active_channel(model, image) -> the conv2 channel with the largest mean, for one digit."""
    if not_answered(function):
        return missing("`most_active_channel`")
    model = load_trained_simplecnn()
    images = held_out_digits(8)[[0, 1, 2, 3, 7]]
    for image in images:
        maps = get_feature_maps(model, image[None], ["conv1", "conv2"])
        conv1, conv2 = maps["conv1"][0], maps["conv2"][0]
        expected = int(conv2.mean(dim=(1, 2)).argmax())
        result = call(function, model, image)
        if isinstance(result, Exception):
            hint = (" The model takes a batch (N, 1, 28, 28): add the batch dimension with image[None]."
                    if "size" in str(result) or "shape" in str(result) or "dimension" in str(result) else "")
            return fail(f"your function raised {type(result).__name__}: {result}{hint}")
        number = as_number(result)
        if number is None or number != int(number):
            return fail("return one channel index, an int (use int(...) or .item()).")
        channel = int(number)
        if not 0 <= channel < conv2.shape[0]:
            return fail(f"{channel} is not a channel of conv2 (0 to 31): take the mean over each "
                        "channel's map first, then the argmax over the channels.")
        if channel == expected:
            continue
        if channel == int(conv2.relu().mean(dim=(1, 2)).argmax()):
            return fail("that channel has the largest mean after a ReLU; the exercise asks for the mean of "
                        "conv2's output as captured, negative values included (no ReLU).")
        if channel == int(conv2.amax(dim=(1, 2)).argmax()):
            return fail("that channel has the largest single value; the exercise asks for the largest "
                        "mean over the map.")
        if channel == int(conv1.mean(dim=(1, 2)).argmax()):
            return fail("that looks like an answer for conv1: capture conv2.")
        return fail("a different channel than the one with the largest mean in conv2's output for "
                    "this digit; average each channel's 8x8 map, then take the argmax.")
    return report(True, f"Right for all {len(images)} test digits tried.")


def check_nested_layer_name(name: object) -> CheckResult:
    """Exercise 04.4: the dotted name of the convolution in the last block of `stages`."""
    if not_answered(name):
        return missing("`layer_name`")
    if not isinstance(name, str):
        return fail("give the name as a string, such as 'stem'.")
    model = nested_exercise_model()
    modules = dict(model.named_modules())
    target = model.get_submodule("stages.3.conv")  # the last block of stages
    if "[" in name:
        return fail("names use dots between all their parts, numbered children included: no brackets.")
    if name.split(".")[0] in ("model", "nested", "self"):
        return fail("names start below the model itself: drop the first part.")
    if name not in modules or not name:
        return fail(f"{name!r} is not a layer name of this model: list_layers(nested) prints them all.")
    module = modules[name]
    if module is target:
        return report(True, f"Right: {name!r}. Note that the MaxPool2d counts as a child of stages too.")
    if isinstance(module, torch.nn.Sequential) and target in list(module.children()):
        return fail("that names the whole block; you want the convolution inside it.")
    if isinstance(module, torch.nn.Conv2d):
        return fail("that is a convolution, but not the one in the LAST block of stages (children are "
                    "numbered from 0, and every child counts).")
    return fail(f"that names a {type(module).__name__}, not the convolution asked for.")
