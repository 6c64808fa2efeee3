"""Predict, then see: the learner records a prediction before the cell that reveals the answer.

An unanswered prediction still reveals (so a notebook runs top to bottom), folded in a notebook: the notebooks are
stored with their outputs, and a learner who opens one on GitHub, Colab or Binder should meet a closed "show the
answer" under each question, not the answer. A prediction of the wrong kind (the string "2" where a number is
asked, True where "yes" or "no" is) is not revealed: the message says what kind of answer the question takes and
asks again, so a typo does not spend the learner's one chance to predict.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from .core import CheckResult, wrap

FOLDED = "Show the answer (after you have predicted)"

__all__ = ["reveal"]


def _normalise(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _matches(prediction: object, answer: object, tolerance: float) -> bool | None:
    """True or False, or None when the prediction is not of the answer's kind."""
    if isinstance(answer, bool) or isinstance(prediction, bool):
        return prediction == answer if isinstance(prediction, bool) and isinstance(answer, bool) else None
    if isinstance(answer, (int, float)):
        if not isinstance(prediction, (int, float)):
            return None
        return abs(prediction - answer) <= tolerance
    if isinstance(answer, str):
        return _normalise(prediction) == _normalise(answer) if isinstance(prediction, str) else None
    if isinstance(answer, tuple):  # a shape: a tuple or list of numbers, compared number by number
        if not isinstance(prediction, (tuple, list)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in prediction):
            return None
        return tuple(prediction) == answer
    return prediction == answer


def _kind(answer: object, choices: Sequence[str] | None) -> str:
    """The kind of answer a question takes, in a beginner's words."""
    if choices:
        return "one of " + " or ".join(repr(c) for c in choices) + ", in quotes"
    if isinstance(answer, bool):
        return "True or False, without quotes"
    if isinstance(answer, int):
        return "a whole number without quotes, such as 3"
    if isinstance(answer, float):
        return "a number without quotes, such as 0.5"
    if isinstance(answer, tuple):
        return "a tuple of whole numbers, such as (1, 2, 3, 4)"
    return f"a {type(answer).__name__}"


def reveal(prediction: object, answer: object, why: str, *, choices: Sequence[str] | None = None,
           tolerance: float = 0.0) -> CheckResult:
    """Compare a learner's recorded prediction with the answer the cell just showed, and say why.

    `prediction` is what the learner wrote before running the cell (None when they skipped it); `answer` what
    the evidence above shows; `choices` the allowed words, when the question has a fixed set of answers.

    >>> _ = reveal(None, "no", "model(x) returns only the logits.", choices=("yes", "no"))
    → The answer: no. model(x) returns only the logits.
    >>> _ = reveal("No", "no", "model(x) returns only the logits.", choices=("yes", "no"))
    ✓ Your prediction held: no. model(x) returns only the logits.
    >>> _ = reveal("2", 2, "pool runs twice.")  # doctest: +NORMALIZE_WHITESPACE
    ? Your prediction '2' is not an answer this question takes: write a whole number without quotes, such as 3, in
    the prediction cell, run it, then run this cell again. The answer stays hidden until then.
    """
    if choices is not None and _normalise(answer) not in [_normalise(c) for c in choices]:
        raise ValueError(f"reveal: the answer {answer!r} is not one of choices {tuple(choices)!r}")
    if prediction is None:
        return FoldedAnswer(f"→ The answer: {answer}. {why}")
    valid = _normalise(prediction) in [_normalise(c) for c in choices] if choices else True
    held = _matches(prediction, answer, tolerance) if valid else None
    if held is None:
        return CheckResult(False, f"? Your prediction {prediction!r} is not an answer this question takes: write "
                                  f"{_kind(answer, choices)}, in the prediction cell, run it, then run this cell "
                                  "again. The answer stays hidden until then.")
    if held:
        return CheckResult(True, f"✓ Your prediction held: {answer}. {why}")
    return CheckResult(False, f"✗ You predicted {prediction}; the answer: {answer}. {why}")


class FoldedAnswer(CheckResult):
    """The answer to a question nobody predicted: printed as usual outside a notebook; in a notebook shown as a
    closed HTML <details> that opens on a click, with the same text as its plain-text form."""

    def __init__(self, message: str) -> None:
        from IPython import get_ipython  # here, not at the top: `import utils` stays fast

        if type(get_ipython()).__name__ != "ZMQInteractiveShell":  # not a Jupyter kernel: print
            super().__init__(True, message)
            return
        from IPython.display import display

        self.ok, self.message = True, message
        folded = (f'<details><summary>{html.escape(FOLDED)}</summary><pre style="white-space: pre-wrap">'
                  f"{html.escape(message)}</pre></details>")  # the page wraps it at its own width
        display({"text/plain": wrap(message), "text/html": folded}, raw=True)
