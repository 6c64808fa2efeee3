"""draw_digit: from the end of a stroke to the updated overview, against the goal of a median under 100 ms.

What happens at the end of a stroke, on the Python side, measured in-process: the strokes arrive (set as the
browser's message sets them), become the 28x28 input, the model runs once with hooks on every layer, and the view
for the browser is made and serialized to JSON (what the widget's message carries). The baseline is the other way
to show the same overview in a notebook: drawing it with matplotlib (`plot_network`) and rendering a PNG for an
`ipywidgets.Image`, as `explore` does; the ratio is why the widget sends numbers and lets the browser paint.
Strokes are the ten digits of tests/support/browser_draw.py (asked of it as a command), in turn, on the shipped
SimpleCNN.

The full round trip (mouse released in headless Chromium -> kernel -> overview painted) is measured by drawing
every digit in JupyterLab with `python -m tests.support.browser_draw --json`, when Chromium and Playwright are
installed.

    python -m benchmarks.bench_draw
"""

from __future__ import annotations

import io
import itertools
import json
import statistics
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from benchmarks.common import Row, Timing, compare, fix_threads, print_rows, time_interleaved, timing  # noqa: E402
from utils import draw_digit, load_trained_simplecnn  # noqa: E402
from utils.widgets.network_view import plot_network  # noqa: E402

GOAL_S = 0.1  # median, end of stroke to updated overview
ROOT = Path(__file__).resolve().parents[1]
DRAWER = [sys.executable, "-m", "tests.support.browser_draw"]  # a command, not an import: tests/ is not a library


def digit_strokes() -> dict[int, list]:
    """The ten digits' mouse strokes the browser test draws."""
    out = subprocess.run([*DRAWER, "--strokes"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {int(digit): strokes for digit, strokes in json.loads(out).items()}


def python_side(repeats: int) -> tuple[list[Row | Timing], list[float]]:
    model = load_trained_simplecnn()
    pad = draw_digit(model)
    digits = digit_strokes()
    strokes = itertools.cycle([[{"width": 22, "points": [list(p) for p in s]} for s in digits[d]] for d in digits])
    seq = itertools.count(1)

    def stroke_end() -> None:  # what the browser's message does, then the reply's serialization
        pad.strokes = {"seq": next(seq), "strokes": next(strokes)}
        json.dumps(pad.view)

    def matplotlib_png() -> None:
        buffer = io.BytesIO()
        plot_network(model, pad.input).savefig(buffer, format="png", dpi=90)

    stroke_end()
    times = time_interleaved({"draw_digit update": stroke_end, "matplotlib overview as PNG": matplotlib_png},
                             repeats=repeats)
    ours = times["draw_digit update"]
    row = compare("draw", "stroke end to overview, Python side (10 digits in turn)", times, "draw_digit update",
                  "matplotlib overview as PNG", note="update: strokes -> 28x28 input -> model with hooks -> view as "
                  "JSON; baseline: plot_network rendered to PNG (dpi 90), what an ipywidgets.Image would need")
    return [row], ours


def browser_round_trip() -> list[float] | str:
    """Round trips (seconds) of every stroke of the ten digits drawn in JupyterLab, or why they were not measured."""
    result = subprocess.run([*DRAWER, "--json"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout.strip():
        return f"the browser run failed: {(result.stderr.strip().splitlines() or ['no output'])[-1]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if "skipped" in report:
        return str(report["skipped"])
    right = sum(predicted == str(digit) for digit, (predicted, _text) in report["shown"].items())
    print(f"browser: the shipped model read {right} of {len(report['shown'])} drawn digits right")
    return [t / 1000 for t in report["times"]]


def run(repeats: int = 30, browser: bool = True) -> list[Row | Timing]:
    fix_threads(2)
    rows, ours = python_side(repeats)
    trips = browser_round_trip() if browser else "not asked for"
    note = (f"goal: median under {1000 * GOAL_S:.0f} ms; measured {1000 * statistics.median(ours):.0f} ms "
            f"(min {1000 * min(ours):.0f}, max {1000 * max(ours):.0f})")
    if isinstance(trips, str):
        note += f"; the browser round trip was not measured: {trips}"
    rows.append(timing("draw", "stroke end to overview, Python side (median)", ours, GOAL_S, note=note))
    if not isinstance(trips, str):
        rows.append(timing("draw", "stroke end to painted overview in headless Chromium (median)", trips, GOAL_S,
                           note=f"{len(trips)} strokes of the ten digits drawn with the mouse in JupyterLab; "
                                f"median {1000 * statistics.median(trips):.0f} ms"))
    return rows


if __name__ == "__main__":
    print_rows(run())
