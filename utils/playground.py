"""A convolution playground for notebooks: `conv_playground(images)` returns an ipywidgets widget.

Choose an image, a kernel (a preset, or your own numbers typed in), stride, padding, dilation and an output
position. The figure shows the padded input with the kernel's taps at that position, the kernel with its weights,
and the output map with the chosen value; the line above it fills the output-size formula in with the numbers.
An impossible setting (a stride or dilation of 0, a kernel wider than the padded input, a kernel that is not a
grid of numbers) is refused with a message on screen and the figure keeps the last possible view.

As in `utils.explorer`, the figure is made once and kept: a move updates its artists in place and sends it to the
page as a PNG in an `ipywidgets.Image`, so it works wherever the standard widgets do.

    playground = conv_playground({"digit": digit, "photo": photo})  # the widget: end a cell with it
    playground.show(stride=2, padding=1)                             # set controls from code (one redraw)
    playground.figure                                                # the current view as a static figure
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

__all__ = ["PRESETS", "Playground", "PlaygroundError", "Setting", "conv_playground", "output_size", "parse_kernel"]

FIGSIZE, DPI = (9.6, 3.5), 90  # the static figure (report, GitHub)
LIVE_FIGSIZE, KERNEL_FIGSIZE = (7.2, 3.5), (1.6, 1.6)  # the widget: input and output; the kernel apart
CONTROLS = ("image", "preset", "kernel_text", "stride", "padding", "dilation", "row", "col")
MAX_KERNEL = 7  # rows or columns a typed kernel may have
_SOBEL = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
PRESETS: dict[str, list[list[float]]] = {
    "vertical edges (Sobel)": _SOBEL,
    "horizontal edges (Sobel)": [list(row) for row in zip(*_SOBEL)],
    "blur 3x3 (average)": [[1 / 9] * 3 for _ in range(3)],
    "blur 5x5 (binomial)": [[a * b / 256 for b in (1, 4, 6, 4, 1)] for a in (1, 4, 6, 4, 1)],
    "sharpen": [[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]],
    "identity": [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
}


class PlaygroundError(ValueError):
    """A setting the convolution cannot take; the message says why and what to change."""


class _Figure(Figure):
    """The playground's figure; shows itself as a PNG when a notebook cell ends with it."""

    def _repr_png_(self) -> bytes:
        return _png(self)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output size along one dimension, as nn.Conv2d computes it.

    >>> output_size(28, 5), output_size(28, 3, stride=2, padding=1), output_size(28, 3, dilation=2)
    (24, 14, 24)
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def parse_kernel(text: str) -> torch.Tensor:
    """A kernel typed as rows of numbers (one row a line, or rows separated by ';'), as a 2-D float tensor.

    >>> parse_kernel("1 0 -1; 2 0 -2; 1 0 -1").shape
    torch.Size([3, 3])
    """
    rows = [row for row in re.split(r"[;\n]", text) if row.strip()]
    try:
        numbers = [[float(value) for value in re.split(r"[,\s]+", row.strip())] for row in rows]
    except ValueError as error:
        raise PlaygroundError(f"kernel: {error}; type numbers only, one row a line (or rows separated by ';')."
                              ) from None
    if not numbers or len({len(row) for row in numbers}) != 1:
        raise PlaygroundError("kernel: every row needs the same number of values, e.g. '1 0 -1; 2 0 -2; 1 0 -1'.")
    if len(numbers) > MAX_KERNEL or len(numbers[0]) > MAX_KERNEL:
        raise PlaygroundError(f"kernel: at most {MAX_KERNEL} rows of {MAX_KERNEL} values here.")
    kernel = torch.tensor(numbers)
    if not torch.isfinite(kernel).all():
        raise PlaygroundError("kernel: every value must be a finite number.")
    return kernel


@dataclass(frozen=True)
class Setting:
    """One view of the playground: image name, kernel, stride, padding, dilation, output position (row, column)."""

    image: str
    kernel: torch.Tensor
    stride: int
    padding: int
    dilation: int
    row: int = 0
    col: int = 0

    def check(self, height: int, width: int) -> tuple[int, int]:
        """The output's (rows, columns), or a PlaygroundError that says why this setting is impossible."""
        if self.stride < 1:
            raise PlaygroundError(f"stride {self.stride}: the kernel must move at least 1 pixel between positions.")
        if self.dilation < 1:
            raise PlaygroundError(f"dilation {self.dilation}: taps must be at least 1 pixel apart (1 = no gaps).")
        if self.padding < 0:
            raise PlaygroundError(f"padding {self.padding}: padding adds rows and columns, it cannot be negative.")
        kh, kw = self.kernel.shape
        span_h, span_w = self.dilation * (kh - 1) + 1, self.dilation * (kw - 1) + 1
        padded_h, padded_w = height + 2 * self.padding, width + 2 * self.padding
        if span_h > padded_h or span_w > padded_w:
            raise PlaygroundError(
                f"the kernel spans {span_h}x{span_w} pixels ({kh}x{kw} taps, dilation {self.dilation}) but the padded "
                f"input is only {padded_h}x{padded_w}: it fits nowhere. Lower the dilation or add padding.")
        return (output_size(height, kh, self.stride, self.padding, self.dilation),
                output_size(width, kw, self.stride, self.padding, self.dilation))


def _formula(n: int, k: int, s: int, p: int, d: int) -> str:
    top = n + 2 * p - d * (k - 1) - 1
    result = f"{top // s + 1}" if s >= 1 and top >= 0 else "none"
    return f"floor(({n} + 2·{p} − {d}·({k} − 1) − 1) / {s}) + 1 = {result}"


class _Canvas:
    """The figures and the artists a redraw updates: padded input, taps, window, kernel, output map, marker.

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


class Playground(widgets.VBox):
    """The widget `conv_playground` returns: controls, the formula line, a message line and the pictures.

    Attributes: the controls `image`, `preset`, `kernel_text`, `stride`, `padding`, `dilation`, `row`, `col`
    (set their `.value` to move them); `setting` (the last drawn Setting); `output` (its output map, a tensor);
    `message` (empty, or why the current controls are refused); `figure` (the current view as one static
    figure); `redraws` (how many so far).
    """

    def __init__(self, images: dict[str, torch.Tensor]) -> None:
        self.images = images
        self.redraws = 0
        self._holding = False
        self.setting: Setting | None = None
        self.output: torch.Tensor | None = None
        self.message = ""
        style = {"description_width": "62px"}
        narrow = widgets.Layout(width="230px")
        first = next(iter(PRESETS))
        self.image = widgets.Dropdown(options=list(images), description="image", style=style, layout=narrow)
        self.preset = widgets.Dropdown(options=[*PRESETS, "your own"], value=first, description="kernel",
                                       style=style, layout=widgets.Layout(width="300px"))
        self.kernel_text = widgets.Textarea(value=_kernel_text(PRESETS[first]), description="weights",
                                            style=style, layout=widgets.Layout(width="300px", height="96px"))
        self.stride = widgets.IntSlider(value=1, min=0, max=6, description="stride", style=style, layout=narrow)
        self.padding = widgets.IntSlider(value=0, min=0, max=6, description="padding", style=style, layout=narrow)
        self.dilation = widgets.IntSlider(value=1, min=0, max=12, description="dilation", style=style,
                                          layout=narrow)
        self.row = widgets.IntSlider(value=0, min=0, max=0, description="out row", style=style, layout=narrow)
        self.col = widgets.IntSlider(value=0, min=0, max=0, description="out col", style=style, layout=narrow)
        self.formula = widgets.HTML()
        self.note = widgets.HTML()
        self.picture_widget = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{LIVE_FIGSIZE[0] * DPI:.0f}px", max_width="100%", height="auto"))
        self.kernel_widget = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{KERNEL_FIGSIZE[0] * DPI:.0f}px", height="auto"))
        for name in ("image", "preset", "kernel_text", "stride", "padding", "dilation", "row", "col", "formula",
                     "note", "picture_widget", "kernel_widget"):
            getattr(self, name).add_class(f"course-playground-{name.replace('_', '-')}")
        self._canvas = _Canvas()
        row = widgets.Layout(flex_flow="row wrap", align_items="flex-start")
        sliders = widgets.VBox([self.stride, self.padding, self.dilation])
        position = widgets.VBox([self.image, self.row, self.col])
        super().__init__([widgets.HBox([position, sliders, widgets.VBox([self.preset, self.kernel_text])],
                                       layout=row), self.formula, self.note,
                          widgets.HBox([self.picture_widget, self.kernel_widget], layout=row)])
        self.add_class("course-playground")
        for control in (self.image, self.kernel_text, self.stride, self.padding, self.dilation, self.row, self.col):
            control.observe(self._changed, "value")
        self.preset.observe(self._preset_changed, "value")
        self.redraw()

    @property
    def figure(self) -> Figure:
        """The current view as one static figure with titles (it shows as an image when a cell ends with it)."""
        canvas = _Canvas(static=True)
        if self.setting is not None and self.output is not None:
            canvas.draw(self.images[self.setting.image], self.setting, self.output)
        return canvas.figure

    def show(self, **controls: object) -> Playground:
        """Set controls by name (image, preset, kernel_text, stride, padding, dilation, row, col); one redraw.

        >>> playground.show(stride=2, padding=1)  # doctest: +SKIP
        """
        unknown = sorted(set(controls) - set(CONTROLS))
        if unknown:
            raise TypeError(f"show() got unknown controls {unknown}; it takes {', '.join(CONTROLS)}.")
        self._holding = True
        try:
            for name in CONTROLS:
                if name in controls:
                    getattr(self, name).value = controls[name]
        finally:
            self._holding = False
        self.redraw()
        return self

    def _changed(self, change: object = None) -> None:
        if not self._holding:
            self.redraw()

    def _preset_changed(self, change: dict) -> None:
        if change["new"] in PRESETS:
            holding, self._holding = self._holding, True
            try:
                self.kernel_text.value = _kernel_text(PRESETS[change["new"]])
            finally:
                self._holding = holding
            self._changed()

    def _read(self) -> tuple[torch.Tensor, Setting, tuple[int, int]]:
        picture = self.images[self.image.value]
        kernel = parse_kernel(self.kernel_text.value)
        preset = PRESETS.get(self.preset.value)
        if preset is not None and (kernel.shape != (len(preset), len(preset[0]))
                                   or not torch.allclose(kernel, torch.tensor(preset), atol=1e-3)):
            holding, self._holding = self._holding, True
            try:
                self.preset.value = "your own"  # typed numbers: no longer the preset
            finally:
                self._holding = holding
        setting = Setting(self.image.value, kernel, self.stride.value, self.padding.value, self.dilation.value)
        return picture, setting, setting.check(*picture.shape)

    def redraw(self) -> None:
        """Draw the controls' setting; an impossible one is refused on screen and the last view stays."""
        kh, _ = _shape_or_none(self.kernel_text.value)
        picture = self.images[self.image.value]
        n, s, p, d = picture.shape[0], self.stride.value, self.padding.value, self.dilation.value
        self.formula.value = (f"output rows = floor((n + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1 = "
                              f"<b>{_formula(n, kh, s, p, d)}</b>")
        try:
            picture, setting, (h, w) = self._read()
        except PlaygroundError as error:
            self._refuse(str(error))
            return
        holding, self._holding = self._holding, True
        try:  # the position sliders follow the output's size; one redraw for the whole change
            self.row.max, self.col.max = h - 1, w - 1
        finally:
            self._holding = holding
        setting = Setting(setting.image, setting.kernel, setting.stride, setting.padding, setting.dilation,
                          self.row.value, self.col.value)
        out = F.conv2d(picture[None, None], setting.kernel[None, None], stride=setting.stride,
                       padding=setting.padding, dilation=setting.dilation)[0, 0]
        if self._canvas.draw(picture, setting, out):
            self.kernel_widget.value = _png(self._canvas.kernel_figure)
        self.picture_widget.value = _png(self._canvas.figure)
        self.setting, self.output, self.message = setting, out, ""
        captions = self._canvas.captions
        self.note.value = (f"<b>output map {h}x{w}</b> (input {picture.shape[0]}x{picture.shape[1]}) &middot; "
                           f"left: {html.escape(captions['input'])} &middot; right: {html.escape(captions['output'])}"
                           f" ({captions['scale']}) &middot; far right: {captions['kernel']}")
        self.redraws += 1

    def _refuse(self, message: str) -> None:
        self.message = f"Cannot convolve: {message}"
        self.note.value = (f"<span style='color:#c00'><b>{html.escape(self.message)}</b> The pictures still show "
                           "the last setting that works.</span>")

    def __repr__(self) -> str:
        return f"Convolution playground over {', '.join(self.images)} (run the notebook to use it)"


def _kernel_text(rows: list[list[float]]) -> str:
    return "\n".join(" ".join(f"{value:.4g}" for value in row) for row in rows)


def _shape_or_none(text: str) -> tuple[int, int]:
    try:
        return tuple(parse_kernel(text).shape)  # type: ignore[return-value]
    except PlaygroundError:
        return 0, 0


def _as_picture(name: str, image: object) -> torch.Tensor:
    picture = torch.as_tensor(image, dtype=torch.float32).detach().cpu()
    if picture.dim() == 3 and picture.shape[0] == 1:
        picture = picture[0]
    if picture.dim() != 2 or min(picture.shape) < 1:
        raise ValueError(f"conv_playground: image {name!r} has shape {tuple(picture.shape)}; give a grey image as "
                         "(H, W) or (1, H, W) (for a colour photo, average its channels first).")
    return picture


def conv_playground(images: Mapping[str, torch.Tensor] | torch.Tensor) -> Playground:
    """A widget to slide a kernel over an image and change stride, padding and dilation, with the sizes worked out.

    `images`: one grey image (H, W) or (1, H, W), or a mapping name -> image to choose from. Large images make
    small windows: about 28 to 60 pixels a side reads best.

    >>> playground = conv_playground({"digit": torch.rand(28, 28)})
    >>> playground.show(stride=2, padding=1).output.shape
    torch.Size([14, 14])
    >>> playground.show(stride=0).message
    'Cannot convolve: stride 0: the kernel must move at least 1 pixel between positions.'
    """
    if isinstance(images, torch.Tensor):
        images = {"image": images}
    if not isinstance(images, Mapping) or not images:
        raise TypeError("conv_playground wants an image tensor (H, W) or a dict of them, e.g. {'digit': digit}.")
    pictures = {str(name): _as_picture(str(name), image) for name, image in images.items()}
    return Playground(pictures)

