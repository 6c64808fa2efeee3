"""Capturing feature maps with forward hooks: `capture`, `get_feature_maps`, `FeatureMaps`, `list_layers`.

    with capture(model, ["conv1", "conv2"]) as maps:   # hooks on, for the block only
        logits = model(x)
    maps["conv1"]                                        # (N, 16, 24, 24): detached, cloned, on the CPU

    maps = get_feature_maps(model, x)                    # the same in one call: eval mode, no gradients

Names are the dotted paths of `model.named_modules()` ("conv1", "layer1.0.conv2", "features.3"); `list_layers`
prints them. Every hook is removed when the block ends, also when it raises, so nothing stays attached to the
model. `find_layer(model, name)` resolves one name with the same helpful error; other modules (Grad-CAM) use it.

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

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from .layer_names import LayerNameError, find_layer, unknown_name_error
from .model_checks import CONV_TYPES, ONE_D, check_input, check_model, compiled_inner, strip_compiled

Device = torch.device | str | None
LayerRef = str | nn.Module
ONE_D_TYPES = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d, nn.ConvTranspose1d)
T = TypeVar("T")

__all__ = [
    "FeatureMaps", "LayerInfo", "LayerNameError", "LayerNotRunError", "LayerTable", "ReusedLayerError",
    "capture", "eval_mode", "find_layer", "get_feature_maps", "hook_count", "list_layers", "to_model_device",
]


# --- Errors ------------------------------------------------------------------------------------------------------

class LayerNotRunError(RuntimeError):
    """A hooked layer that did not run during the forward pass, so there is no map to return."""


class ReusedLayerError(RuntimeError):
    """A layer that ran more than once while hooked: `maps[name]` is ambiguous, `maps.calls(name)` is not."""


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


# --- FeatureMaps --------------------------------------------------------------------------------------------------

def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


class FeatureMaps(Mapping[str, torch.Tensor]):
    """A read-only mapping `name -> Tensor` of captured layer outputs, in the order the layers were asked for.

    `maps[name]` is the layer's output when it ran exactly once. A layer that ran several times (a module used
    twice in forward, or several forward passes inside one `capture` block) raises ReusedLayerError: use
    `maps.calls(name)`, every output in order. A requested layer that never ran raises LayerNotRunError, which
    names the likely cause. Iterating, `len` and `in` cover the layers that ran.

    >>> maps = get_feature_maps(SimpleCNN(), torch.zeros(1, 1, 28, 28), ["conv1", "pool"])
    >>> maps["conv1"].shape, len(maps.calls("pool"))
    (torch.Size([1, 16, 24, 24]), 2)
    """

    def __init__(self, names: Iterable[str], model_name: str = "the model") -> None:
        self._calls: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        self._parts: dict[str, tuple[str, list[str]]] = {}  # a layer that returned a container: its type, part names
        self._model_name = model_name

    def _add_part(self, layer: str, kind: str, part: str, tensor: torch.Tensor) -> None:
        """Record one tensor of a layer's dict/tuple output under `part` (such as "backbone.fpn[0]")."""
        names = self._parts.setdefault(layer, (kind, []))[1]
        if part not in names:
            names.append(part)
        self._calls.setdefault(part, []).append(tensor)

    def _lookup(self, name: str) -> list[torch.Tensor]:
        if not isinstance(name, str):
            raise LayerNameError(f"Layer names are strings such as 'conv1', not {type(name).__name__}.")
        name = strip_compiled(name)
        if name in self._parts and not self._calls[name]:
            kind, parts = self._parts[name]
            raise LayerNameError(
                f"Layer {name!r} returned a {kind}, not one tensor; each of its tensors was captured under its own "
                f"name: {', '.join(repr(p) for p in parts)}. Read one of those, e.g. maps[{parts[0]!r}].")
        try:
            return self._calls[name]
        except KeyError:
            hint = ("Only the layers passed to capture/get_feature_maps are recorded; add this one to layers=[...] "
                    "(list_layers(model) shows every name).")
            raise unknown_name_error(name, list(self._calls), "these captured maps", hint) from None

    @property
    def requested(self) -> tuple[str, ...]:
        """Every layer name asked for, in order, the ones that did not run included."""
        return tuple(self._calls)

    def calls(self, name: str) -> tuple[torch.Tensor, ...]:
        """Every output the layer produced while hooked, in order (empty when it never ran).

        >>> maps = get_feature_maps(SimpleCNN(), torch.zeros(1, 1, 28, 28), "pool")
        >>> [tuple(t.shape) for t in maps.calls("pool")]
        [(1, 16, 12, 12), (1, 32, 4, 4)]
        """
        return tuple(self._lookup(name))

    def __getitem__(self, name: str) -> torch.Tensor:
        calls = self._lookup(name)
        if len(calls) == 1:
            return calls[0]
        if not calls:
            raise LayerNotRunError(
                f"Layer {name!r} was hooked but did not run during the forward pass, so it has no feature map. "
                f"Likely causes: {self._model_name}'s forward() never calls it (a spare module, defined in __init__ "
                "but unused); forward() took another branch (an if) that skips it; or the step you want is a "
                "function call such as F.relu, which is not a module and has no hook. "
                "list_layers(model, example) shows which layers run and their output shapes.")
        shapes = ", ".join(_shape(t) for t in calls)
        raise ReusedLayerError(
            f"Layer {name!r} ran {len(calls)} times while hooked (a module used more than once in forward, or "
            f"several forward passes in one capture block), so there is no single map: its outputs were {shapes}. "
            f"maps.calls({name!r}) returns all {len(calls)} in order.")

    def __iter__(self) -> Iterator[str]:
        return (name for name, calls in self._calls.items() if calls)

    def __len__(self) -> int:
        return sum(1 for calls in self._calls.values() if calls)

    __eq__ = object.__eq__  # Mapping's == would compare tensors element by element, which has no single truth value
    __hash__ = object.__hash__

    def __contains__(self, name: object) -> bool:
        return bool(self._calls.get(name)) if isinstance(name, str) else False

    def __repr__(self) -> str:
        tensors = [t for calls in self._calls.values() for t in calls]
        kinds = sorted({f"{str(t.dtype).replace('torch.', '')} on {t.device}" for t in tensors})
        head = f"FeatureMaps: {len(self)} of {len(self._calls)} layers captured"
        lines = [head + (f" ({', '.join(kinds)})" if kinds else "")]
        width = max((len(name) for name in self._calls), default=0)
        for name, calls in self._calls.items():
            if not calls and name in self._parts:
                kind, parts = self._parts[name]
                what = f"returned a {kind}: {', '.join(parts)}"
            elif not calls:
                what = "did not run"
            elif len(calls) == 1:
                what = _shape(calls[0])
            else:
                what = f"ran {len(calls)} times: {', '.join(_shape(t) for t in calls)}  -> maps.calls({name!r})"
            lines.append(f"  {name:<{width}}  {what}")
        return "\n".join(lines)


# --- Hooks ---------------------------------------------------------------------------------------------------------

def _copier(clone: bool, device: Device) -> Callable[[torch.Tensor], torch.Tensor]:
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


def _recomputing() -> bool:
    """True while autograd runs a backward pass: a forward call now is activation checkpointing recomputing."""
    return torch._C._current_graph_task_id() != -1


@contextmanager
def _hooked(model: nn.Module, layers: LayerRef | Iterable[LayerRef] | None, clone: bool, device: Device,
            stop_early: bool) -> Iterator[FeatureMaps]:
    check_model(model, "capture")
    inner = compiled_inner(model)
    modules = _resolve(inner if inner is not None else model, layers)
    maps = FeatureMaps(modules, type(model).__name__)
    copy = _copier(clone, device)
    names_of: dict[int, list[str]] = {}  # one hook per module, even when it is asked for under two names
    for name, module in modules.items():
        names_of.setdefault(id(module), []).append(name)
    remaining = set(modules)

    def make_hook(names: list[str]):
        targets = [maps._calls[name] for name in names]

        def hook(module: nn.Module, args: tuple, output: object) -> None:
            if _recomputing():  # checkpointed layers run again in backward: the same map, not another call
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
            if stop_early:
                remaining.difference_update(names)
                if not remaining:
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
            device: Device = "cpu") -> AbstractContextManager[FeatureMaps]:
    """Context manager: record the outputs of `layers` every time `model` runs inside the block.

    layers: dotted names as in `model.named_modules()` (a single name or a list; modules work too); None means
    every nn.Conv2d (quantized ones included). A torch.compile'd model runs uncompiled inside the block. Yields a
    FeatureMaps that fills as the model runs. Each stored tensor is detached (no autograd
    graph), on `device` (None: where the layer computed it) and a copy, so a later in-place op such as
    `ReLU(inplace=True)` cannot change it (clone=False skips the copy when no device move makes one: faster, but then
    an in-place op overwrites the map). Every hook is removed when the block ends, also when it raises.

    >>> model = SimpleCNN()
    >>> with capture(model, ["conv1", "conv2"]) as maps:
    ...     logits = model(torch.zeros(4, 1, 28, 28))
    >>> maps["conv2"].shape
    torch.Size([4, 32, 8, 8])
    """
    return _hooked(model, layers, clone, device, stop_early=False)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; afterwards every submodule's own train/eval flag as it was.

    A model already in eval mode (the usual case) is left alone. Also used by utils.attribution.

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


def to_model_device(model: nn.Module, x: T) -> T:
    """x moved to the device of the model's first parameter or buffer, when x is a tensor and they differ.

    >>> to_model_device(SimpleCNN(), torch.zeros(1)).device
    device(type='cpu')
    """
    first: torch.Tensor | None = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    if isinstance(x, torch.Tensor) and first is not None and x.device != first.device:
        return x.to(first.device)  # type: ignore[return-value]  # a tensor in, a tensor out
    return x


def get_feature_maps(model: nn.Module, x: torch.Tensor, layers: LayerRef | Iterable[LayerRef] | None = None, *,
                     stop_early: bool = False, clone: bool = True, device: Device = "cpu") -> FeatureMaps:
    """Run `model(x)` once, in eval mode without gradients, and return the outputs of `layers` as FeatureMaps.

    The model's train/eval mode (every submodule's) is restored afterwards; x is moved to the model's device.
    With stop_early=True the forward pass stops as soon as every requested layer has produced its output, which
    makes capturing early layers of a large model cheaper than running it. Caveat: the calls a reused module would
    make after that point are not seen (`maps.calls` then holds fewer). clone and device as in `capture`.

    >>> maps = get_feature_maps(load_trained_simplecnn(), torch.zeros(2, 1, 28, 28), ["conv1"], stop_early=True)
    >>> maps
    FeatureMaps: 1 of 1 layers captured (float32 on cpu)
      conv1  (2, 16, 24, 24)
    """
    check_model(model, "get_feature_maps")
    model = compiled_inner(model) or model  # the compiled wrapper would run code that does not see the hooks
    x = check_input(model, x, "get_feature_maps")
    with eval_mode(model), torch.no_grad(), _hooked(model, layers, clone, device, stop_early) as maps:
        try:
            model(to_model_device(model, x))
        except _StopForward:
            pass
    return maps


def hook_count(model: nn.Module) -> int:
    """How many forward hooks (pre-hooks included) are attached to the model and its submodules.

    torch has no public way to list hooks, so this is the one place that reads its private `_forward_hooks`.

    >>> model = SimpleCNN()
    >>> handle = model.conv1.register_forward_hook(lambda module, args, output: None)
    >>> hook_count(model), handle.remove(), hook_count(model)
    (1, None, 0)
    """
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# --- list_layers ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerInfo:
    """One layer: its name (for capture), its type and, when list_layers got an example, its output per call.

    shapes is None without an example; otherwise one entry per call during the example's forward pass (empty: it
    did not run), a tuple of ints for a tensor output, or the output's type name for anything else.
    """

    name: str
    type: str
    shapes: tuple[tuple[int, ...] | str, ...] | None = None

    @property
    def shape(self) -> tuple[int, ...] | str | None:
        """The output shape of the first call (None: no example given, or it did not run)."""
        return self.shapes[0] if self.shapes else None

    @property
    def calls(self) -> int | None:
        """How many times it ran during the example's forward pass (None: no example given)."""
        return None if self.shapes is None else len(self.shapes)


class LayerTable(list):
    """A list of LayerInfo that prints as a table; `.names` lists the names."""

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self]

    def __repr__(self) -> str:
        if not self:
            return "(no layers)"
        with_shapes = self[0].shapes is not None
        rows = [("name", "type", "output shape" if with_shapes else "")]
        for layer in self:
            if not with_shapes:
                out = ""
            elif not layer.shapes:
                out = "did not run"
            else:
                out = ", ".join(str(s) if isinstance(s, str) else "(" + ", ".join(map(str, s)) + ")"
                                for s in layer.shapes)
                out += f"   ran {len(layer.shapes)} times" if len(layer.shapes) > 1 else ""
            rows.append((layer.name, layer.type, out))
        w0, w1 = (max(len(row[i]) for row in rows) for i in (0, 1))
        return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython: the table, not a list of dataclasses
        printer.text(repr(self))


def list_layers(model: nn.Module, example: torch.Tensor | None = None) -> LayerTable:
    """The layer names capture accepts, with each layer's type and, given an example input, its output shape.

    With an example the model runs once (eval mode, no gradients, modes restored), which also shows the layers
    that do not run and the ones that run more than once.

    >>> list_layers(SimpleCNN(), torch.zeros(1, 1, 28, 28))
    name   type       output shape
    conv1  Conv2d     (1, 16, 24, 24)
    pool   MaxPool2d  (1, 16, 12, 12), (1, 32, 4, 4)   ran 2 times
    conv2  Conv2d     (1, 32, 8, 8)
    fc1    Linear     (1, 120)
    fc2    Linear     (1, 84)
    fc3    Linear     (1, 10)
    """
    check_model(model, "list_layers", hooks=example is not None)
    model = compiled_inner(model) or model
    named = [(name, module) for name, module in model.named_modules() if name]
    if example is None:
        return LayerTable(LayerInfo(name, type(module).__name__) for name, module in named)
    example = check_input(model, example, "list_layers", "example")
    seen: dict[str, list] = {name: [] for name, _ in named}

    def make_hook(name: str):
        def hook(module, args, output):
            if _recomputing():
                return
            seen[name].append(tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__)
        return hook

    handles = []
    try:
        with eval_mode(model), torch.no_grad():
            for name, module in named:
                handles.append(module.register_forward_hook(make_hook(name)))
            model(to_model_device(model, example))
    finally:
        for handle in handles:
            handle.remove()
    return LayerTable(LayerInfo(name, type(module).__name__, tuple(seen[name])) for name, module in named)
