"""utils.checks: the checks of notebook 07 (utils/checks/nb07.py)."""

from __future__ import annotations

import math

import numpy
import pytest
import torch

from tests.checks.answers import assert_fails, outcome
from utils import checks
from utils.checks.core import calls_any
from utils.checks.nb07 import _AUTOGRAD_NAMES, _correlation_cases


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


def _x_from_p(weight, p):
    """An input whose linear classifier gives the probabilities p (logits log p, up to a constant): least squares."""
    return torch.linalg.lstsq(weight, p.log()[:, None]).solution[:, 0]


def _autograd_at_x(weight, p, target):
    """The expert's first route: rebuild an x, then autograd through the softmax."""
    x = _x_from_p(weight, p).requires_grad_(True)
    (grad,) = torch.autograd.grad((weight @ x).softmax(0)[target], x)
    return grad.abs().reshape(28, 28)


def _autograd_at_logits(weight, p, target):
    """The expert's second route: autograd of softmax(z)[target] at z = log p, then the chain rule's last step."""
    z = p.log().requires_grad_(True)
    z.softmax(0)[target].backward()
    return (z.grad @ weight).abs().reshape(28, 28)


def _forward_mode(weight, p, target):
    """Forward-mode autograd: one dual number per logit."""
    z, tangents = p.log(), []
    with torch.autograd.forward_ad.dual_level():
        for k in range(10):
            dual = torch.autograd.forward_ad.make_dual(z, torch.eye(10)[k])
            tangents.append(torch.autograd.forward_ad.unpack_dual(dual.softmax(0)[target]).tangent)
    return (torch.stack(tangents) @ weight).abs().reshape(28, 28)


def _graph_node(weight, p, target):
    """The softmax's graph node called by hand, without .backward()."""
    z = p.log().requires_grad_(True)
    out = z.softmax(0)[target]
    softmax_node = out.grad_fn.next_functions[0][0]
    return (softmax_node(out.grad_fn(torch.tensor(1.0))) @ weight).abs().reshape(28, 28)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")  # torch's forward mode, first use
def test_linear_saliency_refuses_autograd(capsys):
    """Given p, autograd can still differentiate a softmax rebuilt from it: the check refuses autograd, by name in
    the learner's code and, through a helper or a default argument, while it runs; autograd works again after."""
    weight, p = torch.randn(10, 784) * 0.05, torch.randn(10).softmax(0)
    routes = [_autograd_at_x, _autograd_at_logits, _forward_mode]
    for route in routes:  # each is right outside the check
        assert torch.allclose(route(weight, p, 3), _by_hand(weight, p, 3), rtol=1e-3, atol=1e-6), route.__name__
    assert torch.allclose(_graph_node(weight, p, 3), _by_hand(weight, p, 3), rtol=1e-3, atol=1e-6)
    by_name = [_autograd_at_x, _autograd_at_logits, _forward_mode,
               lambda w, p, t: torch.func.grad(lambda z: z.softmax(0)[t])(p.log()) @ w]
    for route in by_name:
        assert_fails(capsys, checks.check_linear_saliency(route), "refuses autograd")
    helpers = [lambda w, p, t: _autograd_at_x(w, p, t), lambda w, p, t: _autograd_at_logits(w, p, t),
               lambda w, p, t: _forward_mode(w, p, t)]

    def default_argument(w, p, t, derivative=torch.autograd.grad):
        z = p.log().requires_grad_(True)
        return (derivative(z.softmax(0)[t], z)[0] @ w).abs().reshape(28, 28)

    assert torch.allclose(default_argument(weight, p, 3), _by_hand(weight, p, 3), rtol=1e-3, atol=1e-6)
    for route in [*helpers, default_argument]:  # no autograd name in their code: refused while they run
        assert calls_any(route, _AUTOGRAD_NAMES) is None
        assert_fails(capsys, checks.check_linear_saliency(route), "refuses autograd")
    for route in (_graph_node, lambda w, p, t: _graph_node(w, p, t)):  # grad_fn is no library object to refuse
        ok, _ = outcome(capsys, checks.check_linear_saliency(route))
        assert not ok  # but there is no graph: the function runs without gradients
    for route in routes:  # put back
        assert torch.allclose(route(weight, p, 3), _by_hand(weight, p, 3), rtol=1e-3, atol=1e-6), route.__name__


def test_linear_saliency_hint_keeps_the_derivation(capsys):
    """A wrong map is told what to differentiate, not the derivatives themselves."""
    ok, message = outcome(capsys, checks.check_linear_saliency(lambda w, p, t: torch.zeros(28, 28)))
    assert not ok and "chain rule" in message
    assert "1[k" not in message and "weight[k]" not in message and "p_t" not in message, message
    by_x = lambda weight, bias, x, target: x.abs()  # noqa: E731  (the signature of an older version: x given)
    assert_fails(capsys, checks.check_linear_saliency(by_x), "raised TypeError")


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


def test_correlation_refuses_scipy(capsys):
    """The exercise ranks by hand: scipy's Spearman correlation and ranks, right outside the check, are refused in
    it however the learner's function reaches them (module attribute, a name imported before, a default argument),
    and work again after."""
    scipy_stats = pytest.importorskip("scipy.stats")
    from scipy.stats import rankdata, spearmanr
    from scipy.stats.mstats import spearmanr as masked_spearmanr

    def by_ranks(a, b, rank=rankdata):
        return float(numpy.corrcoef(rank(a.flatten()), rank(b.flatten()))[0, 1])

    routes = [lambda a, b: float(scipy_stats.spearmanr(a.flatten(), b.flatten())[0]),  # the expert's route
              lambda a, b: float(spearmanr(a.flatten(), b.flatten())[0]),
              lambda a, b: float(masked_spearmanr(a.flatten(), b.flatten())[0]), by_ranks]
    a, b = _correlation_cases()[2]
    ranks = torch.stack([a.flatten().argsort().argsort(), b.flatten().argsort().argsort()]).double()
    expected = float(torch.corrcoef(ranks)[0, 1])
    for route in routes:
        assert abs(route(a, b) - expected) < 1e-6  # right outside the check
        assert_fails(capsys, checks.check_correlation(route), "refuses scipy's spearmanr and rankdata")
    for route in routes:  # put back
        assert abs(route(a, b) - expected) < 1e-6


def test_linear_saliency_success_keeps_the_why(capsys):
    """Exercise 1 asks why the probability's saliency depends on x: the success message asks it, not answers it."""
    ok, message = outcome(capsys, checks.check_linear_saliency(_by_hand))
    assert ok and "Why?" in message and "depends on x" not in message, message


def test_correlation_cases_have_no_ties():
    """The exercise tells the learner the check's maps have no ties: every value of every map is unique."""
    for a, b in _correlation_cases():
        for values in (a, b):
            assert values.flatten().unique().numel() == values.numel()


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

    def native(layer, t, op=torch.ops.aten._native_multi_head_attention):  # the operator, bound in advance
        return op(t, t, t, 8, 1, layer.in_proj_weight, layer.in_proj_bias, layer.out_proj.weight,
                  layer.out_proj.bias, None, True, True)[1]

    def through(operator):  # a helper: no forbidden name in the learner's own code
        return lambda layer, t: operator(t, t, t, 8, 1, layer.in_proj_weight, layer.in_proj_bias,
                                         layer.out_proj.weight, layer.out_proj.bias, None, True, True)[1]

    aten = torch.ops.aten._native_multi_head_attention
    bypasses = [lambda layer, t: layer(t, t, t)[1],
                lambda layer, t: torch.nn.MultiheadAttention.forward(layer, t, t, t, need_weights=True)[1],
                functional, native, through(aten), through(aten.default), through(torch._native_multi_head_attention),
                lambda layer, t: torch.ops.aten._native_multi_head_attention(
                    t, t, t, 8, 1, layer.in_proj_weight, layer.in_proj_bias, layer.out_proj.weight,
                    layer.out_proj.bias, None, True, True)[1]]
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
