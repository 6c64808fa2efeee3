"""Beyond feature maps: which input pixels and which places in a layer a prediction depends on.

    saliency(model, x)              # (N, H, W): |d score / d pixel|, the largest over the input's channels
    grad_cam(model, x, "conv2")     # (N, H, W): Grad-CAM at conv2, placed on the input by receptive field, in [0, 1]

Grad-CAM's (h, w) map has one value per cell of the layer. `placement="receptive_field"` (the default) puts each
value at the centre of the input pixels that cell sees, measured from the model (utils.analysis.receptive_field), and
interpolates between centres; `"stretch"` spreads the grid evenly over the whole input, as most libraries do,
which is only right when the cells' fields tile the input edge to edge; `"none"` returns the (h, w) map itself.

Both explain one class score per sample: `target=None` takes the predicted class, an int the same class for every
sample, a tensor (or list) of N ints one class per sample. Both leave everything as they found it: the model's
train/eval mode (they compute in eval mode), the parameters' `.grad` (the gradients come from
`torch.autograd.grad`, which returns them instead of adding them to `.grad`), the input (they work on a detached
copy) and the hooks (removed even when the model raises). A layer name that does not exist gets the same helpful
error as `capture`.

Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization"
(2017). Saliency: Simonyan et al., "Deep Inside Convolutional Networks" (2013). Before trusting either, see
Adebayo et al., "Sanity Checks for Saliency Maps" (2018): an explanation that does not change when the weights
are randomized explains the input, not the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..capturing.guards import check_model, eval_mode, to_model_device
from ..capturing.layers import find_layer
from .receptive_field import CellGeometry, GeometryUnavailable, receptive_field

Target = int | Sequence[int] | torch.Tensor | None
PLACEMENTS = ("receptive_field", "stretch", "none")

__all__ = ["saliency", "guided_backprop", "grad_cam", "PLACEMENTS"]


def saliency(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Saliency maps: how much each input pixel moves the target class's score, `|d score / d x|`.

    x is a batch (N, C, H, W); the result is (N, H, W), the largest absolute gradient over the C channels, as
    float32 on x's device. `target`: None (the predicted class), an int, or N ints. The model runs in eval mode;
    its mode, its parameters' `.grad` and x are left as they were.

    >>> linear = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))  # for a linear model, the saliency is |weight|
    >>> maps = saliency(linear, torch.zeros(1, 1, 2, 2), target=2)
    >>> torch.equal(maps[0], linear[1].weight[2].abs().reshape(2, 2))
    True
    """
    inputs = _input_copy(model, x, "saliency")
    with eval_mode(model), torch.enable_grad():
        logits = model(inputs)
        scores = _target_scores(logits, target, len(inputs))
        _needs_gradients(scores, "saliency")
        (gradient,) = torch.autograd.grad(scores.sum(), inputs)
    return gradient.abs().amax(dim=1).float().to(x.device)


def guided_backprop(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al. 2015): the gradient of the target score with respect to x, where
    every ReLU passes back only positive gradient, and only where its input was positive.

    x is a batch (N, C, H, W); the result is the signed (N, C, H, W) gradient, float32 on x's device, unscaled (as
    Captum's GuidedBackprop returns it). Every ReLU counts, whether an nn.ReLU module or a call of F.relu /
    torch.relu in forward() (the SimpleCNN's): inside this function a __torch_function__ mode routes each ReLU
    through a guided one. Model mode, `.grad` and x are left as they were, as for `saliency`. Adebayo et al.
    (2018) show why to distrust it: its maps hardly change when the model's weights are randomized.

    >>> linear = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> guided_backprop(linear, torch.zeros(1, 1, 2, 2), target=0).shape
    torch.Size([1, 1, 2, 2])
    """
    inputs = _input_copy(model, x, "guided_backprop")
    with eval_mode(model), torch.enable_grad(), _GuidedReLUs():
        logits = model(inputs)
        scores = _target_scores(logits, target, len(inputs))
        _needs_gradients(scores, "guided_backprop")
        (gradient,) = torch.autograd.grad(scores.sum(), inputs)
    return gradient.float().to(x.device)


class _GuidedReLU(torch.autograd.Function):
    """max(x, 0) forward; backward passes the gradient only where the input was positive and the gradient is."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0)


_RELUS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _GuidedReLUs(TorchFunctionMode):
    """Inside the block every ReLU, module or function, is a guided one (in place or not, it returns a new tensor,
    which is what every `x = relu(x)` uses)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func in _RELUS:
            return _GuidedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))


def grad_cam(model: nn.Module, x: torch.Tensor, layer: str, target: Target = None, *,
             placement: str = "receptive_field", after_relu: bool = False) -> torch.Tensor:
    """Grad-CAM maps at `layer`: where in that layer's feature maps the evidence for the target class lies.

    As in the paper, for each sample: the gradient of the target score with respect to the layer's output
    (N, C, h, w) is averaged over the positions, giving one weight per channel; the maps are summed with those
    weights; a ReLU keeps the places that speak *for* the class. The (h, w) result is placed on the input (see
    `placement`) and scaled to [0, 1] per sample (a constant map, for example all zeros, becomes zeros: never NaN).

    placement: "receptive_field" puts each cell's value on the centre of its receptive field, found from the
    model (linear in between, fading to zero one cell spacing beyond the outermost centres; where the centres
    cannot be had within receptive_field's bounds of time and memory, it warns and stretches); "stretch" upsamples the
    grid over the whole input (bilinear, what most libraries do); "none" returns the (N, h, w) map of the layer.

    after_relu=True weights the positive part of the maps, for a layer whose output the model passes through a
    ReLU that has no module to hook (SimpleCNN calls F.relu): then the maps weighted are what the next layer
    receives. The default, False, uses the named layer's output as it is, also when an in-place op follows it
    (nn.ReLU(inplace=True) in VGG, AlexNet, SqueezeNet: the model goes on with a copy of the output). For a layer
    whose output has been through a ReLU already (most torchvision blocks) the two are the same. Naming the ReLU
    module that follows a convolution is a third variant, not after_relu=True on the convolution: the maps are
    the same, but the gradient at the convolution's output is zero wherever the map was negative (the ReLU passes
    nothing back there), while the gradient at the ReLU's output need not be, so the channel weights differ.

    x is (N, C, H, W); the result is (N, H, W) (or (N, h, w)), float32, on x's device. `layer` is a name from
    `list_layers` whose output is (N, C, h, w), usually the last convolution; `target` as in `saliency`. The
    model's mode, its parameters' `.grad` and x are left as they were, and the hook is removed even when the model
    raises.

    >>> from utils import load_trained_simplecnn
    >>> model = load_trained_simplecnn()
    >>> cam = grad_cam(model, torch.zeros(2, 1, 28, 28), "conv2", target=[3, 7], after_relu=True)
    >>> cam.shape, bool(cam.min() >= 0), bool(cam.max() <= 1)
    (torch.Size([2, 28, 28]), True, True)
    """
    inputs = _input_copy(model, x, "grad_cam")
    module = _layer_module(model, layer)
    if placement not in PLACEMENTS:
        raise ValueError(f"grad_cam: placement must be one of {PLACEMENTS}, got {placement!r}.")
    if not isinstance(after_relu, bool):
        raise TypeError(f"grad_cam: after_relu must be True or False, got {after_relu!r}.")
    activation, gradient = _activation_and_gradient(model, module, layer, inputs, target)
    activation = activation.detach().float()
    if after_relu:
        activation = activation.relu()
    weights = gradient.float().mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1): one weight per channel
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    if placement == "stretch":
        cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)
    elif placement == "receptive_field" and bool(cam.amax() > 0):
        try:
            cam = place(cam, receptive_field(model, layer, inputs), inputs.shape[-2:])
        except GeometryUnavailable as error:
            warnings.warn(f"grad_cam: the cells of {layer!r} could not be placed by their receptive fields, so the "
                          f"grid was stretched over the image instead (placement='stretch'). {error}", stacklevel=2)
            cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)
    elif placement == "receptive_field":  # all zeros: nothing to place (and no gradient to measure the field with)
        cam = cam.new_zeros((*cam.shape[:2], *inputs.shape[-2:]))
    return _scale_each(cam[:, 0]).to(x.device)


def place(cam: torch.Tensor, geometry: CellGeometry, size: Sequence[int]) -> torch.Tensor:
    """An (N, C, h, w) grid of values laid on an (H, W) input by its cells' centres: linear between centres, zero
    from one cell spacing beyond the outermost ones.

    >>> geometry = CellGeometry(stride=(2.0, 2.0), offset=(0.0, 1.0), size=(3, 3), probe=(4, 4))
    >>> place(torch.ones(1, 1, 1, 2), geometry, (1, 5))[0, 0, 0].tolist()
    [0.5, 1.0, 1.0, 1.0, 0.5]
    """
    rows, cols = geometry.centres(*cam.shape[-2:])
    along_rows = _tent(torch.arange(size[0], dtype=torch.float64), rows, geometry.stride[0])  # (H, h)
    along_cols = _tent(torch.arange(size[1], dtype=torch.float64), cols, geometry.stride[1])  # (W, w)
    placed = along_rows.to(cam) @ cam @ along_cols.to(cam).T
    return placed


def _tent(pixels: torch.Tensor, centres: torch.Tensor, stride: float) -> torch.Tensor:
    """Linear-interpolation weights (pixels, cells): 1 at a cell's centre, 0 one stride away."""
    return (1 - (pixels[:, None] - centres[None, :]).abs() / abs(stride)).clamp(min=0)


# --- Helpers -------------------------------------------------------------------------------------------------------

def _activation_and_gradient(model: nn.Module, module: nn.Module, layer: str, inputs: torch.Tensor,
                             target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's (N, C, h, w) output in one forward pass, and the gradient of the target scores with respect to it."""
    outputs: list[object] = []

    def keep(_module: nn.Module, _args: object, output: object) -> object:
        # The model goes on with a copy, so that an in-place op after the layer (nn.ReLU(inplace=True), a
        # residual `out += identity`) changes the copy, not the output kept here; the copy stays in the graph,
        # so the gradient with respect to the layer's own output is the one Grad-CAM needs.
        outputs.append(output)
        return output.clone() if isinstance(output, torch.Tensor) else None

    handle = module.register_forward_hook(keep)
    try:
        with eval_mode(model), torch.enable_grad():
            logits = model(inputs)
            activation = _layer_output(outputs, layer, len(inputs))
            scores = _target_scores(logits, target, len(inputs))
            _needs_gradients(scores, "grad_cam")
            (gradient,) = torch.autograd.grad(scores.sum(), activation, allow_unused=True)
    finally:
        handle.remove()
    if gradient is None:  # the target score does not depend on this layer at all
        gradient = torch.zeros_like(activation)
    return activation, gradient


def _needs_gradients(scores: torch.Tensor, who: str) -> None:
    if not scores.requires_grad:
        raise RuntimeError(f"{who}: the model's scores carry no gradient (they were computed without autograd: a "
                           "quantized model, torch.no_grad() inside forward(), or a .detach()), so there is nothing "
                           "to explain with. Use a float model whose forward() keeps the graph.")


def _input_copy(model: object, x: object, who: str) -> torch.Tensor:
    """A detached copy of the batch x on the model's device, requiring grad (x itself is never touched)."""
    check_model(model, who, hooks=who == "grad_cam", gradients=True)
    assert isinstance(model, nn.Module)
    if not isinstance(x, torch.Tensor):
        fix = " Convert it with torch.from_numpy(x).float()." if type(x).__module__ == "numpy" else ""
        raise TypeError(f"{who}: x must be a batch of images as a tensor of shape (N, C, H, W), not "
                        f"{type(x).__name__}.{fix}")
    if x.dim() != 4:
        hint = " For one image of shape (C, H, W), pass x.unsqueeze(0)." if x.dim() == 3 else ""
        raise ValueError(f"{who}: x must be a batch of images of shape (N, C, H, W), got shape {tuple(x.shape)}."
                         f"{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{who}: x needs floating-point images (gradients), got {x.dtype}; convert with x.float() "
                        "(and scale and normalize it as the model was trained).")
    if len(x) == 0:
        raise ValueError(f"{who}: x is an empty batch, shape {tuple(x.shape)}.")
    bad = ~torch.isfinite(x.detach())
    if bool(bad.any()):
        where = ", ".join(f"image {n} channel {c} at ({h}, {w})" for n, c, h, w in bad.nonzero()[:3].tolist())
        more = f" and {int(bad.sum()) - 3} more" if int(bad.sum()) > 3 else ""
        raise ValueError(f"{who}: x holds {int(bad.sum())} NaN or infinite value(s): {where}{more}. One of them "
                         "turns the whole map of its image into NaN; fix or drop those images first "
                         "(torch.isfinite(x) finds them).")
    return to_model_device(model, x.detach()).clone().requires_grad_(True)


def _layer_module(model: nn.Module, layer: object) -> nn.Module:
    """The submodule named `layer`, with a clear error for anything that is not a name."""
    if isinstance(layer, nn.Module):
        names = [name for name, m in model.named_modules() if m is layer]
        fix = f"pass its name, {names[0]!r}" if names else "pass the name of one of the model's layers"
        raise TypeError(f"grad_cam: layer must be a layer's name (a string), not the module itself; {fix}.")
    if not isinstance(layer, str):
        raise TypeError(f"grad_cam: layer must be a layer's name (a string) such as 'conv2', got "
                        f"{type(layer).__name__} {layer!r}; list_layers(model) prints the names.")
    return find_layer(model, layer)


def _target_scores(logits: object, target: Target, n: int) -> torch.Tensor:
    """The (N,) scores to explain: the target class's logit for each sample."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or len(logits) != n:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"The model should return class scores of shape (N, classes) = ({n}, ...), got {shape}.")
    classes = logits.shape[1]
    if target is None:
        index = logits.detach().argmax(dim=1)
    else:
        if isinstance(target, str) or (isinstance(target, Sequence) and any(isinstance(t, str) for t in target)):
            raise TypeError(f"target must be None, a class number or {n} class numbers (ints from 0 to "
                            f"{classes - 1}), not {target!r}: classes are numbered, not named.")
        try:
            index = torch.as_tensor(target, device=logits.device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"target must be None, a class number or {n} class numbers (ints), got "
                            f"{target!r}.") from error
        if index.is_floating_point() or index.dtype == torch.bool:
            raise TypeError(f"target must be None, a class number or {n} class numbers (ints), got {index.dtype}.")
        if index.dim() == 0:
            index = index.expand(n)
        if index.shape != (n,):
            raise ValueError(f"target holds {tuple(index.shape)} values; give one class for all samples or one per "
                             f"sample ({n}).")
        if bool(((index < 0) | (index >= classes)).any()):
            raise ValueError(f"target {index.tolist()} is out of range: the model has {classes} classes, "
                             f"0 to {classes - 1}.")
    return logits.gather(1, index.long()[:, None])[:, 0]


def _layer_output(outputs: list[object], layer: str, n: int) -> torch.Tensor:
    """The one (N, C, h, w) output the hooked layer produced during the forward pass."""
    if not outputs:
        raise RuntimeError(f"Layer {layer!r} did not run during the forward pass, so Grad-CAM has nothing to explain "
                           "there. Pick a layer that forward() calls; list_layers(model, example) shows them.")
    if len(outputs) > 1:
        raise RuntimeError(f"Layer {layer!r} ran {len(outputs)} times in one forward pass (a module used more than "
                           "once), so its maps are ambiguous. Pick a layer that runs once, usually the last "
                           "convolution.")
    output = outputs[0]
    if not isinstance(output, torch.Tensor) or output.dim() != 4 or len(output) != n:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"Grad-CAM needs a layer whose output is feature maps (N, C, h, w); {layer!r} gives "
                         f"{shape}. A fully connected layer has no spatial layout: pick a convolution.")
    return output


def _scale_each(maps: torch.Tensor) -> torch.Tensor:
    """Each (H, W) map min-max scaled to [0, 1]; a map without variation becomes zeros."""
    flat = maps.reshape(len(maps), -1)
    low, high = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    span = high - low
    flat_map = span <= 4 * torch.finfo(flat.dtype).eps * high.abs()
    scaled = torch.where(flat_map, 0.0, (flat - low) / torch.where(flat_map, 1.0, span))
    return scaled.clamp(0, 1).reshape(maps.shape)
