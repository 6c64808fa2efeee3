"""Helpers for the course "Feature maps in PyTorch": the names below are its stable public contract.

Everything else lives in the modules, one per concern, each named after its concern (never after a function it
exports, so `utils.hooks` is always the module):
- data and mnist (the digits), models, train;
- hooks (capture with forward hooks), feature_maps (what a capture returns), layer_table (list_layers),
  layer_names, model_checks and model_state (a model's mode, device and hooks around a helper's forward pass);
- display (feature maps as one image), filters, scaling (normalize_maps and the value checks), grid and glyphs
  (the one-image grid and its tile labels), stats;
- explorer and playground (the interactive widgets; the playground's arithmetic in conv_geometry, its figures in
  playground_canvas), draw and overview (draw a digit, the whole network at once);
- attribution and receptive_field, checks (exercise checks, one module per notebook), course (the setup cell).

The names are imported on first use (PEP 562), so `import utils` costs next to nothing and a notebook that never
draws a widget never loads ipywidgets: `from utils import load_mnist` loads the data module and no more.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it
_HOME = {
    "load_mnist": "data", "SimpleCNN": "models", "load_trained_simplecnn": "train",
    "list_layers": "layer_table", "capture": "hooks", "get_feature_maps": "hooks", "FeatureMaps": "feature_maps",
    "LayerNameError": "layer_names", "LayerNotRunError": "feature_maps", "ReusedLayerError": "feature_maps",
    "normalize_maps": "scaling", "plot_feature_maps": "display",
    "channel_stats": "stats",
    "explore": "explorer", "draw_digit": "draw", "conv_playground": "playground",
    "saliency": "attribution", "grad_cam": "attribution",
}

__all__ = [
    "load_mnist", "SimpleCNN", "load_trained_simplecnn",
    "list_layers", "capture", "get_feature_maps", "FeatureMaps",
    "LayerNameError", "LayerNotRunError", "ReusedLayerError",
    "normalize_maps", "plot_feature_maps",
    "channel_stats",
    "explore", "draw_digit",
    "conv_playground",
    "saliency", "grad_cam",
]
assert set(__all__) == set(_HOME), "every public name needs its home module"


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value  # the next access is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and editors see
    from .attribution import grad_cam, saliency
    from .data import load_mnist
    from .display import plot_feature_maps
    from .draw import draw_digit
    from .explorer import explore
    from .feature_maps import FeatureMaps, LayerNotRunError, ReusedLayerError
    from .hooks import capture, get_feature_maps
    from .layer_names import LayerNameError
    from .layer_table import list_layers
    from .models import SimpleCNN
    from .playground import conv_playground
    from .scaling import normalize_maps
    from .stats import channel_stats
    from .train import load_trained_simplecnn
