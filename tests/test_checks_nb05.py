"""Notebook 05's drawing exercise: one stroke turns the model's 7 into a 2 (strokes in the pad's pixels)."""

from __future__ import annotations

import pytest

from utils.checks import check_seven_to_two

SEVEN = [(80, 50), (205, 50), (125, 245)]


def test_a_bottom_bar_turns_the_seven_into_a_two(capsys):
    assert check_seven_to_two([SEVEN, [(125, 245), (210, 245)]])
    assert capsys.readouterr().out.startswith("✓ Right: a 7")


def test_tuples_of_strokes_work_too():
    assert check_seven_to_two((SEVEN, ((125, 245), (210, 245))))


@pytest.mark.parametrize(("strokes", "hint"), [
    (None, "still None"),
    ("a seven", "list of strokes"),
    (42, "list of strokes"),
    ([SEVEN], "at least two strokes"),
    ([SEVEN, []], "no points"),
    ([SEVEN, [(float("nan"), 1.0)]], "NaN"),
    ([[(140, 40), (140, 240)], [(125, 245), (210, 245)]], "not a 7"),  # starts from a 1
    ([SEVEN, [(100, 150), (170, 150)]], "still read as a 7"),  # a crossbar: still a 7
    ([SEVEN, [(60, 245), (125, 245)]], "not a 2"),  # a bar to the left: a 3
])
def test_wrong_drawings_get_a_hint_and_never_raise(capsys, strokes, hint):
    assert not check_seven_to_two(strokes)
    assert hint in capsys.readouterr().out
