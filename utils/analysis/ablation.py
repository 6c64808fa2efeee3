"""Channel ablation: what a layer's channels are worth to the model, tested by switching them off.

    with ablate(model, "conv2", [3, 7]):            # conv2's channels 3 and 7 output zeros inside the block
        logits = model(x)
    ablation_effect(model, "conv2", [3, 7], images, labels)   # accuracy and mean class score, before and after

A picture of a feature map suggests what a channel does; zeroing it and measuring what the model then gets wrong
is the test. `ablate` is a context manager: a forward hook replaces the layer's output by a copy whose chosen
channels are zero (so an in-place op after the layer cannot undo it), and it is removed when the block ends, also
when the block raises.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import nn

from ..capturing.guards import check_model, eval_mode, to_model_device
from ..capturing.layers import find_layer

__all__ = ["AblationEffect", "ablate", "ablation_effect"]


@contextmanager
def ablate(model: nn.Module, layer: str, channels: int | Sequence[int]) -> Iterator[nn.Module]:
    """Inside the block, `layer`'s output has `channels` (dimension 1, as in (N, C, H, W)) set to zero.

    channels: one index or a list of them (an empty list ablates nothing). Yields the model. Every call of the
    layer inside the block is ablated; the hook is removed when the block ends.

    >>> model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten())
    >>> with ablate(model, "0", [1]):
    ...     out = model(torch.ones(1, 1, 1, 1))
    >>> out[0, 1].item()
    0.0
    """
    check_model(model, "ablate")
    module = find_layer(model, layer) if isinstance(layer, str) else None
    if module is None:
        raise TypeError(f"ablate: layer must be a layer's name (a string) such as 'conv2', got "
                        f"{type(layer).__name__}; list_layers(model) shows the names.")
    index = _channels(channels)

    def zero(_module: nn.Module, _args: object, output: object) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.dim() < 2:
            raise TypeError(f"ablate: layer {layer!r} returned {type(output).__name__} "
                            f"{tuple(output.shape) if isinstance(output, torch.Tensor) else ''}, not a batch of "
                            "channels (N, C, ...): pick a convolution or a linear layer.")
        if index and max(index) >= output.shape[1]:
            raise ValueError(f"ablate: channels {index} are out of range: {layer!r} has {output.shape[1]} channels, "
                             f"0 to {output.shape[1] - 1}.")
        ablated = output.clone()
        ablated[:, index] = 0
        return ablated

    handle = module.register_forward_hook(zero)
    try:
        yield model
    finally:
        handle.remove()


class AblationEffect(NamedTuple):
    """What ablating changed, on the images given: accuracy (a fraction; None without labels) and the mean score of
    each image's class (its label, else the class predicted before ablating), before and after."""

    accuracy_before: float | None
    accuracy_after: float | None
    score_before: float
    score_after: float


def ablation_effect(model: nn.Module, layer: str, channels: int | Sequence[int], images: torch.Tensor,
                    labels: torch.Tensor | Sequence[int] | None = None, *, batch_size: int = 256) -> AblationEffect:
    """Accuracy and mean class score on `images` (N, C, H, W), with and without `channels` of `layer` ablated.

    The model runs in eval mode without gradients, `batch_size` images at a time (memory stays bounded on a large
    set); its mode is restored. labels: N class numbers (then accuracy is measured and the scores are the labels'),
    or None (the scores are those of the class predicted before ablating).

    >>> model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(), nn.Linear(2, 2))
    >>> effect = ablation_effect(model, "0", [], torch.randn(8, 1, 1, 1))  # ablating nothing changes nothing
    >>> effect.score_before == effect.score_after
    True
    """
    check_model(model, "ablation_effect")
    if not isinstance(images, torch.Tensor) or images.dim() < 2 or len(images) == 0:
        raise TypeError("ablation_effect: images must be a non-empty batch tensor (N, C, H, W), got "
                        f"{type(images).__name__} {tuple(images.shape) if isinstance(images, torch.Tensor) else ''}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"ablation_effect: batch_size must be a positive int, got {batch_size!r}.")
    if labels is not None:
        labels = torch.as_tensor(labels).long().flatten()
        if len(labels) != len(images):
            raise ValueError(f"ablation_effect: {len(labels)} labels for {len(images)} images; give one per image.")
    before = _logits(model, images, batch_size)
    classes = labels if labels is not None else before.argmax(dim=1)
    with ablate(model, layer, channels):
        after = _logits(model, images, batch_size)

    def accuracy(logits: torch.Tensor) -> float | None:
        return None if labels is None else float((logits.argmax(dim=1) == labels).float().mean())

    def score(logits: torch.Tensor) -> float:
        return float(logits.gather(1, classes[:, None]).mean())

    return AblationEffect(accuracy(before), accuracy(after), score(before), score(after))


def _logits(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The model's (N, classes) outputs on the CPU, computed batch by batch in eval mode without gradients."""
    with eval_mode(model), torch.no_grad():
        return torch.cat([model(to_model_device(model, images[i:i + batch_size])).float().cpu()
                          for i in range(0, len(images), batch_size)])


def _channels(channels: object) -> list[int]:
    """Channel indices as a sorted list of distinct ints, or an error naming `channels`."""
    values = [channels] if isinstance(channels, int) else channels
    if isinstance(values, torch.Tensor):
        values = values.flatten().tolist()
    if (isinstance(values, (str, bytes)) or not isinstance(values, Sequence)
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in values)):
        raise TypeError(f"ablate: channels must be a channel index or a list of them (ints), got {channels!r}.")
    if any(c < 0 for c in values):
        raise ValueError(f"ablate: channels must be 0 or more, got {channels!r}.")
    return sorted(set(values))
