"""The dataset class `load_mnist` returns: torchvision's MNIST, with the course's transform done on the stored pixels.

torchvision makes a PIL image of every digit, then ToTensor and Normalize turn it back into a tensor: a large share
of a training epoch of the SimpleCNN on the CPU. The same arithmetic on the stored uint8 pixels gives the same values,
bit for bit (tests/test_data.py compares every test digit, one by one and in batches), in a fraction of the time.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torchvision import datasets, transforms

__all__ = ["MEAN", "STD", "CourseMNIST", "mnist_transform"]

MEAN, STD = (0.5,), (0.5,)


def mnist_transform() -> transforms.Compose:
    """The course's transform: pixels to [0, 1] with ToTensor, then to [-1, 1] with Normalize((0.5,), (0.5,))."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


class CourseMNIST(datasets.MNIST):
    """torchvision's `MNIST` with the course's transform (pixels to [-1, 1]), read straight from the stored pixels.

    It is a `datasets.MNIST`: `dataset.transform` shows the course's transform, and a transform set later (or a
    `target_transform`) goes through torchvision's own path.

    >>> from utils.data import SUBSET_ROOT
    >>> test_set = CourseMNIST(SUBSET_ROOT, train=False)
    >>> image, label = test_set[0]
    >>> tuple(image.shape), image.min().item(), image.max().item(), label
    ((1, 28, 28), -1.0, 1.0, 0)
    """

    def __init__(self, root: Any, train: bool = True) -> None:
        super().__init__(root, train=train, transform=mnist_transform(), download=False)
        self.course_transform = self.transform

    @property
    def raw_folder(self) -> str:  # torchvision names the folder after the class: MNIST's own, not this one's
        return os.path.join(self.root, "MNIST", "raw")

    @property
    def processed_folder(self) -> str:
        return os.path.join(self.root, "MNIST", "processed")

    def _fast(self) -> bool:
        return self.transform is self.course_transform and self.target_transform is None

    def _images(self, index: Any) -> torch.Tensor:
        """What ToTensor (bytes to floats, / 255) then Normalize (- mean, / std) compute, in the same order."""
        return self.data[index].to(torch.get_default_dtype()).div(255).sub(MEAN[0]).div(STD[0]).unsqueeze(-3)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not self._fast():
            return super().__getitem__(index)
        return self._images(index), int(self.targets[index])

    def __getitems__(self, indices: list[int]) -> list[tuple[Any, Any]]:
        """A DataLoader's whole batch at once (torch calls it when a dataset has it)."""
        if not self._fast():
            return [self[i] for i in indices]
        return list(zip(self._images(indices), self.targets[indices].tolist()))
