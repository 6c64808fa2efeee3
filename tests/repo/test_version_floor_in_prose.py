"""The course never tells a learner that a PyTorch older than its floor works (learner review: 00 said "anything from
PyTorch 2.2 on works" against torch>=2.4 in pyproject.toml)."""

from __future__ import annotations

import re

import nbformat
import pytest
from packaging.version import Version

from tests.conftest import ROOT

MENTION = re.compile(r"\b(?:PyTorch|torch)[ =]+(\d+\.\d+)", re.IGNORECASE)


def torch_floor() -> Version:
    match = re.search(r'"torch>=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert match, "pyproject.toml declares no torch>= floor"
    return Version(match.group(1))


def mentions(text: str) -> list[Version]:
    return [Version(v) for v in MENTION.findall(text)]


def test_mentions_are_found():
    assert mentions("Anything from PyTorch 2.2 on works; torch 2.14 here, torch==2.4 at least.") == [
        Version("2.2"), Version("2.14"), Version("2.4")]


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "notebooks").glob("**/*.ipynb"))],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_pytorch_older_than_the_floor_is_named(path):
    if path.suffix == ".ipynb":
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = path.read_text()
    older = [str(v) for v in mentions(text) if v < torch_floor()]
    assert not older, f"{path.name} names PyTorch {older}, older than the floor torch>={torch_floor()}"
