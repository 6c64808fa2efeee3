"""Feature visualization by optimization: the input a unit answers most, grown from noise by gradient ascent.

    result = feature_visualization(model, "fc3", [3, 8])             # the raw "perfect 3" and "perfect 8"
    result = feature_visualization(model, "conv2", 5, jitter=2, blur=0.5, decay=0.02, bounds=(-1, 1))
    result.images      # (K, C, H, W): one image per unit asked for
    result.activation  # (steps + 1, K): each unit's activation on its image, before the first step and after each

The objective of a unit is channel `c` of the layer's output, averaged over its positions (a conv layer's map), or
taken at one `cell` (row, column) of it; for a linear layer, output `c`. Each step moves the image along the
gradient of that objective, normalised to a root-mean-square of one per image, so `lr` is a step in input units.
Without regularization the result is high-frequency texture that the unit answers strongly and a person cannot
read; the regularizers (Yosinski et al. 2015; Olah et al., "Feature Visualization", Distill 2017) trade some
activation for an image closer to the data:

- `jitter`: each step looks at the image shifted by up to `jitter` pixels in each direction (a random roll), so a
  pattern must work at several positions, which washes out single-pixel tricks;
- `blur`: after each step a Gaussian blur of that standard deviation (pixels) removes high frequencies;
- `decay`: after each step the image is multiplied by (1 - decay), the L2 norm penalty in its weight-decay form; it
  keeps pixels the unit does not need near zero and bounds the image's root-mean-square by lr / decay;
- `bounds=(low, high)`: pixels are clipped into the data's range after each step (the course's digits: (-1, 1)).

The same `seed` gives the same picture (the start and the jitter come from one seeded generator). The model runs
in eval mode; its mode and its parameters' `.grad` are left as they were. `steps` above `max_steps` or an image
batch above `max_pixels` values is refused before anything runs, so a call is bounded in time and memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..capturing.guards import check_model, eval_mode
from ..capturing.layers import find_layer

__all__ = ["FeatureVisualization", "feature_visualization", "gaussian_blur"]


class FeatureVisualization(NamedTuple):
    """What feature_visualization returns: the images and each unit's activation along the way."""

    images: torch.Tensor  # (K, C, H, W), float32 on the CPU
    activation: torch.Tensor  # (steps + 1, K): the objective on the current image, before the first step and after each


def feature_visualization(model: nn.Module, layer: str, channels: int | Sequence[int], *,
                          size: tuple[int, int, int] = (1, 28, 28), cell: tuple[int, int] | None = None,
                          steps: int = 200, lr: float = 0.05, jitter: int = 0, blur: float = 0.0, decay: float = 0.0,
                          bounds: tuple[float, float] | None = None, start_scale: float = 0.1, seed: int = 0,
                          max_steps: int = 5000, max_pixels: int = 10_000_000) -> FeatureVisualization:
    """Images that drive `channels` of `layer` high, by gradient ascent from seeded noise (see the module's text).

    size is one input's (C, H, W); the start is Gaussian noise of standard deviation `start_scale`. One image per
    channel, all optimised together in one batch. cell=(row, column) takes a conv map at that one position instead
    of its mean. Returns images (K, C, H, W) and activation (steps + 1, K), float32 on the CPU.

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> result = feature_visualization(model, "1", [0, 1], size=(1, 2, 2), steps=3)
    >>> result.images.shape, result.activation.shape, bool((result.activation.diff(dim=0) > 0).all())
    (torch.Size([2, 1, 2, 2]), torch.Size([4, 2]), True)
    """
    check_model(model, "feature_visualization", gradients=True)
    module = find_layer(model, layer) if isinstance(layer, str) else None
    if module is None:
        raise TypeError(f"feature_visualization: layer must be a layer's name (a string) such as 'conv2', got "
                        f"{type(layer).__name__}; list_layers(model) shows the names.")
    units = _channels(channels)
    _check_settings(size, steps, lr, jitter, blur, decay, bounds, start_scale, max_steps)
    if len(units) * math.prod(size) > max_pixels:
        raise ValueError(f"feature_visualization: {len(units)} images of size {size} hold "
                         f"{len(units) * math.prod(size):,} values, above max_pixels={max_pixels:,}. Ask for fewer "
                         "channels at a time, or raise max_pixels if you mean it.")
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(seed)
    image = (torch.randn(len(units), *size, generator=generator) * start_scale).to(device)
    if bounds is not None:
        image = image.clamp(*bounds)
    outputs: list[torch.Tensor] = []

    def keep(_module: nn.Module, _args: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            outputs.append(output)

    def objective(x: torch.Tensor) -> torch.Tensor:
        outputs.clear()
        model(x)
        return _unit_values(outputs, layer, units, cell)

    history = []
    handle = module.register_forward_hook(keep)
    try:
        with eval_mode(model):
            for _ in range(steps):
                shift = [int(s) for s in torch.randint(-jitter, jitter + 1, (2,), generator=generator)] if jitter \
                    else [0, 0]
                x = image.clone().requires_grad_(True)
                with torch.enable_grad():
                    values = objective(torch.roll(x, shifts=shift, dims=(-2, -1)) if any(shift) else x)
                    (gradient,) = torch.autograd.grad(values.sum(), x)
                if any(shift):  # the activation of the image itself, not of its shifted copy
                    with torch.no_grad():
                        values = objective(image)
                history.append(values.detach().float().cpu())
                rms = gradient.pow(2).flatten(1).mean(dim=1).sqrt().clamp(min=1e-12)
                image = image + lr * gradient / rms.view(-1, *[1] * len(size))
                if blur:
                    image = gaussian_blur(image, blur)
                if decay:
                    image = image * (1 - decay)
                if bounds is not None:
                    image = image.clamp(*bounds)
            with torch.no_grad():
                history.append(objective(image).float().cpu())  # after the last step
    finally:
        handle.remove()
    return FeatureVisualization(image.detach().float().cpu(), torch.stack(history))


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur of (N, C, H, W) images with standard deviation `sigma` pixels (reflected edges).

    The kernel sums to one, so a constant image stays as it is and no pixel leaves the range of its neighbours.

    >>> flat = torch.full((1, 1, 5, 5), 0.5)
    >>> torch.allclose(gaussian_blur(flat, 1.0), flat)
    True
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError("gaussian_blur: images must be a tensor of shape (N, C, H, W).")
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or sigma <= 0:
        raise ValueError(f"gaussian_blur: sigma must be a positive number of pixels, got {sigma!r}.")
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, (min(images.shape[-2:]) - 1))  # reflect padding needs a pad smaller than the image
    if radius < 1:
        return images
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)


def _unit_values(outputs: list[torch.Tensor], layer: str, units: list[int],
                 cell: tuple[int, int] | None) -> torch.Tensor:
    """(K,) values: image k's activation of unit units[k]."""
    if len(outputs) != 1:
        what = "did not run" if not outputs else f"ran {len(outputs)} times"
        raise RuntimeError(f"feature_visualization: layer {layer!r} {what} in one forward pass; pick a layer that "
                           "forward() calls exactly once (list_layers(model, example) shows them).")
    output = outputs[0]
    if output.dim() < 2:
        raise ValueError(f"feature_visualization: {layer!r} returned shape {tuple(output.shape)}, not a batch of "
                         "channels (N, C, ...): pick a convolution or a linear layer.")
    if max(units) >= output.shape[1]:
        raise ValueError(f"feature_visualization: channels {units} are out of range: {layer!r} has "
                         f"{output.shape[1]} channels, 0 to {output.shape[1] - 1}.")
    index = torch.arange(len(units), device=output.device)
    chosen = output[index, torch.as_tensor(units, device=output.device)]  # (K, ...)
    if cell is None:
        return chosen.flatten(1).mean(dim=1) if chosen.dim() > 1 else chosen
    if chosen.dim() != 3:
        raise ValueError(f"feature_visualization: cell={cell} needs a layer with (N, C, H, W) maps; {layer!r} gives "
                         f"{tuple(output.shape)}. Pass cell=None for a linear layer.")
    row, col = cell
    if not (0 <= row < chosen.shape[1] and 0 <= col < chosen.shape[2]):
        raise ValueError(f"feature_visualization: cell={cell} is outside {layer!r}'s {tuple(chosen.shape[1:])} "
                         "maps.")
    return chosen[:, row, col]


def _channels(channels: object) -> list[int]:
    units = [channels] if isinstance(channels, int) and not isinstance(channels, bool) else channels
    if (isinstance(units, (str, bytes)) or not isinstance(units, Sequence) or not units
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in units)):
        raise TypeError(f"feature_visualization: channels must be a channel index or a non-empty list of them "
                        f"(ints from 0), got {channels!r}.")
    return list(units)


def _check_settings(size: object, steps: object, lr: object, jitter: object, blur: object, decay: object,
                    bounds: object, start_scale: object, max_steps: int) -> None:
    def number(value: object) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    who = "feature_visualization"
    if (not isinstance(size, tuple) or len(size) != 3
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)):
        raise ValueError(f"{who}: size must be one input's (C, H, W), such as (1, 28, 28), got {size!r}.")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"{who}: steps must be a whole number from 0, got {steps!r}.")
    if steps > max_steps:
        raise ValueError(f"{who}: steps={steps} is above max_steps={max_steps}; a few hundred steps are usually "
                         "enough. Raise max_steps if you mean it.")
    if not number(lr) or lr <= 0:  # type: ignore[operator]
        raise ValueError(f"{who}: lr must be a positive number (a step in input units), got {lr!r}.")
    if not isinstance(jitter, int) or isinstance(jitter, bool) or jitter < 0:
        raise ValueError(f"{who}: jitter must be a whole number of pixels from 0, got {jitter!r}.")
    if not number(blur) or blur < 0:  # type: ignore[operator]
        raise ValueError(f"{who}: blur must be a standard deviation in pixels, 0 for none, got {blur!r}.")
    if not number(decay) or not 0 <= decay < 1:  # type: ignore[operator]
        raise ValueError(f"{who}: decay must be a number from 0 (none) to below 1, got {decay!r}.")
    if not number(start_scale) or start_scale < 0:  # type: ignore[operator]
        raise ValueError(f"{who}: start_scale must be a number from 0, got {start_scale!r}.")
    if bounds is not None and (not isinstance(bounds, tuple) or len(bounds) != 2 or not all(map(number, bounds))
                               or not bounds[0] < bounds[1]):
        raise ValueError(f"{who}: bounds must be (low, high) with low < high, such as (-1, 1) for the course's "
                         f"digits, or None, got {bounds!r}.")
