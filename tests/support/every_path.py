"""`make paths`: pytest (the arguments given) under every condition a learner's machine may add, all at once.

- online: COURSE_OFFLINE unset and a local server on 127.0.0.1 as the MNIST mirror (COURSE_MNIST_MIRROR), serving
  the bundled digits in another order, so a notebook that downloaded would show other digits;
- torch reporting a CUDA and an MPS device (tests/support/accelerators/sitecustomize.py, on PYTHONPATH), as on a
  laptop with an NVIDIA GPU or an Apple-silicon Mac: the setup must still choose the CPU;
- MPLBACKEND=Agg, as on many servers and CI set-ups: the notebooks must still draw their figures inline.

The stored outputs must match as on the plain path, and the notebooks must not download anything.

    python -m tests.support.every_path -n auto --dist loadfile notebooks --nbval ...   # what `make paths` runs
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.support.mnist_server import serve_mnist

ACCELERATORS = Path(__file__).resolve().parent / "accelerators"
SEES = "import torch; print(torch.cuda.is_available(), torch.backends.mps.is_available())"


def foreign_environment(mirror: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in ("COURSE_OFFLINE", "COURSE_DEVICE")}
    env.update(COURSE_MNIST_MIRROR=mirror, MPLBACKEND="Agg", OMP_WAIT_POLICY="PASSIVE",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ACCELERATORS), os.environ.get("PYTHONPATH")])))
    return env


def main(args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp, serve_mnist(Path(tmp) / "served") as server:
        env = foreign_environment(server.url)
        # the conditions hold before the run: torch sees both accelerators, the mirror answers
        seen = subprocess.run([sys.executable, "-c", SEES], env=env, capture_output=True, text=True, check=True)
        assert seen.stdout.split() == ["True", "True"], f"the simulated accelerators are not seen: {seen}"
        urllib.request.urlopen(f"{server.url}t10k-labels-idx1-ubyte.gz", timeout=5).close()
        server.requests.clear()
        print(f"make paths: online (mirror {server.url}, COURSE_OFFLINE unset), torch sees cuda and mps, "
              "MPLBACKEND=Agg", flush=True)
        code = subprocess.run([sys.executable, "-m", "pytest", *args], env=env).returncode
        if server.requests:
            print(f"make paths: the run downloaded {sorted(set(server.requests))}: load_mnist() must use the "
                  "bundled digits on every path", file=sys.stderr)
            code = code or 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
