"""utils.checks: the checks of notebook 07 (utils/checks/nb07.py)."""

from __future__ import annotations

import math

import torch

from tests.checks.answers import assert_fails, outcome
from utils import checks


def test_linear_saliency(capsys):
    assert outcome(capsys, checks.check_linear_saliency(lambda w, t: w[t].abs().reshape(28, 28)))[0]

    def by_autograd(weight, target):  # the general way gives the same answer
        x = torch.zeros(784, requires_grad=True)
        (weight @ x)[target].backward()
        return x.grad.abs().reshape(28, 28)

    assert outcome(capsys, checks.check_linear_saliency(by_autograd))[0]
    assert_fails(capsys, checks.check_linear_saliency(lambda w, t: w[t].reshape(28, 28)), "absolute")
    assert_fails(capsys, checks.check_linear_saliency(lambda w, t: w[t].abs().reshape(28, 28).T), "transposed")
    assert_fails(capsys, checks.check_linear_saliency(lambda w, t: w.abs().sum(0).reshape(28, 28)), "row")
    assert_fails(capsys, checks.check_linear_saliency(lambda w, t: w[:, t].abs()), "shape")


def test_correlation(capsys):
    def right(a, b):
        a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
        return (a * b).sum() / (a.norm() * b.norm())

    assert outcome(capsys, checks.check_correlation(right))[0]
    numpy_way = lambda a, b: float(__import__("numpy").corrcoef(a.flatten(), b.flatten())[0, 1])  # noqa: E731
    assert outcome(capsys, checks.check_correlation(numpy_way))[0]
    cosine = lambda a, b: (a.flatten() @ b.flatten()) / (a.norm() * b.norm())  # noqa: E731
    assert_fails(capsys, checks.check_correlation(cosine), "cosine")
    assert_fails(capsys, checks.check_correlation(lambda a, b: abs(right(a, b))), "sign")
    covariance = lambda a, b: ((a - a.mean()) * (b - b.mean())).mean()  # noqa: E731
    assert_fails(capsys, checks.check_correlation(covariance), "correlation")
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
