"""Checks for notebook 07, Beyond feature maps: a probability's saliency by the chain rule (autograd refused), a rank
correlation (scipy's refused), attention weights by hand (the layer and the functions behind it refused)."""

from __future__ import annotations

import contextlib
import importlib
import re
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.autograd.forward_ad
import torch.autograd.graph

from .by_hand import ByHandError, RefusingOperators
from .core import CheckResult, as_number, calls_any, fail, run_cases

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
    return ("not |d p[target] / d x|: write p[target] as a function of the logits z = weight @ x + bias, and "
            "differentiate it with respect to x through z, by the chain rule.")


_REFUSED = "switched off while the exercise's check runs"


def _refuse(*args: Any, **kwargs: Any) -> Any:
    """The code a switched-off function runs instead of its own: it runs in that function's module, so it may use
    builtins only."""
    raise RuntimeError("switched off while the exercise's check runs")


@contextlib.contextmanager
def _refusing(functions: list[Callable[..., Any]], operators: re.Pattern[str] | None, message: str
              ) -> Iterator[None]:
    """While the block runs, each of `functions` (Python functions) refuses: their code objects are swapped, so a
    name bound to one earlier (an import, a default argument, a closure) refuses too; so do the ATen operators whose
    names `operators` matches, at the dispatcher (by_hand.RefusingOperators). Either way the learner's function
    raises RuntimeError(message)."""
    codes = [f.__code__ for f in functions]
    try:
        for f in functions:
            f.__code__ = _refuse.__code__
        with RefusingOperators(operators) if operators else contextlib.nullcontext():
            yield
    except RuntimeError as error:
        if error.args == (_REFUSED,) or isinstance(error, ByHandError):
            raise RuntimeError(message) from None
        raise
    finally:
        for f, code in zip(functions, codes):
            f.__code__ = code


def _guarded(function: object, functions: list[Callable[..., Any]], operators: re.Pattern[str] | None,
             message: str) -> object:
    """The learner's function, run inside `_refusing` (anything else is passed on for run_cases to report)."""
    if not callable(function):
        return function

    def run(*args: Any) -> Any:
        with _refusing(functions, operators, message):
            return function(*args)
    return run


# Autograd, every way in a learner's function could take: by name in its code (read before it runs: torch.autograd,
# .backward(), torch.func, a graph node's grad_fn, switching gradients back on) and, while it runs, the Python
# functions every backward and forward-mode derivative goes through, and the operator behind make_dual; and it runs
# under no_grad, so that no graph is recorded to call by hand.
_AUTOGRAD_NAMES = ("autograd", "backward", "grad", "grad_fn", "func", "functorch", "jacobian", "hessian", "jacrev",
                   "jacfwd", "vjp", "jvp", "make_dual", "_make_dual", "run_backward", "_execution_engine",
                   "enable_grad", "set_grad_enabled", "_set_grad_enabled")
_NO_AUTOGRAD = ("the check refuses autograd (torch.autograd, .backward(), torch.func) in `linear_saliency`: work "
                "the derivative out with the chain rule and write the formula; test it against autograd outside "
                "the check.")


def _without_autograd(function: object) -> object:
    """The learner's function, run without gradients and with autograd's entry points refusing."""
    functions: list[Callable[..., Any]] = [torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward,
                                           torch.autograd.forward_ad.make_dual]
    engine = getattr(torch.autograd.graph, "_engine_run_backward", None)  # what grad and backward call (torch 2.3+)
    functions += [engine] if engine is not None else []
    guarded = _guarded(function, functions, re.compile(r"^_make_dual$"), _NO_AUTOGRAD)
    if not callable(guarded):
        return guarded

    def run(*args: Any) -> Any:
        with torch.no_grad():
            return guarded(*args)
    return run


def check_linear_saliency(function: Callable[..., torch.Tensor]) -> CheckResult:
    """Exercise 07.1: linear_saliency(weight, p, target) -> the (28, 28) map |d p[target] / d x| of the
    probability p = softmax(weight @ x.flatten() + bias), weight (10, 784), from the weights and the probabilities
    p (10,) alone. The formula has to be worked out: the check refuses a function that uses autograd (by name, and
    while it runs), since autograd through a softmax rebuilt from p would give the same numbers. Its message on
    success does not answer the exercise's question (why this map depends on x).

    >>> def by_hand(weight, p, target):
    ...     return (p[target] * (weight[target] - p @ weight)).abs().reshape(28, 28)
    >>> bool(check_linear_saliency(by_hand))  # doctest: +ELLIPSIS
    ✓ Right: ...
    True
    """
    generator = torch.Generator().manual_seed(7)
    weight = torch.randn(10, 784, generator=generator) * 0.05
    probabilities = [(torch.randn(10, generator=generator) * 2).softmax(0) for _ in range(2)]
    used = calls_any(function, _AUTOGRAD_NAMES) if callable(function) else None
    if used:
        return fail(f"your `linear_saliency` uses `{used}`; {_NO_AUTOGRAD}")
    return run_cases(_without_autograd(function), "`linear_saliency`",
                     [(weight, probabilities[0], 3), (weight, probabilities[1], 3), (weight, probabilities[0], 8)],
                     _judge_saliency,
                     "Right: p_t (w_t - sum_k p_k w_k). Now the exercise's question: the logit's saliency is the "
                     "same for every input, this one is not. Why?")


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


def _correlation_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The pairs of maps check_correlation gives: float64, so that no value repeats within a map (float32 gave
    a + noise one tie) and every rank is unique, as the exercise promises."""
    generator = torch.Generator().manual_seed(7)
    a = torch.rand(2, 28, 28, generator=generator, dtype=torch.float64)
    noise = torch.rand(2, 28, 28, generator=generator, dtype=torch.float64)
    return [(a, b) for b in ((5 * a).exp(), -a, a + noise, noise)]


# Spearman's correlation and ranks ready-made: scipy's (installed with scikit-learn). The exercise builds them.
_NO_READY_MADE = ("the check refuses scipy's spearmanr and rankdata in `correlation`: rank each map's values "
                  "yourself with tensor operations, then correlate the ranks.")


def _scipy_ranking() -> list[Callable[..., Any]]:
    """scipy.stats' and scipy.stats.mstats' spearmanr and rankdata, the functions themselves, so that `_refusing`
    can switch them off whatever name reaches them; none where scipy is not installed."""
    try:
        spaces = [importlib.import_module(name) for name in ("scipy.stats", "scipy.stats.mstats")]
    except ImportError:
        return []
    found = [getattr(space, name, None) for space in spaces for name in ("spearmanr", "rankdata")]
    return [f for f in found if isinstance(f, types.FunctionType) and not f.__code__.co_freevars]  # swappable


def check_correlation(function: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """Exercise 07.2: correlation(a, b) -> the Spearman rank correlation of two maps of the same shape (the
    Pearson correlation of their values' ranks), one number, with the ranks computed by the learner: scipy's
    spearmanr and rankdata refuse to run while the check does.

    >>> def ranked(a, b):
    ...     a, b = a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double()
    ...     return float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    >>> bool(check_correlation(ranked))  # doctest: +ELLIPSIS
    ✓ Right: ...
    True
    """
    return run_cases(_guarded(function, _scipy_ranking(), None, _NO_READY_MADE), "`correlation`", _correlation_cases(),
                     _judge_correlation,
                     "Right: 1 for any increasing function of the map (not only a scaled copy), -1 for the "
                     "negative, near 0 for unrelated noise.")


# The layer, the Python function behind it, and the operator its fast path calls (torch._native_multi_head_attention,
# torch.ops.aten._native_multi_head_attention and its .default overload): by name in the learner's code, and while
# it runs.
_ATTENTION_NAMES = ("multi_head_attention_forward", "_native_multi_head_attention",
                    "_native_multi_head_attention.default")
_NO_ATTENTION = ("compute the weights from layer.in_proj_weight and layer.in_proj_bias; calling the layer, or the "
                 "functions behind it, is not the exercise")


def _without_the_layer(function: object) -> object:
    """The learner's function, run while nn.MultiheadAttention.forward, F.multi_head_attention_forward and the
    operator of their fast path refuse to run."""
    return _guarded(function, [torch.nn.MultiheadAttention.forward, torch.nn.functional.multi_head_attention_forward],
                    re.compile(r"^_native_multi_head_attention$"), _NO_ATTENTION)


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
    used = calls_any(function, _ATTENTION_NAMES) if callable(function) else None
    if used:
        return fail(f"your `attention_weights` calls `{used}`: {_NO_ATTENTION}.")
    return run_cases(_without_the_layer(function), "`attention_weights`", [(layer, tokens)], _judge_attention,
                     "Right: softmax(Q K^T / sqrt(d)) from the layer's own projections, the same numbers "
                     "need_weights=True returns.")
