"""What the checks tests share: a check's outcome as (passed, printed line)."""

from __future__ import annotations


def outcome(capsys, result):
    """(passed, message): the message as the check wrote it, after checking that it was printed once, wrapped."""
    from utils.checks.core import CheckResult, wrap

    printed = capsys.readouterr().out.strip()
    if not isinstance(result, CheckResult):
        return bool(result), printed
    assert printed == wrap(result.message).strip(), printed
    return bool(result), result.message.strip()


def assert_fails(capsys, result, words, answer=None):
    """The check failed with "✗ Not yet:", said `words`, and did not give `answer` away."""
    ok, message = outcome(capsys, result)
    assert not ok and message.startswith("✗ Not yet:"), message
    assert words in message, message
    if answer is not None:
        assert answer not in message, message
