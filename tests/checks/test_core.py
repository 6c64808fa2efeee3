"""utils.checks: the shared core of the checks (answers of any type, unanswered exercises, results)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.checks.answers import outcome
from utils import checks


def conv_by_hand(image, kernel):
    kh, kw = kernel.shape
    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()
    return out


def channel_minmax(maps):
    low = maps.amin(dim=(2, 3), keepdim=True)
    span = maps.amax(dim=(2, 3), keepdim=True) - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1), 0)


RIGHT = [
    (checks.check_conv2d_by_hand, conv_by_hand),
    (checks.check_channel_normalization, channel_minmax),
    (checks.check_sample_channels, lambda maps: maps[-2, -4:].flip(0)),
]


def constant_maps_at_half(maps):
    constant = (maps.amax(dim=(2, 3)) == maps.amin(dim=(2, 3)))[..., None, None]
    return torch.where(constant, 0.5, channel_minmax(maps))


def _wrong(check, answer, *words):
    return pytest.param(check, answer, words, id=f"{check.__name__}-{'-'.join(words)[:30]}")


WRONG = [
    _wrong(checks.check_conv2d_by_hand, lambda im, k: conv_by_hand(im, k.flip(0, 1)), "flipped"),
    _wrong(checks.check_conv2d_by_hand, lambda im, k: F.conv2d(im[None, None], k[None, None], padding="same")[0, 0],
           "by hand"),
    _wrong(checks.check_conv2d_by_hand, lambda im, k: F.pad(conv_by_hand(im, k), (1, 1, 1, 1)), "whole kernel fits"),
    _wrong(checks.check_conv2d_by_hand, lambda im, k: conv_by_hand(im, k) + 1, "values differ"),
    _wrong(checks.check_conv2d_by_hand, lambda im, k: im[5, 5], "raised IndexError"),
    _wrong(checks.check_channel_normalization, lambda m: (m - m.amin((2, 3), keepdim=True))
           / (m.amax((2, 3), keepdim=True) - m.amin((2, 3), keepdim=True)), "NaN"),
    _wrong(checks.check_channel_normalization, lambda m: (m - m.min()) / (m.max() - m.min()), "one min and max"),
    _wrong(checks.check_channel_normalization, lambda m: m.sub_(m.min()), "changed the tensor"),
    _wrong(checks.check_channel_normalization, lambda m: constant_maps_at_half(m), "no variation"),
    _wrong(checks.check_channel_normalization, lambda m: channel_minmax(m)[0], "keep the input's shape"),
    _wrong(checks.check_sample_channels, lambda maps: maps[-1, -4:].flip(0), "second-to-last sample"),
    _wrong(checks.check_sample_channels, lambda maps: maps[0, -4:].flip(0), "second-to-last sample"),
    _wrong(checks.check_sample_channels, lambda maps: maps[-4:, -2], "first index picks the sample"),
    _wrong(checks.check_sample_channels, lambda maps: maps[-2, -4:], "wrong order"),
    _wrong(checks.check_sample_channels, lambda maps: maps[-2:-1, -4:].flip(1), "batch dimension"),
    _wrong(checks.check_sample_channels, lambda maps: maps[-2, 12:16].flip(0), "not the last four"),
]


@pytest.mark.parametrize(
    "check, right, wrongs, answer_text",
    [
        (checks.check_batch_shape, [(40, 1, 28, 28)], [[(1, 28, 28)], [(64, 1, 28, 28)], [(40, 28, 28, 1)]],
         "(40, 1, 28, 28)"),
        (checks.check_flatten_size, [800], [[512], [799], ["800?"]], "800"),
        (checks.check_wide_conv2_parameters, [9280], [[9216], [640], [12832]], "9280"),
    ],
)
def test_value_checks(capsys, check, right, wrongs, answer_text):
    ok, message = outcome(capsys, check(*right))
    assert ok and message.startswith("✓")
    for wrong in wrongs:
        ok, message = outcome(capsys, check(*wrong))
        assert not ok and message.startswith("✗ Not yet:"), (wrong, message)
        assert answer_text not in message, f"the message for {wrong} gives the answer away: {message}"


@pytest.mark.parametrize("check, arity", [(checks.check_batch_shape, 1),
                                          (checks.check_flatten_size, 1), (checks.check_wide_conv2_parameters, 1),
                                          (checks.check_per_class_accuracy, 1)])
def test_unanswered_exercises_say_so(capsys, check, arity):
    ok, message = outcome(capsys, check(*[None] * arity))
    assert not ok and "still None" in message


@pytest.mark.parametrize("check, answer", [
    (checks.check_pool_calls, (4, "4, 32, 4, 4")), (checks.check_pool_calls, (4, [4.5, 32, 4, 4])),
    (checks.check_pool_calls, (4, 7)), (checks.check_flatten_size, ("800",)), (checks.check_shift_kernel, ("abc",)),
    (checks.check_nested_layer_name, (3,)),
    (checks.check_per_class_accuracy, (5,)), (checks.check_sample_channels, ("not a function",)),
])
def test_wrong_answers_of_any_type_do_not_raise(capsys, check, answer):
    ok, message = outcome(capsys, check(*answer))
    assert not ok and message.startswith("✗ Not yet:"), message


@pytest.mark.parametrize("check, answer", RIGHT)
def test_right_answers_pass(capsys, check, answer):
    ok, message = outcome(capsys, check(answer))
    assert ok and message.startswith("✓"), message


@pytest.mark.parametrize("check", [c for c, _ in RIGHT])
def test_unanswered_exercises_say_so_01_02(capsys, check):
    ok, message = outcome(capsys, check(None))
    assert not ok and "still None" in message


@pytest.mark.parametrize("check, answer, words", WRONG)
def test_wrong_answers_fail_with_a_hint(capsys, check, answer, words):
    ok, message = outcome(capsys, check(answer))
    assert not ok and message.startswith("✗ Not yet:"), message
    for word in words:
        assert word in message, message


def test_messages_do_not_give_the_answers_away(capsys):
    for check, answer, _ in (p.values for p in WRONG):
        check(answer)
    text = capsys.readouterr().out
    for answer_text in ["(k - 1)", "d * (k", "maps[-2, -4:]", "[-2, -4:]", "abs().max()"]:
        assert answer_text not in text


@pytest.mark.parametrize("check", [checks.check_dead_fraction, checks.check_class_probe, checks.check_first_alarm,
                                   checks.check_linear_saliency, checks.check_correlation,
                                   checks.check_attention_weights])
def test_unanswered(capsys, check):
    ok, message = outcome(capsys, check(None))
    assert not ok and "still None" in message

