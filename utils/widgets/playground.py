"""A convolution playground for notebooks: `conv_playground(images)` returns an ipywidgets widget.

Choose an image, a kernel (a preset, or your own numbers typed in), stride, padding, dilation and an output
position. The figure shows the padded input with the kernel's taps at that position, the kernel with its weights,
and the output map with the chosen value; the line above it fills the output-size formula in with the numbers.
An impossible setting (a stride or dilation of 0, a kernel wider than the padded input, a kernel that is not a
grid of numbers) is refused with a message on screen and the figure keeps the last possible view.

As in `utils.widgets.explorer`, the figure is made once and kept: a move updates its artists in place and sends it
to the page as a PNG in an `ipywidgets.Image`, so it works wherever the standard widgets do.

    playground = conv_playground({"digit": digit, "photo": photo})  # the widget: end a cell with it
    playground.show(stride=2, padding=1)                             # set controls from code (one redraw)
    playground.figure                                                # the current view as a static figure
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from .conv_geometry import (
    PRESETS,
    PlaygroundError,
    Setting,
    as_picture,
    format_kernel,
    kernel_shape,
    parse_kernel,
    size_formula,
)
from .playground_canvas import DPI, KERNEL_FIGSIZE, LIVE_FIGSIZE, Canvas, png

__all__ = ["Playground", "conv_playground"]

CONTROLS = ("image", "preset", "kernel_text", "stride", "padding", "dilation", "row", "col")


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
        widest = max(len(line) for kernel in PRESETS.values() for line in format_kernel(kernel).splitlines())
        self.kernel_text = widgets.Textarea(  # wide enough for the widest preset's rows (a 5x5 blur) not to wrap
            value=format_kernel(PRESETS[first]), description="weights", style=style,
            layout=widgets.Layout(width=f"calc({style['description_width']} + {widest + 4}ch)", height="96px"))
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
        self._canvas = Canvas()
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
        canvas = Canvas(static=True)
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
                self.kernel_text.value = format_kernel(PRESETS[change["new"]])
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
        kh, _ = kernel_shape(self.kernel_text.value)
        picture = self.images[self.image.value]
        n, s, p, d = picture.shape[0], self.stride.value, self.padding.value, self.dilation.value
        filled = size_formula(n, kh, s, p, d) if kh else "– (the weights are not a kernel yet)"  # never a kernel 0
        self.formula.value = (f"output rows = floor((n + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1 = "
                              f"<b>{filled}</b>")
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
            self.kernel_widget.value = png(self._canvas.kernel_figure)
        self.picture_widget.value = png(self._canvas.figure)
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
    pictures = {str(name): as_picture(str(name), image) for name, image in images.items()}
    return Playground(pictures)

