"""Training and evaluation: the device, a seeded training loop with a progress bar, accuracy, confusion matrix.

    make checkpoint     # retrain the shipped checkpoint data/simplecnn.pt with the course's recipe
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .capturing.guards import Device, eval_mode, num_threads, to_model_device
from .data import load_mnist
from .models import CHECKPOINT, CheckpointError, SimpleCNN, load_checkpoint, save_checkpoint

__all__ = ["SEED", "THREADS", "RECIPE", "EpochResult", "accuracy", "agreement", "confusion_matrix", "fit",
           "load_trained_simplecnn", "main", "make_loader", "pick_device", "predict", "seed_everything", "train_epoch",
           "train_reference_model", "training_environment"]

SEED = 0
THREADS = 2  # fixed: on one machine, CPU results then repeat run after run (they change with the thread count)
RECIPE: dict[str, Any] = {"epochs": 5, "lr": 1e-3, "batch_size": 64, "seed": SEED}  # how data/simplecnn.pt was trained


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to use: `prefer`, else $COURSE_DEVICE, else the CPU, even when torch sees a GPU.

    The course's printed numbers are CPU numbers and the SimpleCNN trains in seconds on a CPU, so a GPU is an
    explicit choice (`COURSE_DEVICE=cuda` or `mps`, or `setup(device="cuda")`). A name torch does not know, or a
    GPU that torch cannot see, is a ValueError that says what to do.

    >>> pick_device()
    device(type='cpu')
    """
    name = prefer or os.environ.get("COURSE_DEVICE") or "cpu"
    given = "device" if prefer else "COURSE_DEVICE"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{given}={name!r} is not a device torch knows: use 'cpu', 'cuda' or 'mps' "
                         f"(or leave it unset for the CPU).") from None
    available = {"cuda": torch.cuda.is_available,
                 "mps": lambda: getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if device.type in available and not available[device.type]():
        raise ValueError(f"{given}={name!r}, but torch sees no {device.type.upper()} device here: unset it (the CPU "
                         f"runs the whole course in seconds), or install a torch build with {device.type} support.")
    return device


def seed_everything(seed: int = SEED, threads: int = THREADS) -> None:
    """Seed Python, NumPy and torch, and fix torch's CPU thread count, so results repeat run after run.

    >>> seed_everything(0)
    """
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


@dataclass
class EpochResult:
    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None
    seconds: float

    def __str__(self) -> str:
        test = "" if self.test_accuracy is None else f"  test acc {100 * self.test_accuracy:5.1f}%"
        return f"epoch {self.epoch}  loss {self.loss:.3f}  train acc {100 * self.train_accuracy:5.1f}%{test}"


def make_loader(dataset: Dataset, batch_size: int = 64, shuffle: bool = False, seed: int = SEED) -> DataLoader:
    """A DataLoader whose shuffling is seeded by its own generator (the same batches on every run)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: Device, *,
                progress: bool = True, desc: str = "") -> tuple[float, float]:
    """One pass over loader; returns (mean loss, accuracy) over the epoch."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    from tqdm.auto import tqdm  # imported here: in a notebook it brings ipywidgets

    for images, labels in tqdm(loader, desc=desc, leave=False, disable=not progress):
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        logits = model(images)
        loss = nn.functional.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"The loss became {loss.item()} ({desc}): lower the learning rate.")
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
    return total_loss / seen, correct / seen


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: Device | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes, true labels) over loader, on the CPU; every submodule's train/eval mode is restored.

    Images go to `device`, by default the model's own.

    >>> model = SimpleCNN().train()
    >>> predicted, true = predict(model, make_loader(load_mnist(train=False, verbose=False), 500))
    >>> predicted.shape, model.training
    (torch.Size([1000]), True)
    """
    predicted, true = [], []
    with eval_mode(model):
        for images, labels in loader:
            x = images.to(device) if device is not None else to_model_device(model, images)
            predicted.append(model(x).argmax(1).cpu())
            true.append(labels)
    return torch.cat(predicted), torch.cat(true)


def accuracy(model: nn.Module, loader: DataLoader, device: Device | None = None) -> float:
    """The fraction of loader's samples the model classifies correctly.

    >>> accuracy(load_trained_simplecnn(), make_loader(load_mnist(False, verbose=False))) > 0.95  # doctest: +SKIP
    True
    """
    predicted, true = predict(model, loader, device)
    return (predicted == true).sum().item() / len(true)


def agreement(model: nn.Module, other: nn.Module, loader: DataLoader) -> float:
    """The fraction of loader's samples on which two models predict the same class.

    One recipe trained on two CPUs gives slightly different weights (see `training_environment`); a sound recipe
    still gives two models that agree on nearly every digit.

    >>> shipped = load_trained_simplecnn()
    >>> agreement(shipped, shipped, make_loader(load_mnist(False, verbose=False), 500))
    1.0
    """
    mine, _ = predict(model, loader)
    theirs, _ = predict(other, loader)
    return (mine == theirs).float().mean().item()


def confusion_matrix(predicted: torch.Tensor, true: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Counts[i, j]: how many samples of true class i were predicted as class j.

    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), num_classes=2)
    tensor([[1, 1],
            [0, 1]])
    """
    index = true.long() * num_classes + predicted.long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def fit(model: nn.Module, train_set: Dataset, test_set: Dataset | None = None, *, epochs: int = 5,
        lr: float = 1e-3, batch_size: int = 64, seed: int = SEED, device: Device | None = None,
        progress: bool = True, verbose: bool = True) -> list[EpochResult]:
    """Train model with Adam and cross-entropy; return one EpochResult per epoch (printed when verbose).

    The batches are shuffled by a generator seeded with `seed`, so a run repeats exactly (same device and threads).

    >>> history = fit(SimpleCNN(), load_mnist(verbose=False), epochs=1)  # doctest: +SKIP
    """
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    train_loader = make_loader(train_set, batch_size, shuffle=True, seed=seed)
    test_loader = make_loader(test_set, 256) if test_set is not None else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss, train_acc = train_epoch(model, train_loader, optimizer, device, progress=progress,
                                      desc=f"epoch {epoch}/{epochs}")
        test_acc = accuracy(model, test_loader, device) if test_loader is not None else None
        history.append(EpochResult(epoch, loss, train_acc, test_acc, time.perf_counter() - start))
        if verbose:
            print(history[-1])
    model.eval()
    return history


def training_environment() -> dict[str, object]:
    """What the last digits of a CPU training run depend on: torch's version, the CPU kernels it uses, the threads.

    torch picks its kernels by CPU (AVX-512, AVX2, Arm, ...), and each rounds the same sums a little differently, so
    the same recipe gives slightly different weights on different machines; `make checkpoint` stores this record.

    >>> sorted(training_environment())
    ['cpu_capability', 'threads', 'torch']
    """
    return {"torch": str(torch.__version__), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}


def train_reference_model(path: str | Path = CHECKPOINT, *, progress: bool = False) -> SimpleCNN:
    """Train the SimpleCNN with the course's recipe on the bundled subset, on the CPU, and save it to path.

    The caller's random state and thread count are left as they were.
    """
    train_set, test_set = load_mnist(True), load_mnist(False)
    with torch.random.fork_rng(devices=[]), num_threads(THREADS):
        torch.manual_seed(SEED)
        environment = training_environment()
        model = SimpleCNN()
        history = fit(model, train_set, test_set, epochs=RECIPE["epochs"], lr=RECIPE["lr"],
                      batch_size=RECIPE["batch_size"], seed=SEED, device="cpu", progress=progress)
    save_checkpoint(model, path, **RECIPE, data="bundled subset", **environment,
                    test_accuracy=history[-1].test_accuracy)
    return model


def load_trained_simplecnn(path: str | Path = CHECKPOINT, device: Device | None = None) -> SimpleCNN:
    """The SimpleCNN with the weights shipped in data/simplecnn.pt, in eval mode, on `device` (default: cpu).

    The course's own code trained those weights on the bundled subset (95%+ on its 1000 test digits). If the file
    is missing it is trained again and saved (about 10 s on a laptop CPU); a damaged file is reported and replaced.

    >>> model = load_trained_simplecnn()
    >>> model.training
    False
    """
    with torch.random.fork_rng(devices=[]):  # loading must not use up the caller's random numbers
        model = SimpleCNN()
    path = Path(path)
    try:
        load_checkpoint(model, path)
    except CheckpointError as error:
        if path.exists():
            warnings.warn(f"{error} Training it again now; `git checkout -- data/simplecnn.pt` restores the shipped "
                          "file.", stacklevel=2)
        else:
            print(f"{path} is missing: training the SimpleCNN with the course's recipe (about 10 s)...")
        model = train_reference_model(path)
    return model.to(device or "cpu").eval()


def main() -> None:
    """`make checkpoint`: retrain data/simplecnn.pt with the course's recipe."""
    train_reference_model(progress=True)
    print(f"Saved {CHECKPOINT}.")
