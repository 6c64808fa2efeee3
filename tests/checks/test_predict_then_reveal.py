"""reveal: a recorded prediction against the answer; never raises on a learner's answer, whatever its type."""

from __future__ import annotations

import pytest

from utils.checks import reveal

WHY = "model(x) returns only the logits."


def test_an_unanswered_prediction_still_reveals(capsys):
    result = reveal(None, "no", WHY, choices=("yes", "no"))
    assert result and capsys.readouterr().out == f"→ The answer: no. {WHY}\n"


@pytest.mark.parametrize("prediction", ["no", "No", " NO "])
def test_a_right_prediction_holds_whatever_its_case(prediction, capsys):
    assert reveal(prediction, "no", WHY, choices=("yes", "no"))
    assert capsys.readouterr().out.startswith("✓ Your prediction held: no.")


def test_a_wrong_prediction_is_told_with_the_reason(capsys):
    assert not reveal("yes", "no", WHY, choices=("yes", "no"))
    assert capsys.readouterr().out == f"✗ You predicted yes; the answer: no. {WHY}\n"


@pytest.mark.parametrize("prediction", [3, ["no"], "maybe", True, 2.5])
def test_a_prediction_of_the_wrong_kind_asks_again_and_keeps_the_answer_hidden(prediction, capsys):
    result = reveal(prediction, "no", WHY, choices=("yes", "no"))
    assert not result
    assert "one of 'yes' or 'no', in quotes" in result.message and "run this cell again" in result.message
    assert "The answer: no" not in result.message and WHY not in result.message


@pytest.mark.parametrize("prediction, kind", [("2", "a whole number without quotes"), ([2], "a whole number"),
                                              ("two", "a whole number")])
def test_a_number_written_as_text_is_not_revealed(prediction, kind, capsys):
    """Learner review: "2" for a number used up the one chance to predict; now it asks for the number."""
    result = reveal(prediction, 2, "pool runs twice.")
    assert not result and kind in result.message
    assert "The answer:" not in result.message and "pool runs twice" not in result.message
    assert reveal(2, 2, "pool runs twice.") and reveal(2.0, 2, "pool runs twice.")


def test_numbers_within_a_tolerance(capsys):
    assert reveal(24, 24, "28 - 5 + 1.")
    assert reveal(23.5, 24, "28 - 5 + 1.", tolerance=1)
    assert not reveal(20, 24, "28 - 5 + 1.")
    result = reveal("24 px", 24, "28 - 5 + 1.")
    assert not result and "(int)" not in result.message and "without quotes" in result.message


def test_a_long_reveal_is_printed_in_lines_that_never_break_a_word(capsys):
    """Learner review: reveal texts wrapped mid-word in the output area; every printed line now fits WIDTH."""
    from utils.checks.core import WIDTH

    why = "Stride 2 skips every other position, so two pixels on each border are never the centre of a window. " * 3
    why = why.strip()
    result = reveal(None, 13, why)
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert len(lines) > 1 and all(len(line) <= WIDTH for line in lines)
    assert " ".join(lines) == result.message  # broken only at spaces: no word split, none lost


def test_booleans_are_not_numbers():
    assert reveal(True, True, "It changes.")
    assert not reveal(1, True, "It changes.")


def test_an_answer_outside_the_choices_is_the_author_s_mistake():
    with pytest.raises(ValueError, match="not one of choices"):
        reveal(None, "perhaps", WHY, choices=("yes", "no"))


def test_a_shape_is_a_tuple_or_list_of_whole_numbers(capsys):
    assert reveal((8, 32, 4, 4), (8, 32, 4, 4), "pool's second call.")
    assert reveal([8, 32, 4, 4], (8, 32, 4, 4), "pool's second call.")
    assert not reveal((8, 16, 12, 12), (8, 32, 4, 4), "pool's second call.")
    result = reveal("(8, 32, 4, 4)", (8, 32, 4, 4), "pool's second call.")
    assert not result and "a tuple of whole numbers" in result.message and "second call" not in result.message


def test_in_a_notebook_an_unanswered_prediction_shows_the_answer_folded(monkeypatch, capsys):
    """Notebooks are stored with outputs: under each question a learner who opens one meets a closed <details>."""
    import IPython
    import IPython.display

    class ZMQInteractiveShell:  # what get_ipython() returns in a Jupyter kernel
        pass

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", ZMQInteractiveShell)
    monkeypatch.setattr(IPython.display, "display", lambda bundle, raw: shown.append(bundle))
    assert reveal(None, "no", WHY, choices=("yes", "no"))
    (bundle,) = shown
    assert bundle["text/plain"] == f"→ The answer: no. {WHY}" and capsys.readouterr().out == ""
    summary, answer = bundle["text/html"].split("</summary>")
    assert summary.startswith("<details><summary>") and "no" not in summary.split("(")[0].lower().split()
    assert "The answer: no." in answer and answer.endswith("</details>")
    assert not reveal("yes", "no", WHY, choices=("yes", "no")) and len(shown) == 1  # a verdict is shown open
    assert "You predicted yes" in capsys.readouterr().out

