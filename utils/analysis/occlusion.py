"""Occlusion: where the evidence for a class lies, tested by hiding it (Zeiler and Fergus, 2014).

    drop = occlusion(model, x, window=8, stride=4)   # (N, H, W): how much the class score falls, per pixel

A gradient says how the score would move for a tiny change; occlusion makes the change. A patch of `baseline`
values slides over the image; for each position the model runs on the occluded image, and the fall of the target
class's score (original minus occluded) is credited to every pixel under the patch; a pixel's value is the mean
over the patches that covered it. It is the causal control for a saliency or
Grad-CAM map: a region the map calls important should cost score when hidden.

Positions run in batches (`batch_size` images per forward pass), and a request of more than `max_evaluations`
forward images is refused before anything runs, so a stride of 1 on a large image cannot run for an hour.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..capturing.guards import eval_mode
from .attribution import Target, _input_copy, _target_scores

__all__ = ["occlusion"]


def occlusion(model: nn.Module, x: torch.Tensor, target: Target = None, *, window: int | tuple[int, int] = 8,
              stride: int | tuple[int, int] | None = None, baseline: float = 0.0, batch_size: int = 64,
              max_evaluations: int = 20_000) -> torch.Tensor:
    """The fall of the target score when a `window` patch (all channels) is set to `baseline`, per pixel: (N, H, W).

    x is (N, C, H, W); `target` as in `saliency` (None: the predicted class, taken on the unoccluded image).
    window and stride are (rows, columns) in pixels, or one int for both; stride None means half the window. Patch
    positions start at the top left and step by stride; the last ones are cut by the border where the steps do not
    fit evenly, so every pixel is covered (Captum's Occlusion places them the same way).
    baseline is the value hiding the pixels, in the model's input units (for the course's digits -1 is the
    background, 0 mid-grey). The result is float32 on x's device, in score units (logits), not rescaled:
    positive where hiding the pixels lowers the score. The model runs in eval mode without gradients; its mode and x
    are left as they were.

    >>> linear = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))  # for a linear model: weight * (x - baseline)
    >>> x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    >>> torch.allclose(occlusion(linear, x, target=1, window=1)[0], linear[1].weight[1].reshape(2, 2) * x[0, 0])
    True
    """
    inputs = _input_copy(model, x, "occlusion").detach()
    size, step = _pair(window, "window"), _pair(stride if stride is not None else _half(window), "stride")
    height, width = inputs.shape[-2:]
    if size[0] > height or size[1] > width:
        raise ValueError(f"occlusion: window {size} is larger than the image ({height}, {width}); pass a smaller "
                         "window.")
    if not isinstance(baseline, (int, float)) or isinstance(baseline, bool):
        raise TypeError(f"occlusion: baseline must be a number (the value that hides the pixels), got "
                        f"{type(baseline).__name__}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"occlusion: batch_size must be a positive int, got {batch_size!r}.")
    positions = [(top, left) for top in _starts(height, size[0], step[0]) for left in _starts(width, size[1], step[1])]
    evaluations = len(positions) * len(inputs)
    if evaluations > max_evaluations:
        raise ValueError(f"occlusion: {len(positions)} patch positions x {len(inputs)} images = {evaluations} forward "
                         f"images, above max_evaluations={max_evaluations}. Raise the stride or the window, pass "
                         "fewer images, or raise max_evaluations if you mean it.")
    drop = inputs.new_zeros(len(inputs), height, width, dtype=torch.float32)
    count = torch.zeros(height, width, dtype=torch.float32, device=inputs.device)
    with eval_mode(model), torch.no_grad():
        logits = model(inputs)
        original = _target_scores(logits, target, len(inputs)).float()  # also checks target against the logits
        index = logits.argmax(dim=1) if target is None else _classes(logits, target, len(inputs))
        per_batch = max(1, batch_size // len(inputs))
        for start in range(0, len(positions), per_batch):
            chunk = positions[start:start + per_batch]
            occluded = inputs.repeat(len(chunk), 1, 1, 1)  # (patches * N, C, H, W), patch-major
            for k, (top, left) in enumerate(chunk):
                occluded[k * len(inputs):(k + 1) * len(inputs), :, top:top + size[0], left:left + size[1]] = baseline
            scores = model(occluded).gather(1, index.repeat(len(chunk))[:, None])[:, 0].float()
            falls = original.repeat(len(chunk)) - scores
            for k, (top, left) in enumerate(chunk):
                patch = (slice(top, top + size[0]), slice(left, left + size[1]))
                drop[(slice(None), patch[0], patch[1])] += falls[k * len(inputs):(k + 1) * len(inputs), None, None]
                count[patch] += 1
    return (drop / count.clamp(min=1)).to(x.device)


def _starts(length: int, window: int, step: int) -> range:
    """Where patches start along one axis: every `step` pixels, the last one cut by the border if need be, so that
    every pixel is covered (Captum's Occlusion places them the same way)."""
    return range(0, step * (math.ceil((length - window) / step) + 1), step)


def _classes(logits: torch.Tensor, target: Target, n: int) -> torch.Tensor:
    """The (N,) class index of each sample (target already checked by _target_scores)."""
    index = torch.as_tensor(target, device=logits.device).long()
    return index.expand(n) if index.dim() == 0 else index


def _half(window: int | tuple[int, int]) -> tuple[int, int]:
    rows, cols = _pair(window, "window")
    return max(1, rows // 2), max(1, cols // 2)


def _pair(value: object, name: str) -> tuple[int, int]:
    """An int or a pair of ints as (rows, columns), each at least 1, or an error naming the argument."""
    pair = (value, value) if isinstance(value, int) else value
    if (not isinstance(pair, tuple) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
        raise TypeError(f"occlusion: {name} must be an int or a pair of ints (rows, columns), got {value!r}.")
    if min(pair) < 1:
        raise ValueError(f"occlusion: {name} must be at least 1 pixel, got {value!r}.")
    return pair[0], pair[1]
