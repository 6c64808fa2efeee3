"""The space of a layer's codes: each input's output at one layer (its code) drawn as a point in two dimensions.

    codes = layer_codes(model, images, "fc1")      # (N, D): one row per input, the layer's output flattened
    flat = pca(codes)                               # (N, 2): the two directions of largest variance, linear
    islands = tsne(codes, seed=0)                   # (N, 2): t-SNE (scikit-learn), which keeps neighbours

PCA is a projection: distances and directions in its picture are those of the codes, shrunk onto the plane that
keeps the most variance. t-SNE (van der Maaten and Hinton, 2008) moves points so that each one's nearest
neighbours stay near it; the sizes of its clusters and the distances between them are not those of the codes
(Wattenberg et al., "How to Use t-SNE Effectively", Distill 2016). Both are deterministic here: PCA's signs are
fixed (each axis points so that its largest loading is positive), and t-SNE runs with a fixed `random_state`.
Inputs above `max_samples` are refused (t-SNE's time grows faster than the number of points).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..capturing.guards import check_input, check_model, eval_mode, to_model_device
from ..capturing.layers import find_layer

__all__ = ["layer_codes", "pca", "tsne"]


def layer_codes(model: nn.Module, images: torch.Tensor, layer: str, *, relu: bool = False,
                batch_size: int = 256) -> torch.Tensor:
    """Each image's output at `layer`, flattened: (N, D) float32 on the CPU, in eval mode without gradients.

    relu=True keeps the positive part, for a layer whose output the model passes through F.relu (the SimpleCNN's
    fc1 and fc2): then the code is what the next layer receives. Images run `batch_size` at a time.

    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    >>> layer_codes(model, torch.zeros(5, 1, 2, 2), "1").shape
    torch.Size([5, 3])
    """
    check_model(model, "layer_codes")
    if not isinstance(layer, str):
        raise TypeError(f"layer_codes: layer must be a layer's name (a string) such as 'fc1', got "
                        f"{type(layer).__name__}; list_layers(model) shows the names.")
    module = find_layer(model, layer)
    images = check_input(model, images, "layer_codes", "images")
    if not isinstance(images, torch.Tensor) or len(images) == 0:
        raise ValueError("layer_codes: images must be a non-empty batch of images (N, C, H, W).")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"layer_codes: batch_size must be a positive int, got {batch_size!r}.")
    kept: list[torch.Tensor] = []

    def keep(_module: nn.Module, _args: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            kept.append(output.detach().flatten(1).float().cpu())

    codes = []
    handle = module.register_forward_hook(keep)
    try:
        with eval_mode(model), torch.no_grad():
            for start in range(0, len(images), batch_size):
                kept.clear()
                model(to_model_device(model, images[start:start + batch_size]))
                if len(kept) != 1:
                    what = "did not run" if not kept else f"ran {len(kept)} times"
                    raise RuntimeError(f"layer_codes: layer {layer!r} {what} in one forward pass; pick a layer that "
                                       "forward() calls exactly once.")
                codes.append(kept[0])
    finally:
        handle.remove()
    result = torch.cat(codes)
    return result.clamp(min=0) if relu else result


def pca(codes: torch.Tensor, components: int = 2) -> torch.Tensor:
    """The codes projected on their first `components` principal directions: (N, components), float64.

    Centred, then projected on the right singular vectors of the largest singular values (float64, so that the
    result does not depend on the last bits of float32 arithmetic). Each direction's sign is fixed so that its
    largest loading is positive: the same codes always give the same picture.

    >>> codes = torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 0.1]])
    >>> (pca(codes, 1)[:, 0].round(decimals=2) + 0.0).tolist()
    [-2.0, 0.0, 2.0]
    """
    data = _codes(codes, "pca")
    if not isinstance(components, int) or isinstance(components, bool) or not 1 <= components <= min(data.shape):
        raise ValueError(f"pca: components must be an int from 1 to {min(data.shape)} (the smaller of the number "
                         f"of codes and their length), got {components!r}.")
    centred = data - data.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    directions = vh[:components]
    largest = directions.abs().argmax(dim=1)
    signs = torch.sign(directions[torch.arange(components), largest])
    return centred @ (directions * signs[:, None]).T


def tsne(codes: torch.Tensor, *, seed: int = 0, perplexity: float = 30.0, max_iter: int = 1000,
         max_samples: int = 5000) -> torch.Tensor:
    """A 2-D t-SNE of the codes (scikit-learn's TSNE, PCA start, fixed random_state): (N, 2), float64.

    Only the neighbourhoods mean something: which points lie near which. The size of a cluster and the distance
    between two clusters are not distances of the codes. perplexity is about how many neighbours each point
    keeps (below the number of codes); max_iter the optimisation's steps (at least 300: the
    first 250 only pull the clusters apart). seed is scikit-learn's random_state; with the PCA start it reaches
    only that start's randomized PCA, so another seed rarely changes the map (on the course's fc1 codes seeds 0 and
    1 give the same points): to see t-SNE's freedom, change perplexity.

    >>> codes = torch.cat([torch.zeros(20, 3), torch.ones(20, 3)]) + 0.01 * torch.randn(40, 3)
    >>> tsne(codes, perplexity=5).shape
    torch.Size([40, 2])
    """
    from sklearn.manifold import TSNE  # imported here: only this function needs scikit-learn

    data = _codes(codes, "tsne")
    if len(data) > max_samples:
        raise ValueError(f"tsne: {len(data)} codes are above max_samples={max_samples} (t-SNE's time grows faster "
                         "than the number of points); pass a subset, or raise max_samples if you mean it.")
    if not isinstance(perplexity, (int, float)) or isinstance(perplexity, bool) or not 0 < perplexity < len(data):
        raise ValueError(f"tsne: perplexity must be a number above 0 and below the number of codes ({len(data)}), "
                         f"got {perplexity!r}.")
    if not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 300:
        raise ValueError(f"tsne: max_iter must be an int of at least 300 (scikit-learn spends the first 250 steps "
                         f"on early exaggeration, which leaves the points bunched), got {max_iter!r}.")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"tsne: seed must be an int (it fixes t-SNE's random_state), got {seed!r}.")
    embedding = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", max_iter=max_iter,
                     random_state=seed).fit_transform(data.numpy())
    return torch.from_numpy(np.asarray(embedding, dtype=np.float64))


def _codes(codes: object, who: str) -> torch.Tensor:
    """codes as a finite (N, D) float64 tensor with at least two rows, or an error naming the argument."""
    if isinstance(codes, np.ndarray):
        codes = torch.from_numpy(codes)
    if not isinstance(codes, torch.Tensor):
        raise TypeError(f"{who}: codes must be a tensor of shape (N, D), one row per input (layer_codes makes "
                        f"one), not {type(codes).__name__}.")
    if codes.dim() != 2:
        raise ValueError(f"{who}: codes must be (N, D), one row per input, got shape {tuple(codes.shape)}; "
                         "flatten each input's code first: codes.flatten(1).")
    if len(codes) < 2:
        raise ValueError(f"{who}: needs at least two codes to compare, got {len(codes)}.")
    data = codes.detach().cpu().double()
    if not bool(torch.isfinite(data).all()):
        raise ValueError(f"{who}: codes hold NaN or infinite values; drop those rows first (torch.isfinite finds "
                         "them).")
    return data
