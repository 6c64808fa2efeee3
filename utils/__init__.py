"""Helpers for the course "Feature maps in PyTorch": the names below are its stable public contract.

The folders are the map: `capturing/` (forward hooks, FeatureMaps, layer names, the guards around a helper's
forward pass), `plot/` (normalize_maps, the one-image grid, feature maps, filters), `analysis/` (statistics,
attribution, receptive fields), `widgets/` (explorer, playground, draw-a-digit and its network view); at the top the
plumbing the notebooks import directly (data, mnist, models, train, course) and `checks/` (one module per notebook).
Every name lives in one module, named after its concern (so `utils.capturing.hooks` is always the module).

The names are imported on first use (PEP 562), so `import utils` costs next to nothing and a notebook that never
draws a widget never loads ipywidgets: `from utils import load_mnist` loads the data module and no more. The
subpackages' `__init__` files import nothing, or this laziness would be lost.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it (tests/repo/test_package.py checks the TYPE_CHECKING block against it)
_HOME = {
    "load_mnist": "data", "SimpleCNN": "models", "load_trained_simplecnn": "train",
    "list_layers": "capturing.layers", "capture": "capturing.hooks", "get_feature_maps": "capturing.hooks",
    "FeatureMaps": "capturing.feature_maps", "LayerNameError": "capturing.layers",
    "LayerNotRunError": "capturing.feature_maps", "ReusedLayerError": "capturing.feature_maps",
    "normalize_maps": "plot.scaling", "plot_feature_maps": "plot.maps",
    "channel_stats": "analysis.stats", "saliency": "analysis.attribution", "grad_cam": "analysis.attribution",
    "explore": "widgets.explorer", "draw_digit": "widgets.draw", "conv_playground": "widgets.playground",
}

__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value  # the next access is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and editors see (`x as x`: an explicit re-export)
    from .analysis.attribution import grad_cam as grad_cam
    from .analysis.attribution import saliency as saliency
    from .analysis.stats import channel_stats as channel_stats
    from .capturing.feature_maps import FeatureMaps as FeatureMaps
    from .capturing.feature_maps import LayerNotRunError as LayerNotRunError
    from .capturing.feature_maps import ReusedLayerError as ReusedLayerError
    from .capturing.hooks import capture as capture
    from .capturing.hooks import get_feature_maps as get_feature_maps
    from .capturing.layers import LayerNameError as LayerNameError
    from .capturing.layers import list_layers as list_layers
    from .data import load_mnist as load_mnist
    from .models import SimpleCNN as SimpleCNN
    from .plot.maps import plot_feature_maps as plot_feature_maps
    from .plot.scaling import normalize_maps as normalize_maps
    from .train import load_trained_simplecnn as load_trained_simplecnn
    from .widgets.draw import draw_digit as draw_digit
    from .widgets.explorer import explore as explore
    from .widgets.playground import conv_playground as conv_playground
