"""The one way generated text goes into a hand-written file: between a start and an end marker (HTML comments).

Used by tools/sync_notebooks.py (the README's outline) and benchmarks/run_all.py (the README's results, the
instructors' schedule).
"""

from __future__ import annotations

__all__ = ["replace_between"]


def replace_between(text: str, start: str, end: str, block: str, where: str = "the file") -> str:
    """text with whatever stood between the markers `start` and `end` replaced by `block` (markers kept).

    >>> replace_between("a <!-- s --> old <!-- e --> b", "<!-- s -->", "<!-- e -->", "new")
    'a <!-- s -->\\nnew\\n<!-- e --> b'
    """
    if start not in text or end not in text:
        raise SystemExit(f"{where} needs the markers {start} and {end} around its generated part.")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n{block}\n{end}{after}"
