"""The explorer's redraw: moving a control of `explore` against drawing the same view from scratch.

`explore` captures the maps once and keeps its figure; moving a control redraws the figure and renders it to the
PNG the page shows. The baseline builds the same figure from scratch for every move (a new figure, the input
image, the maps drawn by `plot_feature_maps`, colorbar and titles), rendered to PNG the same way.
Three kinds of move are timed, on the trained SimpleCNN and 16 test digits: the image slider (conv1), the
channel range (conv2) and the scale mode (conv2). The goal is absolute: a median redraw under 250 ms on a 2-core
laptop CPU (the last row); the ratios show what keeping the figure saves.

    python -m benchmarks.bench_explore
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

from benchmarks.common import Row, Timing, fix_threads, print_rows, redraw_rows  # noqa: E402
from utils import load_mnist, load_trained_simplecnn  # noqa: E402
from utils.widgets.explorer import DPI, _png, explore  # noqa: E402

GOAL_S = 0.25  # median redraw


def from_scratch_png(explorer) -> bytes:
    """The explorer's current view in a new figure, drawn from scratch, rendered to PNG as the explorer does."""
    return _png(explorer.render())


def run(repeats: int = 15) -> list[Row | Timing]:
    fix_threads(2)
    test_set = load_mnist(train=False, verbose=False)
    explorer = explore(load_trained_simplecnn(), [test_set[i] for i in range(16)])
    cases = [
        ("image slider, conv1 (16 channels of 24x24)", {"layer": "conv1"}, "image", itertools.cycle(range(16))),
        ("channel range, conv2 (8 to 32 of 32 channels of 8x8)", {"layer": "conv2"}, "channels",
         itertools.cycle([(0, 7), (8, 23), (0, 31)])),
        ("scale mode, conv2 (32 channels of 8x8)", {"layer": "conv2", "channels": (0, 31)}, "scale",
         itertools.cycle(["symmetric", "layer", "channel"])),
    ]
    def show(**settings) -> None:
        explorer.show(image=0, scale="symmetric", **settings)

    return redraw_rows("explore", "explorer redraw", "same figure from scratch", explorer, show, cases,
                       lambda: from_scratch_png(explorer), GOAL_S, DPI, repeats)


if __name__ == "__main__":
    print_rows(run())
