"""The state of a model around a helper's forward pass: train/eval mode, device, attached hooks, autograd.

Every helper that runs a learner's model (`get_feature_maps`, `list_layers`, `explore`, `predict`, the attributions)
leaves it as it found it: `eval_mode` restores each submodule's own flag, `to_model_device` moves the input rather
than the model. `hook_count` is the one place that reads torch's private hook dictionaries, and `recomputing` the
one place that asks autograd whether a forward call is a checkpointed layer running again in backward.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn

__all__ = ["Device", "eval_mode", "hook_count", "num_threads", "recomputing", "to_model_device"]

T = TypeVar("T")
Device = torch.device | str  # what the helpers' `device=` arguments accept


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; afterwards every submodule's own train/eval flag as it was.

    A model already in eval mode (the usual case) is left alone. Also used by utils.attribution.

    >>> model = SimpleCNN().train()
    >>> with eval_mode(model):
    ...     model.training
    False
    >>> model.training
    True
    """
    training = [module for module in model.modules() if module.training]
    if training:
        model.eval()
    try:
        yield
    finally:
        for module in training:  # exactly those that were in training mode, whatever their parents were
            module.training = True


@contextmanager
def num_threads(threads: int) -> Iterator[None]:
    """torch computes with `threads` CPU threads inside the block; afterwards with as many as before.

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with num_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_model_device(model: nn.Module, x: T) -> T:
    """x moved to the device of the model's first parameter or buffer, when x is a tensor and they differ.

    >>> to_model_device(SimpleCNN(), torch.zeros(1)).device
    device(type='cpu')
    """
    first: torch.Tensor | None = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    if isinstance(x, torch.Tensor) and first is not None and x.device != first.device:
        return x.to(first.device)  # type: ignore[return-value]  # a tensor in, a tensor out
    return x


def hook_count(model: nn.Module) -> int:
    """How many forward hooks (pre-hooks included) are attached to the model and its submodules.

    torch has no public way to list hooks, so this is the one place that reads its private `_forward_hooks`.

    >>> model = SimpleCNN()
    >>> handle = model.conv1.register_forward_hook(lambda module, args, output: None)
    >>> hook_count(model), handle.remove(), hook_count(model)
    (1, None, 0)
    """
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def recomputing() -> bool:
    """True while autograd runs a backward pass: a forward call now is activation checkpointing recomputing.

    >>> recomputing()
    False
    """
    return torch._C._current_graph_task_id() != -1
