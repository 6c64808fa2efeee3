"""Notebook 03's new exercise 3: the parameters of a conv2 with 64 filters of 3x3, worked out from the shapes."""

from __future__ import annotations

import pytest
import torch

from utils.checks import check_wide_conv2_parameters

RIGHT = sum(p.numel() for p in torch.nn.Conv2d(16, 64, 3).parameters())


def test_the_right_count_passes_in_any_numeric_form(capsys):
    assert RIGHT == 9280
    for answer in (RIGHT, float(RIGHT), torch.tensor(RIGHT)):
        assert check_wide_conv2_parameters(answer)
    assert "fewer than the 12,832" in capsys.readouterr().out


@pytest.mark.parametrize(("answer", "hint"), [
    (None, "still None"),
    (12832, "today's conv2"),
    (9216, "weights only"),
    (640, "all 16 input channels"),
    (9281, "plus one bias per output channel"),
    ("9280", "plus one bias"),
    ([9280], "plus one bias"),
])
def test_wrong_answers_get_a_hint_and_never_raise(capsys, answer, hint):
    assert not check_wide_conv2_parameters(answer)
    assert hint in capsys.readouterr().out
