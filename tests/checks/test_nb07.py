"""utils.checks: the checks of notebook 07 (utils/checks/nb07.py)."""

from __future__ import annotations

import math

import torch

from tests.checks.answers import assert_fails, outcome
from utils import checks, saliency


def _by_hand(weight, bias, x, target):
    p = (weight @ x.flatten() + bias).softmax(0)
    return (p[target] * (weight[target] - p @ weight)).abs().reshape(28, 28)


def test_linear_saliency(capsys):
    assert outcome(capsys, checks.check_linear_saliency(_by_hand))[0]
    logit = lambda w, b, x, t: w[t].abs().reshape(28, 28)  # noqa: E731
    assert_fails(capsys, checks.check_linear_saliency(logit), "LOGIT")
    assert_fails(capsys, checks.check_linear_saliency(lambda w, b, x, t: _by_hand(w, b, x, t).T), "transposed")

    def signed(weight, bias, x, target):
        p = (weight @ x.flatten() + bias).softmax(0)
        return (p[target] * (weight[target] - p @ weight)).reshape(28, 28)

    assert_fails(capsys, checks.check_linear_saliency(signed), "SIZE")
    assert_fails(capsys, checks.check_linear_saliency(lambda w, b, x, t: w[t].reshape(28, 28)), "not |d p")


def test_linear_saliency_refuses_autograd(capsys):
    """The exercise says by hand: neither backward() nor utils' saliency passes the check."""
    def by_backward(weight, bias, x, target):
        x = x.clone().requires_grad_(True)
        (weight @ x.flatten() + bias).softmax(0)[target].backward()
        return x.grad.abs()

    def by_saliency(weight, bias, x, target):
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10), torch.nn.Softmax(dim=1))
        with torch.no_grad():
            model[1].weight.copy_(weight)
            model[1].bias.copy_(bias)
        return saliency(model, x[None, None], target)[0]

    weight, bias, x = torch.randn(10, 784) * 0.05, torch.randn(10), torch.rand(28, 28)
    assert torch.allclose(by_backward(weight, bias, x, 3), _by_hand(weight, bias, x, 3), atol=1e-7)
    assert torch.allclose(by_saliency(weight, bias, x, 3), _by_hand(weight, bias, x, 3), atol=1e-7)
    for bypass in (by_backward, by_saliency):
        assert_fails(capsys, checks.check_linear_saliency(bypass), "without autograd")


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
    ok, message = outcome(capsys, checks.check_attention_weights(lambda layer, t: layer(t, t, t)[1]))
    assert not ok and "in_proj_weight" in message

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
