"""Checks for notebook 07, Beyond feature maps: a probability's saliency by the chain rule (given p, not x: nothing
to differentiate), a rank correlation, attention weights by hand (the layer and the function behind it refused)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .core import CheckResult, as_number, run_cases

__all__ = ["check_linear_saliency", "check_correlation", "check_attention_weights"]


def _probability_saliency(weight: torch.Tensor, p: torch.Tensor, target: int) -> torch.Tensor:
    """|d p[target] / d x| for p = softmax(weight @ x.flatten() + bias): p_t (w_t - sum_k p_k w_k), as (28, 28)."""
    return (p[target] * (weight[target] - p @ weight)).abs().reshape(28, 28)


def _judge_saliency(result: object, weight: torch.Tensor, p: torch.Tensor, target: int) -> str | None:
    expected = _probability_saliency(weight, p, target)
    values = torch.as_tensor(result).detach().float()
    if values.shape != (28, 28):
        return (f"expected a (28, 28) map, got shape {tuple(values.shape)}: one value per pixel, for the target "
                "class alone.")
    if torch.allclose(values, expected, rtol=1e-3, atol=1e-7):
        return None
    signed = p[target] * (weight[target] - p @ weight)
    if torch.allclose(values, weight[target].abs().reshape(28, 28)):
        return ("that is the saliency of the LOGIT, |weight[target]|; the probability also goes through the "
                "softmax: differentiate softmax(logits)[target] with the chain rule.")
    if torch.allclose(values, signed.reshape(28, 28), rtol=1e-3, atol=1e-7):
        return "saliency is the SIZE of the gradient: take its absolute value."
    if torch.allclose(values, expected.T, rtol=1e-3, atol=1e-7):
        return "the pixels are transposed: flatten goes row by row, and reshape(28, 28) undoes it."
    if torch.allclose(values, (weight[target] - p @ weight).abs().reshape(28, 28), rtol=1e-3, atol=1e-7):
        return "almost: d p_t / d logit_k is p_t (1[k = t] - p_k); you left out the factor p[target]."
    return ("not |d p[target] / d x|: with p = softmax(z), d p_t / d z_k = p_t (1[k = t] - p_k), and "
            "d z_k / d x = weight[k].")


def check_linear_saliency(function: Callable[..., torch.Tensor]) -> CheckResult:
    """Exercise 07.1: linear_saliency(weight, p, target) -> the (28, 28) map |d p[target] / d x| of the
    probability p = softmax(weight @ x.flatten() + bias), weight (10, 784), from the weights and the probabilities
    p (10,) alone. The check gives no x and no bias, so there is nothing for autograd to differentiate: the
    formula has to be worked out (it depends on x only through p).

    >>> def by_hand(weight, p, target):
    ...     return (p[target] * (weight[target] - p @ weight)).abs().reshape(28, 28)
    >>> bool(check_linear_saliency(by_hand))  # doctest: +ELLIPSIS
    ✓ Right: ...
    True
    """
    generator = torch.Generator().manual_seed(7)
    weight = torch.randn(10, 784, generator=generator) * 0.05
    probabilities = [(torch.randn(10, generator=generator) * 2).softmax(0) for _ in range(2)]
    return run_cases(function, "`linear_saliency`",
                     [(weight, probabilities[0], 3), (weight, probabilities[1], 3), (weight, probabilities[0], 8)],
                     _judge_saliency,
                     "Right: p_t (w_t - sum_k p_k w_k). The logit's saliency is the same for every input; the "
                     "probability's is not, because every other class's share p_k depends on x.")


def _ranks(values: torch.Tensor) -> torch.Tensor:
    return values.flatten().argsort().argsort().double()


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    x, y = a.flatten().double() - a.double().mean(), b.flatten().double() - b.double().mean()
    return float((x * y).sum() / (x.norm() * y.norm()))


def _judge_correlation(result: object, a: torch.Tensor, b: torch.Tensor) -> str | None:
    expected = _pearson(_ranks(a), _ranks(b))
    if isinstance(result, torch.Tensor) and result.numel() > 1:
        return f"got {result.numel()} numbers; flatten both maps and return ONE correlation."
    number = as_number(result)
    if number is None:
        return "return one number (use .item() on a one-value tensor)."
    if abs(number - expected) < 1e-4:
        return None
    if abs(number - _pearson(a, b)) < 1e-4:
        return ("that is the Pearson correlation of the values themselves; replace each value by its rank first "
                "(0 for the smallest), then correlate the ranks.")
    if abs(number - _pearson(a.flatten().argsort().double(), b.flatten().argsort().double())) < 1e-4:
        return ("argsort once gives the positions in sorted order, not each value's rank: argsort the argsort.")
    if abs(number - abs(expected)) < 1e-4:
        return "keep the sign: a map and its negative are perfectly ANTI-correlated (-1)."
    return "not the rank correlation: rank each flattened map, then take the Pearson correlation of the ranks."


def check_correlation(function: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """Exercise 07.2: correlation(a, b) -> the Spearman rank correlation of two maps of the same shape (the
    Pearson correlation of their values' ranks), one number.

    >>> def ranked(a, b):
    ...     a, b = a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double()
    ...     return float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    >>> bool(check_correlation(ranked))  # doctest: +ELLIPSIS
    ✓ Right: ...
    True
    """
    generator = torch.Generator().manual_seed(7)
    a = torch.rand(2, 28, 28, generator=generator)
    noise = torch.rand(2, 28, 28, generator=generator)
    return run_cases(function, "`correlation`", [(a, b) for b in ((5 * a).exp(), -a, a + noise, noise)],
                     _judge_correlation,
                     "Right: 1 for any increasing function of the map (not only a scaled copy), -1 for the "
                     "negative, near 0 for unrelated noise.")


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("compute the weights from layer.in_proj_weight and layer.in_proj_bias; calling the layer, "
                       "or the function behind it, is not the exercise")


def _without_the_layer(function: Callable[..., Any]) -> Callable[..., Any]:
    """The learner's function, run while nn.MultiheadAttention.forward, F.multi_head_attention_forward and
    torch._native_multi_head_attention refuse to run: their code objects are swapped, so a name imported earlier
    (from torch.nn.functional import ...) refuses too."""
    refusing = _refuse.__code__
    functions = [torch.nn.MultiheadAttention.forward, torch.nn.functional.multi_head_attention_forward]

    def run(*args: Any) -> Any:
        codes = [f.__code__ for f in functions]
        native = torch._native_multi_head_attention
        try:
            for f in functions:
                f.__code__ = refusing
            torch._native_multi_head_attention = _refuse
            return function(*args)
        finally:
            for f, code in zip(functions, codes):
                f.__code__ = code
            torch._native_multi_head_attention = native
    return run


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
        layer = torch.nn.MultiheadAttention(8, num_heads=1, batch_first=True)
        torch.nn.init.normal_(layer.in_proj_bias, std=0.5)
        tokens = torch.randn(2, 5, 8)
    learner = _without_the_layer(function) if callable(function) else function
    return run_cases(learner, "`attention_weights`", [(layer, tokens)], _judge_attention,
                     "Right: softmax(Q K^T / sqrt(d)) from the layer's own projections, the same numbers "
                     "need_weights=True returns.")
