"""The course's own run times: each notebook under strict nbval (as `make test` runs it) and a training epoch.

These are absolute times, so each is reported against a budget instead of a baseline: notebook 03 (training)
under 60 s and notebook 06 about a minute on a 2-core laptop CPU, the others under 30 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import Timing, fix_threads, print_rows, timing

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"03": 60.0, "06": 75.0}  # seconds; the others: DEFAULT_BUDGET
DEFAULT_BUDGET = 30.0


def notebook_seconds(path: Path) -> float:
    """Wall time of `pytest --nbval` on one notebook, kernel start included (what a learner waits for, roughly)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", str(ROOT / "tests" / "support" / "nbval_sanitize.cfg"), str(path)]
    start = time.perf_counter()
    env = {**os.environ, "COURSE_OFFLINE": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{path.name} failed under nbval:\n{result.stdout[-2000:]}")
    return seconds


def epoch_seconds(epochs: int = 3) -> list[float]:
    from utils import SimpleCNN, load_mnist
    from utils.train import fit

    torch.manual_seed(0)
    history = fit(SimpleCNN(), load_mnist(True, source="subset", verbose=False), epochs=epochs, progress=False,
                  verbose=False, device="cpu")
    return [r.seconds for r in history]


def run(repeats: int = 1) -> list[Timing]:
    fix_threads(2)
    rows = [timing("course", "SimpleCNN training epoch (4000 digits, batch 64, 2 threads)", epoch_seconds(3))]
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total = []
    for path in notebooks + sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb")):
        seconds = [notebook_seconds(path) for _ in range(repeats)]
        name = str(path.relative_to(ROOT / "notebooks"))
        budget = BUDGETS.get(path.name[:2], DEFAULT_BUDGET) if path.parent.name == "notebooks" else DEFAULT_BUDGET
        rows.append(timing("course", f"{name} under nbval", seconds, budget))
        if path in notebooks:
            total.append(rows[-1].seconds)
    rows.append(timing("course", "all course notebooks (solutions excluded), one after the other", [sum(total)]))
    return rows


if __name__ == "__main__":
    print_rows(run())
