"""Where a layer's cells sit on the input, measured from the model itself, at a bounded cost.

    geometry = receptive_field(model, "conv2", x)   # CellGeometry(stride=(2.0, 2.0), offset=(6.5, 6.5), ...)
    rows, cols = geometry.centres(8, 8)             # input pixel of each cell's centre: 6.5, 8.5, ..., 20.5

Cell (r, c) of a convolutional layer's (h, w) output is computed from a window of input pixels, its receptive
field. Its centre is `offset + stride * r` in pixel indices (pixel i covers i - 0.5 .. i + 0.5). It is found in
one of two ways, both from the model as it runs:
- measured: the gradient of one cell with respect to the input is nonzero exactly on the pixels that cell sees,
  so the span of that gradient is the field; two neighbouring cells give the stride, one of them the offset. The
  probe runs the model only as far as the layer, on a few random inputs of x's size;
- computed: when that probe shows the layer at the end of a plain chain of modules (each takes the previous one's
  output: convolutions, poolings, and layers that work pixel by pixel such as ReLU or BatchNorm, as in VGG's and
  AlexNet's `features`), the fields follow from their kernel sizes, strides, paddings and dilations.
Before any probe runs, a dry run of it on the meta device (shapes only: no arithmetic, no memory) finds a plain
chain, and the activations the probe would keep; a probe above `max_bytes` is never run.
A deep layer's field can be larger than the image (435 px for resnet18's `layer4`, 212 px for VGG16's last
convolution); a chain is computed whatever its size, otherwise the probe doubles in size while its predicted cost
stays within bounds: `max_probe` px a side and `max_bytes` of activations kept for the backward pass (a doubled
probe costs about four times the last; optionally `max_seconds` in all). Beyond them GeometryUnavailable says why,
and grad_cam warns and stretches.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from ..capturing.guards import eval_mode, to_model_device
from ..capturing.layers import find_layer

__all__ = ["CellGeometry", "GeometryUnavailable", "receptive_field"]

_PROBES = 2  # random inputs per cell: a ReLU or max-pool can hide a pixel from one input, hardly from every one
_cache: weakref.WeakKeyDictionary[nn.Module, dict[tuple, CellGeometry | GeometryUnavailable]] = \
    weakref.WeakKeyDictionary()


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


class GeometryUnavailable(RuntimeError):
    """The cells' centres could not be had within the bounds (or at all): grad_cam then stretches, with a warning."""


def receptive_field(model: nn.Module, layer: str, x: torch.Tensor, *, max_probe: int = 1024,
                    max_bytes: float = 6e8, max_seconds: float | None = None) -> CellGeometry:
    """Where `layer`'s cells sit on inputs shaped like x (N, C, H, W): computed along a plain chain of layers, else
    measured from the gradient's reach on probes that grow only within the bounds (see the module's docstring).

    The result, or the reason there is none (GeometryUnavailable), is cached per model, layer and input size (it
    depends on the architecture, not on the weights). The default bounds are sizes, not times, so that the
    placement is the same on a fast and a busy machine: a probe's activations (6e8 bytes: resnet18's layer4 at
    224 px is measured on a 448 px probe, 0.48 GB) bound its memory and, roughly, its time; `max_seconds` adds a
    wall-clock bound where reproducibility matters less than a deadline.

    >>> from utils import SimpleCNN
    >>> receptive_field(SimpleCNN(), "conv2", torch.zeros(1, 1, 28, 28))
    CellGeometry(stride=(2.0, 2.0), offset=(6.5, 6.5), size=(14, 14), probe=(28, 28))
    """
    module = find_layer(model, layer)
    key = (layer, id(module), tuple(x.shape[1:]), x.dtype, max_probe, max_seconds, max_bytes)
    known = _cache.setdefault(model, {})
    if key not in known:
        try:
            known[key] = _measure(model, module, layer, x, _Bounds(max_probe, max_seconds, max_bytes))
        except GeometryUnavailable as error:
            known[key] = error
    found = known[key]
    if isinstance(found, GeometryUnavailable):
        raise found
    return found


@dataclass(frozen=True)
class _Bounds:
    side: int  # the probe's largest side, in pixels
    seconds: float | None  # the whole measurement (None: no wall-clock bound)
    bytes: float  # the activations one probe keeps for its backward pass


def _measure(model: nn.Module, module: nn.Module, layer: str, x: torch.Tensor, bounds: _Bounds) -> CellGeometry:
    height, width = x.shape[-2:]
    start = time.perf_counter()
    while True:
        estimate, chain = _dry_probe(model, module, x, (height, width))
        if chain is not None:  # computed from the layers: nothing to run
            return chain
        if estimate is not None and estimate > bounds.bytes:
            raise GeometryUnavailable(
                f"Measuring where the cells of {layer!r} sit needs a {height}x{width} probe that would keep about "
                f"{estimate / 1e9:.1f} GB of activations > max_bytes={bounds.bytes / 1e9:g} GB (counted on the meta "
                "device, before running it); raise max_bytes, or use placement='stretch'.")
        began = time.perf_counter()
        spans, grid, chain, kept = _spans(model, module, x, (height, width))
        if chain is not None:
            return chain
        row, col = (grid[0] - 1) // 2, (grid[1] - 1) // 2  # the probed cell; its neighbour is one further
        rows = _axis(spans[0], spans[1], row, grid[0], height)
        cols = _axis(spans[2], spans[3], col, grid[1], width)
        if rows and cols:
            return CellGeometry(stride=(rows[0], cols[0]), offset=(rows[1], cols[1]), size=(rows[2], cols[2]),
                                probe=(height, width))
        took, spent = time.perf_counter() - began, time.perf_counter() - start
        side, seconds = 2 * max(height, width), spent + 4 * took
        checks = [(side > bounds.side, f"{side} px a side > max_probe={bounds.side}"),
                  (bounds.seconds is not None and seconds > bounds.seconds,
                   f"about {seconds:.1f} s > max_seconds={bounds.seconds}"),
                  (4 * kept > bounds.bytes, f"about {4 * kept / 1e9:.1f} GB > max_bytes={bounds.bytes / 1e9:g} GB")]
        beyond = [why for over, why in checks if over]
        if beyond:
            raise GeometryUnavailable(
                f"The receptive field of {layer!r} reaches past a {height}x{width} probe, and a probe twice as large "
                f"would cost too much ({'; '.join(beyond)}); raise those bounds of receptive_field, or use "
                "placement='stretch'.")
        height, width = height * 2, width * 2


def _dry_probe(model: nn.Module, module: nn.Module, x: torch.Tensor,
               size: tuple[int, int]) -> tuple[int | None, CellGeometry | None]:
    """A probe of `size` as a dry run on the meta device (shapes only, no arithmetic, no memory): the bytes of
    activations the real probe would keep, and the geometry when the layer ends a plain chain; (None, None) when
    the model cannot run there (it reads values)."""
    state = {name: torch.empty_like(t, device="meta") for name, t in
             [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]}
    probe = torch.empty(2 * _PROBES, x.shape[1], *size, dtype=x.dtype, device="meta")
    kept = [0]
    calls: list[tuple[nn.Module, object, object]] = []
    outputs: list[object] = []

    def record(leaf: nn.Module, args: tuple, output: object) -> None:
        calls.append((leaf, args[0] if args else None, output))
        if isinstance(output, torch.Tensor):
            kept[0] += output.numel() * output.element_size()

    def stop(_module: nn.Module, _args: object, output: object) -> None:
        outputs.append(output)
        raise _Reached

    handles = [leaf.register_forward_hook(record) for leaf in model.modules() if not any(leaf.children())]
    handles.append(module.register_forward_hook(stop))
    try:
        with eval_mode(model), torch.no_grad():
            torch.func.functional_call(model, state, (probe,), strict=False)
    except _Reached:
        pass
    except Exception:  # noqa: BLE001  # data-dependent code, a CPU constant: the real probe will tell
        return None, None
    finally:
        for handle in handles:
            handle.remove()
    output = outputs[0] if outputs else None
    chain = _chain(calls, probe, output, size) if isinstance(output, torch.Tensor) and output.dim() == 4 else None
    return kept[0], chain


# --- A plain chain of layers: the fields from the layers' arithmetic -----------------------------------------------

_POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
              nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Identity,
              nn.Dropout, nn.Dropout2d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.LocalResponseNorm)
_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _chain(calls: list[tuple[nn.Module, object, object]], probe: torch.Tensor, output: torch.Tensor,
           size: tuple[int, int]) -> CellGeometry | None:
    """The geometry when the leaf modules that ran formed a plain chain from the probe to the layer's output (each
    takes the previous one's output as it is), made of windowed and pixel-by-pixel layers only; else None."""
    current: object = probe
    jump, first, field = [1.0, 1.0], [0.0, 0.0], [1, 1]  # cell spacing, centre of cell 0, field size (per axis)
    for module, given, made in calls:
        if given is not current:
            return None
        if isinstance(module, _WINDOWED):
            kernel, stride, dilation = (_two(getattr(module, key, 1)) for key in ("kernel_size", "stride", "dilation"))
            padding = _padding(module.padding, kernel, dilation)
            for a in (0, 1):
                first[a] += ((kernel[a] - 1) * dilation[a] / 2 - padding[a]) * jump[a]
                field[a] += int((kernel[a] - 1) * dilation[a] * jump[a])
                jump[a] *= stride[a]
        elif not isinstance(module, _POINTWISE):
            return None
        current = made
    if current is not output:
        return None
    return CellGeometry(stride=(jump[0], jump[1]), offset=(first[0], first[1]), size=(field[0], field[1]),
                        probe=size)


def _two(value: object) -> tuple[int, int]:
    """A module's int-or-pair attribute (kernel_size, stride, dilation) as a pair."""
    pair = [value, value] if isinstance(value, int) else list(value)  # type: ignore[call-overload]
    return (pair[0], pair[0]) if len(pair) == 1 else (pair[0], pair[1])


def _padding(padding: object, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """The padding before the first pixel, per axis; "same" pads (d (k - 1)) // 2 there, as torch does."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return (dilation[0] * (kernel[0] - 1)) // 2, (dilation[1] * (kernel[1] - 1)) // 2
    return _two(padding)


def _axis(cell: tuple[int, int], neighbour: tuple[int, int], index: int, count: int,
          limit: int) -> tuple[float, float, int] | None:
    """(stride, offset, field size) along one axis, from the pixel spans of cell `index` (of `count`) and of the
    next cell; None when the probe is too small to tell.

    A span that touches the probe's border may be cut short by it. One whole span gives the field; the stride is
    the distance between the two centres when both spans are whole, else between two edges that neither border cut.

    >>> _axis((0, 409), (7, 441), 6, 14, 448)  # the first cell is cut at the top: its lower edge still counts
    (32.0, 0.0, 435)
    """
    def whole(span: tuple[int, int]) -> bool:
        return span[0] > 0 and span[1] < limit - 1

    if count == 1:
        return (float(limit), sum(cell) / 2, cell[1] - cell[0] + 1) if whole(cell) else None
    def length(span: tuple[int, int]) -> int:
        return span[1] - span[0] + 1

    if not (whole(cell) or whole(neighbour)):
        return None
    if whole(cell) and whole(neighbour):
        stride = (sum(neighbour) - sum(cell)) / 2
    elif cell[1] < limit - 1 and neighbour[1] < limit - 1:
        stride = float(neighbour[1] - cell[1])
    elif cell[0] > 0 and neighbour[0] > 0:
        stride = float(neighbour[0] - cell[0])
    else:
        return None
    known, at = (cell, index) if whole(cell) else (neighbour, index + 1)
    other = neighbour if known is cell else cell
    # a field cut short by the border without touching it (a strided window that stops before the last pixel)
    # shows as a step that is not forward or as two fields of different sizes: probe larger
    if stride <= 0 or length(other) > length(known) or (whole(other) and length(other) != length(known)):
        return None
    return stride, sum(known) / 2 - stride * at, length(known)


def _spans(model: nn.Module, module: nn.Module, x: torch.Tensor, size: tuple[int, int]
           ) -> tuple[list[tuple[int, int]], tuple[int, int], CellGeometry | None, int]:
    """One probe of `size`: row span and column span of the input pixels reached by the middle cell and by its
    diagonal neighbour ([rows of cell, rows of neighbour, cols of cell, cols of neighbour]), the layer's (h, w), the
    geometry when the layer ends a plain chain (then no gradient is taken), and the bytes of activations kept."""
    generator = torch.Generator().manual_seed(0)
    probe = torch.randn(2 * _PROBES, x.shape[1], *size, generator=generator, dtype=torch.float32)
    probe = to_model_device(model, probe.to(x.dtype)).requires_grad_(True)
    outputs: list[torch.Tensor] = []
    calls: list[tuple[nn.Module, object, object]] = []
    kept = [0]

    def record(leaf: nn.Module, args: tuple, output: object) -> None:
        calls.append((leaf, args[0] if args else None, output))
        if isinstance(output, torch.Tensor):
            kept[0] += output.numel() * output.element_size()

    def stop(_module: nn.Module, _args: object, output: torch.Tensor) -> None:
        outputs.append(output)
        raise _Reached

    handles = [leaf.register_forward_hook(record) for leaf in model.modules() if not any(leaf.children())]
    handles.append(module.register_forward_hook(stop))
    try:
        with eval_mode(model), torch.enable_grad():
            try:
                model(probe)
            except _Reached:
                pass
    finally:
        for handle in handles:
            handle.remove()
    if not outputs or not isinstance(outputs[0], torch.Tensor) or outputs[0].dim() != 4:
        raise GeometryUnavailable("The layer gave no (N, C, h, w) output on the probe, so its cells cannot be "
                                  "placed; use placement='stretch'.")
    output = outputs[0]
    h, w = output.shape[-2:]
    chain = _chain(calls, probe, output, size)
    if chain is not None:
        return [], (h, w), chain, kept[0]
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
                raise GeometryUnavailable("The gradient of one cell reached no input pixel on the random probes, "
                                          "so its receptive field cannot be measured; use placement='stretch'.")
            spans.append((int(hit[0]), int(hit[-1])))
    return spans, (h, w), None, kept[0]
