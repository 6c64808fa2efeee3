"""What the convolution playground draws: the padded input with the kernel's taps, the kernel, the output map.

The figures are made once and kept; `Canvas.draw` moves their artists to a new setting, and `png` renders a figure
for an `ipywidgets.Image`. Live, text is kept out of the input/output figure (text is the slow part of rendering).
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from .conv_geometry import Setting

__all__ = ["DPI", "FIGSIZE", "KERNEL_FIGSIZE", "LIVE_FIGSIZE", "Canvas", "png"]

FIGSIZE, DPI = (9.6, 3.5), 90  # the static figure (report, GitHub)
LIVE_FIGSIZE, KERNEL_FIGSIZE = (7.2, 3.5), (1.6, 1.6)  # the widget: input and output; the kernel apart


class _Figure(Figure):
    """The playground's figure; shows itself as a PNG when a notebook cell ends with it."""

    def _repr_png_(self) -> bytes:
        return png(self)


def png(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes at the playground's DPI (fast compression: it is sent on every move).

    >>> png(Figure(figsize=(1, 1)))[:4]
    b'\x89PNG'
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


class Canvas:
    """The figures and the artists a redraw updates: padded input, taps, window, kernel, output map, marker.

    >>> canvas = Canvas(static=True)
    >>> canvas.draw(torch.rand(8, 8), Setting("x", torch.ones(3, 3), 1, 0, 1), torch.rand(6, 6))  # kernel drawn
    True

    Live (`static=False`), the input and the output share one figure without any text (text is the slow part of
    rendering) and the kernel has a figure of its own, rendered only when the kernel changes; the captions go to
    the widget's label line. Static, one figure holds all three with their titles: the picture for a report.
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self.figure = _Figure(figsize=FIGSIZE if static else LIVE_FIGSIZE, dpi=DPI)
        if static:
            self.ax_input = self.figure.add_axes((0.02, 0.04, 0.36, 0.8))
            self.ax_kernel = self.figure.add_axes((0.42, 0.22, 0.16, 0.5))
            self.ax_output = self.figure.add_axes((0.62, 0.04, 0.36, 0.8))
            self.kernel_figure = self.figure
        else:
            self.ax_input = self.figure.add_axes((0.01, 0.01, 0.48, 0.98))
            self.ax_output = self.figure.add_axes((0.51, 0.01, 0.48, 0.98))
            self.kernel_figure = _Figure(figsize=KERNEL_FIGSIZE, dpi=DPI)
            self.ax_kernel = self.kernel_figure.add_axes((0.03, 0.03, 0.94, 0.94))
        for ax in (self.ax_input, self.ax_kernel, self.ax_output):
            ax.set_xticks([])
            ax.set_yticks([])
        self.input: AxesImage | None = None
        self.kernel_image: AxesImage | None = None
        self.output: AxesImage | None = None
        self.taps: PathCollection | None = None
        self.window = Rectangle((0, 0), 1, 1, fill=False, edgecolor="tab:orange", linewidth=2)
        self.border = Rectangle((0, 0), 1, 1, fill=False, edgecolor="tab:cyan", linewidth=1, linestyle="--")
        self.cell = Rectangle((0, 0), 1, 1, fill=False, edgecolor="tab:orange", linewidth=2)
        self.ax_input.add_patch(self.window)
        self.ax_input.add_patch(self.border)
        self.ax_output.add_patch(self.cell)
        self.kernel_key: tuple | None = None
        self.captions: dict[str, str] = {}

    def draw(self, picture: torch.Tensor, setting: Setting, out: torch.Tensor) -> bool:
        """Update every artist to `setting`; True when the kernel changed (its figure needs rendering)."""
        p, s, d = setting.padding, setting.stride, setting.dilation
        height, width = picture.shape
        padded = F.pad(picture, (p, p, p, p)).numpy()
        extent = (-p - 0.5, width + p - 0.5, height + p - 0.5, -p - 0.5)  # pixel (i, j) of the image at (j, i)
        if self.input is None:
            self.input = self.ax_input.imshow(padded, cmap="gray", interpolation="nearest", extent=extent)
        self.input.set_data(padded)
        self.input.set_extent(extent)
        self.input.set_clim(min(float(picture.min()), 0.0), max(float(picture.max()), 1e-6))
        self.ax_input.set(xlim=extent[:2], ylim=extent[2:])
        self.border.set_bounds(-0.5, -0.5, width, height)
        kh, kw = setting.kernel.shape
        top, left = setting.row * s - p, setting.col * s - p
        self.window.set_bounds(left - 0.5, top - 0.5, d * (kw - 1) + 1, d * (kh - 1) + 1)
        ys, xs = np.meshgrid(top + d * np.arange(kh), left + d * np.arange(kw), indexing="ij")
        axes_width = self.ax_input.get_position().width * self.figure.get_figwidth() * 72  # in points
        marker = (0.6 * axes_width / (width + 2 * p)) ** 2  # a tap drawn about 0.6 pixel wide, in points^2
        if self.taps is None:
            self.taps = self.ax_input.scatter(xs.ravel(), ys.ravel(), s=marker, marker="s", facecolor="none",
                                              edgecolor="tab:orange", linewidth=1)
        self.taps.set_offsets(np.column_stack([xs.ravel(), ys.ravel()]))
        self.taps.set_sizes([marker])
        self.captions["input"] = (f"{setting.image} {height}x{width}, padding {p} (dashed line: the image's edge); "
                                  f"the kernel's taps at output ({setting.row}, {setting.col})")
        changed = self._draw_kernel(setting.kernel)
        self._draw_output(out, setting)
        if self.static:
            self.ax_input.set_title(f"input: {setting.image} {height}x{width}, padding {p}", fontsize=10)
            self.ax_output.set_title(self.captions["output"], fontsize=10)
        return changed

    def _draw_kernel(self, kernel: torch.Tensor) -> bool:
        key = (tuple(kernel.shape), tuple(kernel.flatten().tolist()))
        if key == self.kernel_key:
            return False
        self.kernel_key = key
        limit = float(kernel.abs().max()) or 1.0
        if self.kernel_image is None:
            self.kernel_image = self.ax_kernel.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        self.kernel_image.set_data(kernel.numpy())
        self.kernel_image.set_clim(-limit, limit)
        kh, kw = kernel.shape
        self.kernel_image.set_extent((-0.5, kw - 0.5, kh - 0.5, -0.5))
        self.ax_kernel.set(xlim=(-0.5, kw - 0.5), ylim=(kh - 0.5, -0.5))
        for text in list(self.ax_kernel.texts):
            text.remove()
        size = 10 if max(kh, kw) <= 3 else 8
        for i in range(kh):
            for j in range(kw):
                value = float(kernel[i, j])
                colour = "white" if abs(value) > 0.6 * limit else "black"  # readable on the darkest cells
                self.ax_kernel.text(j, i, _short(value), ha="center", va="center", fontsize=size, color=colour)
        self.captions["kernel"] = f"kernel {kh}x{kw}"
        if self.static:
            self.ax_kernel.set_title(self.captions["kernel"], fontsize=10)
        return True

    def _draw_output(self, out: torch.Tensor, setting: Setting) -> None:
        h, w = out.shape
        values = out.numpy()
        signed = bool((out < 0).any())
        limit = float(out.abs().max()) or 1.0
        extent = (-0.5, w - 0.5, h - 0.5, -0.5)
        if self.output is None:
            self.output = self.ax_output.imshow(values, interpolation="nearest")
        self.output.set_data(values)
        self.output.set_extent(extent)
        self.output.set_cmap("RdBu_r" if signed else "gray")
        self.output.set_clim(-limit if signed else float(out.min()), limit)
        self.ax_output.set(xlim=extent[:2], ylim=extent[2:])
        self.cell.set_bounds(setting.col - 0.5, setting.row - 0.5, 1, 1)
        value = float(out[setting.row, setting.col])
        scale = "red above 0, blue below" if signed else "grey, dark to bright"
        self.captions["output"] = f"output {h}x{w}; at ({setting.row}, {setting.col}): {value:.3g}"
        self.captions["scale"] = scale


def _short(value: float) -> str:
    """A kernel weight in at most 4 characters: 1, -2, 0.5, .094, 1/9 stays readable in a small cell."""
    text = f"{value:.2g}"
    return text.replace("0.", ".", 1) if text.startswith("0.") else text.replace("-0.", "-.", 1)

