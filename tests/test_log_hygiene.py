"""The suite-wide canary check of ``tests/conftest.py`` (RELIABILITY D5) sees what it must."""

from __future__ import annotations

import logging

import pytest


def test_debug_records_of_the_app_loggers_are_captured(caplog: pytest.LogCaptureFixture) -> None:
    logging.getLogger("relapsewatch.web.example").debug("a debug line")
    assert [r.getMessage() for r in caplog.records] == ["a debug line"]


def test_sections_with_a_canary_are_named() -> None:
    from canaries import canary_sections  # tests/canaries.py (on sys.path via conftest)

    sections = [
        ("Captured stdout call", "nothing here"),
        ("Captured log call", "WARNING relapsewatch.web x canary-message-1"),
        ("Captured stderr setup", "CANARY-PT-9 was printed"),
    ]
    assert canary_sections(sections) == ["Captured log call", "Captured stderr setup"]
    assert canary_sections([("Captured log call", "a canary is a bird")]) == []
