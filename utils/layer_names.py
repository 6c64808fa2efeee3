"""Layer names: resolving a dotted name to a submodule, and an error that suggests the closest names.

Every helper that takes a layer name (capture, get_feature_maps, grad_cam, the explorer) goes through find_layer,
so a typo gets the same answer everywhere: `Did you mean 'conv2'?` and a pointer at list_layers.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["LayerNameError", "find_layer", "unknown_name_error"]


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

    >>> find_layer(SimpleCNN(), "conv2")
    Conv2d(16, 32, kernel_size=(5, 5), stride=(1, 1))
    >>> find_layer(SimpleCNN(), "conv3")
    Traceback (most recent call last):
    ...
    utils.layer_names.LayerNameError: No layer named 'conv3' in SimpleCNN. Did you mean 'conv1' or 'conv2'?
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
