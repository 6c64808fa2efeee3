"""Layer names: `find_layer` resolves a dotted name (a typo gets `Did you mean 'conv2'?` and a pointer at
list_layers, the same answer in every helper), and `list_layers` gives the names `capture` accepts as a `LayerTable`
(type and, given an example, outputs; layers that did not run or ran twice are marked).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .guards import check_input, check_model, compiled_inner, eval_mode, recomputing, to_model_device

__all__ = ["find_layer", "list_layers", "unknown_name_error", "LayerInfo", "LayerNameError", "LayerTable"]

class LayerNameError(KeyError):
    """An unknown layer name. A KeyError whose message prints as written (a plain KeyError shows its repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _layer_names(model: nn.Module) -> list[str]:
    """Every name find_layer accepts: named_modules() without the model itself, aliases of a shared module included."""
    return [name for name, _ in model.named_modules(remove_duplicate=False) if name]


def _suggest(name: str, names: list[str], limit: int = 4) -> list[str]:
    """The names closest to `name`: a fixed-up spelling, the same last part, then close spellings."""
    fixed = re.sub(r"\[(\d+)\]", r".\1", name.strip())  # features[3] -> features.3
    fixed = re.sub(r"^(model|self|module|net)\.", "", fixed)  # model.conv1 -> conv1
    found = [fixed] if fixed in names and fixed != name else []
    found += [n for n in names if n.endswith("." + name)]  # conv1 -> layer1.0.conv1
    found += [n for n in names if n.lower() == name.lower()]
    scores = sorted(((difflib.SequenceMatcher(None, name, n).ratio(), -i, n) for i, n in enumerate(names)),
                    reverse=True)  # best first; ties in the model's order
    if scores:
        floor = max(0.6, scores[0][0] - 0.1)  # only the near-best: 'cnov2' suggests conv2, not conv1 too
        found += [n for score, _, n in scores if score >= floor]
    return list(dict.fromkeys(found))[:limit]


def _quoted(names: Iterable[str]) -> str:
    names = [repr(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _is_function_name(name: str) -> bool:
    """True for names like 'relu', 'relu_1' (torchvision's FX node names) or 'max_pool2d': functions, not modules."""
    base = re.sub(r"_\d+$", "", name.rsplit(".", 1)[-1])
    return bool(base) and (hasattr(torch.nn.functional, base) or hasattr(torch, base))


def unknown_name_error(name: str, names: list[str], where: str, hint: str) -> LayerNameError:
    """The error for `name` not among `names` (in `where`): the closest names, or all of them when few, and `hint`."""
    close = _suggest(name, names)
    if close:
        found = f"Did you mean {_quoted(close)}?"
    elif 0 < len(names) <= 12:
        found = f"Its names are: {', '.join(names)}."
    else:
        found = "No name is close to it."
    if _is_function_name(name):
        found += (f" If {name!r} is a function that forward() calls (such as F.relu or torch.flatten; "
                  "torchvision's create_feature_extractor names such calls relu, relu_1, ...), it is not a module "
                  "and has no hook: capture the module just before it and apply the function yourself.")
    return LayerNameError(f"No layer named {name!r} in {where}. {found}\n{hint}")


_NAME_HINT = ("Names are the dotted paths that model.named_modules() gives (such as 'layer1.0.conv1'); "
              "list_layers(model) prints them all.")


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name` (a dotted path as in `model.named_modules()`).

    An unknown name raises a KeyError that suggests the closest names and points at `list_layers`; every helper
    that takes a layer name (capture, grad_cam) uses this function, so they all answer alike.

    >>> from utils import SimpleCNN
    >>> find_layer(SimpleCNN(), "conv2")
    Conv2d(16, 32, kernel_size=(5, 5), stride=(1, 1))
    >>> find_layer(SimpleCNN(), "conv3")
    Traceback (most recent call last):
    ...
    utils.capturing.layers.LayerNameError: No layer named 'conv3' in SimpleCNN. Did you mean 'conv1' or 'conv2'?
    Names are the dotted paths that model.named_modules() gives (such as 'layer1.0.conv1'); list_layers(model) ...
    """
    if not isinstance(name, str):
        raise TypeError(f"A layer name is a string such as 'conv1', not {type(name).__name__}.")
    if name:
        try:
            return model.get_submodule(name)
        except AttributeError:
            pass
    where = type(model).__name__
    if not name:
        raise LayerNameError(f"'' is {where} itself, not one of its layers: its output is what model(x) returns.\n"
                             + _NAME_HINT)
    raise unknown_name_error(name, _layer_names(model), where, _NAME_HINT)


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

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython: the table, not a list of dataclasses
        printer.text(repr(self))


def list_layers(model: nn.Module, example: torch.Tensor | None = None) -> LayerTable:
    """The layer names capture accepts, with each layer's type and, given an example input, its output shape.

    With an example the model runs once (eval mode, no gradients, modes restored), which also shows the layers
    that do not run and the ones that run more than once.

    >>> from utils import SimpleCNN
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
    seen: dict[str, list[tuple[int, ...] | str]] = {name: [] for name, _ in named}

    def make_hook(name: str) -> Callable[[nn.Module, tuple[Any, ...], object], None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: object) -> None:
            if recomputing():
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
