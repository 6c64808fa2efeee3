"""Checks for notebook 08, What the network learned: targeted steps towards a class, the variance along given
directions, and the smallest epsilon that flips a digit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .core import CheckResult, as_number, fail, missing, not_answered, run_cases

__all__ = ["check_targeted_step", "check_explained_variance", "check_flip_epsilon"]


def _tiny_model() -> nn.Module:
    torch.manual_seed(8)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4)).eval()


def _steps(model: nn.Module, x: torch.Tensor, target: int, epsilon: float, steps: int, step_size: float, *,
           sign: int = -1, score: bool = False, once: bool = False, ball: bool = True,
           clip: bool = True) -> torch.Tensor:
    """The reference, and the mistakes it tells apart: `sign` +1 raises the target's loss, `score` follows the target's
    score instead of its cross-entropy loss, `once` reuses the first gradient, `ball` and `clip` the two clippings."""
    moved, direction = x.clone(), None
    for _ in range(steps):
        if direction is None or not once:
            copy = moved.clone().requires_grad_(True)
            output = model(copy)
            loss = -output[:, target].sum() if score else F.cross_entropy(output, torch.full((len(x),), target),
                                                                           reduction="sum")
            (gradient,) = torch.autograd.grad(loss, copy)
            direction = gradient.sign()
        moved = moved + sign * step_size * direction
        if ball:
            moved = torch.max(torch.min(moved, x + epsilon), x - epsilon)
        if clip:
            moved = moved.clamp(-1, 1)
    return moved.detach()


def _judge_targeted(result: object, model: nn.Module, x: torch.Tensor, target: int, epsilon: float, steps: int,
                    step_size: float) -> str | None:
    if not isinstance(result, torch.Tensor) or result.shape != x.shape:
        shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        return f"return the moved images, a tensor of the same shape as x {tuple(x.shape)}, got {shape}."
    result = result.detach().float()

    def same(**mistake: Any) -> bool:  # one of _steps' keywords
        return torch.allclose(result, _steps(model, x, target, epsilon, steps, step_size, **mistake), atol=1e-6)

    if same():
        return None
    if same(sign=1):
        return ("your steps raise the cross-entropy loss of the target class, which moves AWAY from it: to move "
                "towards a class, step against the sign of the gradient of its loss.")
    if same(once=True):
        return "each step must read the gradient again, at the images as they are after the previous step."
    if same(ball=False):
        return ("some pixels end more than epsilon away from where they started: after each step, clip every pixel "
                "into its start plus or minus epsilon (as well as into -1 .. 1).")
    if same(clip=False):
        return "right direction, but some pixels left the digits' range: clip the result into -1 .. 1."
    if same(score=True):
        return ("that raises the target's score; the exercise lowers the cross-entropy loss of `target`, which also "
                "weighs the other classes' scores.")
    if bool(((result - x).abs() > epsilon + 1e-6).any()):
        return ("some pixels moved by more than epsilon in all: after each step, clip every pixel into its start "
                "plus or minus epsilon.")
    if bool((result.abs() > 1 + 1e-6).any()):
        return "some pixels left the digits' range: clip the result into -1 .. 1."
    return ("not the targeted steps: each one moves every pixel by step_size against the sign of the gradient of "
            "the cross-entropy loss of `target`, then clips.")


def check_targeted_step(function: Callable[..., torch.Tensor]) -> CheckResult:
    """Exercise 08.1: targeted_steps(model, x, target, epsilon, steps, step_size) -> x moved towards class `target` by
    `steps` steps, each of `step_size` per pixel against the sign of the gradient of the cross-entropy loss of
    `target` (read again at every step), each followed by clipping into x +- epsilon and into -1 .. 1 (the iterative
    targeted attack; one step of size epsilon is FGSM turned round). The library's `fgsm` and captum are refused:
    the notebook shows FGSM by hand, and the exercise is what it does not show.

    >>> def targeted_steps(model, x, target, epsilon, steps, step_size):
    ...     moved = x.clone()
    ...     for _ in range(steps):
    ...         moved.requires_grad_(True)
    ...         loss = torch.nn.functional.cross_entropy(model(moved), torch.full((len(x),), target))
    ...         (gradient,) = torch.autograd.grad(loss, moved)
    ...         moved = moved.detach() - step_size * gradient.sign()
    ...         moved = torch.min(torch.max(moved, x - epsilon), x + epsilon).clamp(-1, 1)
    ...     return moved
    >>> bool(check_targeted_step(targeted_steps))
    ✓ Right: each step against the target's loss, read afresh, kept within epsilon of the start and inside -1 .. 1.
    True
    """
    model = _tiny_model()
    x = torch.rand(3, 1, 6, 6, generator=torch.Generator().manual_seed(8)) * 2 - 1
    cases = [(model, x, 2, 0.1, 1, 0.1),  # one step of epsilon: FGSM turned round
             (model, x, 0, 0.3, 6, 0.1),  # six steps could travel 0.6: the clipping to epsilon matters
             (model, x, 3, 0.2, 4, 0.05)]
    return run_cases(function, "`targeted_steps`", cases, _judge_targeted,
                     "Right: each step against the target's loss, read afresh, kept within epsilon of the start and "
                     "inside -1 .. 1.", by_hand=("fgsm", "captum", "FGSM", "PGD"))


def _judge_variance(result: object, codes: torch.Tensor, directions: torch.Tensor) -> str | None:
    number = as_number(result)
    if number is None:
        return "return one number, a fraction from 0 to 1 (use .item() on a one-value tensor)."
    data, d = codes.double(), directions.double()
    centred = data - data.mean(dim=0)
    total = float((centred ** 2).sum())
    expected = float(((centred @ d.T) ** 2).sum()) / total
    if abs(number - expected) < 1e-4:
        return None
    if abs(number - float(((data @ d.T) ** 2).sum() / (data ** 2).sum())) < 1e-4:
        return "centre the codes first (subtract each column's mean): variance is measured around the mean."
    singular = torch.linalg.svdvals(centred)
    if abs(number - float((singular[:len(d)] ** 2).sum()) / total) < 1e-4:
        return ("that is the share of the first principal components, whatever the directions: project the centred "
                "codes on the GIVEN directions (codes @ directions.T).")
    if abs(number - float((centred @ d.T).abs().sum() / centred.abs().sum())) < 1e-4:
        return "variance is the mean of SQUARED deviations: square the projections and the centred codes."
    if 1 < number <= 100:
        return "give a fraction from 0 to 1, not a percentage."
    return f"not the fraction of the codes' variance along the {len(d)} given directions."


def check_explained_variance(function: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """Exercise 08.2: explained_variance(codes, directions) -> the fraction of the codes' total variance that lies
    along `directions` (k orthonormal rows of length D; codes of shape (N, D)): the variance of the centred codes
    projected on them, over the total. Checked on principal directions, random directions and one direction, so that
    a library's explained_variance_ratio_ (which ignores the directions) does not pass.

    >>> def explained_variance(codes, directions):
    ...     centred = codes - codes.mean(dim=0)
    ...     return float(((centred @ directions.T) ** 2).sum() / (centred ** 2).sum())
    >>> bool(check_explained_variance(explained_variance))
    ✓ Right: the variance along orthonormal directions is the summed squares of the centred codes' projections.
    True
    """
    generator = torch.Generator().manual_seed(8)
    codes = torch.randn(60, 5, generator=generator) * torch.tensor([4.0, 2.0, 1.0, 0.5, 0.2]) + 3.0
    principal = torch.linalg.svd(codes - codes.mean(dim=0), full_matrices=False)[2][:2]
    random, _ = torch.linalg.qr(torch.randn(5, 2, generator=generator))  # two random orthonormal columns
    return run_cases(function, "`explained_variance`",
                     [(codes, principal), (codes, random.T.contiguous()), (codes, random.T[1:].contiguous())],
                     _judge_variance,
                     "Right: the variance along orthonormal directions is the summed squares of the centred codes' "
                     "projections.")


def _flip(model: nn.Module, image: torch.Tensor, label: int, epsilons: Sequence[float]) -> float | None:
    from ..analysis.adversarial import fgsm

    for epsilon in sorted(epsilons):
        moved = fgsm(model, image[None], [label], epsilon, bounds=(-1.0, 1.0))
        with torch.no_grad():
            if int(model(moved).argmax(dim=1)) != label:
                return epsilon
    return None


def check_flip_epsilon(function: Callable[..., float | None], model: nn.Module, images: torch.Tensor,
                       labels: torch.Tensor) -> CheckResult:
    """Exercise 08.3: flip_epsilon(model, image, label, epsilons) -> the smallest epsilon among `epsilons` whose
    FGSM step (bounds -1 .. 1) changes the model's prediction away from `label`, or None when none does.

    Checked on the given images (C, H, W each) against the same search done here.
    """
    if not_answered(function):
        return missing("`flip_epsilon`")
    epsilons = [0.3, 0.02, 0.1, 0.05, 0.2]  # deliberately unsorted
    cases = [(model, images[i], int(labels[i]), epsilons) for i in range(len(images))]

    def judge(result: object, model: nn.Module, image: torch.Tensor, label: int, eps: list) -> str | None:
        expected = _flip(model, image, label, eps)
        if expected is None:
            return None if result is None else "for a digit that no epsilon flips, return None."
        number = as_number(result)
        if number is None:
            return "return one of the epsilons (a number), or None when none flips the digit."
        if abs(number - expected) < 1e-9:
            return None
        if number in eps and number > expected:
            return "a smaller epsilon already flips one of the digits: try the epsilons from the smallest up."
        return "not the smallest epsilon that flips the prediction: compare model(moved).argmax(1) with the label."

    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        return fail("the check needs a batch of digits (N, 1, 28, 28), such as images[:5].")
    return run_cases(function, "`flip_epsilon`", cases, judge,
                     "Right: the first epsilon, from the smallest up, whose step changes the prediction.")
