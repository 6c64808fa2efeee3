"""Helpers for the course "Feature maps in PyTorch": the names below are its stable public contract.

Everything else lives in the modules, one per concern, each named after its concern (never after a function it
exports, so `utils.hooks` is always the module): data, models, train, hooks (forward hooks and capture), display,
glyphs (tile labels), stats, explorer (the interactive widget), draw and overview (draw a digit, the whole network
at once), attribution, checks (exercise checks, one module
per notebook) and course (the notebooks' setup cell).
"""

from .attribution import grad_cam, saliency
from .data import load_mnist
from .display import normalize_maps, plot_feature_maps
from .draw import draw_digit
from .explorer import explore
from .hooks import (
    FeatureMaps,
    LayerNameError,
    LayerNotRunError,
    ReusedLayerError,
    capture,
    get_feature_maps,
    list_layers,
)
from .models import SimpleCNN
from .playground import conv_playground
from .stats import channel_stats
from .train import load_trained_simplecnn

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
