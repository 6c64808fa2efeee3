"""utils.checks.by_hand: how a by-hand check finds a forbidden library function, before and while the learner's
function runs."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F


# What a learner's function can hold before it runs (second expert read, items 2-4 and 12): calls_any must find a
# forbidden library callable in each of these places, by identity.
def _default(image, kernel, _f=F.conv2d):
    return _f(image, kernel)


def _keyword_default(image, kernel, *, _f=F.conv2d):
    return _f(image, kernel)


def _closure():
    held = F.conv2d

    def conv(image, kernel):
        return held(image, kernel)

    return conv


class _Holder:
    def __init__(self):
        self.f = F.conv2d

    def __call__(self, image, kernel):
        return self.f(image, kernel)


class _ClassAttribute:
    f = staticmethod(F.conv2d)

    def __call__(self, image, kernel):
        return self.f(image, kernel)


_TOOLS = {"conv": F.conv2d}
_LAYER = torch.nn.Conv2d(1, 1, 3)


def _helper_with_default(image, kernel):
    return _default(image, kernel)


@pytest.mark.parametrize("function", [
    _default, _keyword_default, _closure(), _Holder(), _ClassAttribute(),
    lambda image, kernel: _TOOLS["conv"](image, kernel), _helper_with_default,
    functools.partial(_default), lambda image, kernel, f=torch.ops.aten.convolution.default: f,
    lambda image, kernel, layer=_LAYER: layer(image),
], ids=["default", "keyword-default", "closure", "attribute", "class-attribute", "global-dict", "helper", "partial",
        "aten-overload", "layer-instance"])
def test_calls_any_finds_a_callable_held_before_the_function_runs(function):
    from utils.checks.by_hand import CONVOLUTION, calls_any

    assert calls_any(function, CONVOLUTION) in {"conv2d", "convolution", "Conv2d"}


def test_calls_any_compares_objects_not_names():
    """A learner's own function called output_size is not the course's (item 12); the course's is found under any
    name."""
    from utils.checks.by_hand import calls_any
    from utils.widgets import conv_geometry

    def output_size(size, kernel):
        return size - kernel + 1

    def uses_own(out, kernel):
        return next(n for n in range(1, 99) if output_size(n, kernel) == out)

    renamed = conv_geometry.output_size
    assert calls_any(output_size, ["output_size"]) is None and calls_any(uses_own, ["output_size"]) is None
    assert calls_any(lambda n, k: renamed(n, k), ["output_size"]) == "output_size"
    assert calls_any(conv_geometry.output_size, ["output_size"]) == "output_size"


def test_every_convolution_name_is_one_of_torchs_entry_points():
    """CONVOLUTION names what this torch has: each name is found somewhere `forbidding` looks (a misspelt name would
    forbid nothing). The scipy names are looked for once scipy.signal and scipy.ndimage are imported."""
    from utils.checks.by_hand import CONVOLUTION, _forbidden_objects

    pytest.importorskip("scipy.signal")
    pytest.importorskip("scipy.ndimage")
    found = {name for _, name in _forbidden_objects(CONVOLUTION).values()}
    assert set(CONVOLUTION) - found == set()


def test_forbidding_catches_a_global_alias_and_puts_everything_back():
    from utils.checks.by_hand import CONVOLUTION, ByHandError, forbidding

    scope = {"my_conv": F.conv2d, "torch": torch}
    function = eval("lambda image, kernel: globals()['my_conv'](image, kernel)", scope)
    with forbidding(CONVOLUTION, function):
        for call in (function, lambda i, k: getattr(F, "conv_" + "transpose3d")(i, k),
                     lambda i, k: torch._C._nn.slow_conv3d(i, k, (1, 3, 3))):
            with pytest.raises(ByHandError):
                call(torch.zeros(1, 1, 1, 5, 5), torch.zeros(1, 1, 1, 3, 3))
    assert scope["my_conv"] is F.conv2d and F.conv_transpose3d is torch.conv_transpose3d
    assert F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3)).item() == 9


def test_the_dispatcher_refuses_convolution_operators_and_nothing_else():
    """Third read, item 3: with a convolution forbidden, the dispatcher refuses the operator however it is reached
    (no Python name to replace); the learner's arithmetic runs, and nothing is refused after the block."""
    from utils.checks.by_hand import CONVOLUTION, CONVOLUTION_OPERATOR, ByHandError, forbidding

    image, kernel = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3)
    with forbidding(CONVOLUTION):
        with pytest.raises(ByHandError, match="by hand"):
            torch._C._VariableFunctions.conv2d(image, kernel)
        with pytest.raises(ByHandError, match="by hand"):  # refused before mkldnn runs it
            torch.ops.mkldnn._convolution_pointwise(image, kernel, None, [0, 0], [1, 1], [1, 1], 1, "none", [], "")
        patches = image[0, 0].unfold(0, 3, 1).unfold(1, 3, 1)  # tensor arithmetic is allowed
        assert ((patches * kernel[0, 0]).sum((-1, -2)) == 9).all()
    with forbidding(["normalize_maps"]):  # no convolution named: no operator refused
        assert F.conv2d(image, kernel).sum().item() == 36
    assert torch._C._VariableFunctions.conv2d(image, kernel).sum().item() == 36
    names = ["convolution", "_convolution", "_convolution_pointwise", "conv2d", "_conv_depthwise2d", "conv_tbc",
             "mkldnn_convolution", "slow_conv3d", "thnn_conv2d"]
    assert all(CONVOLUTION_OPERATOR.search(name) for name in names)
    assert not any(CONVOLUTION_OPERATOR.search(name) for name in ["_convert_indices_from_coo_to_csr", "conj", "cos"])
