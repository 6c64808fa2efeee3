"""The convolution playground's redraw: moving a control of `conv_playground` against drawing the view from scratch.

The playground keeps its figures: a move updates the artists in place and renders the input-and-output picture to
the PNG the page shows (the kernel's picture only when the kernel changes). The baseline draws the same view as a
new static figure (input, kernel with its weights, output, titles) and renders it the same way. Three moves are
timed on a test digit: the stride slider, the padding slider and the output-position slider. The goal is
absolute: a median redraw under 100 ms on a 2-core laptop CPU (the last row).

    python -m benchmarks.bench_playground
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

from benchmarks.common import Row, Timing, fix_threads, print_rows, redraw_rows  # noqa: E402
from utils import conv_playground, load_mnist  # noqa: E402
from utils.widgets.playground_canvas import DPI, png  # noqa: E402

GOAL_S = 0.1  # median redraw


def run(repeats: int = 15) -> list[Row | Timing]:
    fix_threads(2)
    digit = (load_mnist(train=False, verbose=False)[0][0] + 1) / 2
    playground = conv_playground({"digit": digit})
    cases = [
        ("stride slider (1, 2, 3), 3x3 Sobel", {"padding": 1}, "stride", itertools.cycle([1, 2, 3])),
        ("padding slider (0 to 3), 3x3 Sobel", {"stride": 1}, "padding", itertools.cycle([0, 1, 2, 3])),
        ("output position slider, 5x5 blur", {"preset": "blur 5x5 (binomial)", "stride": 1, "padding": 0}, "col",
         itertools.cycle(range(24))),
    ]
    return redraw_rows("playground", "playground redraw", "same view from scratch", playground, playground.show,
                       cases, lambda: png(playground.figure), GOAL_S, DPI, repeats)


if __name__ == "__main__":
    print_rows(run())
