"""What `import utils` costs, against `import torch` alone: each in a fresh Python process, interleaved.

`utils` imports its names on first use, so a notebook pays only for what it uses: the setup cell and the data and
model helpers need torch and little else; torchvision (whose import loads every model definition), matplotlib,
ipywidgets and anywidget load when a name that needs them is used. Goal: the setup cell's imports and the common
helpers cost at most 1.3x `import torch`. The last row, every public name at once, is measured without a goal.

    python -m benchmarks.bench_imports
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.common import Row, compare, print_rows, time_interleaved

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.3
CASES = {
    "import torch": "import torch",
    "import utils + setup cell": "import utils\nfrom utils.course import setup",
    "the common helpers": "from utils import SimpleCNN, capture, get_feature_maps, load_mnist, load_trained_simplecnn",
    "every public name": "from utils import *",
}


def fresh_python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)


def run(repeats: int = 7) -> list[Row]:
    times = time_interleaved({name: (lambda code=code: fresh_python(code)) for name, code in CASES.items()},
                             repeats=repeats, warmup=1)
    rows = []
    for name in list(CASES)[1:]:
        goal = None if name == "every public name" else GOAL
        rows.append(compare("imports", f"{name}, in a fresh process", times, name, "import torch", goal=goal,
                            note=f"`{CASES[name].replace(chr(10), '; ')}` against `import torch` alone"))
    return rows


if __name__ == "__main__":
    print_rows(run())
