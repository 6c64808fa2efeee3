"""The course's model, SimpleCNN, and its checkpoints (written atomically, read with weights_only=True)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data import DATA_DIR

__all__ = ["CHECKPOINT", "CheckpointError", "SimpleCNN", "count_parameters", "load_checkpoint", "save_checkpoint"]

CHECKPOINT = DATA_DIR / "simplecnn.pt"


class SimpleCNN(nn.Module):
    """The seed's small CNN for 28x28 digits: two 5x5 convolutions with pooling, then three linear layers.

    conv1 (1 -> 16, 5x5) -> ReLU -> 2x2 max pool -> conv2 (16 -> 32, 5x5) -> ReLU -> 2x2 max pool
    -> fc1 (512 -> 120) -> ReLU -> fc2 (120 -> 84) -> ReLU -> fc3 (84 -> 10 logits). 85,822 parameters.

    >>> model = SimpleCNN()
    >>> model(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.fc1 = nn.Linear(32 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))  # (N, 16, 12, 12); note: self.pool runs twice per forward pass
        x = self.pool(F.relu(self.conv2(x)))  # (N, 32, 4, 4)
        x = torch.flatten(x, 1)  # (N, 512)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, unreadable or not for this model."""


def save_checkpoint(model: nn.Module, path: str | Path = CHECKPOINT, **meta: object) -> Path:
    """Save the model's weights (and small metadata) atomically: an interrupted save leaves the old file intact.

    >>> save_checkpoint(SimpleCNN(), "/tmp/example.pt", epochs=0)  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"state_dict": state, "meta": meta}, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would surprise whoever shares the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(model: nn.Module, path: str | Path = CHECKPOINT) -> dict:
    """Load weights saved by save_checkpoint into model (with weights_only=True); return the checkpoint's metadata.

    Raises CheckpointError, saying what to do, when the file is missing, damaged or for another model.

    >>> meta = load_checkpoint(SimpleCNN())
    >>> meta["test_accuracy"] >= 0.95
    True
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint["state_dict"]
    except Exception as error:  # torch's own message suggests weights_only=False, which is unsafe: not repeated
        reason = type(error).__name__
        raise CheckpointError(f"{path} is damaged: it cannot be read as a checkpoint ({reason}).") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path} is not a {type(model).__name__} checkpoint: {first_line}") from None
    return checkpoint.get("meta", {})


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters.

    >>> count_parameters(SimpleCNN())
    85822
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
