"""`list_layers`: the layer names `capture` accepts, with each layer's type and, given an example, its outputs.

The table it returns (`LayerTable`, a list of `LayerInfo`) prints as aligned columns and shows which layers did not
run and which ran more than once during the example's forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .model_checks import check_input, check_model, compiled_inner
from .model_state import eval_mode, recomputing, to_model_device

__all__ = ["LayerInfo", "LayerTable", "list_layers"]


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
