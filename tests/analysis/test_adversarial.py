"""utils.analysis.adversarial: FGSM against Captum's FGSM, by its definition, and its bad-input errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils.analysis.adversarial import fgsm

captum_robust = pytest.importorskip("captum.robust")


def captum_fgsm(model, x, labels, epsilon, bounds=(float("-inf"), float("inf")), targeted=False):
    attack = captum_robust.FGSM(model, loss_func=nn.CrossEntropyLoss(reduction="none"), lower_bound=bounds[0],
                                upper_bound=bounds[1])
    attack.zero_thresh = 0.0  # Captum leaves pixels whose gradient is below 1e-6 unmoved; FGSM's definition does not
    return attack.perturb(x.clone(), epsilon, target=labels, targeted=targeted)


@pytest.mark.parametrize("epsilon, bounds", [(0.1, (-1.0, 1.0)), (0.25, None), (0.0, (-1.0, 1.0))])
def test_matches_captum_fgsm(trained, real_digits, test_set, epsilon, bounds):
    labels = torch.tensor([test_set[i][1] for i in range(len(real_digits))])
    reference = captum_fgsm(trained, real_digits, labels, epsilon, bounds or (float("-inf"), float("inf")))
    ours = fgsm(trained, real_digits, labels, epsilon, bounds=bounds)
    assert torch.equal(ours, reference)


def test_on_an_untrained_model_too(cnn, real_digits):
    labels = [3] * len(real_digits)
    assert torch.equal(fgsm(cnn, real_digits, labels, 0.2), captum_fgsm(cnn, real_digits, torch.tensor(labels), 0.2))


def test_every_pixel_with_a_gradient_moves_by_epsilon_and_the_loss_rises(trained, real_digits, test_set):
    labels = torch.tensor([test_set[i][1] for i in range(len(real_digits))])
    moved = fgsm(trained, real_digits, labels, 0.05)
    x = real_digits.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(nn.functional.cross_entropy(trained(x), labels, reduction="sum"), x)
    assert torch.allclose(moved - real_digits, 0.05 * gradient.sign())
    assert (gradient != 0).float().mean() > 0.9  # the pixels no window of a live unit sees stay as they were
    loss = nn.CrossEntropyLoss(reduction="none")
    with torch.no_grad():
        assert bool((loss(trained(moved), labels) > loss(trained(real_digits), labels)).all())


def test_labels_none_attacks_the_predicted_class_and_leaves_things_as_they_were(trained, real_digits):
    x = real_digits.clone()
    trained.train()
    try:
        predicted = trained.eval()(x).argmax(1)
        trained.train()
        assert torch.equal(fgsm(trained, x, epsilon=0.1), fgsm(trained, x, predicted, 0.1))
        assert trained.training and all(p.grad is None for p in trained.parameters())
    finally:
        trained.eval()
    assert torch.equal(x, real_digits)


def test_bounds_clip_the_result(trained, real_digits):
    moved = fgsm(trained, real_digits, epsilon=0.5, bounds=(-1.0, 1.0))
    assert moved.min() >= -1 and moved.max() <= 1


@pytest.mark.parametrize("kwargs, error, words", [
    ({"epsilon": -0.1}, ValueError, "epsilon must be a number from 0"),
    ({"epsilon": "0.1"}, ValueError, "epsilon must be a number from 0"),
    ({"bounds": (1, -1)}, ValueError, "bounds must be (low, high)"),
    ({"labels": 10}, ValueError, "out of range"),
    ({"labels": "three"}, TypeError, "classes are numbered"),
])
def test_bad_arguments_say_what_to_pass(trained, real_digits, kwargs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        fgsm(trained, real_digits, **kwargs)


def test_a_single_image_without_batch_dimension_is_refused_with_the_fix(trained, real_digits):
    with pytest.raises(ValueError, match="unsqueeze"):
        fgsm(trained, real_digits[0], epsilon=0.1)
