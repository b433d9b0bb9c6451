"""Canary strings for the log-hygiene check (RELIABILITY D5), used by ``tests/conftest.py``.

Tests put strings starting with ``CANARY-`` or ``canary-`` into patient data (ids, names,
values, message text); none may ever reach stdout, stderr or a log.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CANARY_MARKERS", "canary_sections"]

CANARY_MARKERS = ("CANARY-", "canary-")


def canary_sections(sections: Iterable[tuple[str, str]]) -> list[str]:
    """Titles of the captured sections (stdout, stderr, log) that contain a canary.

    >>> canary_sections([("Captured log call", "ERROR x CANARY-PT-1"), ("Captured stdout", "ok")])
    ['Captured log call']
    """
    return [title for title, text in sections if any(m in text for m in CANARY_MARKERS)]
