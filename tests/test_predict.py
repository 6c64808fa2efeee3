"""train.predict leaves every submodule's train/eval mode as it found it (one eval_mode for the whole package)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset

from utils import SimpleCNN
from utils.train import predict


def test_predict_restores_the_mode_of_every_submodule():
    model = SimpleCNN().train()
    model.conv1.eval()
    loader = DataLoader(TensorDataset(torch.zeros(6, 1, 28, 28), torch.arange(6)), batch_size=4)
    predicted, true = predict(model, loader)
    assert predicted.shape == (6,) and true.tolist() == list(range(6))
    assert model.training and not model.conv1.training and model.conv2.training
