"""utils.analysis.embedding: PCA against scikit-learn's PCA and NumPy's SVD, t-SNE's determinism, layer codes
against a hook by hand, and the bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from utils.analysis.embedding import layer_codes, pca, tsne

decomposition = pytest.importorskip("sklearn.decomposition")


@pytest.fixture(scope="module")
def codes(trained, test_set) -> torch.Tensor:
    images = torch.stack([test_set[i][0] for i in range(200)])
    return layer_codes(trained, images, "fc1", relu=True)


def test_codes_are_what_a_hook_sees_after_the_relu(trained, real_digits):
    seen = []
    handle = trained.fc2.register_forward_hook(lambda module, args, output: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            trained(real_digits)
    finally:
        handle.remove()
    codes = layer_codes(trained, real_digits, "fc1", relu=True, batch_size=3)
    assert torch.allclose(codes, seen[0], atol=1e-5)  # batches of 3 against 8: the last bits may differ
    assert layer_codes(trained, real_digits, "conv2").shape == (8, 32 * 8 * 8)


def test_pca_matches_scikit_learn_and_numpy_svd_up_to_sign(codes):
    ours = pca(codes, 3).numpy()
    reference = decomposition.PCA(n_components=3, svd_solver="full").fit_transform(codes.double().numpy())
    data = codes.double().numpy() - codes.double().numpy().mean(axis=0)
    _, _, vh = np.linalg.svd(data, full_matrices=False)
    by_svd = data @ vh[:3].T
    for k in range(3):
        sign = np.sign(ours[:, k] @ reference[:, k])
        assert np.allclose(ours[:, k], sign * reference[:, k], atol=1e-8)
        assert np.allclose(np.abs(ours[:, k]), np.abs(by_svd[:, k]), atol=1e-8)


def test_pca_signs_are_fixed_so_a_flipped_copy_gives_the_same_picture(codes):
    assert torch.allclose(pca(codes), pca(codes.flip(0)).flip(0), atol=1e-9)
    assert torch.equal(pca(codes), pca(codes))


def test_pca_keeps_the_most_variance():
    data = torch.randn(300, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([5.0, 0.5])
    first = pca(data, 1)[:, 0]
    assert abs(float(first.var()) - float(data[:, 0].double().var())) / float(data[:, 0].var()) < 0.05


def test_tsne_is_deterministic_and_keeps_neighbours(codes, test_set):
    labels = torch.tensor([test_set[i][1] for i in range(len(codes))])
    first, again = tsne(codes, max_iter=300), tsne(codes, max_iter=300)
    assert first.shape == (len(codes), 2) and torch.equal(first, again)
    distances = torch.cdist(first, first)
    distances.fill_diagonal_(float("inf"))
    nearest_same_class = (labels[distances.argmin(dim=1)] == labels).float().mean()
    assert nearest_same_class > 0.8  # the trained codes group by class, and t-SNE keeps neighbours


@pytest.mark.parametrize("call, error, words", [
    (lambda: pca(torch.zeros(5)), ValueError, "must be \\(N, D\\)"),
    (lambda: pca([[1.0, 2.0]]), TypeError, "codes must be a tensor"),
    (lambda: pca(torch.zeros(1, 3)), ValueError, "at least two codes"),
    (lambda: pca(torch.zeros(4, 3), 5), ValueError, "components must be an int from 1 to 3"),
    (lambda: pca(torch.tensor([[0.0, float("nan")], [1.0, 2.0]])), ValueError, "NaN"),
    (lambda: tsne(torch.zeros(10, 3), perplexity=30), ValueError, "perplexity must be"),
    (lambda: tsne(torch.zeros(10, 3), perplexity=3, max_iter=10), ValueError, "at least 300"),
    (lambda: tsne(torch.zeros(10, 3), max_samples=5), ValueError, "above max_samples"),
])
def test_bad_codes_say_what_to_pass(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_layer_codes_bad_arguments(trained, real_digits):
    with pytest.raises(KeyError, match="Did you mean"):
        layer_codes(trained, real_digits, "fc4")
    with pytest.raises(ValueError, match="unsqueeze"):
        layer_codes(trained, real_digits[0], "fc1")
    with pytest.raises(RuntimeError, match="ran 2 times"):
        layer_codes(trained, real_digits, "pool")
    with pytest.raises(TypeError, match="layer must be a layer's name"):
        layer_codes(trained, real_digits, trained.fc1)
    with pytest.raises(TypeError, match="not a model"):
        layer_codes(nn.Linear, real_digits, "fc1")
