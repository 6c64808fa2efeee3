"""MNIST for the course: the bundled 4000/1000 digits on every path; the full MNIST only when asked for.

Every learner sees the digits the notebooks' stored outputs and prose were written on, online or not. The full
MNIST (70,000 digits) is an explicit choice: `load_mnist(full=True)`, or `make data` ahead of time.

    make data            # fetch full MNIST into data/MNIST/raw (what `make data` runs)
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torchvision is imported where it is used: its import loads every model definition
    from torchvision import datasets

__all__ = ["DATA_DIR", "DatasetFileError", "check_idx_files", "download_full_mnist", "load_mnist", "mirror_url",
           "main"]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
FULL_ROOT = DATA_DIR  # torchvision reads <root>/MNIST/raw/
SUBSET_ROOT = DATA_DIR / "mnist_subset"  # the bundled 4000/1000 digits, never written to at run time
DOWNLOAD_TIMEOUT_S = 10
MIRROR_VARIABLE = "COURSE_MNIST_MIRROR"  # another address to download from (a local server, in the tests)

# The four files torchvision's MNIST reads: name -> (magic number, number of dimensions).
IDX_FILES = {
    "train-images-idx3-ubyte": (2051, 3),
    "train-labels-idx1-ubyte": (2049, 1),
    "t10k-images-idx3-ubyte": (2051, 3),
    "t10k-labels-idx1-ubyte": (2049, 1),
}


class DatasetFileError(RuntimeError):
    """An MNIST file that is missing, truncated or not an IDX file."""


def check_idx_files(root: Path) -> None:
    """Raise DatasetFileError when one of the four IDX files under root/MNIST/raw is missing, truncated or corrupt.

    >>> check_idx_files(SUBSET_ROOT)  # the bundled subset is whole
    """
    raw = Path(root) / "MNIST" / "raw"
    counts = {}
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
        counts[name] = sizes[0]
    for split in ("train", "t10k"):
        images, labels = counts[f"{split}-images-idx3-ubyte"], counts[f"{split}-labels-idx1-ubyte"]
        if images != labels:
            raise DatasetFileError(f"{raw}: {split} has {images:,} images but {labels:,} labels (files of two "
                                   "different downloads?).")


def _has_files(root: Path) -> bool:
    raw = Path(root) / "MNIST" / "raw"
    return any((raw / name).exists() for name in IDX_FILES)


def mirror_url() -> str:
    """Where full MNIST is downloaded from: $COURSE_MNIST_MIRROR when set, else torchvision's first mirror."""
    from torchvision import datasets

    return os.environ.get(MIRROR_VARIABLE) or datasets.MNIST.mirrors[0]


def download_full_mnist(root: Path = FULL_ROOT, timeout: float = DOWNLOAD_TIMEOUT_S, mirror: str | None = None) -> Path:
    """Download the full MNIST (70,000 digits) into root/MNIST/raw; return that folder.

    The four gzipped IDX files are fetched from `mirror` (default: `mirror_url()`) into a temporary folder and moved
    in only when all four are whole, so an interrupted or damaged download leaves nothing behind. Every network
    wait is limited to `timeout` seconds. Network failures raise OSError (URLError, TimeoutError); a file that is
    not a whole gzipped IDX file raises DatasetFileError.

    >>> download_full_mnist()  # doctest: +SKIP
    """
    root = Path(root)
    if root.resolve() == SUBSET_ROOT.resolve():
        raise ValueError(f"root={root} is the bundled subset's folder: full MNIST goes beside it, never over it.")
    base = (mirror or mirror_url()).rstrip("/") + "/"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        fetched = Path(tmp) / "MNIST" / "raw"
        fetched.mkdir(parents=True)
        for name in IDX_FILES:
            url = f"{base}{name}.gz"
            with urllib.request.urlopen(url, timeout=timeout) as response:
                packed = response.read()
            try:
                (fetched / name).write_bytes(gzip.decompress(packed))
            except (OSError, EOFError, zlib.error) as error:  # not gzip, or cut short
                raise DatasetFileError(
                    f"{url} is not a whole gzip file ({error}); nothing was written. Run `make data` (or "
                    f"load_mnist(full=True)) again; if it fails again, set {MIRROR_VARIABLE} to another mirror."
                ) from None
        try:
            check_idx_files(Path(tmp))
        except DatasetFileError as error:
            raise DatasetFileError(f"The download from {base} is damaged: {error} Nothing was written; run "
                                   "`make data` again.") from None
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name in IDX_FILES:
            os.replace(fetched / name, raw / name)
    return raw


def _fix_hint(root: Path) -> str:
    if Path(root) == SUBSET_ROOT:
        return "Restore the bundled files with `git checkout -- data/mnist_subset` (or download the course again)."
    return f"Delete {Path(root) / 'MNIST'} and run `make data` (or load_mnist(full=True) online) to download it again."


BUNDLED = "the course's bundled subset (the same on every machine; load_mnist(full=True) for all of MNIST)"


def _choose_root(full: bool) -> tuple[Path, str]:
    """The folder to read MNIST from, and the reason printed with it."""
    if not full:
        return SUBSET_ROOT, BUNDLED
    if _has_files(FULL_ROOT):
        return FULL_ROOT, f"full MNIST (full=True), from {FULL_ROOT / 'MNIST' / 'raw'}"
    if os.environ.get("COURSE_OFFLINE") == "1":
        return SUBSET_ROOT, "the bundled subset: full=True, but COURSE_OFFLINE=1 skips the download"
    try:
        raw = download_full_mnist(FULL_ROOT, DOWNLOAD_TIMEOUT_S)
    except OSError as error:  # offline, firewall, server down or stalled: the bundled subset still works
        return SUBSET_ROOT, (f"the bundled subset: full=True, but the download from {mirror_url()} failed "
                             f"({type(error).__name__}); once online, restart the kernel and ask again, "
                             "or run `make data`")
    return FULL_ROOT, f"full MNIST (full=True), just downloaded into {raw}"


_chosen: dict[bool, tuple[Path, str]] = {}


def load_mnist(train: bool = True, *, full: bool = False, transform: Callable | None = None,
               verbose: bool = True) -> datasets.MNIST:
    """MNIST as a torchvision `MNIST` dataset with the course's transform (values in [-1, 1]).

    By default the bundled subset (4000 training / 1000 test digits), on every machine and online or not, so that
    your numbers are the notebooks'. full=True asks for the full MNIST (60,000 / 10,000): from data/MNIST when it
    is there (`make data`), else downloaded once (unless COURSE_OFFLINE=1); when that fails, the bundled subset,
    and the printed line says why. Prints one line saying which data set is used and why.

    >>> test_set = load_mnist(train=False, verbose=False)
    >>> len(test_set), tuple(test_set[0][0].shape)
    (1000, (1, 28, 28))
    """
    if not isinstance(full, bool):
        raise TypeError(f"full must be True or False, not {full!r}.")
    if full not in _chosen:  # decide once per session: no second download attempt
        _chosen[full] = _choose_root(full)
    root, why = _chosen[full]
    if root == SUBSET_ROOT and not _has_files(SUBSET_ROOT):
        raise FileNotFoundError(
            f"No MNIST available: the bundled subset in {SUBSET_ROOT} is missing ({why}). Restore it with "
            "`git checkout -- data/mnist_subset`, or use load_mnist(full=True) online."
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
    """`make data`: download full MNIST into data/MNIST/raw unless it is already there (then load_mnist(full=True)
    uses it)."""
    if _has_files(FULL_ROOT):
        check_idx_files(FULL_ROOT)
        print(f"Full MNIST is already in {FULL_ROOT / 'MNIST' / 'raw'}.")
    else:
        print(f"Downloading full MNIST from {mirror_url()} ...", flush=True)
        print(f"Full MNIST downloaded into {download_full_mnist(FULL_ROOT)}; load_mnist(full=True) uses it.")
