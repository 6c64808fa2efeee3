"""grad_cam's default placement (by receptive field) against placement="stretch" over torchvision's classifiers.

Every model of `torchvision.models.list_models(module=torchvision.models)` (random weights, nothing downloaded), at
64 and 224 px, batch 1: grad_cam on the last module whose output is a map (N, C, h, w) with more than one cell,
the usual Grad-CAM layer (a head's adaptive pooling is skipped), first with the default placement (cold: the
geometry is measured or computed on this call), then with "stretch".
Each model runs in a forked child with a time limit (a model that does not return is reported, not waited for),
and the child's peak memory (RSS high-water mark, reset before each call) above its memory before the call is
recorded. The rows are the five slowest models at each size (ratio default / stretch); the note of the summary
row gives the largest time and peak over the whole zoo and what did not return or ran with a warning.

    python -m benchmarks.bench_placement              # about 20-40 minutes on 2 busy cores
    python -m benchmarks.bench_placement 64           # one size
"""

from __future__ import annotations

import json
import multiprocessing
import re
import sys
import time
import warnings
from pathlib import Path

from benchmarks.common import Row, Timing, fix_threads, print_rows

SIZES = (64, 224)
LIMIT_S = 60  # per model, both calls at one size
BUDGET_S = 5.0  # the issue: "within a few seconds"
OUT = Path(__file__).resolve().parent / "results" / "placement_sweep.json"  # run_all keeps rows in placement.json


def _rss(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _one(name: str, size: int, pipe: object) -> None:
    """In the child: build the model, find its last map layer, time and measure both placements."""
    import torch
    import torchvision

    from utils import grad_cam

    fix_threads()
    result: dict = {"model": name, "size": size}
    try:
        torch.manual_seed(0)
        model = torchvision.models.get_model(name, weights=None).eval()
        x = torch.randn(1, 3, size, size)
        seen: list[str] = []
        pools = (torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d)  # a head's pooling, not a layer of maps
        handles = [m.register_forward_hook(lambda m, a, o, n=n: seen.append(n) if isinstance(o, torch.Tensor)
                                           and o.dim() == 4 and o.shape[-1] * o.shape[-2] > 1 else None)
                   for n, m in model.named_modules() if n and not isinstance(m, pools)]
        with torch.no_grad():
            model(x)
        for handle in handles:
            handle.remove()
        result["layer"] = layer = seen[-1]
        for placement in ("receptive_field", "stretch"):
            before = _rss("VmRSS")
            _reset_peak()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.perf_counter()
                grad_cam(model, x, layer, 0, placement=placement)
                result[placement] = time.perf_counter() - start
            result[f"{placement}_peak_mb"] = (_rss("VmHWM") - before) / 2**20
            if placement == "receptive_field":
                result["warned"] = any("could not be placed" in str(w.message) for w in caught)
    except Exception as error:  # noqa: BLE001 - a model that does not take this size is reported, not fatal
        result["error"] = f"{type(error).__name__}: {str(error)[:120]}"
    pipe.send(result)  # type: ignore[attr-defined]


def sweep(sizes: tuple[int, ...] = SIZES) -> list[dict]:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    context = multiprocessing.get_context("fork")
    results = []
    for size in sizes:
        for name in names:
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_one, args=(name, size, send))
            child.start()
            if receive.poll(LIMIT_S):
                results.append(receive.recv())
            else:
                results.append({"model": name, "size": size, "error": f"no answer within {LIMIT_S} s"})
            child.kill()
            child.join()
            print(json.dumps(results[-1]), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    return results


def rows_of(results: list[dict]) -> list[Row | Timing]:
    rows: list[Row | Timing] = []
    for size in sorted({r["size"] for r in results}):
        done = [r for r in results if r["size"] == size and "error" not in r]
        for r in sorted(done, key=lambda r: -r["receptive_field"])[:5]:
            ratio = r["receptive_field"] / r["stretch"]
            rows.append(Row("placement", f"{r['model']} {size} px, {r['layer']}", "receptive_field", "stretch",
                            1000 * r["receptive_field"], 1000 * r["stretch"], ratio, ratio, ratio,
                            note=f"peak {r['receptive_field_peak_mb']:.0f} MB vs {r['stretch_peak_mb']:.0f} MB"
                                 + (", warned and stretched" if r["warned"] else "")))
        failed = [f"{r['model']} ({r['error']})" for r in results if r["size"] == size and "error" in r]
        warned = [r["model"] for r in done if r["warned"]]
        slowest = max(r["receptive_field"] for r in done)
        rows.append(Timing("placement", f"every classifier at {size} px: the slowest default placement", slowest,
                           slowest, slowest, BUDGET_S,
                           note=f"{len(done)} models; largest peak "
                                f"{max(r['receptive_field_peak_mb'] for r in done):.0f} MB; warned and stretched: "
                                f"{', '.join(warned) or 'none'}; not run: {'; '.join(failed) or 'none'}"))
    return rows


def run(repeats: int | None = None) -> list[Row | Timing]:
    """The sweep once (repeats is ignored: each model's first call is the one measured, its cache cold)."""
    return rows_of(sweep())


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or SIZES
    print_rows(rows_of(sweep(sizes)))
