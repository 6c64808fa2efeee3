"""Run notebooks top to bottom in a fresh kernel and store their outputs (what `make notebooks` does).

    python tools/run_notebooks.py                       # every notebook, solutions included
    python tools/run_notebooks.py notebooks/03_*.ipynb  # some of them

Each notebook runs in its own folder with the `python3` kernel of this environment. Progress-bar widgets are
dropped from the stored outputs (on GitHub they show as raw text; the lines printed after them stay), pieces of
printed text are joined, cell timing metadata is not recorded, and widget state is not saved, so that a re-run
changes only what really changed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from sync_notebooks import notebook_files  # tools/sync_notebooks.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def is_progress_bar(output) -> bool:
    text = output.get("data", {}).get("text/plain", "")
    return WIDGET in output.get("data", {}) and ("it/s]" in text or "%|" in text)


def merge_streams(outputs: list) -> list:
    """Adjacent stdout (or stderr) pieces as one output, as a reader sees them (nbval compares them merged too)."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                and previous.name == output.name):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def run(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = KERNELSPEC
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams([o for o in cell.outputs if not is_progress_bar(o)])
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return seconds


def main(paths: list[str]) -> None:
    notebooks = [Path(p).resolve() for p in paths] or notebook_files()
    for path in notebooks:
        print(f"{path.relative_to(ROOT)}: {run(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
