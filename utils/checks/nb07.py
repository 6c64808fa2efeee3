"""Checks for notebook 07, Beyond feature maps: a linear saliency, a correlation, attention weights by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .core import CheckResult, as_number, run_cases

__all__ = ["check_linear_saliency", "check_correlation", "check_attention_weights"]


def _judge_saliency(result: object, weight: torch.Tensor, target: int) -> str | None:
    expected = weight[target].abs().reshape(28, 28)
    values = torch.as_tensor(result).detach().float()
    if values.shape != (28, 28):
        return (f"expected a (28, 28) map, got shape {tuple(values.shape)}: the rows of weight are the classes, and "
                "each row holds one value per pixel.")
    if torch.allclose(values, expected):
        return None
    if torch.allclose(values, weight[target].reshape(28, 28)):
        return "saliency is the SIZE of the gradient: take its absolute value."
    if torch.allclose(values, expected.T):
        return "the pixels are transposed: flatten goes row by row, and reshape(28, 28) undoes it."
    if torch.allclose(values, weight.abs().sum(0).reshape(28, 28)) or \
            torch.allclose(values, weight.abs().amax(0).reshape(28, 28)):
        return "only the target class's score is explained: use its row of weight alone."
    return "not the saliency of the target class: what is d logits[target] / d x for a linear model?"


def check_linear_saliency(function: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise 07.1: linear_saliency(weight, target) -> the (28, 28) saliency of class `target` for the linear
    classifier logits = weight @ x.flatten() + bias, weight of shape (10, 784).

    >>> bool(check_linear_saliency(lambda weight, target: weight[target].abs().view(28, 28)))
    ✓ Right: for a linear model the gradient is the weight row itself, the same for every input.
    True
    """
    weight = torch.randn(10, 784, generator=torch.Generator().manual_seed(7))
    return run_cases(function, "`linear_saliency`", [(weight, 3), (weight, 8)], _judge_saliency,
                     "Right: for a linear model the gradient is the weight row itself, the same for every input.")


def _judge_correlation(result: object, a: torch.Tensor, b: torch.Tensor) -> str | None:
    x, y = a.flatten().double() - a.double().mean(), b.flatten().double() - b.double().mean()
    expected = float((x * y).sum() / (x.norm() * y.norm()))
    if isinstance(result, torch.Tensor) and result.numel() > 1:
        return f"got {result.numel()} numbers; flatten both maps and return ONE correlation."
    number = as_number(result)
    if number is None:
        return "return one number (use .item() on a one-value tensor)."
    if abs(number - expected) < 1e-4:
        return None
    cosine = float((a.flatten() * b.flatten()).sum() / (a.norm() * b.norm()))
    if abs(number - cosine) < 1e-4:
        return ("that is the cosine similarity: subtract each map's mean first, so that a brightness offset does not "
                "count as similarity.")
    if abs(number - abs(expected)) < 1e-4:
        return "keep the sign: a map and its negative are perfectly ANTI-correlated (-1)."
    if not -1 - 1e-6 <= number <= 1 + 1e-6:
        return ("a correlation lies between -1 and 1: divide the centred product by both norms (or both standard "
                "deviations with the same convention).")
    return "not the Pearson correlation of the two flattened maps."


def check_correlation(function: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """Exercise 07.2: correlation(a, b) -> the Pearson correlation of two maps of the same shape, one number."""
    generator = torch.Generator().manual_seed(7)
    a = torch.rand(2, 28, 28, generator=generator)
    noise = torch.rand(2, 28, 28, generator=generator)
    return run_cases(function, "`correlation`", [(a, b) for b in (3 * a + 2, -a, a + noise, noise)],
                     _judge_correlation,
                     "Right: 1 for a scaled and shifted copy, -1 for the negative, near 0 for unrelated noise.")


class _NoCalls(torch.nn.MultiheadAttention):
    """A MultiheadAttention that may not be called: the exercise computes its weights by hand."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("compute the weights from layer.in_proj_weight and layer.in_proj_bias; calling the "
                           "layer itself is not the exercise")


def _judge_attention(result: object, layer: torch.nn.MultiheadAttention, tokens: torch.Tensor) -> str | None:
    with torch.no_grad():
        expected = torch.nn.MultiheadAttention.forward(layer, tokens, tokens, tokens, need_weights=True)[1]
        w_q, w_k, _ = layer.in_proj_weight.chunk(3)
        b_q, b_k, _ = layer.in_proj_bias.chunk(3)
        scores = (tokens @ w_q.T + b_q) @ (tokens @ w_k.T + b_k).transpose(1, 2)
    assert expected is not None  # need_weights=True
    values = torch.as_tensor(result).detach().float()
    if values.shape != expected.shape:
        return (f"expected weights of shape {tuple(expected.shape)} (samples, queries, keys), got "
                f"{tuple(values.shape)}.")
    if torch.allclose(values, expected, atol=1e-5):
        return None
    wrong = {
        "divide the scores by sqrt(d), the size of a query (here 8), before the softmax.": scores.softmax(-1),
        "each row (one query) must sum to 1: take the softmax over the keys, the last dimension.":
            (scores / 8**0.5).softmax(1),
        "rows are the queries and columns the keys: softmax(Q K^T / sqrt(d)), not K Q^T.":
            (scores.transpose(1, 2) / 8**0.5).softmax(-1),
        "add the projection biases (layer.in_proj_bias) to the queries and keys.":
            ((tokens @ w_q.T) @ (tokens @ w_k.T).transpose(1, 2) / 8**0.5).softmax(-1),
    }
    return next((hint for hint, weights in wrong.items() if torch.allclose(values, weights, atol=1e-5)),
                "not the attention weights: queries and keys are the first two thirds of layer.in_proj_weight (and "
                "bias); then softmax(Q K^T / sqrt(d)) over the keys.")


def check_attention_weights(function: Callable[..., Any]) -> CheckResult:
    """Exercise 07.3: attention_weights(layer, tokens) -> (N, L, L) self-attention weights of a one-head
    nn.MultiheadAttention(batch_first=True), computed from its projection weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        layer = _NoCalls(8, num_heads=1, batch_first=True)
        torch.nn.init.normal_(layer.in_proj_bias, std=0.5)
        tokens = torch.randn(2, 5, 8)
    return run_cases(function, "`attention_weights`", [(layer, tokens)], _judge_attention,
                     "Right: softmax(Q K^T / sqrt(d)) from the layer's own projections, the same numbers "
                     "need_weights=True returns.")
