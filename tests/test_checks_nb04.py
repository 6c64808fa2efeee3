"""The check of notebook 04's first hand-written hook: capture conv1 into a dict, remove the hook in finally."""

from __future__ import annotations

import pytest

from utils.checks import check_capture_conv1


def outcome(capsys, result):
    return bool(result), capsys.readouterr().out.strip()


def make_capture_conv1(*, no_finally=False, swallow=False, keep_graph=False, store_inputs=False, no_dict=False,
                       wrong_layer=False):
    """A learner's capture_conv1, right by default, with one of the typical mistakes switched on."""
    def capture_conv1(model, x):
        store = {}

        def hook(module, inputs, output):
            value = inputs[0] if store_inputs else output
            store["conv1"] = value if keep_graph else value.detach()

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
        return store["conv1"] if no_dict else store
    return capture_conv1


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
])
def test_typical_mistakes_fail_with_a_reason(mistake, hint, capsys):
    ok, message = outcome(capsys, check_capture_conv1(make_capture_conv1(**mistake)))
    assert not ok and hint in message, message


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
