"""utils.checks: the checks of notebook 01 (utils/checks/nb01.py)."""

from __future__ import annotations

import pytest
import torch

from tests.checks.answers import outcome
from utils.checks.nb01 import check_shift_kernel

RIGHT = [[0, 0, 0], [1, 0, 0], [0, 0, 0]]


def test_the_right_kernel_in_any_form():
    assert check_shift_kernel(RIGHT)
    assert check_shift_kernel(torch.tensor(RIGHT, dtype=torch.float32))


@pytest.mark.parametrize("wrong,hint", [
    ([[0, 0, 0], [0, 0, 1], [0, 0, 0]], "to the left"),
    ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], "leaves the image where it is"),
    ([[0, 0, 0], [2, 0, 0], [0, 0, 0]], "single 1 among zeros"),
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], "not one pixel to the right"),
    ([[1, 0], [0, 0]], "shape (2, 2)"),
    ("right", "3x3 tensor"),
])
def test_wrong_kernels_get_a_hint(wrong, hint):
    result = check_shift_kernel(wrong)
    assert not result
    assert hint in result.message


def test_unanswered():
    assert "fill in `shift_kernel`" in check_shift_kernel(None).message


def test_by_hand_exercises_refuse_the_library_call_they_name(capsys):
    """Expert review L1 and section 2: utils.conv_geometry.output_size and F.conv2d passed the "by hand" checks."""
    import functools

    import torch.nn.functional as F

    from utils.checks import check_conv2d_by_hand, check_input_size
    from utils.widgets import conv_geometry

    def search(output_size):
        return lambda o, k, s=1, p=0, d=1: next(n for n in range(1, 99) if output_size(n, k, s, p, d) == o)

    for bypass in (search(conv_geometry.output_size), search(functools.partial(conv_geometry.output_size)),
                   lambda o, k, s=1, p=0, d=1: conv_geometry.output_size(o, k, s, p, d)):
        ok, message = outcome(capsys, check_input_size(bypass))
        assert not ok and "calls `output_size`" in message, message
    for bypass in (lambda image, kernel: F.conv2d(image[None, None], kernel[None, None])[0, 0],
                   lambda image, kernel: torch.nn.functional.conv2d(image[None, None], kernel[None, None])[0, 0]):
        ok, message = outcome(capsys, check_conv2d_by_hand(bypass))
        assert not ok and "calls `conv2d`" in message and "by hand" in message, message


def test_input_size_is_the_formula_turned_around(capsys):
    """Exercise 01.1 asks for what the playground's formula line does not show: the smallest input for `out` outputs."""
    from utils.checks import check_input_size
    from utils.widgets.conv_geometry import output_size

    def right(out, kernel, stride=1, padding=0, dilation=1):
        return max(1, dilation * (kernel - 1) + 1 + (out - 1) * stride - 2 * padding)

    assert outcome(capsys, check_input_size(right))[0]
    for wrong, words in [
        (lambda o, k, s=1, p=0, d=1: d * (k - 1) + 1 + (o - 1) * s - 2 * p, "at least one pixel"),
        (lambda o, k, s=1, p=0, d=1: max(1, d * (k - 1) + 1 + o * s - 2 * p - 1), "the smallest is asked for"),
        (lambda o, k, s=1, p=0, d=1: right(o, k, s, p, 1), "right without dilation"),
        (lambda o, k, s=1, p=0, d=1: next(n for n in range(1, 99) if output_size(n, k, s, p, d) == o), "calls"),
        (lambda o, k, s=1, p=0, d=1: str(right(o, k, s, p, d)), "whole number"),
    ]:
        ok, message = outcome(capsys, check_input_size(wrong))
        assert not ok and words in message, message


def _size_helper(n, k, s=1, p=0, d=1):
    """A learner's module-level helper that calls the library: the check must see through it when it runs."""
    from utils.widgets import conv_geometry

    return conv_geometry.output_size(n, k, s, p, d)


def _conv_helper(image, kernel):
    import torch.nn.functional as F

    return F.conv2d(image[None, None], kernel[None, None])[0, 0]


class _CallableConv:
    def __call__(self, image, kernel):
        return _conv_helper(image, kernel)


def _aten(name):
    return getattr(torch.ops.aten, name)


@pytest.mark.parametrize("bypass", [
    lambda image, kernel: _conv_helper(image, kernel),
    _CallableConv(),
    lambda image, kernel: torch.conv2d(image[None, None], kernel[None, None])[0, 0],
    lambda image, kernel: _aten("_con" + "volution")(image[None, None], kernel[None, None], None, [1, 1], [0, 0],
                                                     [1, 1], False, [0, 0], 1, False, False, True, True)[0, 0],
    lambda image, kernel: _aten("con" + "volution").default(image[None, None], kernel[None, None], None, [1, 1],
                                                             [0, 0], [1, 1], False, [0, 0], 1)[0, 0],
    lambda image, kernel: torch.nn.Conv2d(1, 1, tuple(kernel.shape), bias=False)(image[None, None])[0, 0],
], ids=["helper", "callable-class", "torch.conv2d", "aten._convolution", "aten.convolution.default", "nn.Conv2d"])
def test_conv2d_by_hand_refuses_convolution_however_it_is_reached(capsys, bypass):
    """Expert review (issue 28): a helper, a callable class and torch.ops.aten passed the by-hand convolution."""
    from utils.checks import check_conv2d_by_hand

    ok, message = outcome(capsys, check_conv2d_by_hand(bypass))
    assert not ok and "by hand" in message, message
    assert torch.nn.functional.conv2d is torch.conv2d or callable(torch.nn.functional.conv2d)  # put back
    assert isinstance(torch.nn.Conv2d, type) and not hasattr(torch.ops.aten._convolution, "_refuse")


@pytest.mark.parametrize("bypass", [
    lambda o, k, s=1, p=0, d=1: min(n for n in range(1, 80) if _size_helper(n, k, s, p, d) >= o),
    lambda o, k, s=1, p=0, d=1: min(n for n in range(1, 80) if getattr(torch.nn, "Conv" + "2d")(1, 1, k, s, p, d)(
        torch.zeros(1, 1, n, n)).shape[-1] >= o),
], ids=["helper", "nn.Conv2d"])
def test_input_size_refuses_the_library_through_a_helper(capsys, bypass):
    from utils.checks import check_input_size

    ok, message = outcome(capsys, check_input_size(bypass))
    assert not ok and "by hand" in message, message
    from utils.widgets import conv_geometry
    assert conv_geometry.output_size(28, 5) == 24  # put back after the check


# Second expert read, items 2, 3 and 12: references bound before the function runs, convolutions the list missed,
# and a learner's own helper that happens to be called output_size.
def _bound_by_default(image, kernel, _f=torch.nn.functional.conv2d):
    return _f(image[None, None], kernel[None, None])[0, 0]


class _KeepsConv:
    def __init__(self):
        self.conv = torch.nn.functional.conv2d

    def __call__(self, image, kernel):
        return self.conv(image[None, None], kernel[None, None])[0, 0]


def _transposed_3d(image, kernel):
    kh, kw = kernel.shape  # a transposed convolution with the flipped kernel, cropped: the same numbers
    full = torch.nn.functional.conv_transpose3d(image[None, None, None], kernel.flip(0, 1)[None, None, None])
    return full[0, 0, 0, kh - 1:image.shape[0], kw - 1:image.shape[1]]


def _slow_3d(image, kernel):
    return torch._C._nn.slow_conv3d(image[None, None, None], kernel[None, None, None], (1, *kernel.shape))[0, 0, 0]


def _closure_conv():
    conv = torch.nn.functional.conv2d
    return lambda image, kernel: conv(image[None, None], kernel[None, None])[0, 0]


@pytest.mark.parametrize("bypass", [_bound_by_default, _KeepsConv(), _transposed_3d, _slow_3d, _closure_conv(),
                                    lambda image, kernel: getattr(torch.nn.functional, "conv_" + "transpose3d")(
                                        image[None, None, None], kernel.flip(0, 1)[None, None, None])],
                         ids=["default-argument", "attribute", "conv_transpose3d", "slow_conv3d", "closure",
                              "getattr"])
def test_conv2d_by_hand_refuses_convolutions_held_or_missed_before(capsys, bypass):
    from utils.checks import check_conv2d_by_hand

    if bypass is _transposed_3d or bypass is _slow_3d:  # each computes F.conv2d's numbers: a real leak, not a typo
        image, kernel = torch.randn(6, 9), torch.randn(2, 4)
        expected = torch.nn.functional.conv2d(image[None, None], kernel[None, None])[0, 0]
        assert torch.allclose(bypass(image, kernel), expected, atol=1e-5)
    ok, message = outcome(capsys, check_conv2d_by_hand(bypass))
    assert not ok and "by hand" in message, message


def test_input_size_refuses_output_size_held_in_a_default(capsys):
    from utils.checks import check_input_size
    from utils.widgets import conv_geometry

    def brute_force(o, k, s=1, p=0, d=1, _o=conv_geometry.output_size):
        return next(n for n in range(1, 99) if _o(n, k, s, p, d) == o)

    ok, message = outcome(capsys, check_input_size(brute_force))
    assert not ok and "calls `output_size`" in message, message


def test_a_learners_own_output_size_is_not_the_courses(capsys):
    """The ban is on the course's function, not on the name: a helper the learner wrote and called output_size is
    fine (item 12)."""
    from utils.checks import check_input_size

    ok, message = outcome(capsys, check_input_size(_search_with_own_output_size))
    assert ok, message


def output_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _search_with_own_output_size(o, k, s=1, p=0, d=1):
    return next(n for n in range(1, 99) if n + 2 * p >= d * (k - 1) + 1 and output_size(n, k, s, p, d) == o)


def test_the_inverse_cases_are_what_nn_conv2d_gives(capsys):
    """The check's answers come from a search over the playground's formula; F.conv2d agrees on every one: the
    answer gives `out` outputs and one pixel fewer does not (or is no input at all). The cases whose answer is 1
    are kept (item 11): a formula that goes below one pixel there fails."""
    import torch.nn.functional as F

    from utils.checks.nb01 import _input_cases

    def rows(size, kernel, stride, padding, dilation):
        if size < 1 or size + 2 * padding < dilation * (kernel - 1) + 1:
            return None
        return F.conv2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, kernel, 1), stride=(stride, 1),
                        padding=(padding, 0), dilation=(dilation, 1)).shape[2]

    cases = _input_cases()
    for (out, *layer), size in cases:
        assert rows(size, *layer) == out and rows(size - 1, *layer) != out, (out, layer, size)
    assert sum(size == 1 for _, size in cases) > 0
    assert len(cases) < 4 * 4 * 3 * 3 * 3  # settings no input reaches are left out (item 6), and the report says so
    assert all(any(rows(n, *layer) == out for n in range(1, 80)) for (out, *layer), _ in cases)


# Third expert read, item 3: routes to the ATen convolution that no Python name covers. The dispatcher refuses the
# operator itself while the learner's function runs; scipy's correlate2d is refused by name.
_CACHED = [torch.nn.functional.conv2d]


def _variable_functions(image, kernel):
    return torch._C._VariableFunctions.conv2d(image[None, None], kernel[None, None])[0, 0]


def _variable_functions_by_getattr(image, kernel):
    return getattr(torch._C, "_Variable" + "Functions").conv2d(image[None, None], kernel[None, None])[0, 0]


def _mkldnn(image, kernel):
    return torch.ops.mkldnn._convolution_pointwise(image[None, None], kernel[None, None], None, [0, 0], [1, 1],
                                                   [1, 1], 1, "none", [], "")[0, 0]


def _cached(image, kernel):
    return globals()["_CAC" + "HED"][0](image[None, None], kernel[None, None])[0, 0]


def _scipy(image, kernel):
    signal = pytest.importorskip("scipy.signal")
    return torch.as_tensor(getattr(signal, "correlate" + "2d")(image.numpy(), kernel.numpy(), mode="valid"))


@pytest.mark.parametrize("bypass", [_variable_functions, _variable_functions_by_getattr, _mkldnn, _cached, _scipy],
                         ids=["_VariableFunctions", "getattr-_VariableFunctions", "mkldnn", "cached", "scipy"])
def test_conv2d_by_hand_refuses_the_operator_however_it_is_reached(capsys, bypass):
    from utils.checks import check_conv2d_by_hand

    image, kernel = torch.randn(6, 9), torch.randn(2, 4)
    try:
        computed = bypass(image, kernel)
    except RuntimeError as error:  # a torch built without mkldnn: nothing to refuse
        pytest.skip(str(error))
    assert torch.allclose(computed.float(), torch.nn.functional.conv2d(image[None, None], kernel[None, None])[0, 0],
                          atol=1e-5)  # each computes F.conv2d's numbers: a real leak
    ok, message = outcome(capsys, check_conv2d_by_hand(bypass))
    assert not ok and "by hand" in message, message


@pytest.mark.parametrize("bypass", [
    lambda o, k, s=1, p=0, d=1: next(n for n in range(1, 99) if torch.nn.functional.unfold(
        torch.zeros(1, 1, n, 1), (k, 1), dilation=(d, 1), padding=(p, 0), stride=(s, 1)).shape[-1] == o),
    lambda o, k, s=1, p=0, d=1: next(n for n in range(1, 99) if getattr(torch.nn.functional, "max_" + "pool1d")(
        torch.zeros(1, 1, n), k, s, p, d).shape[-1] == o),
    lambda o, k, s=1, p=0, d=1: next(n for n in range(1, 99) if n + 2 * p >= d * (k - 1) + 1 and torch.zeros(
        n + 2 * p).unfold(0, d * (k - 1) + 1, s).shape[0] == o),
], ids=["F.unfold", "max_pool1d", "Tensor.unfold"])
def test_input_size_refuses_unfold_and_pooling(capsys, bypass):
    """Third read, item 5: a search through unfold or pooling lets the library work out the size."""
    from utils.checks import check_input_size

    ok, message = outcome(capsys, check_input_size(bypass))
    assert not ok and ("by hand" in message or "calls `" in message), message
