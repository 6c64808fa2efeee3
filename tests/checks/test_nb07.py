"""utils.checks: the checks of notebook 07 (utils/checks/nb07.py)."""

from __future__ import annotations

import math

import torch

from tests.checks.answers import assert_fails, outcome
from utils import checks


def _by_hand(weight, p, target):
    return (p[target] * (weight[target] - p @ weight)).abs().reshape(28, 28)


def test_linear_saliency(capsys):
    assert outcome(capsys, checks.check_linear_saliency(_by_hand))[0]
    logit = lambda w, p, t: w[t].abs().reshape(28, 28)  # noqa: E731
    assert_fails(capsys, checks.check_linear_saliency(logit), "LOGIT")
    assert_fails(capsys, checks.check_linear_saliency(lambda w, p, t: _by_hand(w, p, t).T), "transposed")
    signed = lambda w, p, t: (p[t] * (w[t] - p @ w)).reshape(28, 28)  # noqa: E731
    assert_fails(capsys, checks.check_linear_saliency(signed), "SIZE")
    no_factor = lambda w, p, t: (w[t] - p @ w).abs().reshape(28, 28)  # noqa: E731
    assert_fails(capsys, checks.check_linear_saliency(no_factor), "factor p[target]")
    assert_fails(capsys, checks.check_linear_saliency(lambda w, p, t: w[t].reshape(28, 28)), "not |d p")


def test_linear_saliency_gives_autograd_nothing_to_differentiate(capsys):
    """The exercise's function gets the probabilities, not x: the old signature, written for autograd, fails."""
    def by_autograd(weight, bias, x, target):
        x = x.clone().requires_grad_(True)
        return torch.func.grad(lambda v: (weight @ v.flatten() + bias).softmax(0)[target])(x).abs()

    assert_fails(capsys, checks.check_linear_saliency(by_autograd), "raised TypeError")
    by_p = lambda w, p, t: torch.func.grad(lambda q: (q * 0).sum())(p).reshape(1, 10)  # noqa: E731
    assert_fails(capsys, checks.check_linear_saliency(by_p), "shape")


def test_correlation(capsys):
    def pearson(a, b):
        a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
        return (a * b).sum() / (a.norm() * b.norm())

    def right(a, b):
        return pearson(a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double())

    assert outcome(capsys, checks.check_correlation(right))[0]
    assert_fails(capsys, checks.check_correlation(pearson), "rank")
    once = lambda a, b: pearson(a.flatten().argsort().double(), b.flatten().argsort().double())  # noqa: E731
    assert_fails(capsys, checks.check_correlation(once), "argsort the argsort")
    assert_fails(capsys, checks.check_correlation(lambda a, b: abs(right(a, b))), "sign")
    per_row = lambda a, b: torch.stack([right(x, y) for x, y in zip(a, b)])  # noqa: E731
    assert_fails(capsys, checks.check_correlation(per_row), "ONE correlation")


def test_attention_weights(capsys):
    def right(layer, tokens):
        w_q, w_k, _ = layer.in_proj_weight.chunk(3)
        b_q, b_k, _ = layer.in_proj_bias.chunk(3)
        q, k = tokens @ w_q.T + b_q, tokens @ w_k.T + b_k
        return (q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])).softmax(-1)

    assert outcome(capsys, checks.check_attention_weights(right))[0]
    from torch.nn.functional import multi_head_attention_forward  # imported before the check: refused all the same

    def functional(layer, t):
        t = t.transpose(0, 1)
        return multi_head_attention_forward(t, t, t, 8, 1, layer.in_proj_weight, layer.in_proj_bias, None, None,
                                            False, 0.0, layer.out_proj.weight, layer.out_proj.bias,
                                            training=False)[1]

    bypasses = [lambda layer, t: layer(t, t, t)[1],
                lambda layer, t: torch.nn.MultiheadAttention.forward(layer, t, t, t, need_weights=True)[1],
                functional]
    layer = torch.nn.MultiheadAttention(8, num_heads=1, batch_first=True)
    tokens = torch.randn(2, 5, 8)
    for bypass in bypasses:
        assert torch.allclose(bypass(layer, tokens), right(layer, tokens), atol=1e-6)  # right outside the check
        ok, message = outcome(capsys, checks.check_attention_weights(bypass))
        assert not ok and "in_proj_weight" in message
    assert torch.allclose(bypasses[0](layer, tokens), right(layer, tokens), atol=1e-6)  # the layer works again

    def variant(scale=True, dim=-1, transpose=False, bias=True):
        def weights(layer, tokens):
            w_q, w_k, _ = layer.in_proj_weight.chunk(3)
            b_q, b_k, _ = layer.in_proj_bias.chunk(3)
            q, k = tokens @ w_q.T + bias * b_q, tokens @ w_k.T + bias * b_k
            scores = (k @ q.transpose(1, 2)) if transpose else (q @ k.transpose(1, 2))
            return (scores / (math.sqrt(q.shape[-1]) if scale else 1)).softmax(dim)
        return weights

    assert_fails(capsys, checks.check_attention_weights(variant(scale=False)), "sqrt(d)")
    assert_fails(capsys, checks.check_attention_weights(variant(dim=1)), "last dimension")
    assert_fails(capsys, checks.check_attention_weights(variant(transpose=True)), "not K Q^T")
    assert_fails(capsys, checks.check_attention_weights(variant(bias=False)), "bias")
    assert_fails(capsys, checks.check_attention_weights(lambda layer, t: t[..., :4]), "shape")
