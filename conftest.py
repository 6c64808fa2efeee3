"""pytest's doctests of utils (`pytest --doctest-modules utils`) see the names a notebook would have imported."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    import torch
    from torch import nn

    import utils

    doctest_namespace.update({"torch": torch, "nn": nn, **{name: getattr(utils, name) for name in utils.__all__}})
    torch.manual_seed(0)
