"""Drawing a layer's feature maps: `plot_feature_maps` (one image for the grid) against one subplot per channel.

The baseline is our own faithful re-implementation of the seed tutorial's loop: a 15x15-inch pyplot figure,
`plt.subplot(8, 8, i + 1)` for every channel, `imshow(..., cmap="gray")`, axis off. Both draw the same 64 maps of
32x32 (sample 0 of a ReLU'd batch) and save them as PNG into memory at the same dpi, taking turns. Goal: ours
takes at most a fifth of the baseline's time.

    python -m benchmarks.bench_drawing
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no window; the same backend savefig uses anyway

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import Row, compare, fix_threads, print_rows, time_interleaved  # noqa: E402
from utils.display import plot_feature_maps  # noqa: E402

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


def run(repeats: int = 9) -> list[Row]:
    fix_threads(2)
    generator = torch.Generator().manual_seed(0)
    maps = torch.relu(torch.randn(4, 64, 32, 32, generator=generator))
    times = time_interleaved({"plot_feature_maps": lambda: grid_png(maps),
                              "seed loop": lambda: seed_loop_png(maps)}, repeats=repeats)
    return [compare("drawing", "64 channels of 32x32 saved to PNG", times, "plot_feature_maps", "seed loop",
                    goal=0.2, note="one imshow for the grid vs 64 subplots (15x15 in), same dpi")]


if __name__ == "__main__":
    print_rows(run())
