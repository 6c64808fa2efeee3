"""Drawing a layer's feature maps: `plot_feature_maps` (one image for the grid) against one subplot per channel.

The baseline is our own faithful re-implementation of the seed tutorial's loop: a 15x15-inch pyplot figure,
`plt.subplot(8, 8, i + 1)` for every channel, `imshow(..., cmap="gray")`, axis off. The fair anchor is what a
practised user writes instead: `torchvision.utils.make_grid`, one `imshow` and one `ax.text` label per channel.
All draw the same 64 maps of 32x32 (sample 0 of a ReLU'd batch) and save them as PNG into memory at the same dpi,
taking turns. Goal: ours takes at most a fifth of the seed loop's time; against the anchor it is measured only.

    python -m benchmarks.bench_drawing
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no window; the same backend savefig uses anyway

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from benchmarks.common import Row, compare, fix_threads, print_rows, time_interleaved  # noqa: E402
from utils.plot.maps import plot_feature_maps  # noqa: E402

DPI = 100


def seed_loop_png(maps: torch.Tensor) -> bytes:
    """The seed's approach: one subplot per channel of sample 0, in a 15x15-inch figure, saved as PNG."""
    feature_maps = maps[0].detach().cpu().numpy()
    figure = plt.figure(figsize=(15, 15))
    for i in range(feature_maps.shape[0]):
        plt.subplot(8, 8, i + 1)
        plt.imshow(feature_maps[i], cmap="gray")
        plt.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def grid_png(maps: torch.Tensor) -> bytes:
    """Ours: the same maps as one grid image (labels on, default options), saved as PNG."""
    buffer = io.BytesIO()
    plot_feature_maps(maps, sample=0).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def make_grid_png(maps: torch.Tensor) -> bytes:
    """The fair anchor: torchvision's make_grid, one imshow in a figure fitted to the grid, 64 ax.text labels."""
    one = maps[0].detach().cpu()
    low, high = float(one.min()), float(one.max())
    tiles = ((one - low) / (high - low if high > low else 1.0)).unsqueeze(1)  # (C, 1, H, W) in [0, 1]
    grid = make_grid(tiles, nrow=8, padding=2, pad_value=1.0)[0].numpy()
    height, width = grid.shape
    figure = plt.figure(figsize=(width / DPI * 2, height / DPI * 2))  # two screen pixels per map pixel
    ax = figure.add_axes((0, 0, 1, 1))
    ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    size = one.shape[-1] + 2
    for c in range(one.shape[0]):
        row, col = divmod(c, 8)
        ax.text(col * size + 3, row * size + 3, str(c), fontsize=6, color="white", va="top")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def run(repeats: int = 9) -> list[Row]:
    fix_threads(2)
    generator = torch.Generator().manual_seed(0)
    maps = torch.relu(torch.randn(4, 64, 32, 32, generator=generator))
    times = time_interleaved({"plot_feature_maps": lambda: grid_png(maps),
                              "seed loop": lambda: seed_loop_png(maps),
                              "make_grid + imshow + text": lambda: make_grid_png(maps)}, repeats=repeats)
    case = "64 channels of 32x32 saved to PNG"
    return [compare("drawing", case, times, "plot_feature_maps", "seed loop",
                    goal=0.2, note="one imshow for the grid vs 64 subplots (15x15 in), same dpi"),
            compare("drawing", case, times, "plot_feature_maps", "make_grid + imshow + text",
                    note="the fair anchor: torchvision.utils.make_grid, one imshow, 64 ax.text labels; ours adds "
                         "a title, a colour scale fitted to the layer and dead-channel outlines")]


if __name__ == "__main__":
    print_rows(run())
