"""A stand-in for the MNIST mirror: the bundled digits in another order, gzipped, served over HTTP on 127.0.0.1.

The tests and `make paths` point COURSE_MNIST_MIRROR at it, so "online" can be tested without a network, and a
notebook that read the served files instead of the bundled ones would show other digits in other places.
"""

from __future__ import annotations

import gzip
import http.server
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from utils.data import IDX_FILES, SUBSET_ROOT


def write_reordered_mnist(folder: Path) -> Path:
    """Write the four IDX files of the bundled subset, each split's digits in reverse order, as .gz into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = SUBSET_ROOT / "MNIST" / "raw"
    for name, (_, ndim) in IDX_FILES.items():
        data = (raw / name).read_bytes()
        header = 4 + 4 * ndim
        count = struct.unpack(">I", data[4:8])[0]
        size = (len(data) - header) // count  # bytes per item: 784 for an image, 1 for a label
        items = [data[header + i * size: header + (i + 1) * size] for i in range(count)]
        (folder / f"{name}.gz").write_bytes(gzip.compress(data[:header] + b"".join(reversed(items)), mtime=0))
    return folder


class MirrorServer:
    """An HTTP server on 127.0.0.1 that serves a folder and records the paths it was asked for."""

    def __init__(self, folder: Path) -> None:
        requests: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # quiet
                pass

        self.folder = folder
        self.requests = requests
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serve_mnist(folder: Path) -> Iterator[MirrorServer]:
    """Serve the reordered bundled digits from folder (written there first); yields the server (url, requests)."""
    with MirrorServer(write_reordered_mnist(folder)) as server:
        yield server
