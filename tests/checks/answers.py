"""What the checks tests share: a check's outcome as (passed, printed line)."""

from __future__ import annotations


def outcome(capsys, result):
    return bool(result), capsys.readouterr().out.strip()


def assert_fails(capsys, result, words, answer=None):
    """The check failed with "✗ Not yet:", said `words`, and did not give `answer` away."""
    ok, message = outcome(capsys, result)
    assert not ok and message.startswith("✗ Not yet:"), message
    assert words in message, message
    if answer is not None:
        assert answer not in message, message
