"""Capturing feature maps: `get_feature_maps` against a plain forward pass and torchvision's FX extractor.

All candidates run in eval mode without gradients, taking turns (benchmarks/common.py), on 2 threads:
- plain: `model(x)`, nothing captured: the floor;
- ours: `get_feature_maps(model, x, layers)`: forward hooks that store detached clones (on the CPU);
- FX: `create_feature_extractor(model, {name: name})` built once, then called: it returns the same tensors, not
  cloned, and does not run the layers after the last requested one.

Goals (torchvision resnet18, random weights, batch 8 at 128x128): every conv captured costs at most 1.10x a plain
forward pass and at most 1.05x the FX extractor; `stop_early=True` for conv1 at most 0.5x a plain forward pass.
The trained SimpleCNN at batch 1 and 64 is measured the same way, without goals. Larger classifiers
(`classifier_rows`: resnet50, vgg16, mobilenet_v3_large, batch 1 at 224x224, every conv captured against a plain
forward pass) must be no slower than issue 13 measured before the checks for any model were added: 1.14x, 1.05x
and 1.22x.

    python -m benchmarks.bench_capture
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision import models
from torchvision.models import resnet18
from torchvision.models.feature_extraction import create_feature_extractor

from benchmarks.common import Row, compare, fix_threads, print_rows, time_interleaved
from utils import get_feature_maps, load_trained_simplecnn


def _convs(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]


def _candidates(model: nn.Module, x: torch.Tensor) -> dict[str, callable]:
    convs, first = _convs(model), _convs(model)[0]
    fx_all = create_feature_extractor(model, {name: name for name in convs}).eval()
    fx_first = create_feature_extractor(model, {first: first}).eval()

    def no_grad(function):
        def call():
            with torch.no_grad():
                return function(x)
        return call

    return {
        "plain forward": no_grad(model),
        "get_feature_maps": lambda: get_feature_maps(model, x),
        "FX extractor": no_grad(fx_all),
        "stop_early": lambda: get_feature_maps(model, x, [first], stop_early=True),
        "FX extractor (first conv)": no_grad(fx_first),
    }


def _best(times: dict, ours: str, baseline: str) -> str:
    """The ratio of the two fastest runs: what a quiet machine would show, when others share the CPU."""
    return f"ratio of best times {min(times[ours]) / min(times[baseline]):.2f}"


def _rows(benchmark: str, case: str, times: dict, goals: dict, first: str, n_convs: int) -> list[Row]:
    pairs = [(f"all {n_convs} convs", "get_feature_maps", "plain forward", "all_vs_plain",
              "hooks clone every conv output"),
             (f"all {n_convs} convs", "get_feature_maps", "FX extractor", "all_vs_fx",
              "FX returns the same tensors uncloned and skips the layers after the last one"),
             (f"{first} only", "stop_early", "plain forward", "early_vs_plain", ""),
             (f"{first} only", "stop_early", "FX extractor (first conv)", None, "")]
    return [compare(benchmark, f"{case}, {what}", times, ours, baseline, goal=goals.get(goal),
                    note="; ".join(filter(None, [note, _best(times, ours, baseline)])))
            for what, ours, baseline, goal, note in pairs]


def run(repeats: int = 21) -> list[Row]:
    fix_threads(2)
    torch.manual_seed(0)
    rows: list[Row] = []

    model = resnet18(weights=None).eval()
    x = torch.randn(8, 3, 128, 128)
    times = time_interleaved(_candidates(model, x), repeats=repeats, warmup=3)
    rows += _rows("capture", "resnet18 batch 8, 128x128", times,
                  {"all_vs_plain": 1.10, "all_vs_fx": 1.05, "early_vs_plain": 0.5}, "conv1", len(_convs(model)))

    cnn = load_trained_simplecnn()
    for batch, number in [(1, 50), (64, 5)]:
        digits = torch.randn(batch, 1, 28, 28)
        times = time_interleaved(_candidates(cnn, digits), repeats=repeats, warmup=3, number=number)
        rows += _rows("capture", f"SimpleCNN batch {batch}", times, {}, "conv1", 2)
    return rows + classifier_rows(repeats)


CLASSIFIER_GOALS = {"resnet50": 1.14, "vgg16": 1.05, "mobilenet_v3_large": 1.22}  # issue 13's "today"


def classifier_rows(repeats: int = 21) -> list[Row]:
    """Every conv of three torchvision classifiers captured, batch 1 at 224x224, against a plain forward pass."""
    fix_threads(2)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)
    rows = []
    for name, goal in CLASSIFIER_GOALS.items():
        model = getattr(models, name)(weights=None).eval()

        def plain(model=model):
            with torch.no_grad():
                return model(x)

        times = time_interleaved({"plain forward": plain, "get_feature_maps": lambda model=model:
                                  get_feature_maps(model, x)}, repeats=repeats, warmup=2)
        rows.append(compare("capture", f"{name} batch 1, 224x224, all {len(_convs(model))} convs", times,
                            "get_feature_maps", "plain forward", goal=goal,
                            note=_best(times, "get_feature_maps", "plain forward")))
    return rows


if __name__ == "__main__":
    print_rows(run())
