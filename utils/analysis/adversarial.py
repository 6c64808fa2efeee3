"""Fooling the model: the fast gradient sign method (FGSM; Goodfellow, Shlens and Szegedy, 2015).

    fooled = fgsm(model, x, labels, epsilon=0.1, bounds=(-1, 1))   # x moved by 0.1 per pixel, against the labels

Every pixel moves by exactly `epsilon` (in the model's input units) in the direction that raises the
cross-entropy loss of the given labels, the sign of its gradient: the largest first-order rise of the loss that a
change of at most `epsilon` per pixel can buy. A model that is close to linear around its inputs, as ReLU networks
are, adds up many such small changes into a large change of its scores. Captum's `captum.robust.FGSM` computes the
same step when given `loss_func=CrossEntropyLoss(reduction="none")` and `zero_thresh=0` (its defaults differ: it
leaves pixels with a gradient near zero unchanged); the tests compare the two with those settings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..capturing.guards import eval_mode
from .attribution import Target, _input_copy, _needs_gradients, _target_scores

__all__ = ["fgsm"]


def fgsm(model: nn.Module, x: torch.Tensor, labels: Target = None, epsilon: float = 0.1, *,
         bounds: tuple[float, float] | None = None) -> torch.Tensor:
    """x + epsilon * sign(d loss / d x) for the cross-entropy loss of `labels`, clipped into `bounds`.

    x is a batch (N, C, H, W); labels None (the predicted classes), one class for all, or N classes. epsilon is the
    change of each pixel in the model's input units (the course's digits span -1 to 1, so 0.1 is 5% of the range).
    bounds=(low, high) clips the result into the data's range. Returns a new tensor on x's device (float32); the
    model's mode, its parameters' `.grad` and x are left as they were.

    >>> linear = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    >>> with torch.no_grad():
    ...     _ = linear[1].weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
    >>> fgsm(linear, torch.zeros(1, 1, 1, 2), labels=0, epsilon=0.5).flatten().tolist()
    [-0.5, 0.5]
    """
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not epsilon >= 0:
        raise ValueError(f"fgsm: epsilon must be a number from 0 (the change of each pixel, in input units), got "
                         f"{epsilon!r}.")
    if bounds is not None and (not isinstance(bounds, tuple) or len(bounds) != 2 or not bounds[0] < bounds[1]):
        raise ValueError(f"fgsm: bounds must be (low, high) with low < high, such as (-1, 1) for the course's "
                         f"digits, or None, got {bounds!r}.")
    inputs = _input_copy(model, x, "fgsm")
    with eval_mode(model), torch.enable_grad():
        logits = model(inputs)
        scores = _target_scores(logits, labels, len(inputs))  # checks labels against the logits
        _needs_gradients(scores, "fgsm")
        index = logits.detach().argmax(dim=1) if labels is None else \
            torch.as_tensor(labels, device=logits.device).long().expand(len(inputs))
        loss = F.cross_entropy(logits, index, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, inputs)
    moved = inputs.detach() + epsilon * gradient.sign()
    if bounds is not None:
        moved = moved.clamp(*bounds)
    return moved.float().to(x.device)
