"""What a notebook's stored outputs show. A figure that a helper returns shows only as its cell's last expression
(expert re-measure of issue 28: 02's clipped maps never appeared, because a print followed the call): no notebook
may drop one. The answer to a question the learner predicts is stored folded (second expert read: "→ The answer"
sat open under every prompt for anyone who opened a notebook before running it)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.relative_to(ROOT / "notebooks").as_posix() for p in (ROOT / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
# The course's helpers that return a Figure made outside pyplot (so plt.show() does not draw it).
RETURNS_FIGURE = {"plot_feature_maps", "plot_filters", "plot_network"}


def dropped_figures(source: str) -> list[str]:
    """The helper calls in a cell's code whose Figure is thrown away: a bare call that is not the last statement,
    and that draws into no axes of the caller's (ax=...).

    >>> dropped_figures("plot_feature_maps(m)\\nprint(1)"), dropped_figures("print(1)\\nplot_feature_maps(m)")
    (['plot_feature_maps'], [])
    """
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    body = ast.parse(code).body
    return [ast.unparse(s.value.func) for s in body[:-1]
            if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
            and ast.unparse(s.value.func).split(".")[-1] in RETURNS_FIGURE
            and not any(k.arg == "ax" for k in s.value.keywords)]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_no_cell_drops_a_figure(notebook):
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    dropped = [(i, name) for i, cell in enumerate(cells) if cell["cell_type"] == "code"
               for name in dropped_figures("".join(cell["source"]))]
    assert not dropped, f"{notebook}: cell(s) {dropped} call a helper whose figure never shows; make it the " \
                        "cell's last expression or display(fig) it"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_stored_answer_is_folded(notebook):
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    open_answers = [i for i, cell in enumerate(cells) for output in cell.get("outputs", [])
                    if "→ The answer:" in "".join(output.get("text", ""))
                    or ("→ The answer:" in "".join(output.get("data", {}).get("text/plain", ""))
                        and "<details>" not in "".join(output["data"].get("text/html", "")))]
    assert not open_answers, f"{notebook}: cell(s) {open_answers} store the answer open under the question; " \
                             "reveal() folds it in a notebook: re-run the notebook (make notebooks NB=...)"
