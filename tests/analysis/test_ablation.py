"""utils.analysis.ablation by its definition: ablating nothing changes nothing, ablating every channel of a layer
leaves only what comes after it (its bias downstream), and the hook never outlives the block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from utils.analysis.ablation import ablate, ablation_effect
from utils.capturing.guards import hook_count


@pytest.fixture
def digits() -> torch.Tensor:
    return torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_ablating_nothing_changes_nothing(trained, real_digits):
    with ablate(trained, "conv2", []):
        ablated = trained(real_digits)
    assert torch.equal(ablated, trained(real_digits))
    effect = ablation_effect(trained, "conv2", [], real_digits, torch.zeros(len(real_digits), dtype=torch.long))
    assert effect.accuracy_before == effect.accuracy_after and effect.score_before == effect.score_after


def test_ablating_every_channel_leaves_the_bias_only_output_downstream(trained, real_digits):
    """conv2 all zeros: relu and pool keep zeros, so fc1 sees zeros and the logits are the biases carried on."""
    with ablate(trained, "conv2", range(32)) as model:
        logits = model(real_digits)
    hidden = F.relu(trained.fc1.bias)
    expected = trained.fc3(F.relu(trained.fc2(hidden)))
    assert torch.allclose(logits, expected.expand_as(logits), atol=1e-6)
    assert hook_count(trained) == 0


def test_chosen_channels_are_zero_and_the_others_untouched(trained, real_digits):
    captured = {}
    with ablate(trained, "conv1", 5), torch.no_grad():
        hook = trained.pool.register_forward_hook(lambda m, a, o: None if "pooled" in captured else
                                                  captured.update(pooled=a[0].clone()))
        trained(real_digits)
        hook.remove()
    assert captured["pooled"][:, 5].abs().max() == 0  # F.relu(0) = 0 reaches the pool
    plain = F.relu(trained.conv1(real_digits)).detach()
    assert torch.equal(captured["pooled"][:, :5], plain[:, :5]) and torch.equal(captured["pooled"][:, 6:], plain[:, 6:])


def test_effect_on_accuracy_and_scores_is_measured_in_batches(trained, test_set):
    images = torch.stack([test_set[i][0] for i in range(200)])
    labels = torch.tensor([test_set[i][1] for i in range(200)])
    whole = ablation_effect(trained, "conv2", range(32), images, labels)
    batched = ablation_effect(trained, "conv2", range(32), images, labels, batch_size=7)
    assert whole.accuracy_before > 0.9 and whole.accuracy_after < 0.3  # every channel off: one constant answer
    assert whole == pytest.approx(batched)


def test_hook_removed_when_the_block_raises_and_bad_input_is_named(cnn, digits):
    with pytest.raises(RuntimeError, match="inside"), ablate(cnn, "conv1", [0]):
        raise RuntimeError("inside")
    assert hook_count(cnn) == 0
    for channels, error, words in [("3", TypeError, "channels must be"), ([1.5], TypeError, "channels must be"),
                                   ([-1], ValueError, "0 or more")]:
        with pytest.raises(error, match=words):
            ablate(cnn, "conv1", channels).__enter__()
    with pytest.raises(ValueError, match="out of range.*16 channels"), ablate(cnn, "conv1", [16]):
        cnn(digits)
    with pytest.raises(TypeError, match="layer must be a layer's name"):
        ablate(cnn, cnn.conv1, [0]).__enter__()
    with pytest.raises(ValueError, match="2 labels for 5 images"):
        ablation_effect(cnn, "conv1", [0], digits, [1, 2])
    assert hook_count(cnn) == 0
