"""Shared timing for the benchmarks: candidates measured side by side, interleaved, several repetitions.

Every benchmark script defines `run(repeats: int) -> list[Row]` and reports ratios against a baseline measured
in the same run, never a bare absolute time. `benchmarks/run_all.py` collects the rows into one Markdown table.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch


@dataclass
class _Result:
    """What Row and Timing share: a measured value held against an optional limit, and their dict form."""

    def _value_and_limit(self) -> tuple[float, float | None]:
        raise NotImplementedError

    @property
    def met(self) -> bool | None:
        value, limit = self._value_and_limit()
        return None if limit is None else value <= limit

    def as_dict(self) -> dict:
        return {**asdict(self), "met": self.met}


@dataclass
class Row(_Result):
    """One comparison: `ours` against `baseline`, as the ratio of their times (median, min and max over pairs)."""

    benchmark: str
    case: str
    ours: str
    baseline: str
    ours_value: float  # median, in `unit`
    baseline_value: float  # median, in `unit`
    ratio: float  # median of per-repetition ratios ours / baseline
    ratio_min: float
    ratio_max: float
    goal: float | None = None  # the ratio must be at most this (None: no goal, just measured)
    note: str = ""
    unit: str = "ms"

    def _value_and_limit(self) -> tuple[float, float | None]:
        return self.ratio, self.goal


def time_interleaved(candidates: dict[str, Callable[[], object]], repeats: int = 15, warmup: int = 2,
                     number: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each candidate, `repeats` times, the candidates taking turns in each repetition.

    Taking turns means a slow moment of the machine hits every candidate alike. `number` calls are timed together
    and divided, for calls too short to time one by one.
    """
    for _ in range(warmup):
        for function in candidates.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for i in range(repeats):
        order = list(candidates.items())
        if i % 2:
            order.reverse()  # neither candidate always runs first
        for name, function in order:
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                function()
            times[name].append((time.perf_counter() - start) / number)
    return times


def compare(benchmark: str, case: str, times: dict[str, list[float]], ours: str, baseline: str,
            goal: float | None = None, note: str = "") -> Row:
    """A Row for `ours` against `baseline` from the output of time_interleaved."""
    ratios = [a / b for a, b in zip(times[ours], times[baseline])]
    return Row(benchmark, case, ours, baseline,
               ours_value=1000 * statistics.median(times[ours]),
               baseline_value=1000 * statistics.median(times[baseline]),
               ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios), goal=goal, note=note)


def fix_threads(threads: int = 2) -> None:
    """Benchmarks run with a fixed thread count, as the issue goals are stated for (2 threads)."""
    torch.set_num_threads(threads)


@dataclass
class Timing(_Result):
    """A run time that has no baseline to compare with (a notebook, an epoch): reported against its budget."""

    benchmark: str
    case: str
    seconds: float  # median
    seconds_min: float
    seconds_max: float
    budget: float | None = None  # the median must be at most this many seconds (None: just measured)
    note: str = ""

    def _value_and_limit(self) -> tuple[float, float | None]:
        return self.seconds, self.budget


def timing(benchmark: str, case: str, seconds: list[float], budget: float | None = None, note: str = "") -> Timing:
    return Timing(benchmark, case, statistics.median(seconds), min(seconds), max(seconds), budget, note)


def print_rows(rows: list[Row | Timing]) -> None:
    """Every row on one line (ratio or time, and the goal), its note indented below it: what a script prints."""
    for row in rows:
        if isinstance(row, Timing):
            budget = "" if row.budget is None else f", budget {row.budget:g} s: {'met' if row.met else 'NOT MET'}"
            print(f"{row.benchmark} | {row.case}: {row.seconds:.3g} s (min {row.seconds_min:.3g}, "
                  f"max {row.seconds_max:.3g}){budget}")
        else:
            goal = "" if row.goal is None else f"  goal <= {row.goal:g}x: {'met' if row.met else 'NOT MET'}"
            print(f"{row.benchmark} | {row.case}: {row.ours} {row.ours_value:.2f} {row.unit} vs {row.baseline} "
                  f"{row.baseline_value:.2f} {row.unit} = {row.ratio:.2f}x (min {row.ratio_min:.2f}, "
                  f"max {row.ratio_max:.2f}){goal}")
        if row.note:
            print(f"    {row.note}")


def redraw_rows(benchmark: str, ours: str, baseline: str, widget: object, show: Callable[..., object],
                cases: list, from_scratch: Callable[[], object], goal_s: float, dpi: int, repeats: int) -> list:
    """A widget's redraw against drawing the same view from scratch, one Row per kind of move, and a Timing of
    every move against the absolute goal. Each case is (name, settings for `show`, control attribute, values)."""
    rows: list[Row | Timing] = []
    every_redraw: list[float] = []
    for case, settings, control, values in cases:
        show(**settings)
        control_widget = getattr(widget, control)

        def move(control_widget=control_widget, values=values) -> None:
            control_widget.value = next(values)  # what a user's move does: the observer redraws and renders the PNG

        times = time_interleaved({ours: move, baseline: from_scratch}, repeats=repeats)
        mine = times[ours]
        every_redraw += mine
        note = (f"redraw median {1000 * statistics.median(mine):.0f} ms (min {1000 * min(mine):.0f}, max "
                f"{1000 * max(mine):.0f}); both render a PNG at dpi {dpi}")
        rows.append(compare(benchmark, case, times, ours, baseline, note=note))
    rows.append(timing(benchmark, f"{ours}, every move above (median)", every_redraw, goal_s,
                       note=f"goal: median under {1000 * goal_s:.0f} ms; measured "
                            f"{1000 * statistics.median(every_redraw):.0f} ms (min {1000 * min(every_redraw):.0f}, "
                            f"max {1000 * max(every_redraw):.0f})"))
    return rows
