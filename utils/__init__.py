"""Helpers for the course "Feature maps in PyTorch": the names below are its stable public contract.

Everything else lives in the modules, one per concern: data, models, train, capture, display, stats, explore,
attribution, checks (exercise checks) and course (the notebooks' setup cell).
"""

from .attribution import grad_cam, saliency
from .capture import FeatureMaps, capture, get_feature_maps, list_layers
from .data import load_mnist
from .display import normalize_maps, plot_feature_maps
from .draw import draw_digit
from .explore import explore
from .models import SimpleCNN
from .stats import channel_stats
from .train import load_trained_simplecnn

__all__ = [
    "load_mnist", "SimpleCNN", "load_trained_simplecnn",
    "list_layers", "capture", "get_feature_maps", "FeatureMaps",
    "normalize_maps", "plot_feature_maps",
    "channel_stats",
    "explore", "draw_digit",
    "saliency", "grad_cam",
]
