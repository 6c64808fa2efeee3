"""Memory of capturing: the peak while capturing every conv of resnet18, and no growth over 1000 captures.

Each measurement runs in a fresh Python process, so that nothing left by another one (cached allocations, a
larger heap) blurs its peak. Memory is the process's resident set (RSS, from /proc/self/status): torch's CPU
tensors live outside Python's heap, so tracemalloc cannot see them. On Linux the peak is reset after the warm-up
(writing 5 to /proc/self/clear_refs), so only the measured call counts.

- peak: a plain forward pass of resnet18 (random weights, batch 8, 128x128, eval, no gradients) raises the peak
  by P; `get_feature_maps` for every conv raises it by C; the captured tensors hold S bytes. Goal: C <= P + S,
  that is ratio C / (P + S) <= 1: capturing costs no more than the copies it returns.
- growth: the SimpleCNN captured 1000 times in a loop (get_feature_maps and capture blocks, every layer); the RSS
  after the 1000th capture against the RSS after the 100th. Goal: at most 1% more (allocator noise), i.e. no leak.

The rows' values are in megabytes (unit "MB").

    python -m benchmarks.bench_memory
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import Row, print_rows

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def _status_kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _worker(kind: str) -> dict:
    """Runs in its own process: one measurement, returned as a dict of bytes."""
    import gc

    import torch
    from torchvision.models import resnet18

    from utils import SimpleCNN, capture, get_feature_maps

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if kind in ("plain", "capture"):
        model = resnet18(weights=None).eval()
        x = torch.randn(8, 3, 128, 128)
        with torch.no_grad():
            model(x)  # warm-up: thread pools, oneDNN caches
        gc.collect()
        reset = _reset_peak()
        before = _status_kb("VmRSS")
        if kind == "plain":
            with torch.no_grad():
                kept = model(x)
            captured = 0
        else:
            kept = get_feature_maps(model, x)
            captured = sum(t.numel() * t.element_size() for t in kept.values())
        peak = _status_kb("VmHWM")
        del kept
        return {"increase": (peak - before) * 1024, "captured": captured, "reset": reset}

    model, digits = SimpleCNN().eval(), torch.randn(64, 1, 28, 28)
    layers = [name for name, _ in model.named_modules() if name]
    rss = {}
    for i in range(1, 1001):
        if i % 2:
            maps = get_feature_maps(model, digits, layers)
        else:
            with capture(model, layers) as maps, torch.no_grad():
                model(digits)
        assert len(maps.calls("pool")) == 2
        del maps
        if i in (100, 1000):
            gc.collect()
            rss[i] = _status_kb("VmRSS") * 1024
    hooks = sum(len(m._forward_hooks) for m in model.modules())
    return {"rss_100": rss[100], "rss_1000": rss[1000], "hooks_left": hooks}


def _measure(kind: str) -> dict:
    code = f"import json, benchmarks.bench_memory as b; print('JSON' + json.dumps(b._worker({kind!r})))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("JSON"))[4:])


def _row(case: str, ours: str, baseline: str, ours_mb: list[float], baseline_mb: list[float], goal: float,
         note: str) -> Row:
    ratios = [a / b for a, b in zip(ours_mb, baseline_mb)]
    return Row("memory", case, ours, baseline, statistics.median(ours_mb), statistics.median(baseline_mb),
               statistics.median(ratios), min(ratios), max(ratios), goal, note, unit="MB")


def run(repeats: int = 5) -> list[Row]:
    plain, captured = [], []
    for _ in range(repeats):  # alternating, a fresh process each
        plain.append(_measure("plain"))
        captured.append(_measure("capture"))
    p = [m["increase"] / MB for m in plain]
    c = [m["increase"] / MB for m in captured]
    s = [m["captured"] / MB for m in captured]
    allowed = [pi + si for pi, si in zip(p, s)]
    reset = all(m["reset"] for m in plain + captured)
    rows = [_row("resnet18 batch 8, 128x128, every conv: peak RSS increase", "get_feature_maps",
                 "plain peak + captured", c, allowed, 1.0,
                 f"plain forward peak {statistics.median(p):.0f} MB, captured tensors "
                 f"{statistics.median(s):.0f} MB" + ("" if reset else "; peak not reset (no /proc/self/clear_refs)"))]
    loops = [_measure("loop") for _ in range(max(1, repeats // 2))]
    growth = [(m["rss_1000"] - m["rss_100"]) / MB for m in loops]
    rows.append(_row("SimpleCNN batch 64, 1000 captures of every layer: RSS", "after 1000", "after 100",
                     [m["rss_1000"] / MB for m in loops], [m["rss_100"] / MB for m in loops], 1.01,
                     f"growth from capture 100 to 1000: {statistics.median(growth):+.1f} MB "
                     f"(min {min(growth):+.1f}, max {max(growth):+.1f}); hooks left: "
                     f"{max(m['hooks_left'] for m in loops)}"))
    return rows


if __name__ == "__main__":
    print_rows(run())
