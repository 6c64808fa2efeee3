"""For every pytest run: a seeded start, and the slowest files first."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support.forked_kernel"]  # notebooks' kernels forked from one that has imported torch


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test and doctest starts from torch's seed 0 (doctests import what they use: a reader can paste them)."""
    import torch

    torch.manual_seed(0)


# The files that take longest, slowest first (pytest --durations, on 2 cores): run first, they leave no core idle
# at the end while one worker finishes a long notebook. Every other file follows in collection order.
SLOWEST_FIRST = [
    "tests/widgets/test_browser.py",
    "notebooks/06_maps_during_training.ipynb",
    "notebooks/08_what_the_network_learned.ipynb",
    "notebooks/05_reading_feature_maps.ipynb",
    "tests/repo/test_launch.py",
    "notebooks/03_training_simplecnn.ipynb",
    "notebooks/solutions/06_maps_during_training.ipynb",
    "tests/analysis/test_receptive_field.py",
    "notebooks/07_beyond_feature_maps.ipynb",
    "tests/test_course.py",
]


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist 3.8+ would order the files by their number of tests; keep ours (older versions keep it anyway)
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: a file's tests (a notebook's cells) keep their order
