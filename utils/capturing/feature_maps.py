"""What a capture returns: `FeatureMaps`, a read-only mapping layer name -> captured output, and its errors.

`maps[name]` is the one output of a layer that ran once; a layer that ran several times raises ReusedLayerError and
`maps.calls(name)` gives every output in order; a requested layer that never ran raises LayerNotRunError, which names
the likely cause. The hooks that fill it live in `utils.capturing.hooks`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

from .guards import compiled_twin, strip_compiled
from .layers import LayerNameError, unknown_name_error

__all__ = ["FeatureMaps", "LayerNotRunError", "ReusedLayerError"]


# --- Errors ------------------------------------------------------------------------------------------------------

class LayerNotRunError(RuntimeError):
    """A hooked layer that did not run during the forward pass, so there is no map to return."""


class ReusedLayerError(RuntimeError):
    """A layer that ran more than once while hooked: `maps[name]` is ambiguous, `maps.calls(name)` is not."""


# --- FeatureMaps -------------------------------------------------------------------------------------------------

def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


class FeatureMaps(Mapping[str, torch.Tensor]):
    """A read-only mapping `name -> Tensor` of captured layer outputs, in the order the layers were asked for.

    `maps[name]` is the layer's output when it ran exactly once. A layer that ran several times (a module used
    twice in forward, or several forward passes inside one `capture` block) raises ReusedLayerError: use
    `maps.calls(name)`, every output in order. A requested layer that never ran raises LayerNotRunError, which
    names the likely cause. Iterating, `len` and `in` cover the layers that ran.

    >>> from utils import SimpleCNN, get_feature_maps
    >>> maps = get_feature_maps(SimpleCNN(), torch.zeros(1, 1, 28, 28), ["conv1", "pool"])
    >>> maps["conv1"].shape, len(maps.calls("pool"))
    (torch.Size([1, 16, 24, 24]), 2)
    """

    def __init__(self, names: Iterable[str], model_name: str = "the model", model: nn.Module | None = None) -> None:
        self._calls: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        self._parts: dict[str, tuple[str, list[str]]] = {}  # a layer that returned a container: its type, part names
        self._model_name = model_name
        self._model = weakref.ref(model) if model is not None else None  # only to explain a layer that did not run

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

        >>> from utils import SimpleCNN, get_feature_maps
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
            model = self._model() if self._model is not None else None
            twin = compiled_twin(model) if model is not None else None
            if twin is not None:
                raise LayerNotRunError(
                    f"Layer {name!r} was hooked but did not run: {self._model_name} has a torch.compile'd twin "
                    "(compiled = torch.compile(model)), and when the twin is what ran, its compiled code calls no "
                    "hook added after compiling, so the layer never reported. Capture through the twin, "
                    "capture(compiled, ...), which runs it uncompiled inside the block (or call model itself).")
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

