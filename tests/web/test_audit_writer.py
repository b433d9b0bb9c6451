"""The audit writer's group commit: many requests at once, each row written once, in one
intact chain; a request whose row cannot be written fails alone (RELIABILITY D1, D3)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from relapsewatch.store.audit import AuditRecord, count_audit, verify_audit
from relapsewatch.store.db import make_session_factory
from relapsewatch.web.audit import AuditWriter

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def _record(n: int, *, request_id: str | None = None) -> AuditRecord:
    return AuditRecord(
        at=NOW + dt.timedelta(milliseconds=n),
        user_id=1,
        role="nurse",
        action="read",
        resource_type="course",
        outcome="success",
        request_id=request_id or f"req{n:05d}",
        patient_id="W-LEN",
    )


def test_concurrent_requests_each_get_one_row_in_one_intact_chain(engine: Engine) -> None:
    factory = make_session_factory(engine)
    writer = AuditWriter(factory, max_batch=16)
    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            futures = list(pool.map(lambda n: writer.submit([_record(n)], None), range(300)))
        for future in futures:
            future.result(timeout=60)
    finally:
        writer.close()
    with factory() as session:
        assert count_audit(session) == 300
        assert verify_audit(session).ok


def test_a_row_that_cannot_be_written_fails_only_its_own_request(engine: Engine) -> None:
    factory = make_session_factory(engine)
    writer = AuditWriter(factory)
    try:
        good = [writer.submit([_record(n)], None) for n in range(5)]
        # A NUL cannot be stored in PostgreSQL text, and SQLite refuses a non-string id type.
        bad = writer.submit([_record(99, request_id="\x00bad")], None)
        more = [writer.submit([_record(n)], None) for n in range(5, 10)]
        for future in good + more:
            future.result(timeout=60)
        if engine.dialect.name == "postgresql":
            with pytest.raises(Exception):  # noqa: B017 - the driver's own error type
                bad.result(timeout=60)
        else:
            bad.result(timeout=60)  # SQLite stores the NUL; the point is the others
    finally:
        writer.close()
    with factory() as session:
        assert count_audit(session) >= 10
        assert verify_audit(session).ok
