"""utils.checks: the checks of notebook 08 (utils/checks/nb08.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.checks.answers import assert_fails, outcome
from utils import checks
from utils.analysis.adversarial import fgsm


def step(sign=-1, clip=True):
    def targeted_step(model, x, target, epsilon):
        x = x.clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), torch.full((len(x),), target))
        (gradient,) = torch.autograd.grad(loss, x)
        moved = (x + sign * epsilon * gradient.sign()).detach()
        return moved.clamp(-1, 1) if clip else moved
    return targeted_step


def test_targeted_step(capsys):
    assert outcome(capsys, checks.check_targeted_step(step()))[0]
    assert_fails(capsys, checks.check_targeted_step(step(sign=1)), "AWAY")
    assert_fails(capsys, checks.check_targeted_step(step(clip=False)), "clip")
    assert_fails(capsys, checks.check_targeted_step(lambda m, x, t, e: x + 2 * e), "more than epsilon")
    assert_fails(capsys, checks.check_targeted_step(lambda m, x, t, e: x[0]), "same shape")
    assert_fails(capsys, checks.check_targeted_step(None), "fill in")

    def in_place(model, x, target, epsilon):
        x.clamp_(-0.5, 0.5)
        return step()(model, x, target, epsilon)

    assert_fails(capsys, checks.check_targeted_step(in_place), "changed the tensor")


def test_explained_variance(capsys):
    def right(codes, directions):
        centred = codes - codes.mean(dim=0)
        return float(((centred @ directions.T) ** 2).sum() / (centred ** 2).sum())

    assert outcome(capsys, checks.check_explained_variance(right))[0]
    by_covariance = lambda c, d: float((d @ torch.cov(c.T) @ d.T).trace() / torch.cov(c.T).trace())  # noqa: E731
    assert outcome(capsys, checks.check_explained_variance(by_covariance))[0]
    uncentred = lambda c, d: float(((c @ d.T) ** 2).sum() / (c ** 2).sum())  # noqa: E731
    assert_fails(capsys, checks.check_explained_variance(uncentred), "centre")
    unsquared = lambda c, d: float(((c - c.mean(0)) @ d.T).abs().sum() / (c - c.mean(0)).abs().sum())  # noqa: E731
    assert_fails(capsys, checks.check_explained_variance(unsquared), "SQUARED")
    assert_fails(capsys, checks.check_explained_variance(lambda c, d: 100 * right(c, d)), "percentage")
    assert_fails(capsys, checks.check_explained_variance(lambda c, d: "half"), "one number")


def test_explained_variance_refuses_the_library_call(capsys):
    """scikit-learn's PCA hands over the first k components' share, whatever the directions: it must not pass."""
    from sklearn.decomposition import PCA

    library = lambda c, d: float(PCA(len(d)).fit(c.numpy()).explained_variance_ratio_.sum())  # noqa: E731
    assert_fails(capsys, checks.check_explained_variance(library), "GIVEN directions")


def test_flip_epsilon(capsys, trained, test_set):
    images = torch.stack([test_set[i][0] for i in range(6)])
    labels = torch.tensor([test_set[i][1] for i in range(6)])

    def right(model, image, label, epsilons):
        for epsilon in sorted(epsilons):
            moved = fgsm(model, image[None], [label], epsilon, bounds=(-1.0, 1.0))
            if int(model(moved).argmax(1)) != label:
                return epsilon
        return None

    assert outcome(capsys, checks.check_flip_epsilon(right, trained, images, labels))[0]

    def unsorted(model, image, label, epsilons):
        return right(model, image, label, [epsilons[0]]) or right(model, image, label, epsilons)

    assert_fails(capsys, checks.check_flip_epsilon(unsorted, trained, images, labels), "smallest")
    assert_fails(capsys, checks.check_flip_epsilon(lambda *a: 0.3, trained, images, labels), "")
    assert_fails(capsys, checks.check_flip_epsilon(None, trained, images, labels), "fill in")
