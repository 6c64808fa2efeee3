"""Capturing feature maps with forward hooks: `capture` and `get_feature_maps`.

    with capture(model, ["conv1", "conv2"]) as maps:   # hooks on, for the block only
        logits = model(x)
    maps["conv1"]                                        # (N, 16, 24, 24): detached, cloned, on the CPU

    maps = get_feature_maps(model, x)                    # the same in one call: eval mode, no gradients

Names are the dotted paths of `model.named_modules()` ("conv1", "layer1.0.conv2", "features.3"); `list_layers`
prints them. Every hook is removed when the block ends, also when it raises, so nothing stays attached to the
model. What a capture returns is in `feature_maps`, the names in `layers`, and the model checks and state
(`eval_mode`, `to_model_device`, `hook_count`) in `guards`, beside this module in `utils.capturing`.

What is stored is a copy of each output, detached from autograd, so a FeatureMaps holds no reference to the model
or its graph: its memory is the copies and nothing else. A layer that returns a dict, tuple or list of tensors (a
detection model's FPN, an nn.LSTM) has each tensor captured under its own name, `maps["backbone.fpn[0]"]`.

Models nobody here wrote: a `torch.compile`d model is captured through the module it wraps (inside a `capture` block
it runs uncompiled, since compiled code does not see hooks added later; names with and without `_orig_mod.` both
work). TorchScript models (`torch.jit.script`, `torch.jit.trace`) run no Python hooks: the error says to capture
from the Python model. Layers recomputed during backward (`torch.utils.checkpoint`) are not counted again.
Quantized convolutions count as convolutions for `layers=None`; their maps stay quantized (`.dequantize()`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from torch import nn

from .feature_maps import FeatureMaps
from .guards import (
    CONV_TYPES,
    ONE_D,
    Device,
    check_input,
    check_model,
    compiled_inner,
    eval_mode,
    recomputing,
    strip_compiled,
    to_model_device,
)
from .layers import find_layer

LayerRef = str | nn.Module
ONE_D_TYPES = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.ConvTranspose1d)

__all__ = ["capture", "get_feature_maps"]


# per model: (requested layers, input shape, dtype) -> calls per forward pass (None: not countable on meta)
_counted: weakref.WeakKeyDictionary[nn.Module, dict[tuple, dict[str, int] | None]] = weakref.WeakKeyDictionary()


class _StopForward(BaseException):
    """Raised by a hook to end the forward pass early (stop_early=True); caught in get_feature_maps.

    A BaseException, like KeyboardInterrupt, so that a model's own `except Exception:` cannot swallow it.
    """


def _resolve(model: nn.Module, layers: LayerRef | Iterable[LayerRef] | None) -> dict[str, nn.Module]:
    """The requested layers as {name: module}, in the order given, without repeats; None: every nn.Conv2d."""
    if layers is None:
        found: dict[str, nn.Module] = {name: m for name, m in model.named_modules() if isinstance(m, CONV_TYPES)}
        if not found:
            raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer (quantized ones included), and "
                             "layers=None captures those. Pass the names you want, layers=[...]; list_layers(model) "
                             "shows them.")
        return found
    if isinstance(layers, (bytes, bytearray)):
        raise TypeError(f"layers={layers!r} is {type(layers).__name__}, not a name: pass a str such as 'conv1' "
                        f"(layers={layers.decode(errors='replace')!r}), a list of names, or None for every nn.Conv2d.")
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    if not isinstance(layers, Iterable):
        raise TypeError(f"layers={layers!r}: give a layer name such as 'conv1', a list of names, or None for every "
                        "nn.Conv2d; list_layers(model) shows the names.")
    resolved: dict[str, nn.Module] = {}
    for layer in layers:
        if not isinstance(layer, (str, nn.Module)):
            raise TypeError(f"layers holds {layer!r} ({type(layer).__name__}): each layer is a name such as 'conv1' "
                            "(or the submodule itself); list_layers(model) shows the names.")
        if isinstance(layer, str):
            layer = strip_compiled(layer)
        if isinstance(layer, nn.Module):
            name = next((n for n, m in model.named_modules() if m is layer and n), None)
            if name is None:
                raise ValueError(f"The {type(layer).__name__} passed in layers is not a submodule of "
                                 f"{type(model).__name__}. Pass a name such as 'conv1'; list_layers(model) shows them.")
            layer = name
        resolved[layer] = find_layer(model, layer)
    if not resolved:
        raise ValueError("layers is empty: pass at least one name, or None for every nn.Conv2d.")
    return resolved


# --- Hooks ---------------------------------------------------------------------------------------------------------

def _copier(clone: bool, device: Device | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function that turns a layer's output into what is stored: detached, on `device`, copied at most once."""
    device = torch.device(device) if device is not None else None

    def copy(output: torch.Tensor) -> torch.Tensor:
        detached = output.detach()
        moved = detached if device is None else detached.to(device)  # a copy when the device differs, else itself
        return moved.clone() if clone and moved is detached else moved

    return copy


def _not_a_tensor(name: str, module: nn.Module, output: object) -> TypeError:
    return TypeError(
        f"Layer {name!r} ({type(module).__name__}) returned a {type(output).__name__}, not a tensor (nor a dict, "
        "tuple or list of tensors), so it has no feature map to capture. Capture a submodule that returns tensors "
        "(list_layers(model, example) shows each layer's output), or write your own forward hook for this one.")


def _tensor_parts(output: object) -> list[tuple[str, torch.Tensor]] | None:
    """The tensors of a dict, tuple or list output as (key, tensor) pairs; None when there is none to capture."""
    if isinstance(output, Mapping):
        items = [(str(key), value) for key, value in output.items()]
    elif isinstance(output, (tuple, list)):
        items = [(str(i), value) for i, value in enumerate(output)]
    else:
        return None
    parts = [(key, value) for key, value in items if isinstance(value, torch.Tensor)]
    return parts or None



@contextmanager
def _hooked(model: nn.Module, layers: LayerRef | Iterable[LayerRef] | None, clone: bool, device: Device | None,
            stop_early: bool, x: object = None) -> Iterator[FeatureMaps]:
    inner = compiled_inner(model)
    modules = _resolve(inner if inner is not None else model, layers)
    maps = FeatureMaps(modules, type(model).__name__, model if inner is None else None)
    copy = _copier(clone, device)
    names_of: dict[int, list[str]] = {}  # one hook per module, even when it is asked for under two names
    for name, module in modules.items():
        names_of.setdefault(id(module), []).append(name)
    # stop_early: stop once every requested layer has made all the calls one forward pass makes (a dry run on the
    # meta device counts them); None runs the whole pass
    expected = _calls_per_pass(model if inner is None else inner, modules, x) if stop_early else None
    seen = dict.fromkeys(modules, 0)

    def make_hook(names: list[str]) -> Callable[[nn.Module, tuple[Any, ...], object], None]:
        targets = [maps._calls[name] for name in names]

        def hook(module: nn.Module, args: tuple[Any, ...], output: object) -> None:
            if recomputing():  # checkpointed layers run again in backward: the same map, not another call
                return
            if isinstance(output, torch.Tensor):
                stored = copy(output)
                if stored.dim() == 3 and isinstance(module, ONE_D_TYPES):
                    setattr(stored, ONE_D, True)  # (N, C, L): plot_feature_maps says 1-D maps are not images
                for target in targets:
                    target.append(stored)
            else:
                parts = _tensor_parts(output)
                if parts is None:
                    raise _not_a_tensor(names[0], module, output)
                for name in names:
                    for key, tensor in parts:
                        maps._add_part(name, type(output).__name__, f"{name}[{key}]", copy(tensor))
            if expected is not None:
                for name in names:
                    seen[name] += 1
                if all(seen[name] >= count for name, count in expected.items()):
                    raise _StopForward

        return hook

    handles = []
    try:
        for module in modules.values():
            names = names_of.pop(id(module), None)
            if names is not None:
                handles.append(module.register_forward_hook(make_hook(names)))
        with _uncompiled(model, inner):
            yield maps
    finally:
        for handle in handles:
            handle.remove()


def _calls_per_pass(model: nn.Module, modules: dict[str, nn.Module], x: object) -> dict[str, int] | None:
    """How many times each requested layer runs in one forward pass on inputs like x, from a dry run on the meta
    device (shapes only: no arithmetic, no memory); None when the model cannot run there (it reads values)."""
    if not isinstance(x, torch.Tensor):
        return None
    key = (tuple((name, id(module)) for name, module in modules.items()), tuple(x.shape), x.dtype)
    known = _counted.setdefault(model, {})
    if key not in known:
        known[key] = _count_calls(model, modules, x)
    return known[key]


def _count_calls(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor) -> dict[str, int] | None:
    counts = dict.fromkeys(modules, 0)
    names_of: dict[int, list[str]] = {}
    for name, module in modules.items():
        names_of.setdefault(id(module), []).append(name)

    def count(module: nn.Module, args: object, output: object) -> None:
        for name in names_of[id(module)]:
            counts[name] += 1

    state = {name: torch.empty_like(t, device="meta") for name, t in
             [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]}
    handles = [module.register_forward_hook(count) for module in {id(m): m for m in modules.values()}.values()]
    try:
        with torch.no_grad():
            torch.func.functional_call(model, state, (torch.empty_like(x, device="meta"),), strict=False)
    except Exception:  # noqa: BLE001  # data-dependent code, a CPU constant: count by running for real
        return None
    finally:
        for handle in handles:
            handle.remove()
    return {name: n for name, n in counts.items() if n}


@contextmanager
def _uncompiled(model: nn.Module, inner: nn.Module | None) -> Iterator[None]:
    """Inside the block a torch.compile'd model runs its original module eagerly, so that the hooks fire.

    Compiled code does not see hooks added after compiling (dynamo skips those guards), so it would record nothing.
    """
    if inner is None:
        yield
        return
    compiled_forward = model.__dict__.get("forward")
    model.forward = inner.__call__
    try:
        yield
    finally:
        if compiled_forward is None:
            del model.forward
        else:
            model.forward = compiled_forward


def capture(model: nn.Module, layers: LayerRef | Iterable[LayerRef] | None = None, *, clone: bool = True,
            device: Device | None = "cpu") -> AbstractContextManager[FeatureMaps]:
    """Context manager: record the outputs of `layers` every time `model` runs inside the block.

    layers: dotted names as in `model.named_modules()` (a single name or a list; modules work too); None means
    every nn.Conv2d (quantized ones included). A torch.compile'd model runs uncompiled inside the block. Yields a
    FeatureMaps that fills as the model runs. Each stored tensor is detached (no autograd
    graph), on `device` (None: where the layer computed it) and a copy, so a later in-place op such as
    `ReLU(inplace=True)` cannot change it (clone=False skips the copy when no device move makes one: faster, but then
    an in-place op overwrites the map). Every hook is removed when the block ends, also when it raises.

    >>> from utils import SimpleCNN
    >>> model = SimpleCNN()
    >>> with capture(model, ["conv1", "conv2"]) as maps:
    ...     logits = model(torch.zeros(4, 1, 28, 28))
    >>> maps["conv2"].shape
    torch.Size([4, 32, 8, 8])
    """
    check_model(model, "capture")
    return _hooked(model, layers, clone, device, stop_early=False)



def get_feature_maps(model: nn.Module, x: torch.Tensor, layers: LayerRef | Iterable[LayerRef] | None = None, *,
                     stop_early: bool = False, clone: bool = True, device: Device | None = "cpu") -> FeatureMaps:
    """Run `model(x)` once, in eval mode without gradients, and return the outputs of `layers` as FeatureMaps.

    The model's train/eval mode (every submodule's) is restored afterwards; x is moved to the model's device.
    With stop_early=True the forward pass stops as soon as every requested layer has produced its output, which
    makes capturing early layers of a large model cheaper than running it. A reused module is never cut short: a
    dry run on the meta device (no arithmetic, no memory) first counts how often each requested layer runs in one
    pass, and the pass stops after the last of those calls, so `maps["pool"]` of the SimpleCNN says it ran twice
    and `maps.calls("pool")` holds both calls. A model that cannot run on the meta device (it reads values, e.g.
    `.item()`) runs to the end. clone and device as in `capture`.

    >>> from utils import load_trained_simplecnn
    >>> maps = get_feature_maps(load_trained_simplecnn(), torch.zeros(2, 1, 28, 28), ["conv1"], stop_early=True)
    >>> maps
    FeatureMaps: 1 of 1 layers captured (float32 on cpu)
      conv1  (2, 16, 24, 24)
    """
    check_model(model, "get_feature_maps")
    model = compiled_inner(model) or model  # the compiled wrapper would run code that does not see the hooks
    x = check_input(model, x, "get_feature_maps")
    with eval_mode(model), torch.no_grad(), _hooked(model, layers, clone, device, stop_early, x) as maps:
        try:
            model(to_model_device(model, x))
        except _StopForward:
            pass
    return maps

