"""Choose and install the PyTorch build for `make install` / `make lab` / `make test` (the Makefile's TORCH=...).

    python tools/torch_index.py auto              # says in one line what it chose, then installs torch+torchvision
    python tools/torch_index.py cpu --dry-run     # prints the pip command instead of running it
    python tools/torch_index.py auto -c .ci/oldest.txt
    python tools/torch_index.py auto --download wheelhouse   # `make wheelhouse`: download instead of installing

- `default`: nothing is installed here; requirements.txt then brings PyPI's torch. On Linux x86-64 that is the CUDA
  build: about 3 GB of downloads (torch, ~15 nvidia-* wheels, triton). On macOS and Windows PyPI's torch is CPU-only.
- `cpu`: torch and torchvision from PyTorch's CPU wheel index (a torch wheel of about 190 MB, no nvidia-* wheels).
  Stops with an error when that index cannot be reached.
- `auto` (the Makefile's default): `cpu` on Linux x86-64 when no NVIDIA GPU is found and the index answers within a
  few seconds; `default` otherwise, at once, with one line saying why.

With `--download DIR` the chosen build's wheels are saved in DIR instead, and DIR/torch.txt pins their versions
(empty for `default`), so that the download of everything else (`make wheelhouse`) keeps this build.
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CHOICES = ("auto", "cpu", "default")
PROBE_TIMEOUT_S = 3.0


def has_nvidia_gpu() -> bool:
    """True when an NVIDIA driver is installed (its `nvidia-smi` tool or its /proc entry).

    >>> isinstance(has_nvidia_gpu(), bool)
    True
    """
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia").exists()


def index_reachable(url: str = CPU_INDEX, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether `url` answers within `timeout` seconds; never waits longer (a slow DNS lookup included).

    >>> index_reachable("http://127.0.0.1:9/", timeout=1.0)
    False
    """
    answered: list[bool] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                answered.append(True)
        except (OSError, ValueError):
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered)


def choose(choice: str, *, system: str, machine: str, nvidia: bool, reachable: Callable[[], bool]) -> tuple[str, str]:
    """The build to install (`"cpu"` or `"default"`) and a one-line reason; `reachable` is called only if needed.

    >>> choose("auto", system="Darwin", machine="arm64", nvidia=False, reachable=lambda: True)[0]
    'default'
    """
    if choice not in CHOICES:
        raise ValueError(f"TORCH must be one of {', '.join(CHOICES)}, not {choice!r}: e.g. `make lab TORCH=cpu`.")
    if choice == "default":
        return "default", "TORCH=default: PyPI's torch"
    linux_x86 = system == "Linux" and machine.lower() in ("x86_64", "amd64")
    if choice == "auto" and not linux_x86:
        return "default", f"PyPI's torch is already a CPU build on {system} {machine}"
    if choice == "auto" and nvidia:
        return "default", "an NVIDIA GPU was found: PyPI's CUDA build of torch"
    if not reachable():
        if choice == "cpu":
            raise RuntimeError(f"TORCH=cpu, but {CPU_INDEX} cannot be reached: connect to the internet, or use "
                               "`TORCH=default` (PyPI's torch; on Linux x86-64 the CUDA build, about 3 GB).")
        return "default", (f"no NVIDIA GPU, but {CPU_INDEX} cannot be reached: PyPI's torch instead, "
                           "the CUDA build of about 3 GB")
    reason = "TORCH=cpu" if choice == "cpu" else "no NVIDIA GPU found"
    return "cpu", f"{reason}: the CPU build of torch from {CPU_INDEX} (about 190 MB)"


def pip_args(build: str, constraints: str | None = None) -> list[str]:
    """The arguments after `python -m pip` that install `build`; empty for the default (requirements.txt does it).

    >>> pip_args("cpu")
    ['install', '--index-url', 'https://download.pytorch.org/whl/cpu', 'torch', 'torchvision']
    """
    if build == "default":
        return []
    if build != "cpu":
        raise ValueError(f"build must be 'cpu' or 'default', not {build!r}")
    extra = ["-c", constraints] if constraints else []
    return ["install", "--index-url", CPU_INDEX, *extra, "torch", "torchvision"]


def download_pins(pip_output: str) -> list[str]:
    """`name==version` for the torch and torchvision wheels that `pip download` saved or found (its output's lines).

    >>> download_pins("Saved ./wheelhouse/torch-2.9.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    ['torch==2.9.1+cpu']
    """
    wheels = re.findall(r"\b(torch|torchvision)-([^-\s]+)-[^\s/]*\.whl", pip_output)
    return sorted({f"{name}=={version}" for name, version in wheels})


def download(build: str, folder: str, constraints: str | None) -> int:
    """Save the chosen build's wheels in `folder` and pin them in folder/torch.txt; the default build: no pins."""
    pins_file = Path(folder) / "torch.txt"
    pins_file.parent.mkdir(parents=True, exist_ok=True)
    pins = []
    if build == "cpu":
        extra = ["-c", constraints] if constraints else []
        command = [sys.executable, "-m", "pip", "download", "--index-url", CPU_INDEX, *extra, "-d", folder,
                   "torch", "torchvision"]
        result = subprocess.run(command, capture_output=True, text=True)
        print(result.stdout + result.stderr, end="", flush=True)
        if result.returncode:
            return result.returncode
        pins = download_pins(result.stdout)
    header = "# The PyTorch build `make wheelhouse` chose (tools/torch_index.py); nothing pinned for PyPI's.\n"
    pins_file.write_text(header + "".join(f"{pin}\n" for pin in pins))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("choice", nargs="?", default="auto", help="auto (default), cpu or default")
    parser.add_argument("-c", "--constraints", help="a pip constraints file, e.g. .ci/oldest.txt")
    parser.add_argument("--dry-run", action="store_true", help="print the pip command instead of running it")
    parser.add_argument("--download", metavar="DIR", help="save the wheels in DIR instead (make wheelhouse)")
    args = parser.parse_args(argv)
    try:
        build, reason = choose(args.choice, system=platform.system(), machine=platform.machine(),
                               nvidia=has_nvidia_gpu(), reachable=index_reachable)
    except (ValueError, RuntimeError) as error:
        print(f"torch_index: {error}", file=sys.stderr)
        return 2
    print(f"PyTorch build: {build} ({reason}).", flush=True)
    if args.download:
        return download(build, args.download, args.constraints)
    command = [sys.executable, "-m", "pip", *pip_args(build, args.constraints)]
    if build == "default":
        return 0
    if args.dry_run:
        print(" ".join(command))
        return 0
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
