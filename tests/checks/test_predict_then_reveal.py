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
def test_a_prediction_of_the_wrong_kind_says_what_is_expected(prediction, capsys):
    assert not reveal(prediction, "no", WHY, choices=("yes", "no"))
    out = capsys.readouterr().out
    assert "is not one of the answers this question takes ('yes' or 'no', as a string)" in out
    assert "The answer: no." in out


def test_numbers_within_a_tolerance_and_wrong_kinds(capsys):
    assert reveal(24, 24, "28 - 5 + 1.")
    assert reveal(23.5, 24, "28 - 5 + 1.", tolerance=1)
    assert not reveal(20, 24, "28 - 5 + 1.")
    assert not reveal("24 px", 24, "28 - 5 + 1.")
    assert "(int)" in capsys.readouterr().out.splitlines()[-1]


def test_booleans_are_not_numbers():
    assert reveal(True, True, "It changes.")
    assert not reveal(1, True, "It changes.")


def test_an_answer_outside_the_choices_is_the_author_s_mistake():
    with pytest.raises(ValueError, match="not one of choices"):
        reveal(None, "perhaps", WHY, choices=("yes", "no"))
