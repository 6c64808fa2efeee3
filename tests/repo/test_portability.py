"""The portability rule: a stored notebook output must reproduce on any machine that runs the course.

torch picks its CPU kernels by processor (AVX-512, AVX2, Arm NEON, the plain "default" build) and each rounds the
same sums differently. Training is bit-for-bit repeatable on one machine, not across machines: after a few hundred
Adam steps the weights differ in the second decimal. So:

- What depends only on shipped files (the bundled digits, `data/simplecnn.pt`) and on arithmetic whose printed
  rounding is stable is printed as it is: it reproduces.
- What depends on a training trajectory is printed as a claim with a margin ("within 1 point of the checkpoint:
  True"), or its line matches one of the training rules of `tests/support/nbval_sanitize.cfg` (numbers masked,
  the line's shape still compared) and the cell asserts what must hold everywhere.
- A cell whose output is ignored (`nbval-ignore-output`) is listed in IGNORED below with the reason, and it or the
  next code cell asserts what matters. Keep the list short.

`ATEN_CPU_CAPABILITY=default make test` (and `make portable`, which `.ci/run` runs) replays another processor's
arithmetic on this one.
"""

from __future__ import annotations

import re
import sys

import nbformat
import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from sync_notebooks import notebook_files  # noqa: E402

NOTEBOOKS = notebook_files()
SANITIZE = ROOT / "tests" / "support" / "nbval_sanitize.cfg"

# notebook (relative to notebooks/) -> {a piece of the ignored cell's source: why its output varies}
IGNORED = {
    "03_training_simplecnn.ipynb": {
        "history = fit(model": "a progress bar: its speed and redraws change every run",
        "s per epoch on": "a timing",
    },
}


def sanitize_rules() -> list[tuple[str, str, str]]:
    """(section name, regex, replacement) for every rule of the sanitize file, as nbval reads them."""
    text = SANITIZE.read_text()
    rules = []
    for match in re.finditer(r"^\[(.+)\]\n^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE):
        rules.append(match.groups())
    assert len(rules) == len(re.findall(r"^regex: ", text, flags=re.MULTILINE)), "every rule needs a [name] line"
    return rules


def sanitized(text: str) -> str:
    for _, regex, replacement in sanitize_rules():
        text = re.sub(regex, replacement, text)
    return text


def stored_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_ignored_outputs_are_listed_with_a_reason_and_checked(path):
    nb = nbformat.read(path, as_version=4)
    allowed = IGNORED.get(str(path.relative_to(ROOT / "notebooks")), {})
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    found = set()
    for index, cell in enumerate(code):
        tags = set(cell.metadata.get("tags", []))
        assert not tags & {"nbval-skip", "raises-exception"}, f"{path.name}: a skipped cell tests nothing"
        if "nbval-ignore-output" not in tags:
            continue
        reasons = [piece for piece in allowed if piece in cell.source]
        assert reasons, f"{path.name}: an ignored output that IGNORED does not list:\n{cell.source[:200]}"
        found.update(reasons)
        checked = cell.source + (code[index + 1].source if index + 1 < len(code) else "")
        assert "assert" in checked, f"{path.name}: an ignored cell must be followed by an assertion of what matters"
    assert found == set(allowed), f"{path.name}: IGNORED lists cells that are no longer ignored"


def test_every_sanitize_rule_is_used_by_a_stored_output():
    """A rule that matches nothing hides nothing today, but would silently hide a new output tomorrow."""
    text = "\n".join(stored_text(nbformat.read(path, as_version=4)) for path in NOTEBOOKS)
    for name, regex, _ in sanitize_rules():
        assert re.search(regex, text), f"the sanitize rule [{name}] matches no stored output: remove it"


@pytest.mark.parametrize(("here", "elsewhere"), [
    ("epoch 3  loss 0.209  train acc  94.3%  test acc  93.5%",
     "epoch 3  loss 0.210  train acc  94.2%  test acc  93.4%"),
    ("lr 0.01, epoch 1: loss 0.915, test accuracy 90.7%, conv2: 25 of 32 channels dead (78%, limit 25%)",
     "lr 0.01, epoch 1: loss 0.918, test accuracy 91.2%, conv2: 23 of 32 channels dead (72%, limit 25%)"),
    ("lr 0.005, epoch 2: accuracy 95.0%, healthy", "lr 0.005, epoch 2: accuracy 94.8%, healthy"),
])
def test_training_lines_from_two_processors_compare_equal(here, elsewhere):
    assert here != elsewhere and sanitized(here) == sanitized(elsewhere)


@pytest.mark.parametrize(("here", "elsewhere"), [
    ("lr 0.001, epoch 1: loss 1.280, test accuracy 84.8%, healthy",
     "lr 0.001, epoch 1: loss 1.280, test accuracy 84.8%, conv2: 9 of 32 channels dead (28%, limit 25%)"),
    ("epoch 2  loss 0.347  train acc  89.3%  test acc  91.0%",
     "epoch 3  loss 0.347  train acc  89.3%  test acc  91.0%"),
    ("conv2: 25 of 32 channels dead (78%, limit 25%)", "conv1: 25 of 32 channels dead (78%, limit 25%)"),
    ("test accuracy: 95.8% of 1,000 digits", "test accuracy: 95.7% of 1,000 digits"),
    ("same answer as the checkpoint on at least 97% of the test digits: True",
     "same answer as the checkpoint on at least 97% of the test digits: False"),
])
def test_what_training_must_achieve_is_still_compared(here, elsewhere):
    """The masks hide last digits only: a healthy run turned unhealthy, another epoch or layer, or a claim that
    no longer holds still fails the comparison."""
    assert sanitized(here) != sanitized(elsewhere)
