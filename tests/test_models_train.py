"""SimpleCNN, checkpoints (atomic, weights_only, damaged files), training and evaluation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from utils import SimpleCNN, load_mnist, load_trained_simplecnn
from utils.models import CHECKPOINT, CheckpointError, count_parameters, load_checkpoint, save_checkpoint
from utils.train import accuracy, agreement, confusion_matrix, fit, make_loader, pick_device, predict


def test_simplecnn_is_the_seed_architecture():
    model = SimpleCNN()
    assert count_parameters(model) == 85_822
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes["conv1.weight"] == (16, 1, 5, 5) and shapes["conv2.weight"] == (32, 16, 5, 5)
    assert shapes["fc1.weight"] == (120, 512) and shapes["fc2.weight"] == (84, 120) and shapes["fc3.weight"] == (10, 84)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_shipped_checkpoint_reaches_95_percent():
    model = load_trained_simplecnn()
    assert not model.training
    test_set = load_mnist(train=False, source="subset", verbose=False)
    assert accuracy(model, make_loader(test_set, 500)) >= 0.95


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


def test_missing_checkpoint_is_retrained_to_a_model_like_the_shipped_one(tmp_path, capsys):
    """The course's recipe gives back the shipped model's accuracy and predictions, on any CPU (not its exact bits:
    torch's kernels round differently on AVX-512, AVX2 and other CPUs), and leaves the caller's RNG alone."""
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    retrained = load_trained_simplecnn(tmp_path / "simplecnn.pt")
    assert "missing: training" in capsys.readouterr().out
    assert torch.equal(torch.rand(1), expected_next)

    shipped = load_trained_simplecnn()
    loader = make_loader(load_mnist(train=False, source="subset", verbose=False), 500)
    assert abs(accuracy(retrained, loader) - accuracy(shipped, loader)) <= 0.01
    assert agreement(retrained, shipped, loader) >= 0.97, "a sound recipe agrees with the shipped model on ~99%"
    meta = load_checkpoint(SimpleCNN(), tmp_path / "simplecnn.pt")
    assert meta["torch"] == str(torch.__version__) and meta["threads"] == 2
    assert meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_agreement_catches_a_broken_recipe():
    """The retraining check above can fail: a model that learned nothing agrees with the shipped one on ~10%."""
    shipped = load_trained_simplecnn()
    loader = make_loader(load_mnist(train=False, source="subset", verbose=False), 500)
    torch.manual_seed(0)
    assert agreement(shipped, shipped, loader) == 1.0
    assert agreement(SimpleCNN().eval(), shipped, loader) < 0.5


def test_damaged_checkpoint_warns_and_is_replaced(tmp_path, monkeypatch):
    """The warning and the replacement; the training itself is the test above's (not repeated: it takes seconds)."""
    from utils import train

    def quick_reference_model(path):
        model = SimpleCNN()
        save_checkpoint(model, path, test_accuracy=0.96)
        return model

    monkeypatch.setattr(train, "train_reference_model", quick_reference_model)
    path = tmp_path / "simplecnn.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="damaged.*git checkout -- data/simplecnn.pt"):
        model = load_trained_simplecnn(path)
    assert load_checkpoint(SimpleCNN(), path)["test_accuracy"] == 0.96, "the damaged file was replaced"
    assert not model.training


def test_confusion_matrix_counts_true_rows_predicted_columns():
    counts = confusion_matrix(torch.tensor([1, 1, 2, 0]), torch.tensor([1, 0, 2, 0]), num_classes=3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_predict_restores_training_mode():
    model = SimpleCNN().train()
    loader = make_loader(torch.utils.data.TensorDataset(torch.zeros(4, 1, 28, 28), torch.zeros(4).long()), 2)
    predicted, true = predict(model, loader)
    assert model.training and predicted.shape == true.shape == (4,)


def test_fit_is_reproducible_and_learns():
    data = torch.utils.data.Subset(load_mnist(train=True, source="subset", verbose=False), range(512))
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(fit(SimpleCNN(), data, data, epochs=2, progress=False, verbose=False, device="cpu"))
    assert [r.loss for r in runs[0]] == [r.loss for r in runs[1]]
    assert runs[0][1].loss < runs[0][0].loss


def test_fit_stops_when_the_loss_explodes():
    class Exploding(SimpleCNN):
        def forward(self, x):
            return super().forward(x) * float("inf")

    data = torch.utils.data.TensorDataset(torch.randn(8, 1, 28, 28), torch.zeros(8).long())
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(Exploding(), data, epochs=1, progress=False, verbose=False, device="cpu")


def test_device_choice(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    assert pick_device("meta") == torch.device("meta")
    monkeypatch.delenv("COURSE_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device().type == expected
