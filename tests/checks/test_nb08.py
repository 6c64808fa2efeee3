"""utils.checks: the checks of notebook 08 (utils/checks/nb08.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.checks.answers import assert_fails, outcome
from utils import checks
from utils.analysis.adversarial import fgsm


def steps(sign=-1, clip=True, ball=True, once=False, score=False, reduction="mean"):
    """A learner's targeted_steps, right by default, or with one of the mistakes the check names."""
    def targeted_steps(model, x, target, epsilon, count, step_size):
        moved, direction = x.clone(), None
        for _ in range(count):
            if direction is None or not once:
                copy = moved.clone().requires_grad_(True)
                output = model(copy)
                target_labels = torch.full((len(x),), target)
                loss = -output[:, target].sum() if score else F.cross_entropy(output, target_labels,
                                                                              reduction=reduction)
                (gradient,) = torch.autograd.grad(loss, copy)
                direction = gradient.sign()
            moved = moved + sign * step_size * direction
            moved = moved.clamp(x - epsilon, x + epsilon) if ball else moved
            moved = moved.clamp(-1, 1) if clip else moved
        return moved.detach()
    return targeted_steps


def test_targeted_steps(capsys):
    assert outcome(capsys, checks.check_targeted_step(steps()))[0]
    assert outcome(capsys, checks.check_targeted_step(steps(reduction="sum")))[0]
    assert_fails(capsys, checks.check_targeted_step(steps(sign=1)), "AWAY")
    assert_fails(capsys, checks.check_targeted_step(steps(clip=False)), "-1 .. 1")
    assert_fails(capsys, checks.check_targeted_step(steps(ball=False)), "plus or minus epsilon")
    assert_fails(capsys, checks.check_targeted_step(steps(once=True)), "gradient again")
    assert_fails(capsys, checks.check_targeted_step(steps(score=True)), "cross-entropy loss of `target`")
    assert_fails(capsys, checks.check_targeted_step(lambda m, x, t, e, n, s: x + 2 * e), "more than epsilon")
    assert_fails(capsys, checks.check_targeted_step(lambda m, x, t, e, n, s: x[0]), "same shape")
    assert_fails(capsys, checks.check_targeted_step(None), "fill in")

    def in_place(model, x, target, epsilon, count, step_size):
        x.clamp_(-0.5, 0.5)
        return steps()(model, x, target, epsilon, count, step_size)

    assert_fails(capsys, checks.check_targeted_step(in_place), "changed the tensor")


def test_targeted_steps_refuses_the_library_fgsm(capsys):
    """The notebook shows FGSM by hand, so the library's fgsm, turned round, must not pass (the expert's answer)."""
    def turned_round(model, x, target, epsilon, count, step_size):
        return (2 * x - fgsm(model, x, torch.full((len(x),), target), epsilon)).clamp(-1, 1)

    assert_fails(capsys, checks.check_targeted_step(turned_round), "fgsm")

    def through_a_helper(model, x, target, epsilon, count, step_size):
        import utils.analysis.adversarial as adversarial  # reached at run time, where reading the code cannot see it
        return getattr(adversarial, "fg" + "sm")(model, x, torch.full((len(x),), target), -step_size)

    assert_fails(capsys, checks.check_targeted_step(through_a_helper), "fgsm")


def test_targeted_steps_refuses_captum(capsys):
    """Third read: Captum's PGD and FGSM passed the check whose text refuses Captum."""
    pytest.importorskip("captum")
    from torch.nn import CrossEntropyLoss

    def attack(model, x, target, epsilon, count, step_size):
        import captum.robust as robust

        pgd = robust.PGD(model, loss_func=CrossEntropyLoss(reduction="none"), lower_bound=-1, upper_bound=1)
        pgd.fgsm.zero_thresh = 0
        return pgd.perturb(x, radius=epsilon, step_size=step_size, step_num=count,
                           target=torch.full((len(x),), target), targeted=True, norm="Linf")

    def by_class(model, x, target, epsilon, count, step_size):
        from captum.robust import FGSM as Step

        step, moved = Step(model, lower_bound=-1, upper_bound=1), x
        for _ in range(count):
            moved = step.perturb(moved, step_size, torch.full((len(x),), target), targeted=True)
        return torch.max(torch.min(moved, x + epsilon), x - epsilon)

    import captum.robust

    aliased = captum.robust.FGSM

    def through_a_global(model, x, target, epsilon, count, step_size):
        return aliased(model).perturb(x, step_size, torch.full((len(x),), target), targeted=True)

    for route, name in ((attack, "captum"), (by_class, "captum"), (through_a_global, "FGSM")):
        assert_fails(capsys, checks.check_targeted_step(route), f"`{name}`")


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
