"""Audit rows are append-only in the database (RELIABILITY D2), and a change made by someone
who could get past that is still found by the hash chain (D3), on SQLite and PostgreSQL.

The migration's triggers refuse UPDATE and DELETE of ``audit_events`` (SQLite ``RAISE(ABORT)``,
PostgreSQL a trigger function, which also refuses TRUNCATE). Each attempt must fail and leave
every row exactly as it was. An attacker with the database owner's rights can drop the
triggers; the test does so and checks that ``verify_audit`` then names the changed row.
On PostgreSQL the app's own role, with the grants ``docs/accounts.md`` gives, is refused by its
privileges alone.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.store.accounts import create_team
from relapsewatch.store.audit import AuditRecord, append_audit, verify_audit
from relapsewatch.store.db import create_engine_for, is_sqlite, make_session_factory
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.models import AuditEvent

ROWS = 6

#: Statements an app (or an intruder using its database role) might try.
CHANGES = (
    "UPDATE audit_events SET outcome = 'success' WHERE id = 2",
    "UPDATE audit_events SET detail = 'nothing happened'",
    "DELETE FROM audit_events WHERE id = 3",
    "DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)",
    "DELETE FROM audit_events",
)


def _append(factory: sessionmaker[Session], count: int, *, start: int = 0) -> None:
    at = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    append_audit(
        factory,
        [
            AuditRecord(
                at=at + dt.timedelta(seconds=start + n),
                user_id=n + 1,
                role="nurse",
                action="read",
                resource_type="course",
                outcome="denied" if n % 3 == 0 else "success",
                request_id=f"req{start + n:04d}",
                client_ip="127.0.0.1",
                detail=None,
            )
            for n in range(count)
        ],
    )


def _snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(AuditEvent).order_by(AuditEvent.id))]


def _drop_triggers(engine: Engine) -> None:
    """What an intruder with the owner's rights could do first."""
    with engine.begin() as connection:
        if is_sqlite(connection):
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        else:
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_change ON audit_events")
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_truncate ON audit_events")


@pytest.mark.parametrize("statement", CHANGES)
def test_update_and_delete_fail_and_change_nothing(
    db_engine: Engine, db_sessions: sessionmaker[Session], statement: str
) -> None:
    _append(db_sessions, ROWS)
    before = _snapshot(db_engine)
    with pytest.raises(DBAPIError, match="append-only"), db_engine.begin() as connection:
        connection.execute(text(statement))
    assert _snapshot(db_engine) == before
    with db_sessions() as session:
        assert verify_audit(session).ok


def test_truncate_fails_on_postgresql(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    if is_sqlite(db_engine):
        pytest.skip("SQLite has no TRUNCATE; its whole-table DELETE is refused above")
    _append(db_sessions, ROWS)
    before = _snapshot(db_engine)
    with pytest.raises(DBAPIError, match="append-only"), db_engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE audit_events")
    assert _snapshot(db_engine) == before


def test_changes_through_the_orm_fail_too(db_sessions: sessionmaker[Session]) -> None:
    _append(db_sessions, ROWS)
    with db_sessions() as session:
        event = session.get(AuditEvent, 1)
        assert event is not None
        event.outcome = "success" if event.outcome != "success" else "denied"
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()
    with db_sessions() as session:
        event = session.get(AuditEvent, 4)
        assert event is not None
        session.delete(event)
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()
    with db_sessions() as session:
        assert verify_audit(session).ok
        assert verify_audit(session).checked == ROWS


def test_appending_keeps_the_chain_intact(db_sessions: sessionmaker[Session]) -> None:
    with db_sessions() as session:
        assert verify_audit(session).ok and verify_audit(session).checked == 0
    for start in (0, ROWS, 2 * ROWS):
        _append(db_sessions, ROWS, start=start)
        with db_sessions() as session:
            report = verify_audit(session, batch=4)
            assert report.ok and report.checked == start + ROWS


def test_an_edit_made_with_the_triggers_dropped_is_found(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    _append(db_sessions, ROWS)
    _drop_triggers(db_engine)
    with db_engine.begin() as connection:
        changed = connection.execute(
            text("UPDATE audit_events SET outcome = 'success' WHERE id = 4")
        ).rowcount
    assert changed == 1  # the attacker did get through
    with db_sessions() as session:
        report = verify_audit(session)
    assert not report.ok
    assert report.first_bad_id == 4 and report.checked == 3
    assert "content" in report.reason


def test_a_row_deleted_with_the_triggers_dropped_is_found(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    _append(db_sessions, ROWS)
    _drop_triggers(db_engine)
    with db_engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM audit_events WHERE id = 2")
    with db_sessions() as session:
        report = verify_audit(session)
    assert not report.ok and report.first_bad_id == 3 and report.checked == 1


def test_a_tail_deleted_with_the_triggers_dropped_is_found(
    db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    _append(db_sessions, ROWS)
    _drop_triggers(db_engine)
    with db_engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM audit_events WHERE id > {ROWS - 2}")
    with db_sessions() as session:
        report = verify_audit(session)
    assert not report.ok and report.checked == ROWS - 2
    assert "head" in report.reason


# --- the documented app role on PostgreSQL ------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "accounts.md"


def _documented_grants(role: str, database: str) -> list[str]:
    """The GRANT/REVOKE block of docs/accounts.md, for this role and database."""
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    (block,) = [b for b in blocks if "REVOKE UPDATE, DELETE, TRUNCATE ON audit_events" in b]
    block = block.replace("relapsewatch_app", role)
    block = block.replace("DATABASE relapsewatch ", f"DATABASE {database} ")
    return [s.strip() for s in block.split(";") if s.strip()]


def test_the_documented_app_role_appends_but_cannot_change_audit_rows(
    database_url: str, db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    """D2's privilege layer: with the grants of docs/accounts.md, the app's role can append to
    and check the audit trail and use the rest of the schema, but UPDATE, DELETE and TRUNCATE of
    ``audit_events`` are refused by the privileges alone (the triggers are dropped first)."""
    if is_sqlite(db_engine):
        pytest.skip("SQLite has no roles; its triggers are tested above")
    role = f"rw_app_{os.getpid()}"
    database = make_url(database_url).database
    assert database is not None
    with db_engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        for statement in _documented_grants(role, database):
            connection.exec_driver_sql(statement)
    _append(db_sessions, ROWS)
    _drop_triggers(db_engine)
    app_engine = create_engine_for(
        make_url(database_url).set(username=role).render_as_string(hide_password=False)
    )
    try:
        upgrade_database(app_engine)  # at head: what `serve` does at start, as the app's role
        app_sessions = make_session_factory(app_engine)
        assert create_team(app_sessions, "Role test team") > 0
        _append(app_sessions, 2, start=ROWS)
        before = _snapshot(db_engine)
        for statement in (*CHANGES, "TRUNCATE audit_events"):
            with (
                pytest.raises(DBAPIError, match="permission denied"),
                app_engine.begin() as connection,
            ):
                connection.execute(text(statement))
        assert _snapshot(db_engine) == before
        with app_sessions() as session:
            report = verify_audit(session)
        assert report.ok and report.checked == ROWS + 2
    finally:
        app_engine.dispose()
        with db_engine.begin() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
