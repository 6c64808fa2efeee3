"""utils.checks: the checks of notebook 04 (utils/checks/nb04.py)."""

from __future__ import annotations

import pytest
import torch

from tests.checks.answers import outcome
from utils import get_feature_maps
from utils.checks import (
    check_capture_conv1,
    check_most_active_channel,
    check_nested_layer_name,
    check_pool_calls,
    check_record_shapes,
    nested_exercise_model,
)


def make_record_shapes(*, dict_store=False, leave_hooks=False, no_finally=False, tensors=False, with_root=False,
                       reverse=False):
    """A learner's record_shapes, right by default, with one of the typical mistakes switched on."""
    def record_shapes(model, x):
        seen = {} if dict_store else []

        def make_hook(name):
            def hook(module, inputs, output):
                value = output if tensors else tuple(output.shape)
                if dict_store:
                    seen[name] = value
                else:
                    seen.append((name, value))
            return hook

        handles = [m.register_forward_hook(make_hook(n)) for n, m in model.named_modules() if n or with_root]
        if no_finally:
            model(x)
            for h in handles:
                h.remove()
        else:
            try:
                model(x)
            finally:
                if not leave_hooks:
                    for h in handles:
                        h.remove()
        pairs = list(seen.items()) if dict_store else seen
        return pairs[::-1] if reverse else pairs
    return record_shapes


def make_capture_conv1(*, no_finally=False, swallow=False, keep_graph=False, store_inputs=False, no_dict=False,
                       wrong_layer=False, no_clone=False, by_hand=False):
    """A learner's capture_conv1, right by default, with one of the typical mistakes switched on."""
    def capture_conv1(model, x):
        store = {}

        def hook(module, inputs, output):
            value = inputs[0] if store_inputs else output
            store["conv1"] = value if keep_graph else value.detach() if no_clone else value.detach().clone()

        layer = model.conv2 if wrong_layer else model.conv1
        handle = layer.register_forward_hook(hook)
        if no_finally:
            model(x)
            handle.remove()
        else:
            try:
                model(x)
            except RuntimeError:
                if not swallow:
                    raise
            finally:
                handle.remove()
        if by_hand:  # the hook ran, but the map kept is conv1 called by hand on x
            store["conv1"] = model.conv1(x).detach().clone()
        return store["conv1"] if no_dict else store
    return capture_conv1


def test_record_shapes(capsys):
    ok, message = outcome(capsys, check_record_shapes(make_record_shapes()))
    assert ok and message.startswith("✓")
    for mistake, expected in [("dict_store", "appears once"), ("leave_hooks", "still attached"),
                              ("no_finally", "finally"), ("tensors", "not the tensor"), ("with_root", "itself"),
                              ("reverse", "order")]:
        ok, message = outcome(capsys, check_record_shapes(make_record_shapes(**{mistake: True})))
        assert not ok and message.startswith("✗ Not yet:") and expected in message, (mistake, message)
    ok, message = outcome(capsys, check_record_shapes(lambda model, x: 1 / 0))
    assert not ok and "ZeroDivisionError" in message


def test_pool_calls(capsys):
    assert outcome(capsys, check_pool_calls(4, (4, 32, 4, 4)))[0]
    assert outcome(capsys, check_pool_calls(torch.tensor(4), torch.Size([4, 32, 4, 4])))[0]
    for wrong in [(2, (4, 32, 4, 4)), (8, (4, 32, 4, 4)), (4, (8, 32, 4, 4)), (4, (4, 16, 12, 12)), (4, (32, 4, 4)),
                  (4, "big")]:
        ok, message = outcome(capsys, check_pool_calls(*wrong))
        assert not ok and message.startswith("✗ Not yet:"), (wrong, message)
        assert "(4, 32, 4, 4)" not in message and "4 tensors" not in message


@pytest.mark.parametrize("count", ["4", "2", [4], "four"])
def test_a_count_of_the_wrong_type_asks_for_a_number_not_a_recount(count, capsys):
    """Learner review: check_pool_calls('4', ...) said "count again" to a right count written as a string."""
    ok, message = outcome(capsys, check_pool_calls(count, (4, 32, 4, 4)))
    assert not ok and "whole number without quotes" in message and "count again" not in message, message


def test_most_active_channel(capsys):
    def right(model, image):
        return int(get_feature_maps(model, image[None], ["conv2"])["conv2"][0].mean(dim=(1, 2)).argmax())

    def by_max(model, image):
        return int(get_feature_maps(model, image[None], ["conv2"])["conv2"][0].amax(dim=(1, 2)).argmax())

    def after_relu(model, image):  # the "activity" notebook 05 uses: a reasonable answer, diagnosed as such
        return int(get_feature_maps(model, image[None], ["conv2"])["conv2"][0].relu().mean(dim=(1, 2)).argmax())

    def flat(model, image):
        return int(get_feature_maps(model, image[None], ["conv2"])["conv2"][0].argmax())

    def no_batch(model, image):
        return int(get_feature_maps(model, image, ["conv2"])["conv2"][0].mean(dim=(1, 2)).argmax())

    ok, message = outcome(capsys, check_most_active_channel(right))
    assert ok and message.startswith("✓")
    ok, message = outcome(capsys, check_most_active_channel(by_max))
    assert not ok and "largest single value" in message
    ok, message = outcome(capsys, check_most_active_channel(after_relu))
    assert not ok and "after a ReLU" in message and "largest single value" not in message, message
    ok, message = outcome(capsys, check_most_active_channel(flat))
    assert not ok and "0 to 31" in message
    ok, message = outcome(capsys, check_most_active_channel(no_batch))
    assert not ok and "raised" in message
    ok, message = outcome(capsys, check_most_active_channel(lambda model, image: 0.5))
    assert not ok and "int" in message


def test_nested_layer_name(capsys):
    model = nested_exercise_model()
    assert isinstance(model.get_submodule("stages.3.conv"), torch.nn.Conv2d)
    ok, message = outcome(capsys, check_nested_layer_name("stages.3.conv"))
    assert ok and message.startswith("✓")
    for wrong, expected in [("stages[3].conv", "brackets"), ("model.stages.3.conv", "drop the first part"),
                            ("stages.3", "whole block"), ("stages.1.conv", "LAST block"),
                            ("stages.2.conv", "not a layer name"), ("stages.3.norm", "BatchNorm2d"),
                            (3, "string"), ("", "not a layer name")]:
        ok, message = outcome(capsys, check_nested_layer_name(wrong))
        assert not ok and expected in message, (wrong, message)
        assert "stages.3.conv" not in message


@pytest.mark.parametrize("check, arity", [(check_record_shapes, 1), (check_pool_calls, 2),
                                          (check_most_active_channel, 1), (check_nested_layer_name, 1)])
def test_unanswered_exercises_say_so(capsys, check, arity):
    ok, message = outcome(capsys, check(*[None] * arity))
    assert not ok and "still None" in message


def test_a_right_capture_passes(capsys):
    ok, message = outcome(capsys, check_capture_conv1(make_capture_conv1()))
    assert ok and "no hook left" in message


def test_an_unanswered_capture_asks_for_it(capsys):
    ok, message = outcome(capsys, check_capture_conv1(None))
    assert not ok and "`capture_conv1`" in message and "still None" in message


@pytest.mark.parametrize(("mistake", "hint"), [
    ({"no_finally": True}, "`finally:`"),
    ({"swallow": True}, "hides the error"),
    ({"keep_graph": True}, "output.detach()"),
    ({"store_inputs": True}, "not `inputs`"),
    ({"no_dict": True}, 'key "conv1"'),
    ({"wrong_layer": True}, "not `inputs`"),
    ({"no_clone": True}, ".clone()"),
    ({"by_hand": True}, "called by hand"),
])
def test_typical_mistakes_fail_with_a_reason(mistake, hint, capsys):
    ok, message = outcome(capsys, check_capture_conv1(make_capture_conv1(**mistake)))
    assert not ok and hint in message, message


def test_conv1_called_by_hand_fails(capsys):
    """Second expert read: conv1 called by hand, then model(x) for show, passed; the check's model now changes x
    before conv1, as a real model may."""
    def by_hand(model, x):
        out = model.conv1(x).detach().clone()
        model(x)
        return {"conv1": out}

    ok, message = outcome(capsys, check_capture_conv1(by_hand))
    assert not ok and "called by hand" in message, message


def test_torchvision_feature_extractor_is_refused(capsys):
    def traced(model, x):
        from torchvision.models.feature_extraction import create_feature_extractor

        return {"conv1": create_feature_extractor(model, ["conv1"])(x)["conv1"].detach().clone()}

    ok, message = outcome(capsys, check_capture_conv1(traced))
    assert not ok and "`create_feature_extractor`" in message and "register_forward_hook" in message, message


def test_a_hook_never_removed_is_named(capsys):
    def leaky(model, x):
        store = {}
        model.conv1.register_forward_hook(lambda m, i, out: store.update(conv1=out.detach()))
        model(x)
        return store

    ok, message = outcome(capsys, check_capture_conv1(leaky))
    assert not ok and "handle.remove()" in message


@pytest.mark.parametrize("answer", ["capture_conv1", 3, {"conv1": 1}])
def test_answers_of_the_wrong_kind_never_raise(answer, capsys):
    assert not outcome(capsys, check_capture_conv1(answer))[0]


def _capture_helper(model, x):
    """A learner's module-level helper that lets the course's own capture do the exercise."""
    from utils import get_feature_maps

    return {"conv1": get_feature_maps(model, x, "conv1")["conv1"]}


def _with_capture(model, x):
    from utils import capture

    with capture(model, "conv1") as store:
        model(x)
    return {"conv1": store["conv1"]}


@pytest.mark.parametrize("bypass, named", [
    (lambda model, x: _capture_helper(model, x), "get_feature_maps"),
    (lambda model, x: _with_capture(model, x), "capture"),
    (lambda model, x: {"conv1": __import__("utils").get_feature_maps(model, x, "conv1")["conv1"]},
     "get_feature_maps")], ids=["get_feature_maps-helper", "capture-helper", "get_feature_maps"])
def test_capture_conv1_refuses_the_course_helpers(capsys, bypass, named):
    """Expert review (issue 28): get_feature_maps and capture passed "a forward hook, from scratch"."""
    ok, message = outcome(capsys, check_capture_conv1(bypass))
    assert not ok and f"`{named}`" in message and "tensor operations" not in message, message


def _private_capture(model, x):
    """The third expert read's bypass: the course's private helper behind capture hooks conv1 for the learner."""
    import utils.capturing.hooks

    with utils.capturing.hooks._hooked(model, ["conv1"], True, None, False) as maps:
        model(x)
    return {"conv1": maps["conv1"]}


def _private_gradient_helper(model, x):
    """The other bypass: Grad-CAM's private helper registers its own hook and returns conv1's output."""
    from utils.analysis.attribution import _activation_and_gradient

    activation, _ = _activation_and_gradient(model, model.conv1, "conv1", x, None)
    return {"conv1": activation.detach().clone()}


@pytest.mark.parametrize("bypass, named", [(_private_capture, "utils.capturing.hooks._hooked"),
                                           (_private_gradient_helper,
                                            "utils.analysis.attribution._activation_and_gradient")],
                         ids=["_hooked", "_activation_and_gradient"])
def test_capture_conv1_refuses_private_helpers_that_hook_for_the_learner(capsys, bypass, named):
    """Third expert read: utils.capturing.hooks._hooked(...) and _activation_and_gradient passed ("Right")."""
    ok, message = outcome(capsys, check_capture_conv1(bypass))
    assert not ok and f"`{named}`" in message and "register_forward_hook" in message, message


def test_capture_conv1_refuses_a_hook_the_course_made(capsys):
    """A hook the course's code made, registered on conv1 by the learner's own line, is not the learner's hook."""
    def borrowed(model, x):
        from utils.capturing import hooks

        with hooks._hooked(model, ["conv2"], True, None, False):  # registered on conv2, then taken from there
            course_hook = next(iter(model.conv2._forward_hooks.values()))
        handle = model.conv1.register_forward_hook(course_hook)
        try:
            model(x)
        finally:
            handle.remove()
        return {"conv1": model.conv1(x.flip(-1)).detach().clone()}

    ok, message = outcome(capsys, check_capture_conv1(borrowed))
    assert not ok and "`utils.capturing.hooks._hooked`" in message, message


def test_a_stored_view_is_told_to_clone_without_section_5s_answer(capsys):
    """Third expert read: the message must not explain, before section 5, why a view loses its values."""
    ok, message = outcome(capsys, check_capture_conv1(make_capture_conv1(no_clone=True)))
    assert not ok and ".clone()" in message and "in-place" not in message and "ReLU" not in message, message
