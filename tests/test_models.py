"""utils.models: the SimpleCNN of the seed and its checkpoints, written atomically, damage reported."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils import SimpleCNN
from utils.models import CHECKPOINT, CheckpointError, count_parameters, load_checkpoint, save_checkpoint


def test_simplecnn_is_the_seed_architecture():
    model = SimpleCNN()
    assert count_parameters(model) == 85_822
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes["conv1.weight"] == (16, 1, 5, 5) and shapes["conv2.weight"] == (32, 16, 5, 5)
    assert shapes["fc1.weight"] == (120, 512) and shapes["fc2.weight"] == (84, 120) and shapes["fc3.weight"] == (10, 84)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_checkpoint_round_trip(tmp_path):
    model = SimpleCNN()
    path = save_checkpoint(model, tmp_path / "m.pt", epochs=3)
    other = SimpleCNN()
    assert load_checkpoint(other, path) == {"epochs": 3}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = save_checkpoint(SimpleCNN(), tmp_path / "m.pt")
    before = path.read_bytes()

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(SimpleCNN(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"], "no temporary file is left behind"


def test_damaged_or_foreign_checkpoints_are_reported(tmp_path):
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(CHECKPOINT.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="is damaged: it cannot be read"):
        load_checkpoint(SimpleCNN(), damaged)
    foreign = save_checkpoint(nn.Linear(2, 2), tmp_path / "linear.pt")
    with pytest.raises(CheckpointError, match="not a SimpleCNN checkpoint"):
        load_checkpoint(SimpleCNN(), foreign)
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(SimpleCNN(), tmp_path / "missing.pt")
