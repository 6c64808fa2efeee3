"""utils.train: the course recipe, fit, predict and evaluation, the shipped checkpoint retrained when missing."""

from __future__ import annotations

import ast

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import ROOT
from utils import SimpleCNN, load_mnist, load_trained_simplecnn
from utils.models import load_checkpoint, save_checkpoint
from utils.train import (
    RECIPE,
    SEED,
    THREADS,
    accuracy,
    agreement,
    confusion_matrix,
    fit,
    make_loader,
    pick_device,
    predict,
)


def test_shipped_checkpoint_reaches_95_percent():
    model = load_trained_simplecnn()
    assert not model.training
    test_set = load_mnist(train=False, source="subset", verbose=False)
    assert accuracy(model, make_loader(test_set, 500)) >= 0.95


def test_missing_checkpoint_is_retrained_with_the_course_recipe(tmp_path, capsys, monkeypatch):
    """A missing file is trained again: fit on the bundled subset with RECIPE, two threads, the caller's random state
    and thread count left alone, the environment recorded. The full run (5 epochs) is trained once per test run, by
    notebook 03 with the same recipe (test below), which checks it against the shipped model: test accuracy within 1
    point and the same answer on at least 97% of the test digits, on this CPU's kernels (`make test`) and on the
    plain ones (`make portable`)."""
    from utils import train

    calls = []

    def one_epoch_fit(model, train_set, test_set, **kwargs):
        calls.append({"train": len(train_set), "test": len(test_set), "threads": torch.get_num_threads(), **kwargs})
        return real_fit(model, train_set, test_set, **{**kwargs, "epochs": 1})

    real_fit = train.fit
    monkeypatch.setattr(train, "fit", one_epoch_fit)
    torch.set_num_threads(1)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    try:
        retrained = load_trained_simplecnn(tmp_path / "simplecnn.pt")
        assert torch.get_num_threads() == 1, "the caller's thread count is restored"
    finally:
        torch.set_num_threads(THREADS)
    assert "missing: training" in capsys.readouterr().out
    assert torch.equal(torch.rand(1), expected_next), "the caller's random state is left alone"
    recipe = {key: RECIPE[key] for key in ("epochs", "lr", "batch_size", "seed")}
    assert calls == [{"train": 4000, "test": 1000, "threads": THREADS, **recipe, "device": "cpu", "progress": False}]
    meta = load_checkpoint(saved := SimpleCNN(), tmp_path / "simplecnn.pt")
    assert meta["torch"] == str(torch.__version__) and meta["threads"] == THREADS and meta["epochs"] == RECIPE["epochs"]
    assert meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), retrained.state_dict().values()))
    loader = make_loader(load_mnist(train=False, source="subset", verbose=False), 500)
    assert accuracy(retrained, loader) > 0.8, "one epoch of the recipe already learns"


def test_notebook_03_trains_with_the_course_recipe():
    """Notebook 03's training run is the recipe's: its checks of the result stand for a retrained checkpoint's."""
    import nbformat

    cells = nbformat.read(ROOT / "notebooks" / "03_training_simplecnn.ipynb", as_version=4).cells
    (source,) = [cell.source for cell in cells if "history = fit(" in cell.source]
    assert f"torch.manual_seed({RECIPE['seed']})" in source
    (call,) = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
               and getattr(node.func, "id", "") == "fit"]
    given = {keyword.arg: keyword.value for keyword in call.keywords}
    assert {key: ast.literal_eval(given[key]) for key in ("epochs", "lr", "batch_size")} == \
        {key: RECIPE[key] for key in ("epochs", "lr", "batch_size")}
    assert "seed" not in given and RECIPE["seed"] == SEED, "fit's default seed is the recipe's"
    checks = "".join(cell.source for cell in cells)
    assert "within 1 point" in checks and ">= 0.97" in checks, "notebook 03 compares its model with the shipped one"


def test_agreement_catches_a_broken_recipe():
    """The retraining check above can fail: a model that learned nothing agrees with the shipped one on ~10%."""
    shipped = load_trained_simplecnn()
    loader = make_loader(load_mnist(train=False, source="subset", verbose=False), 500)
    torch.manual_seed(0)
    assert agreement(shipped, shipped, loader) == 1.0
    assert agreement(SimpleCNN().eval(), shipped, loader) < 0.5


def test_damaged_checkpoint_warns_and_is_replaced(tmp_path, monkeypatch):
    """The warning and the replacement (training is tested above)."""
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


def test_predict_restores_the_mode_of_every_submodule():
    model = SimpleCNN().train()
    model.conv1.eval()
    loader = DataLoader(TensorDataset(torch.zeros(6, 1, 28, 28), torch.arange(6)), batch_size=4)
    predicted, true = predict(model, loader)
    assert predicted.shape == (6,) and true.tolist() == list(range(6))
    assert model.training and not model.conv1.training and model.conv2.training
