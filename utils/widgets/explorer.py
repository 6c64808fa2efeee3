"""An interactive feature-map explorer for notebooks: `explore(model, images)` returns an ipywidgets widget.

The model runs once, when the explorer is made: every requested layer's maps and the predictions are captured
for every image (`utils.capturing.hooks`). Moving a control only redraws the figure, which is made once and kept: the
input image is updated in place, the grid of maps is redrawn into its axes by `plot_feature_maps`, and the
figure is sent to the page as a PNG in an `ipywidgets.Image`. That needs nothing but the standard widgets and
the inline backend, so it works alike in JupyterLab, Jupyter Notebook, Colab, Binder and VS Code.

    explorer = explore(model, images, labels=labels)  # the widget: show it by ending a cell with it
    explorer.figure                                   # the same view as a static figure (for GitHub, reports)
    explorer.show(image=3, layer="conv2")             # set controls from code (one redraw)
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib import ticker
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torch import nn

from ..capturing.feature_maps import FeatureMaps, LayerNotRunError, ReusedLayerError
from ..capturing.guards import check_input, check_model, eval_mode, to_model_device
from ..capturing.hooks import LayerRef, capture
from ..plot.maps import plot_feature_maps
from ..plot.scaling import MODES

__all__ = ["Explorer", "View", "explore"]

MAX_CHANNELS = 64  # channels shown when a layer is first chosen; the range slider reaches them all
FIGSIZE, DPI = (9.6, 4.0), 90  # the explorer's figure: fixed, so the page does not jump between redraws
SCALE_HELP = {  # what each scale mode means, in the label line and the buttons' tooltips
    "layer": "one scale from the layer's min to its max: weak channels look weak",
    "channel": "each map from its own min to its max: every map visible, strengths not comparable",
    "symmetric": "one scale for the layer, 0 in the middle: red above 0 (passes the ReLU), blue below",
}


class _Figure(Figure):
    """The explorer's figure; shows itself as a PNG when a notebook cell ends with it."""

    def _repr_png_(self) -> bytes:
        return _png(self)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})  # fast; the bytes stay local
    return buffer.getvalue()


@dataclass(frozen=True)
class View:
    """What the explorer shows: an image, a layer, a channel range (inclusive) and a scale mode."""

    image: int
    layer: str
    channels: tuple[int, int]
    scale: str


class _Canvas:
    """The explorer's figure and the artists a redraw updates: the input image, the grid of maps, the texts."""

    def __init__(self) -> None:
        self.figure = _Figure(figsize=FIGSIZE, dpi=DPI)
        self.ax_input = self.figure.add_axes((0.015, 0.12, 0.2, 0.68))
        self.ax_maps = self.figure.add_axes((0.25, 0.03, 0.66, 0.86))
        self.ax_maps.set_anchor("N")  # a grid shorter than the axes sits at the top, under the controls
        self.ax_input.set_anchor("N")
        self.cax = self.figure.add_axes((0.935, 0.12, 0.012, 0.66))
        self.input: AxesImage | None = None
        self.colorbar: Colorbar | None = None

    def draw(self, source: Explorer, view: View) -> None:
        i, maps = view.image, source.maps[view.layer]
        low, high = view.channels
        picture = source.picture(i)
        if self.input is None:
            self.input = self.ax_input.imshow(picture, cmap="gray", interpolation="nearest")
            self.ax_input.set_axis_off()
        shown_input = self.input
        shown_input.set_data(picture)
        shown_input.set_clim(*source.input_limits(i))
        self.ax_input.set_title(source.caption(i, "\n"), fontsize=10, color=source.caption_colour(i))
        for artist in [*self.ax_maps.images, *self.ax_maps.texts, *self.ax_maps.patches]:
            artist.remove()  # cheaper than cla(), which rebuilds the axis ticks; the axes keep their settings
        count, h, w = maps.shape[1:]
        title = f"{view.layer}: channels {low}-{high} of {count} ({h}x{w}), scale: {view.scale}"
        plot_feature_maps(maps, sample=i, channels=range(low, high + 1), mode=view.scale, ax=self.ax_maps,
                          colorbar=False, title=title)
        self.ax_maps.title.set_fontsize(11)
        shown = self.ax_maps.images[0]
        if self.colorbar is None:
            self.colorbar = self.figure.colorbar(shown, cax=self.cax)
        else:
            self.colorbar.update_normal(shown)
        colorbar = self.colorbar
        if view.scale == "channel":  # every map on its own scale: the bar can only say min and max
            colorbar.set_ticks([0.0, 1.0], labels=["min", "max"])
        else:  # raw values drawn with the layer's colour limits: matplotlib's ticks are in the layer's units
            colorbar.locator, colorbar.formatter = ticker.AutoLocator(), ticker.ScalarFormatter()
            colorbar.update_ticks()
        self.cax.tick_params(labelsize=8)
        self.ax_maps.apply_aspect()  # where the grid really is, so that the colorbar matches its height
        grid = self.ax_maps.get_position()
        self.cax.set_position((grid.x1 + 0.015, grid.y0, 0.012, grid.height))


class Explorer(widgets.VBox):
    """The widget `explore` returns: controls, a line saying what is shown, and the figure.

    Attributes: the controls `image`, `layer`, `channels`, `scale` (ipywidgets: set their `.value` to move them);
    `view` (the current View); `figure` (the matplotlib Figure of the current view); `maps` (layer name ->
    (N, C, H, W) captured maps, on the CPU); `predictions` and `confidences` (one per image, or None); `labels`
    (one per image, or None); `redraws` (how many so far).
    """

    def __init__(self, images: torch.Tensor, labels: list[int] | None, maps: dict[str, torch.Tensor],
                 probabilities: torch.Tensor | None, class_names: Sequence[str] | None = None) -> None:
        self.images = images
        self.labels = labels
        self.maps = maps
        self.class_names = list(class_names) if class_names is not None else None
        self.predictions = probabilities.argmax(1).tolist() if probabilities is not None else None
        self.confidences = probabilities.max(1).values.tolist() if probabilities is not None else None
        self.redraws = 0
        self._holding = False
        signed = any(bool((m < 0).any()) for m in maps.values())
        count = next(iter(maps.values())).shape[1]

        style = {"description_width": "60px"}
        self.image = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image", style=style,
                                       layout=widgets.Layout(width="340px"), disabled=len(images) == 1)
        self.layer = widgets.Dropdown(options=list(maps), description="layer", style=style,
                                      layout=widgets.Layout(width="220px"))
        self.channels = widgets.IntRangeSlider(value=(0, min(count, MAX_CHANNELS) - 1), min=0, max=count - 1,
                                               description="channels", style=style,
                                               layout=widgets.Layout(width="340px"))
        self.scale = widgets.ToggleButtons(options=list(MODES), value="symmetric" if signed else "layer",
                                           description="scale", style={**style, "button_width": "auto"},
                                           tooltips=[SCALE_HELP[m] for m in MODES])
        self.label = widgets.HTML(layout=widgets.Layout(width="auto"))
        self.picture_widget = widgets.Image(format="png", layout=widgets.Layout(
            width=f"{FIGSIZE[0] * DPI:.0f}px", max_width="100%", height="auto"))
        for name, control in [("image", self.image), ("layer", self.layer), ("channels", self.channels),
                              ("scale", self.scale), ("label", self.label), ("figure", self.picture_widget)]:
            control.add_class(f"course-explorer-{name}")
        self._canvas = _Canvas()
        row = widgets.Layout(flex_flow="row wrap", align_items="center")
        super().__init__([widgets.HBox([self.image, self.layer], layout=row),
                          widgets.HBox([self.channels, self.scale], layout=row), self.label, self.picture_widget])
        self.add_class("course-explorer")
        for control in (self.image, self.channels, self.scale):
            control.observe(self._changed, "value")
        self.layer.observe(self._layer_changed, "value")
        self.redraw()

    @property
    def figure(self) -> Figure:
        """The current view as a matplotlib Figure (it shows as a static image when a cell ends with it)."""
        return self._canvas.figure

    @property
    def view(self) -> View:
        return View(self.image.value, self.layer.value, tuple(self.channels.value), self.scale.value)

    # --- controls ---------------------------------------------------------------------------------------------

    def show(self, image: int | None = None, layer: str | None = None, channels: tuple[int, int] | None = None,
             scale: str | None = None) -> Explorer:
        """Set any of the controls from code and redraw once; returns the explorer (so a cell can end with it).

        >>> explorer.show(image=3, layer="conv2", channels=(0, 7), scale="channel")  # doctest: +SKIP
        """
        if layer is not None and layer not in self.maps:
            raise ValueError(f"layer={layer!r} was not captured; this explorer has {', '.join(self.maps)}.")
        self._check_view(image, layer, channels, scale)
        self._holding = True
        try:
            if layer is not None:
                self.layer.value = layer
            if image is not None:
                self.image.value = image
            if channels is not None:
                self.channels.value = channels
            if scale is not None:
                self.scale.value = scale
        finally:
            self._holding = False
        self.redraw()
        return self

    def _check_view(self, image: object, layer: str | None, channels: Any, scale: object) -> None:
        """show()'s arguments, refused with the fix (the sliders would clamp them silently, the buttons raise a
        bare TraitError)."""
        count = len(self.images)
        if image is not None and (isinstance(image, bool) or not isinstance(image, (int, np.integer))
                                  or not 0 <= image < count):
            raise ValueError(f"image={image!r}: this explorer has {count} image(s), numbered 0 to {count - 1}.")
        if scale is not None and scale not in MODES:
            raise ValueError(f"scale={scale!r} is not a scale: use one of {', '.join(map(repr, MODES))} "
                             f"({'; '.join(f'{m}: {SCALE_HELP[m]}' for m in MODES)}).")
        if channels is not None:
            maps = self.maps[layer if layer is not None else self.layer.value]
            last = maps.shape[1] - 1
            try:
                low, high = (int(c) for c in channels)
            except (TypeError, ValueError):
                raise ValueError(f"channels={channels!r}: give a (first, last) pair, e.g. channels=(0, 7).") from None
            if not 0 <= low <= high <= last:
                raise ValueError(f"channels={channels!r}: need 0 <= first <= last <= {last} (the layer has "
                                 f"{last + 1} channels), such as channels=(0, {min(last, 7)}).")

    def _changed(self, change: object = None) -> None:
        if not self._holding:
            self.redraw()

    def _layer_changed(self, change: dict[str, Any]) -> None:
        count = self.maps[change["new"]].shape[1]
        holding, self._holding = self._holding, True
        try:  # the new layer's channels: all of them (up to MAX_CHANNELS), one redraw for the whole change
            self.channels.value = (0, 0)
            self.channels.max = count - 1
            self.channels.value = (0, min(count, MAX_CHANNELS) - 1)
        finally:
            self._holding = holding
        self._changed()

    # --- drawing ----------------------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw the current view into the figure and send it to the page. Errors show in the label line."""
        try:
            self._canvas.draw(self, self.view)
            self.picture_widget.value = _png(self.figure)
            self.label.value = self.describe(html_=True)
            self.redraws += 1
        except Exception as error:  # a callback's exception would vanish into the kernel log: show it instead
            self.label.value = f"<span style='color:#c00'>Cannot draw this view: {html.escape(str(error))}</span>"
            raise

    def render(self, view: View | None = None) -> Figure:
        """A new figure of `view` (default: the current one), drawn from scratch; the explorer is not changed."""
        canvas = _Canvas()
        canvas.draw(self, view or self.view)
        return canvas.figure

    def picture(self, i: int) -> np.ndarray:
        """Image i as matplotlib shows it: (H, W) for one channel (the first of several), (H, W, 3) for RGB.

        An RGB image with values outside [0, 1] (normalized with a mean and std, as for ImageNet models) has each
        colour channel stretched to [0, 1], which undoes the normalization up to contrast: the photo as a person
        would recognise it, instead of clipped colours.
        """
        image = self.images[i].float()
        if image.shape[0] != 3:
            return image[0].numpy()
        if float(image.min()) < 0 or float(image.max()) > 1:
            flat = image.reshape(3, -1)
            low, high = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
            image = (image - low) / (high - low).clamp_min(torch.finfo(torch.float32).eps)
        return image.permute(1, 2, 0).numpy()

    def input_limits(self, i: int) -> tuple[float, float]:
        low, high = float(self.images[i].min()), float(self.images[i].max())
        return (low, high) if high > low else (low - 1, low + 1)

    def _class(self, k: int) -> str:
        return self.class_names[k] if self.class_names else str(k)

    def caption(self, i: int, separator: str = ", ") -> str:
        """Image i's number, label and prediction, e.g. "image 3, label 7, predicted 7 (98%)"."""
        head = [f"image {i}"] + ([f"label {self._class(self.labels[i])}"] if self.labels is not None else [])
        text = ", ".join(head)
        if self.predictions is not None and self.confidences is not None:
            text += f"{separator}predicted {self._class(self.predictions[i])} ({100 * self.confidences[i]:.0f}%)"
        return text

    def caption_colour(self, i: int) -> str:
        """Red for a misclassified image, else black."""
        wrong = self.labels is not None and self.predictions is not None and self.labels[i] != self.predictions[i]
        return "#c00000" if wrong else "black"

    def describe(self, html_: bool = False) -> str:
        """The current view in words (what the label line above the figure says)."""
        view = self.view
        low, high = view.channels
        count, h, w = self.maps[view.layer].shape[1:]
        if not html_:
            return (f"{self.caption(view.image)}; layer {view.layer}: channels {low}-{high} of {count} ({h}x{w}); "
                    f"scale {view.scale}: {SCALE_HELP[view.scale]}")
        return (f"<span style='color:{self.caption_colour(view.image)}'><b>{html.escape(self.caption(view.image))}"
                f"</b></span> &middot; <b>{html.escape(view.layer)}</b>: channels {low}-{high} of {count} "
                f"({h}x{w}) &middot; scale <b>{view.scale}</b>: {html.escape(SCALE_HELP[view.scale])}")

    def __repr__(self) -> str:
        return f"Explorer of {len(self.images)} images, layers {', '.join(self.maps)} (run the notebook to use it)"


def _as_batch(images: object, labels: Sequence[int] | torch.Tensor | None) -> tuple[torch.Tensor, list[int] | None]:
    """images as an (N, C, H, W) CPU tensor and labels as a list of ints (or None)."""
    if isinstance(images, torch.Tensor):
        batch = images.detach()
    elif isinstance(images, (Sequence, torch.utils.data.Dataset)) and not isinstance(images, (str, bytes)):
        items = [images[i] for i in range(len(images))]  # type: ignore[arg-type]  # datasets that matter have len
        if not items:
            raise ValueError("explore got no images: pass a batch (N, C, H, W) or a list of (image, label) pairs.")
        if all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
            if labels is None:
                labels = [int(label) for _, label in items]
            items = [image for image, _ in items]
        batch = torch.stack([torch.as_tensor(item) for item in items])
    else:
        raise TypeError(f"explore wants images as a tensor (N, C, H, W) or a list of (image, label) pairs, "
                        f"not {type(images).__name__}.")
    if batch.dim() == 3:
        batch = batch.unsqueeze(0)
    if batch.dim() != 4 or batch.shape[0] == 0:
        raise ValueError(f"explore wants images of shape (N, C, H, W) (or one image (C, H, W)); got shape "
                         f"{tuple(batch.shape)}.")
    if labels is not None:
        labels = [int(label) for label in (labels.tolist() if isinstance(labels, torch.Tensor) else labels)]
        if len(labels) != len(batch):
            raise ValueError(f"explore got {len(batch)} images but {len(labels)} labels: give one label per image.")
    return batch.cpu(), labels


def _one_map(captured: FeatureMaps, name: str, model_name: str) -> torch.Tensor:
    """The layer's maps when it ran once; otherwise an error that an explorer user can act on."""
    calls = captured.calls(name)
    if not calls:
        raise LayerNotRunError(
            f"Layer {name!r} did not run when explore ran {model_name} on the images, so it has no maps to show: "
            "forward() never calls it (a spare module) or took a branch that skips it. Leave it out of layers=[...]; "
            "list_layers(model, example) shows which layers run.")
    if len(calls) > 1:
        raise ReusedLayerError(
            f"Layer {name!r} runs {len(calls)} times in one forward pass of {model_name} (a module used more than "
            "once), so explore cannot tell which of its outputs to show. Explore the layer that feeds each call "
            "instead (such as the convolution before it), or capture it yourself: get_feature_maps(model, x, "
            f"[{name!r}]).calls({name!r}).")
    return calls[0]


def explore(model: nn.Module, images: torch.Tensor | Sequence | torch.utils.data.Dataset,
            layers: LayerRef | Iterable[LayerRef] | None = None, *, labels: Sequence[int] | torch.Tensor | None = None,
            class_names: Sequence[str] | None = None) -> Explorer:
    """An interactive explorer of `model`'s feature maps on `images`: controls for image, layer, channels, scale.

    - `images`: a batch (N, C, H, W) (or one image), or a sequence of (image, label) pairs such as a slice of
      a torchvision dataset, whose labels are then used. Every image is captured once, up front: pass tens to a
      few hundred.
    - `layers`: dotted names as for `capture` (None: every nn.Conv2d); each must output (N, C, H, W) maps.
    - `labels` (one per image) and `class_names` (one per class) are shown next to the prediction.

    The model runs once, in eval mode without gradients (its mode is restored), on its own device; the maps are
    kept on the CPU. Moving a control redraws only the figure. The figure shows what is drawn: the image, its
    label and the predicted class (red when wrong), the layer, the channel range and the scale mode; the line
    above it says the same in words. End a cell with the explorer to show it; `explorer.figure` is the current
    view as a static figure, for places where widgets do not run (GitHub, a PDF).

    >>> from utils import load_trained_simplecnn
    >>> explorer = explore(load_trained_simplecnn(), torch.zeros(4, 1, 28, 28))
    >>> explorer.layer.options, explorer.channels.value, explorer.redraws
    (('conv1', 'conv2'), (0, 15), 1)
    >>> explorer.image.value = 2  # what moving the slider does
    >>> explorer.redraws
    2
    """
    check_model(model, "explore")
    batch, labels = _as_batch(images, labels)
    check_input(model, batch, "explore", "images")
    with eval_mode(model), torch.no_grad(), capture(model, layers, device="cpu") as captured:
        output = model(to_model_device(model, batch))
    maps = {name: _one_map(captured, name, type(model).__name__) for name in captured.requested}
    for name, tensor in maps.items():
        if tensor.dim() != 4:
            raise ValueError(f"Layer {name!r} outputs shape {tuple(tensor.shape)}, not (N, C, H, W) feature maps; "
                             "explore shows convolutional layers (or others whose outputs are images).")
    probabilities = None
    if isinstance(output, torch.Tensor) and output.dim() == 2 and output.shape[0] == len(batch):
        probabilities = output.detach().float().softmax(1).cpu()
    return Explorer(batch, labels, maps, probabilities, class_names)
