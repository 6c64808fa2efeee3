"""Shared fixtures. Tests run offline (make test sets COURSE_OFFLINE=1) and on the CPU. torch is imported where
used: pytest-xdist's controller, which runs no test, loads this file too."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """A private copy of the bundled subset and an empty full-MNIST folder, so tests can damage and download."""
    from utils import data

    subset = tmp_path / "mnist_subset"
    shutil.copytree(data.SUBSET_ROOT, subset)
    full = tmp_path / "full"
    full.mkdir()
    monkeypatch.setattr(data, "SUBSET_ROOT", subset)
    monkeypatch.setattr(data, "FULL_ROOT", full)
    monkeypatch.setattr(data, "_chosen", {})
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return data


@pytest.fixture
def cnn():
    """A SimpleCNN with seeded random weights, in eval mode."""
    import torch

    from utils import SimpleCNN

    torch.manual_seed(0)
    return SimpleCNN().eval()


@pytest.fixture(scope="module")
def trained():
    """The shipped trained SimpleCNN (data/simplecnn.pt), loaded once per test file; tests that change its mode
    restore it."""
    from utils import load_trained_simplecnn

    return load_trained_simplecnn()


@pytest.fixture(scope="module")
def test_set():
    """The bundled MNIST test set (1000 digits), as (image, label) pairs."""
    from utils import load_mnist

    return load_mnist(train=False, verbose=False)


@pytest.fixture(scope="module")
def real_digits(test_set) -> torch.Tensor:
    """The first 8 test digits as one batch (8, 1, 28, 28)."""
    import torch

    return torch.stack([test_set[i][0] for i in range(8)])
