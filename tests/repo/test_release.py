"""Releases people can cite and pin: one version in pyproject.toml, CITATION.cff and the changelog's newest release
(CONTRIBUTING.md, "Releases"), and Dependabot watching the workflows' pinned actions."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

yaml = pytest.importorskip("yaml")


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def newest_release() -> tuple[str, str]:
    """(version, date) of the first released section of CHANGELOG.md."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text, "CHANGELOG.md keeps an Unreleased section at the top"
    found = re.search(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d\d-\d\d)$", text, re.M)
    assert found, "CHANGELOG.md has no release section '## [X.Y.Z] - YYYY-MM-DD'"
    return found.group(1), found.group(2)


def test_pyproject_citation_and_changelog_carry_the_same_version():
    pyproject = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    cff = citation()
    assert cff["version"] == pyproject, "bump CITATION.cff's version with pyproject.toml's (CONTRIBUTING.md)"
    assert newest_release() == (pyproject, str(cff["date-released"])), \
        "CHANGELOG.md's newest release must be pyproject's version, dated as CITATION.cff's date-released"


def test_changelog_links_each_release_to_its_tag():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    version, _ = newest_release()
    assert f"[{version}]: {citation()['repository-code']}/releases/tag/v{version}" in text


def test_dependabot_updates_the_pinned_actions_monthly_in_one_group():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    actions = [u for u in config["updates"] if u["package-ecosystem"] == "github-actions"]
    assert len(actions) == 1 and actions[0]["schedule"]["interval"] == "monthly" and actions[0]["groups"]
