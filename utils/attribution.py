"""Beyond feature maps: which input pixels and which places in a layer a prediction depends on.

    saliency(model, x)              # (N, H, W): |d score / d pixel|, the largest over the input's channels
    grad_cam(model, x, "conv2")     # (N, H, W): Grad-CAM at conv2, upsampled to the input's size, in [0, 1]

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

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import eval_mode, find_layer, to_model_device

Target = int | Sequence[int] | torch.Tensor | None

__all__ = ["saliency", "grad_cam"]


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
        (gradient,) = torch.autograd.grad(scores.sum(), inputs)
    return gradient.abs().amax(dim=1).float().to(x.device)


def grad_cam(model: nn.Module, x: torch.Tensor, layer: str, target: Target = None, *,
             after_relu: bool = True) -> torch.Tensor:
    """Grad-CAM maps at `layer`: where in that layer's feature maps the evidence for the target class lies.

    For each sample: the gradient of the target score with respect to the layer's output (N, C, h, w) is averaged
    over the positions, giving one weight per channel; the maps are summed with those weights; a ReLU keeps the
    places that speak *for* the class. The (h, w) result is upsampled (bilinear) to the input's size and scaled
    to [0, 1] per sample (a constant map, for example all zeros, becomes zeros: never NaN).

    after_relu=True (the default) sums the positive part of the maps, what the next layer receives when forward()
    applies a ReLU to them, as SimpleCNN does after each convolution with F.relu (which has no module to hook).
    Without it, the negative values the ReLU discards would count as evidence where the layer is silent. For maps
    taken after a ReLU already (most torchvision blocks) it changes nothing; after_relu=False uses signed maps as
    they are.

    x is (N, C, H, W); the result is (N, H, W), float32, on x's device. `layer` is a name from `list_layers`
    whose output is (N, C, h, w), usually the last convolution; `target` as in `saliency`. The model's mode, its
    parameters' `.grad` and x are left as they were, and the hook is removed even when the model raises.

    >>> model = load_trained_simplecnn()
    >>> cam = grad_cam(model, torch.zeros(2, 1, 28, 28), "conv2", target=[3, 7])
    >>> cam.shape, bool(cam.min() >= 0), bool(cam.max() <= 1)
    (torch.Size([2, 28, 28]), True, True)
    """
    module = find_layer(model, layer)
    inputs = _input_copy(model, x, "grad_cam")
    outputs: list[object] = []
    handle = module.register_forward_hook(lambda _module, _args, output: outputs.append(output))
    try:
        with eval_mode(model), torch.enable_grad():
            logits = model(inputs)
            activation = _layer_output(outputs, layer, len(inputs))
            scores = _target_scores(logits, target, len(inputs))
            (gradient,) = torch.autograd.grad(scores.sum(), activation, allow_unused=True)
    finally:
        handle.remove()
    if gradient is None:  # the target score does not depend on this layer at all
        gradient = torch.zeros_like(activation)
    activation = activation.detach().float()
    if after_relu:
        activation = activation.relu()
    weights = gradient.float().mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1): one weight per channel
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return _scale_each(cam).to(x.device)


# --- Helpers -------------------------------------------------------------------------------------------------------

def _input_copy(model: nn.Module, x: torch.Tensor, who: str) -> torch.Tensor:
    """A detached copy of the batch x on the model's device, requiring grad (x itself is never touched)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} takes a batch of images as a tensor of shape (N, C, H, W), not {type(x).__name__}.")
    if x.dim() != 4:
        hint = " For one image of shape (C, H, W), pass x.unsqueeze(0)." if x.dim() == 3 else ""
        raise ValueError(f"{who} takes a batch of images of shape (N, C, H, W), got shape {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{who} needs floating-point images (gradients), got {x.dtype}; convert with x.float().")
    if len(x) == 0:
        raise ValueError(f"{who} got an empty batch, shape {tuple(x.shape)}.")
    return to_model_device(model, x.detach()).clone().requires_grad_(True)


def _target_scores(logits: object, target: Target, n: int) -> torch.Tensor:
    """The (N,) scores to explain: the target class's logit for each sample."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or len(logits) != n:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"The model should return class scores of shape (N, classes) = ({n}, ...), got {shape}.")
    classes = logits.shape[1]
    if target is None:
        index = logits.detach().argmax(dim=1)
    else:
        index = torch.as_tensor(target, device=logits.device)
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
