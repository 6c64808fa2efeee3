"""The feature maps the plot tests draw."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def maps() -> torch.Tensor:
    """A ReLU'd batch (N=3, C=16, 12x12) whose channels have very different strengths; channel 3 of sample 0 dead."""
    generator = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(3, 16, 12, 12, generator=generator))
    x = x * torch.logspace(-2, 1, 16).view(1, 16, 1, 1)
    x[0, 3] = 0
    return x
