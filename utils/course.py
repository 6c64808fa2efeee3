"""The common setup every notebook runs in its first cell: seeds, threads, device, plotting defaults."""

from __future__ import annotations

import torch

from .train import SEED, THREADS, pick_device, seed_everything

__all__ = ["setup"]


def setup(seed: int = SEED, threads: int = THREADS, device: str | None = None, verbose: bool = True) -> torch.device:
    """Seed everything, fix the CPU thread count, set the plotting defaults and return the device to use.

    Running it again is harmless: it re-seeds and returns the same device.

    >>> setup(verbose=False)
    device(type='cpu')
    """
    seed_everything(seed, threads)
    _plot_defaults()
    # On Colab nothing more is needed: the course's widgets are ipywidgets' own, which Colab's built-in widget
    # manager shows; its custom widget manager (for third-party widgets) is left off.
    chosen = pick_device(device)
    if verbose:
        print(f"Course setup: device {chosen.type}, seed {seed}, {threads} CPU threads.")
    return chosen


def _plot_defaults() -> None:
    import matplotlib.pyplot as plt  # imported first, so that the inline backend's own defaults come before ours

    plt.rcParams.update({
        "figure.dpi": 100,
        "image.interpolation": "nearest",  # a feature map's pixels are values: never smooth them
        "axes.titlesize": 10,
        "figure.titlesize": 12,
    })

