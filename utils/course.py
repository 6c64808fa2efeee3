"""The common setup every notebook runs in its first cell: seeds, threads, device, plotting defaults."""

from __future__ import annotations

import os

import torch

from .train import SEED, THREADS, pick_device, seed_everything

__all__ = ["setup"]


def setup(seed: int = SEED, threads: int = THREADS, device: str | None = None, verbose: bool = True) -> torch.device:
    """Seed everything, fix the CPU thread count, set the plotting defaults and return the device to use.

    The device is the CPU unless `device` or $COURSE_DEVICE asks for a GPU ("cuda" or "mps"): see `pick_device`.
    Running it again is harmless: it re-seeds and returns the same device.

    >>> setup(verbose=False)
    device(type='cpu')
    """
    seed_everything(seed, threads)
    _plot_defaults()
    # On Colab nothing more is needed: Colab shows ipywidgets' own widgets, and the draw pad's anywidget switches
    # Colab's custom widget manager on by itself.
    chosen = pick_device(device)
    if verbose:
        print(f"Course setup: device {chosen.type}, seed {seed}, {threads} CPU threads.")
    return chosen


# Backends that only write files: with one of them in $MPLBACKEND a notebook would show no figure at all.
FILE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _figures_inline() -> None:
    """In a Jupyter kernel, draw figures in the notebook even when $MPLBACKEND names a file-only backend.

    ipykernel makes figures inline only when MPLBACKEND is unset; `MPLBACKEND=Agg`, common on servers and in CI
    set-ups, would leave every figure cell empty.
    """
    if os.environ.get("MPLBACKEND", "").lower() not in FILE_BACKENDS:
        return
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:  # a kernel, not a terminal IPython
        shell.run_line_magic("matplotlib", "inline")


def _plot_defaults() -> None:
    _figures_inline()
    import matplotlib.pyplot as plt  # imported first, so that the inline backend's own defaults come before ours

    plt.rcParams.update({
        "figure.dpi": 100,
        "image.interpolation": "nearest",  # a feature map's pixels are values: never smooth them
        "axes.titlesize": 10,
        "figure.titlesize": 12,
    })

