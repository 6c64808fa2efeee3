"""utils.analysis.attribution: saliency and Grad-CAM against hand computations, target handling, and that both leave the
model, its gradients, its hooks and the input exactly as they were."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import grad_cam, saliency
from utils.capturing.layers import find_layer


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


@pytest.fixture
def digits() -> torch.Tensor:
    return torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def reference_grad_cam(model: nn.Module, x: torch.Tensor, layer: str, targets: list[int],
                       after_relu: bool = False) -> torch.Tensor:
    """Grad-CAM the textbook way, one sample at a time: a forward hook keeps the layer's output, a tensor hook its
    gradient during backward(), on a copy of the model (backward fills .grad there, not in the model under test)."""
    model = copy.deepcopy(model).eval()
    stored = {}

    def keep(module, args, output):
        stored["maps"] = output
        output.register_hook(lambda grad: stored.__setitem__("grad", grad))

    handle = dict(model.named_modules())[layer].register_forward_hook(keep)
    cams = []
    for i, target in enumerate(targets):
        model.zero_grad()
        model(x[i:i + 1])[0, target].backward()
        maps, grad = stored["maps"][0].detach(), stored["grad"][0]
        if after_relu:
            maps = torch.relu(maps)  # what F.relu in SimpleCNN.forward passes on to the next layer
        weights = [grad[c].mean() for c in range(len(grad))]
        cam = torch.relu(sum(w * m for w, m in zip(weights, maps)))
        cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        cams.append((cam - cam.min()) / (cam.max() - cam.min()))
    handle.remove()
    return torch.stack(cams)


def reference_saliency(model: nn.Module, x: torch.Tensor, targets: list[int]) -> torch.Tensor:
    model = copy.deepcopy(model).eval()
    maps = []
    for i, target in enumerate(targets):
        one = x[i:i + 1].clone().requires_grad_(True)
        model(one)[0, target].backward()
        maps.append(one.grad[0].abs().amax(dim=0))
    return torch.stack(maps)


# --- Shapes, ranges, agreement with hand computations ------------------------------------------------------------

def test_shapes_and_ranges(trained, real_digits):
    sal = saliency(trained, real_digits)
    cam = grad_cam(trained, real_digits, "conv2")
    assert sal.shape == cam.shape == (8, 28, 28)
    assert sal.dtype == cam.dtype == torch.float32
    assert not sal.requires_grad and not cam.requires_grad
    assert bool((sal >= 0).all()) and bool(sal.amax(dim=(1, 2)).gt(0).all())
    assert bool((cam >= 0).all()) and bool((cam <= 1).all())
    assert torch.allclose(cam.amax(dim=(1, 2)), torch.ones(8)) and torch.allclose(cam.amin(dim=(1, 2)), torch.zeros(8))


def test_saliency_of_a_linear_model_is_the_absolute_weight():
    torch.manual_seed(2)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 6))
    x = torch.randn(2, 3, 4, 5)
    maps = saliency(linear, x, target=[4, 1])
    weight = linear[1].weight.detach().abs().reshape(6, 3, 4, 5)
    assert torch.equal(maps[0], weight[4].amax(dim=0))  # the largest over the three input channels
    assert torch.equal(maps[1], weight[1].amax(dim=0))


def test_saliency_matches_backward_by_hand(trained, real_digits):
    targets = [3, 0, 9, 2, 7, 7, 1, 5]
    expected = reference_saliency(trained, real_digits, targets)
    assert torch.allclose(saliency(trained, real_digits, targets), expected, atol=1e-6)


@pytest.mark.parametrize("layer, after_relu", [("conv2", True), ("conv1", True), ("conv2", False)])
def test_grad_cam_matches_hooks_by_hand(trained, real_digits, layer, after_relu):
    targets = trained(real_digits).argmax(1).tolist()
    expected = reference_grad_cam(trained, real_digits, layer, targets, after_relu)
    cam = grad_cam(trained, real_digits, layer, placement="stretch", after_relu=after_relu)
    assert torch.allclose(cam, expected, atol=1e-5)


def test_after_relu_matters_for_signed_maps_only(trained, real_digits):
    signed = grad_cam(trained, real_digits, "conv2")
    assert not torch.allclose(grad_cam(trained, real_digits, "conv2", after_relu=True), signed, atol=1e-3)
    post_relu = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 3))
    assert torch.equal(grad_cam(post_relu, real_digits, "1"), grad_cam(post_relu, real_digits, "1", after_relu=False))


def test_naming_the_relu_module_is_not_after_relu_on_the_conv(real_digits):
    """The docstring's third variant: the gradient after the ReLU is zero where the map was negative."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 24 * 24, 3))
    at_relu = grad_cam(model, real_digits, "3")
    assert not torch.allclose(at_relu, grad_cam(model, real_digits, "2", after_relu=True), atol=1e-2)


def test_grad_cam_is_computed_per_sample(trained, real_digits):
    batch = grad_cam(trained, real_digits, "conv2", target=4)
    alone = torch.cat([grad_cam(trained, real_digits[i:i + 1], "conv2", target=4) for i in range(8)])
    assert torch.allclose(batch, alone, atol=1e-5)


@pytest.mark.parametrize("after_relu", [True, False])
def test_grad_cam_without_resizing_is_the_relu_of_the_weighted_maps(after_relu):
    torch.manual_seed(3)
    conv = nn.Conv2d(1, 4, 3, padding=1)  # output 6x6 like the input: the upsampling changes nothing
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x = torch.randn(1, 1, 6, 6)
    maps = conv(x)[0].detach()
    maps = maps.relu() if after_relu else maps
    weights = model[2].weight[1].detach().reshape(4, 6, 6).mean(dim=(1, 2))  # d score / d maps, averaged
    cam = torch.relu((weights[:, None, None] * maps).sum(0))
    cam = (cam - cam.min()) / (cam.max() - cam.min())
    assert torch.allclose(grad_cam(model, x, "0", target=1, after_relu=after_relu)[0], cam, atol=1e-6)


# --- Targets -----------------------------------------------------------------------------------------------------

def test_target_none_is_the_predicted_class(trained, real_digits):
    predicted = trained(real_digits).argmax(1)
    assert torch.equal(saliency(trained, real_digits), saliency(trained, real_digits, predicted))
    assert torch.equal(grad_cam(trained, real_digits, "conv2"), grad_cam(trained, real_digits, "conv2", predicted))


def test_target_int_list_and_tensor(trained, real_digits):
    as_int = grad_cam(trained, real_digits, "conv2", target=6)
    assert torch.equal(as_int, grad_cam(trained, real_digits, "conv2", target=[6] * 8))
    assert torch.equal(as_int, grad_cam(trained, real_digits, "conv2", target=torch.full((8,), 6)))
    assert torch.equal(saliency(trained, real_digits, 6), saliency(trained, real_digits, torch.tensor(6)))
    per_sample = saliency(trained, real_digits, target=list(range(8)))
    for i in range(8):
        assert torch.allclose(per_sample[i], saliency(trained, real_digits[i:i + 1], target=i)[0], atol=1e-7)
    other = saliency(trained, real_digits[1:2], target=2)[0]
    assert not torch.allclose(per_sample[1], other, atol=1e-7), "the target matters"


@pytest.mark.parametrize("target, error, words", [
    (10, ValueError, "10 classes"), (-1, ValueError, "out of range"), ([1, 2], ValueError, "one per sample"),
    (2.0, TypeError, "ints"), (torch.zeros(8, 1, dtype=torch.long), ValueError, "one per sample"),
])
def test_bad_targets_say_what_is_expected(trained, real_digits, target, error, words):
    with pytest.raises(error, match=words):
        saliency(trained, real_digits, target)
    with pytest.raises(error, match=words):
        grad_cam(trained, real_digits, "conv2", target)


# --- Leaving everything as it was --------------------------------------------------------------------------------

def test_parameter_grads_are_untouched(cnn, digits):
    assert all(p.grad is None for p in cnn.parameters())
    saliency(cnn, digits)
    grad_cam(cnn, digits, "conv2")
    assert all(p.grad is None for p in cnn.parameters()), "None must stay None"
    for p in cnn.parameters():
        p.grad = torch.randn_like(p)
    before = [p.grad.clone() for p in cnn.parameters()]
    saliency(cnn, digits)
    grad_cam(cnn, digits, "conv1")
    assert all(torch.equal(p.grad, b) for p, b in zip(cnn.parameters(), before)), "existing grads must not change"


def test_requires_grad_flags_are_untouched_and_frozen_models_work(cnn, digits):
    for p in cnn.parameters():
        p.requires_grad_(False)  # a frozen model: the maps still come from the input's gradient
    cam = grad_cam(cnn, digits, "conv2")
    assert torch.allclose(cam, grad_cam(copy.deepcopy(cnn).requires_grad_(True), digits, "conv2"))
    assert saliency(cnn, digits).gt(0).any()
    assert not any(p.requires_grad for p in cnn.parameters())


def test_the_input_is_untouched(cnn, digits):
    x = digits.clone()
    saliency(cnn, x)
    grad_cam(cnn, x, "conv2")
    assert not x.requires_grad and x.grad is None and torch.equal(x, digits)
    leaf = digits.clone().requires_grad_(True)
    leaf.grad = torch.ones_like(leaf)
    saliency(cnn, leaf)
    grad_cam(cnn, leaf, "conv2")
    assert leaf.requires_grad and torch.equal(leaf.grad, torch.ones_like(leaf))


def test_computes_in_eval_mode_and_restores_every_mode(digits):
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(self.training)
            return x

    model = nn.Sequential(nn.Conv2d(1, 4, 3), Probe(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(4 * 26 * 26, 3))
    model.train()
    model[2].eval()  # mixed modes must come back exactly
    first = saliency(model, digits)
    assert seen == [False], "the computation runs in eval mode (no dropout)"
    assert torch.equal(first, saliency(model, digits)), "eval mode: the same maps every time"
    grad_cam(model, digits, "0")
    assert [m.training for m in model] == [True, True, False, True, True]


def test_works_inside_no_grad(cnn, digits):
    with torch.no_grad():
        inside = grad_cam(cnn, digits, "conv2")
        sal = saliency(cnn, digits)
    assert torch.equal(inside, grad_cam(cnn, digits, "conv2")) and torch.equal(sal, saliency(cnn, digits))


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        self.conv(x)
        raise RuntimeError("boom")


def test_hooks_removed_and_mode_restored_even_when_the_model_raises(digits):
    model = Exploding().train()
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(model, digits, "conv")
    with pytest.raises(RuntimeError, match="boom"):
        saliency(model, digits)
    assert hooks_left(model) == 0 and model.training


def test_no_hooks_left_after_success_or_bad_layers(cnn, digits):
    grad_cam(cnn, digits, "conv2")
    for layer, error in [("pool", RuntimeError), ("fc1", ValueError), ("conv3", KeyError)]:
        with pytest.raises(error):
            grad_cam(cnn, digits, layer)
    assert hooks_left(cnn) == 0


# --- Errors ------------------------------------------------------------------------------------------------------

def test_unknown_layer_gets_the_same_error_as_capture(cnn, digits):
    with pytest.raises(KeyError) as caught:
        grad_cam(cnn, digits, "conv_2")
    with pytest.raises(KeyError) as expected:
        find_layer(cnn, "conv_2")
    assert str(caught.value) == str(expected.value)
    assert "Did you mean 'conv2'" in str(caught.value) and "list_layers" in str(caught.value)


def test_layers_without_one_spatial_output_are_explained(cnn, digits):
    with pytest.raises(ValueError, match="fully connected"):
        grad_cam(cnn, digits, "fc1")
    with pytest.raises(RuntimeError, match="ran 2 times"):
        grad_cam(cnn, digits, "pool")

    class Skips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spare, self.conv, self.fc = nn.Conv2d(1, 1, 1), nn.Conv2d(1, 2, 3), nn.Linear(2 * 26 * 26, 3)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    with pytest.raises(RuntimeError, match="did not run"):
        grad_cam(Skips(), digits, "spare")


@pytest.mark.parametrize("x, error, words", [
    (torch.zeros(1, 28, 28), ValueError, "unsqueeze"), (torch.zeros(28, 28), ValueError, r"\(N, C, H, W\)"),
    (torch.zeros(1, 1, 28, 28, dtype=torch.uint8), TypeError, "float"),
    (torch.zeros(0, 1, 28, 28), ValueError, "empty"),
])
def test_bad_inputs_say_what_to_do(cnn, x, error, words):
    with pytest.raises(error, match=words):
        saliency(cnn, x)
    with pytest.raises(error, match=words):
        grad_cam(cnn, x, "conv2")


def test_model_that_does_not_return_class_scores(digits):
    with pytest.raises(ValueError, match=r"\(N, classes\)"):
        saliency(nn.Conv2d(1, 2, 3), digits)


# --- Constant maps and the sanity check --------------------------------------------------------------------------

def test_constant_maps_become_zeros_not_nan(digits):
    conv = nn.Conv2d(1, 3, 3)
    nn.init.zeros_(conv.weight)
    nn.init.ones_(conv.bias)  # every map constant 1: no place is more important than another
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(3 * 26 * 26, 2))
    cam = grad_cam(model, digits, "0")
    assert torch.equal(cam, torch.zeros(5, 28, 28))
    unused = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(26 * 26, 2))
    nn.init.zeros_(unused[2].weight)  # the scores do not depend on the maps at all: zero gradient
    assert torch.equal(grad_cam(unused, digits, "0"), torch.zeros(5, 28, 28))


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_randomized_weights_change_the_explanation(trained, real_digits):
    """Adebayo et al. (2018): a faithful explanation depends on the weights; the input alone does not make it."""
    randomized = copy.deepcopy(trained)
    torch.manual_seed(0)
    for module in randomized.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    targets = trained(real_digits).argmax(1)
    for method in (lambda m: saliency(m, real_digits, targets), lambda m: grad_cam(m, real_digits, "conv2", targets)):
        before, after = method(trained), method(randomized)
        similarity = [correlation(before[i], after[i]) for i in range(len(real_digits))]
        assert sum(similarity) / len(similarity) < 0.5, similarity
        assert torch.equal(before, method(trained)), "the trained model itself was not changed"


# --- Guided backpropagation ------------------------------------------------------------------------------------------

class SimpleCNNWithReLUModules(nn.Module):
    """The same function as a SimpleCNN, with its four F.relu calls as nn.ReLU modules (what Captum can hook)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.relus = model, nn.ModuleList(nn.ReLU() for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, relu = self.model, self.relus
        x = m.pool(relu[0](m.conv1(x)))
        x = torch.flatten(m.pool(relu[1](m.conv2(x))), 1)
        return m.fc3(relu[3](m.fc2(relu[2](m.fc1(x)))))


def test_guided_backprop_matches_captum_on_relu_modules_and_on_f_relu(trained, real_digits):
    captum_attr = pytest.importorskip("captum.attr")
    from utils.analysis.attribution import guided_backprop

    modules = SimpleCNNWithReLUModules(trained).eval()
    assert torch.equal(modules(real_digits), trained(real_digits))
    targets = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0][:len(real_digits)]
    reference = captum_attr.GuidedBackprop(modules).attribute(real_digits.clone(), target=targets).detach()
    assert reference.abs().max() > 0
    for model in (modules, trained):  # nn.ReLU modules, and the SimpleCNN's F.relu calls
        ours = guided_backprop(model, real_digits, targets)
        assert ours.shape == real_digits.shape and (ours - reference).abs().max() < 1e-6
    plain = saliency(trained, real_digits, targets)
    assert (ours.abs().amax(1) - plain).abs().max() > 1e-3, "guided, not the plain gradient"
    assert torch.equal(F.relu(torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0])), "F.relu restored after"
