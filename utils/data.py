"""MNIST for the course: the full data set when it is in data/, else a download, else the bundled offline subset.

    make data            # fetch full MNIST into data/MNIST/raw (what `make data` runs)
"""

from __future__ import annotations

import math
import os
import socket
import struct
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # torchvision is imported where it is used: its import loads every model definition
    from torchvision import datasets

__all__ = ["DATA_DIR", "DatasetFileError", "check_idx_files", "download_full_mnist", "load_mnist", "main"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
FULL_ROOT = DATA_DIR  # torchvision reads <root>/MNIST/raw/
SUBSET_ROOT = DATA_DIR / "mnist_subset"  # the bundled 4000/1000 digits, never written to at run time
DOWNLOAD_TIMEOUT_S = 10

# The four files torchvision's MNIST reads: name -> (magic number, number of dimensions).
IDX_FILES = {
    "train-images-idx3-ubyte": (2051, 3),
    "train-labels-idx1-ubyte": (2049, 1),
    "t10k-images-idx3-ubyte": (2051, 3),
    "t10k-labels-idx1-ubyte": (2049, 1),
}

Source = Literal["auto", "full", "subset"]


class DatasetFileError(RuntimeError):
    """An MNIST file that is missing, truncated or not an IDX file."""


def check_idx_files(root: Path) -> None:
    """Raise DatasetFileError when one of the four IDX files under root/MNIST/raw is missing, truncated or corrupt.

    >>> check_idx_files(SUBSET_ROOT)  # the bundled subset is whole
    """
    raw = Path(root) / "MNIST" / "raw"
    for name, (magic, ndim) in IDX_FILES.items():
        path = raw / name
        if not path.is_file():
            raise DatasetFileError(f"{path} is missing.")
        with path.open("rb") as f:
            head = f.read(4 + 4 * ndim)
        if len(head) < 4 + 4 * ndim or struct.unpack(">I", head[:4])[0] != magic:
            raise DatasetFileError(f"{path} is not an MNIST IDX file (wrong header).")
        sizes = struct.unpack(f">{ndim}I", head[4:])
        expected = 4 + 4 * ndim + math.prod(sizes)
        if path.stat().st_size != expected:
            raise DatasetFileError(
                f"{path} is truncated or damaged: {path.stat().st_size:,} bytes where its header promises "
                f"{expected:,}."
            )


def _has_files(root: Path) -> bool:
    raw = Path(root) / "MNIST" / "raw"
    return any((raw / name).exists() for name in IDX_FILES)


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def download_full_mnist(root: Path = FULL_ROOT, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the full MNIST (70,000 digits) into root/MNIST/raw; return that folder.

    Files are fetched into a temporary folder and moved in only when all four are whole, so an interrupted
    download leaves nothing half-written. Every network wait is limited to `timeout` seconds.

    >>> download_full_mnist()  # doctest: +SKIP
    """
    from torchvision import datasets

    mirror = datasets.MNIST.mirrors[0]
    with _socket_timeout(timeout):
        urllib.request.urlopen(mirror + datasets.MNIST.resources[1][0], timeout=timeout).close()  # reachable?
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            datasets.MNIST(tmp, train=True, download=True)
            check_idx_files(Path(tmp))
            raw = Path(root) / "MNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            for name in IDX_FILES:
                os.replace(Path(tmp) / "MNIST" / "raw" / name, raw / name)
    return raw


def _fix_hint(root: Path) -> str:
    if Path(root) == SUBSET_ROOT:
        return "Restore the bundled files with `git checkout -- data/mnist_subset` (or download the course again)."
    return f"Delete {Path(root) / 'MNIST'} and run `make data` (or load_mnist() online) to download it again."


def _choose_root(source: Source) -> tuple[Path, str]:
    """The folder to read MNIST from, and one line saying which data set that is and why."""
    if source == "subset":
        return SUBSET_ROOT, "bundled subset (asked for)"
    if _has_files(FULL_ROOT):
        return FULL_ROOT, f"full MNIST found in {FULL_ROOT / 'MNIST' / 'raw'}"
    if source == "full" or os.environ.get("COURSE_OFFLINE") != "1":
        try:
            download_full_mnist()
            return FULL_ROOT, "full MNIST, just downloaded into data/MNIST/raw"
        except Exception as error:  # offline, firewall, server down: the bundled subset still works
            if source == "full":
                raise RuntimeError(f"Could not download full MNIST: {error}. Check the connection.") from error
            return SUBSET_ROOT, f"bundled subset (download failed: {type(error).__name__})"
    return SUBSET_ROOT, "bundled subset (COURSE_OFFLINE=1 skips the download)"


_chosen: dict[Source, tuple[Path, str]] = {}


def load_mnist(train: bool = True, *, source: Source = "auto", transform: Callable | None = None,
               verbose: bool = True) -> datasets.MNIST:
    """MNIST as a torchvision `MNIST` dataset with the course's transform (values in [-1, 1]).

    source="auto" prefers the full MNIST already in data/, then a download (skipped when COURSE_OFFLINE=1),
    then the bundled subset (4000 training / 1000 test digits); "subset" and "full" ask for one of them.
    Prints one line saying which data set is used and why.

    >>> test_set = load_mnist(train=False, source="subset", verbose=False)
    >>> len(test_set), tuple(test_set[0][0].shape)
    (1000, (1, 28, 28))
    """
    if source not in ("auto", "full", "subset"):
        raise ValueError(f"source must be 'auto', 'full' or 'subset', not {source!r}.")
    if source not in _chosen:  # decide once per session: no second download attempt
        _chosen[source] = _choose_root(source)
    root, why = _chosen[source]
    if root == SUBSET_ROOT and not _has_files(SUBSET_ROOT):
        raise FileNotFoundError(
            f"No MNIST available: the bundled subset in {SUBSET_ROOT} is missing and full MNIST could not be used "
            f"({why}). Restore it with `git checkout -- data/mnist_subset`, or go online and unset COURSE_OFFLINE."
        )
    try:
        check_idx_files(root)
    except DatasetFileError as error:
        raise DatasetFileError(f"{error} {_fix_hint(root)}") from None
    if transform is None:
        from .mnist import CourseMNIST

        dataset: datasets.MNIST = CourseMNIST(root, train=train)
    else:
        from torchvision import datasets

        dataset = datasets.MNIST(root, train=train, transform=transform, download=False)
    if verbose:
        split = "train" if train else "test"
        print(f"MNIST {split}: {len(dataset):,} digits, {why}.")
    return dataset


def main() -> None:
    """`make data`: download full MNIST into data/MNIST/raw unless it is already there."""
    if _has_files(FULL_ROOT):
        check_idx_files(FULL_ROOT)
        print(f"Full MNIST is already in {FULL_ROOT / 'MNIST' / 'raw'}.")
    else:
        print(f"Full MNIST downloaded into {download_full_mnist()}.")
