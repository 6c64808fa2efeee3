"""The guards around a helper's forward pass: what it checks of the model and the input, and the model state it
restores.

Every helper that runs a learner's model (get_feature_maps, list_layers, capture, explore, predict, the
attributions) calls `check_model` and `check_input`, so a wrong argument gets an error that names it and the fix
instead of one from deep inside torch; and it leaves the model as it found it (`eval_mode`, `to_model_device`,
`num_threads`). `hook_count` and `recomputing` are the one places that read torch's private hook and autograd state.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from torch import nn
from torch.ao.nn import quantized as nnq

__all__ = [
    "CONV_TYPES", "ONE_D", "check_input", "check_model", "compiled_inner", "compiled_twin", "eval_mode", "hook_count",
    "num_threads", "recomputing", "strip_compiled", "to_model_device", "Device",
]

CONV_TYPES = (nn.Conv2d, nnq.Conv2d)  # what layers=None captures: float and quantized 2-D convolutions
ONE_D = "_course_one_d"  # an attribute capture sets on the maps of a 1-D layer (N, C, L), which look like (C, H, W)
_PREFIX = "_orig_mod."  # how named_modules() of a torch.compile'd model spells its layers


def compiled_inner(model: nn.Module) -> nn.Module | None:
    """The module a torch.compile'd model wraps (its `_orig_mod`), or None for any other model.

    >>> from utils import SimpleCNN
    >>> compiled_inner(torch.compile(SimpleCNN())).__class__.__name__, compiled_inner(SimpleCNN())
    ('SimpleCNN', None)
    """
    if type(model).__name__ != "OptimizedModule":  # torch._dynamo's class; importing it would cost a second
        return None
    inner = getattr(model, "_orig_mod", None)
    return inner if isinstance(inner, nn.Module) else None


def compiled_twin(model: nn.Module) -> nn.Module | None:
    """A torch.compile'd model that wraps `model` (`torch.compile(model)` made elsewhere), or None.

    Only an error message asks this (it scans the objects the garbage collector tracks): when a hooked layer did
    not run, the twin's compiled code, which calls no hooks added after compiling, is the likely cause.

    >>> from utils import SimpleCNN
    >>> model = SimpleCNN()
    >>> compiled = torch.compile(model)
    >>> compiled_twin(model) is compiled, compiled_twin(SimpleCNN())
    (True, None)
    """
    return next((twin for twin in gc.get_objects() if type(twin).__name__ == "OptimizedModule"
                 and compiled_inner(twin) is model), None)


def strip_compiled(name: str) -> str:
    """A layer name without torch.compile's `_orig_mod.` prefix, so that both spellings name the same layer.

    >>> strip_compiled("_orig_mod.conv1"), strip_compiled("conv1")
    ('conv1', 'conv1')
    """
    return name[len(_PREFIX):] if isinstance(name, str) and name.startswith(_PREFIX) else name


def check_model(model: object, function: str, hooks: bool = True, gradients: bool = False) -> None:
    """Raise a TypeError that says what to pass when `model` is not an nn.Module instance that hooks can see.

    hooks=False accepts TorchScript (no hook is needed); gradients=True also refuses a quantized model, which
    computes with 8-bit integers and so has no gradients to explain with (saliency, grad_cam).

    >>> from utils import SimpleCNN, get_feature_maps
    >>> check_model(SimpleCNN, "get_feature_maps")
    Traceback (most recent call last):
    ...
    TypeError: get_feature_maps got the class SimpleCNN, not a model: create one first, model = SimpleCNN() ...
    """
    if isinstance(model, type) and issubclass(model, nn.Module):
        raise TypeError(f"{function} got the class {model.__name__}, not a model: create one first, model = "
                        f"{model.__name__}() (and load its weights), then pass model.")
    if not isinstance(model, nn.Module):
        raise TypeError(f"{function} takes the model as an nn.Module instance (such as SimpleCNN() or "
                        f"torchvision.models.resnet18()), not {type(model).__name__}. A plain function has no "
                        "layers to hook: wrap its layers in an nn.Module.")
    if hooks and isinstance(model, torch.jit.ScriptModule):
        how = "torch.jit.trace" if isinstance(model, torch.jit.TracedModule) else "torch.jit.script"
        raise TypeError(f"{function} cannot hook a TorchScript model ({how}): compiled TorchScript code never calls "
                        "Python forward hooks, so nothing would be recorded. Capture from the Python model you "
                        f"converted instead (model, before {how}(model); they share the same weights).")
    if gradients:
        _refuse_quantized(model, function)


def _refuse_quantized(model: nn.Module, function: str) -> None:
    quantized = [(name, m._get_name()) for name, m in model.named_modules()
                 if type(m).__module__.startswith(("torch.ao.nn.quantized", "torch.nn.quantized"))]
    if quantized:
        name, kind = next((q for q in quantized if "Conv" in q[1]), quantized[0])
        raise TypeError(f"{function}: the model is quantized ({name or 'the model'!r} is a {kind}): it computes with "
                        "8-bit integers, which have no gradients, so there is nothing to explain with. Explain the "
                        "float model instead: the one before torch.ao.quantization.convert (for torchvision, the "
                        "same architecture with quantize=False).")


def _first_conv(model: nn.Module) -> nn.Module | None:
    return next((m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nnq.Conv2d))), None)


def check_input(model: nn.Module, x: object, function: str, name: str = "x") -> torch.Tensor:
    """x when it is a floating-point tensor with a batch dimension; else an error naming `name` and the fix.

    The batch dimension is judged from the model's first convolution: a Conv2d model needs (N, C, H, W), so a
    single (C, H, W) image is refused (torch would run it unbatched and fail later at a Linear layer).

    >>> from utils import SimpleCNN, get_feature_maps
    >>> try:
    ...     check_input(SimpleCNN(), torch.zeros(1, 28, 28), "get_feature_maps")
    ... except ValueError as error:
    ...     print(str(error).split(": ", 1)[1][:72])
    x has shape (1, 28, 28), one input without its batch dimension: the mode
    """
    if isinstance(x, np.ndarray):
        raise TypeError(f"{function}: {name} is a NumPy array; models take tensors: "
                        f"torch.from_numpy({name}).float() (and add the batch dimension if it is one image).")
    if not isinstance(x, torch.Tensor):
        return x  # type: ignore[return-value]  # a model with its own input type (a dict, a list): its business
    if not (x.is_floating_point() or x.is_complex()):
        scale = " / 255" if x.dtype == torch.uint8 else ""
        raise TypeError(f"{function}: {name} has dtype {x.dtype}, but models compute in floating point: pass "
                        f"{name}.float(){scale} (scaled and normalized as the model was trained).")
    conv = _first_conv(model)
    kernel = getattr(conv, "kernel_size", None)
    spatial = len(kernel) if isinstance(kernel, tuple) else None
    if spatial is not None and x.dim() < spatial + 2:
        shape = tuple(x.shape)
        fix = f"{name}.unsqueeze(0)" if x.dim() == spatial + 1 else f"{name}[None, None]"
        raise ValueError(f"{function}: {name} has shape {shape}, one input without its batch dimension: the "
                         f"model's first {type(conv).__name__} wants {spatial + 2} dimensions (N, C, ...). Pass "
                         f"{fix} for a batch of one.")
    return x


T = TypeVar("T")
Device = torch.device | str  # what the helpers' `device=` arguments accept


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; afterwards every submodule's own train/eval flag as it was.

    A model already in eval mode (the usual case) is left alone. Also used by utils.analysis.attribution.

    >>> from utils import SimpleCNN
    >>> model = SimpleCNN().train()
    >>> with eval_mode(model):
    ...     model.training
    False
    >>> model.training
    True
    """
    training = [module for module in model.modules() if module.training]
    if training:
        model.eval()
    try:
        yield
    finally:
        for module in training:  # exactly those that were in training mode, whatever their parents were
            module.training = True


@contextmanager
def num_threads(threads: int) -> Iterator[None]:
    """torch computes with `threads` CPU threads inside the block; afterwards with as many as before.

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with num_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_model_device(model: nn.Module, x: T) -> T:
    """x moved to the device of the model's first parameter or buffer, when x is a tensor and they differ.

    >>> from utils import SimpleCNN
    >>> to_model_device(SimpleCNN(), torch.zeros(1)).device
    device(type='cpu')
    """
    first: torch.Tensor | None = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    if isinstance(x, torch.Tensor) and first is not None and x.device != first.device:
        return x.to(first.device)  # type: ignore[return-value]  # a tensor in, a tensor out
    return x


def hook_count(model: nn.Module) -> int:
    """How many forward hooks (pre-hooks included) are attached to the model and its submodules.

    torch has no public way to list hooks, so this is the one place that reads its private `_forward_hooks`.

    >>> from utils import SimpleCNN
    >>> model = SimpleCNN()
    >>> handle = model.conv1.register_forward_hook(lambda module, args, output: None)
    >>> hook_count(model), handle.remove(), hook_count(model)
    (1, None, 0)
    """
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def recomputing() -> bool:
    """True while autograd runs a backward pass: a forward call now is activation checkpointing recomputing.

    >>> recomputing()
    False
    """
    return torch._C._current_graph_task_id() != -1
