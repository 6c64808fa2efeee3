"""Where a layer's cells sit on the input, measured from the model itself.

    geometry = receptive_field(model, "conv2", x)   # CellGeometry(stride=(2.0, 2.0), offset=(6.5, 6.5), ...)
    rows, cols = geometry.centres(8, 8)             # input pixel of each cell's centre: 6.5, 8.5, ..., 20.5

Cell (r, c) of a convolutional layer's (h, w) output is computed from a window of input pixels, its receptive
field. Its centre is `offset + stride * r` in pixel indices (pixel i covers i - 0.5 .. i + 0.5). Nothing here reads
kernel sizes or paddings from a table of layer types: the gradient of one cell with respect to the input is nonzero
exactly on the pixels that cell sees, so the span of that gradient is the field. Two neighbouring cells give the
stride, one of them the offset. A deep layer's field can be larger than the image (435 px for resnet18's `layer4`);
the measurement then probes on a larger random input, up to `max_probe` px, running the model only as far as the
layer, so a fixed-size classifier head after it does not get in the way.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn

from .layer_names import find_layer
from .model_state import eval_mode, to_model_device

__all__ = ["CellGeometry", "receptive_field"]

_PROBES = 2  # random inputs per cell: a ReLU or max-pool can hide a pixel from one input, hardly from every one
_cache: weakref.WeakKeyDictionary[nn.Module, dict[tuple, CellGeometry]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class CellGeometry:
    """The input-pixel position of a layer's cells: cell (r, c) is centred on pixel
    (offset[0] + stride[0] * r, offset[1] + stride[1] * c); `size` is one cell's receptive field in pixels
    (rows, columns) and `probe` the input size it was measured on."""

    stride: tuple[float, float]
    offset: tuple[float, float]
    size: tuple[int, int]
    probe: tuple[int, int]

    def centres(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The centres of an (h, w) grid's rows and columns, in input pixels (float64).

        >>> CellGeometry((2.0, 2.0), (6.5, 6.5), (14, 14), (28, 28)).centres(3, 2)
        (tensor([ 6.5000,  8.5000, 10.5000], dtype=torch.float64), tensor([6.5000, 8.5000], dtype=torch.float64))
        """
        rows = self.offset[0] + self.stride[0] * torch.arange(h, dtype=torch.float64)
        cols = self.offset[1] + self.stride[1] * torch.arange(w, dtype=torch.float64)
        return rows, cols


class _Reached(BaseException):
    """Raised by the probe's hook once the layer has run: nothing after it is needed."""


def receptive_field(model: nn.Module, layer: str, x: torch.Tensor, *, max_probe: int = 2048) -> CellGeometry:
    """Measure where `layer`'s cells sit on inputs shaped like x (N, C, H, W), from the gradient's reach.

    The result is cached per model, layer and input size (it depends on the architecture, not on the weights).

    >>> from utils import SimpleCNN
    >>> receptive_field(SimpleCNN(), "conv2", torch.zeros(1, 1, 28, 28))
    CellGeometry(stride=(2.0, 2.0), offset=(6.5, 6.5), size=(14, 14), probe=(28, 28))
    """
    module = find_layer(model, layer)
    key = (layer, id(module), tuple(x.shape[1:]), x.dtype)
    known = _cache.setdefault(model, {})
    if key not in known:
        known[key] = _measure(model, module, layer, x, max_probe)
    return known[key]


def _measure(model: nn.Module, module: nn.Module, layer: str, x: torch.Tensor, max_probe: int) -> CellGeometry:
    height, width = x.shape[-2:]
    while True:
        spans, grid = _spans(model, module, x, (height, width))
        inside = all(lo > 0 and hi < limit - 1 for (lo, hi), limit in zip(spans, [height, height, width, width]))
        if inside:
            break
        if max(height, width) * 2 > max_probe:
            raise RuntimeError(f"The receptive field of {layer!r} reaches past a {height}x{width} probe, and probing "
                               f"beyond max_probe={max_probe} px is refused: raise max_probe, or use "
                               f"placement='stretch'.")
        height, width = height * 2, width * 2
    (r0, r1), (c0, c1) = spans[0], spans[2]
    centre_r, centre_c = (r0 + r1) / 2, (c0 + c1) / 2
    row, col = (grid[0] - 1) // 2, (grid[1] - 1) // 2  # the probed cell; its neighbour is one further
    stride_r = (sum(spans[1]) / 2 - centre_r) if grid[0] > 1 else float(height)
    stride_c = (sum(spans[3]) / 2 - centre_c) if grid[1] > 1 else float(width)
    return CellGeometry(stride=(stride_r, stride_c), offset=(centre_r - stride_r * row, centre_c - stride_c * col),
                        size=(r1 - r0 + 1, c1 - c0 + 1), probe=(height, width))


def _spans(model: nn.Module, module: nn.Module, x: torch.Tensor,
           size: tuple[int, int]) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """Row span and column span of the input pixels reached by the middle cell and by its diagonal neighbour:
    [rows of cell, rows of neighbour, cols of cell, cols of neighbour], and the layer's (h, w)."""
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(2 * _PROBES, x.shape[1], *size, generator=generator, dtype=torch.float32)
    probe = to_model_device(model, probe.to(x.dtype)).requires_grad_(True)
    outputs: list[torch.Tensor] = []

    def stop(_module: nn.Module, _args: object, output: torch.Tensor) -> None:
        outputs.append(output)
        raise _Reached

    handle = module.register_forward_hook(stop)
    try:
        with eval_mode(model), torch.enable_grad():
            try:
                model(probe)
            except _Reached:
                pass
    finally:
        handle.remove()
    if not outputs or not isinstance(outputs[0], torch.Tensor) or outputs[0].dim() != 4:
        raise RuntimeError("The layer gave no (N, C, h, w) output on the probe, so its cells cannot be placed; use "
                           "placement='stretch'.")
    output = outputs[0]
    h, w = output.shape[-2:]
    row, col = (h - 1) // 2, (w - 1) // 2
    spans: list[tuple[int, int]] = []
    cells = [(row, col), (row + min(1, h - 1), col + min(1, w - 1))]  # the first probes for one, the rest the other
    with torch.enable_grad():  # the caller may be inside torch.no_grad()
        score = torch.stack([output[k * _PROBES:(k + 1) * _PROBES, :, r, c].float().sum()
                             for k, (r, c) in enumerate(cells)]).sum()
        (gradient,) = torch.autograd.grad(score, probe)
    reach = gradient.detach().abs().sum(dim=1) > 0
    reaches = [reach[:_PROBES].any(dim=0), reach[_PROBES:].any(dim=0)]
    for axis in (1, 0):  # rows (any over columns), then columns
        for reach in reaches:
            hit = reach.any(dim=axis).nonzero().flatten()
            if len(hit) == 0:
                raise RuntimeError("The gradient of one cell reached no input pixel on the random probes, so its "
                                   "receptive field cannot be measured; use placement='stretch'.")
            spans.append((int(hit[0]), int(hit[-1])))
    return spans, (h, w)
