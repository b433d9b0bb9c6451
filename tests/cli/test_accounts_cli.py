"""The accounts and audit commands, and the secret key checks (RELIABILITY B7, D3).

* A fresh install has 0 accounts; the first admin comes from ``relapsewatch users create-admin``
  with a password made by the command and printed once, which signs in and passes the rules; a
  second admin needs ``--another``.
* ``relapsewatch audit verify`` exits 0 on an intact chain and 1, naming the row, after a
  change made behind the triggers' back; ``audit export`` writes rows that re-hash.
* ``relapsewatch secret-key`` prints a long random key; the app refuses to start without a
  proper one, and ``relapsewatch serve`` stops with exit 2 naming the variable before it
  touches the database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from relapsewatch.accounts.passwords import check_password_rules
from relapsewatch.cli import app
from relapsewatch.errors import ConfigError
from relapsewatch.io import read_tables
from relapsewatch.store.accounts import attempt_login, count_users, list_users
from relapsewatch.store.audit import AuditRecord, append_audit, row_hash
from relapsewatch.store.audit_export import EXPORT_COLUMNS
from relapsewatch.store.db import is_sqlite
from relapsewatch.store.models import AuditEvent, CareTeamPatient
from relapsewatch.web import WebSettings, create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_PASSWORD = re.compile(r"Password \(shown once; keep it safe\): (\S+)")
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _log(factory: sessionmaker[Session], count: int) -> None:
    append_audit(
        factory,
        [
            AuditRecord(
                at=dt.datetime(2026, 11, 23, 9, n, tzinfo=dt.UTC),
                user_id=n,
                role="nurse",
                action="read",
                resource_type="course",
                outcome="success",
                request_id=f"r{n}",
                detail="=1+1" if n == 1 else None,
            )
            for n in range(count)
        ],
    )


# --- accounts -------------------------------------------------------------------------------


def test_a_fresh_database_has_no_accounts(
    database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    code, output = _run("users", "list", "--database-url", database_url)
    assert code == 0, output
    assert "No accounts yet" in output and "create-admin" in output
    with db_sessions() as session:
        assert count_users(session) == 0


def test_the_first_admin_gets_a_generated_password_that_signs_in(
    database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    code, output = _run("users", "create-admin", "it.admin", "--database-url", database_url)
    assert code == 0, output
    passwords = _PASSWORD.findall(output)
    assert len(passwords) == 1
    password = passwords[0]
    check_password_rules(password, role="admin", username="it.admin")
    assert len(password) >= 24
    outcome = attempt_login(
        db_sessions,
        "it.admin",
        password,
        client_ip="127.0.0.1",
        key=b"tests-only-lockout-key",
        now=dt.datetime.now(dt.UTC),
    )
    assert outcome.status == "ok" and outcome.account is not None
    assert outcome.account.role == "admin" and not outcome.account.demo

    again, refusal = _run("users", "create-admin", "it.second", "--database-url", database_url)
    assert again != 0 and "already exists" in refusal and "--another" in refusal
    with db_sessions() as session:
        assert [a.username for a in list_users(session)] == ["it.admin"]

    code, output = _run(
        "users", "create-admin", "it.second", "--another", "--database-url", database_url
    )
    assert code == 0, output
    assert _PASSWORD.findall(output) != passwords
    listing = _run("users", "list", "--database-url", database_url)[1]
    assert "it.admin" in listing and "it.second" in listing and password not in listing
    with db_sessions() as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(r.role, r.action, r.resource_type, r.user_id) for r in rows] == [
        ("cli", "create", "account", None),
        ("cli", "create", "account", None),
    ]


def test_a_taken_or_bad_username_is_refused(database_url: str) -> None:
    code, output = _run("users", "create-admin", "x", "--database-url", database_url)
    assert code == 1 and "3 to 64 characters" in output


def test_teams_are_made_and_given_patients_from_the_command_line(
    database_url: str, db_sessions: sessionmaker[Session]
) -> None:
    assert _run("import", str(EXAMPLES / "valid"), "--database-url", database_url)[0] == 0
    patient_ids = read_tables(EXAMPLES / "valid").patients["patient_id"].to_list()
    code, output = _run(
        "teams", "create", "Myeloma team", "--notify-email", "team@example.test",
        "--database-url", database_url,
    )  # fmt: skip
    assert code == 0, output
    team_id = re.search(r"\(team (\d+)\)", output)
    assert team_id is not None
    code, output = _run(
        "teams", "add-patients", team_id.group(1), ",".join(patient_ids[:2]), *patient_ids[2:],
        "--database-url", database_url,
    )  # fmt: skip
    assert code == 0, output
    assert f"Added {len(patient_ids)} patient(s)" in output
    with db_sessions() as session:
        stored = set(session.scalars(select(CareTeamPatient.patient_id)))
    assert stored == set(patient_ids)

    code, output = _run(
        "teams", "add-patients", team_id.group(1), "NOBODY", "--database-url", database_url
    )
    assert code == 1 and "Nothing was added" in output and "NOBODY" in output
    code, output = _run("teams", "create", "Myeloma team", "--database-url", database_url)
    assert code == 1 and "already exists" in output


# --- the audit trail ------------------------------------------------------------------------


def _tamper(engine: Engine) -> None:
    """Change row 3 the way an intruder with the owner's rights could: triggers dropped."""
    with engine.begin() as connection:
        if is_sqlite(connection):
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        else:
            connection.exec_driver_sql("DROP TRIGGER audit_events_no_change ON audit_events")
        connection.exec_driver_sql("UPDATE audit_events SET outcome = 'denied' WHERE id = 3")


def test_audit_verify_passes_a_clean_chain_and_names_a_changed_row(
    database_url: str, db_engine: Engine, db_sessions: sessionmaker[Session]
) -> None:
    code, output = _run("audit", "verify", "--database-url", database_url)
    assert (code, output.strip()) == (0, "OK: 0 rows, chain intact.")
    _log(db_sessions, 5)
    code, output = _run("audit", "verify", "--database-url", database_url)
    assert (code, output.strip()) == (0, "OK: 5 rows, chain intact.")
    _tamper(db_engine)
    code, output = _run("audit", "verify", "--database-url", database_url)
    assert code == 1
    assert "row 3" in output and "does not match its hash" in output


def test_audit_export_writes_every_row_as_csv_or_ndjson(
    database_url: str, db_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _log(db_sessions, 4)
    target = tmp_path / "audit.ndjson"
    code, output = _run(
        "audit", "export", "-o", str(target), "--format", "ndjson", "--database-url", database_url
    )
    assert code == 0, output
    assert "Wrote 4 audit rows" in output
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [tuple(r) for r in rows] == [EXPORT_COLUMNS] * 4
    for row in rows:  # a copy re-hashes row by row, away from the database
        values = dict(row, at=dt.datetime.fromisoformat(row["at"]))
        assert row_hash(values) == row["hash"]
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]

    sheet = tmp_path / "audit.csv"
    code, output = _run("audit", "export", "-o", str(sheet), "--database-url", database_url)
    assert code == 0, output
    lines = sheet.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(EXPORT_COLUMNS) and len(lines) == 5
    assert ",'=1+1," in lines[2]


# --- the secret key -------------------------------------------------------------------------


def test_secret_key_prints_a_new_long_random_key() -> None:
    keys = {_run("secret-key")[1].strip() for _ in range(3)}
    assert len(keys) == 3
    for key in keys:
        assert len(key) == 64 and re.fullmatch(r"[A-Za-z0-9_-]+", key)


@pytest.mark.parametrize("key", [None, "", "changeme", "CHANGEME", "secret", "short-key-123"])
def test_the_app_refuses_to_start_without_a_proper_secret_key(
    key: str | None, tmp_path: Path
) -> None:
    settings = WebSettings(secret_key=key, database_url=f"sqlite:///{tmp_path / 'app.db'}")
    with pytest.raises(ConfigError, match="RELAPSEWATCH_SECRET_KEY"):
        create_app(settings)
    assert not (tmp_path / "app.db").exists()


@pytest.mark.parametrize("key", [None, "changeme", "too-short"])
def test_serve_stops_before_the_database_without_a_proper_secret_key(
    key: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve started a server without a proper secret key")

    monkeypatch.setattr(uvicorn, "run", no_server)
    monkeypatch.delenv("RELAPSEWATCH_SECRET_KEY", raising=False)
    database = tmp_path / "app.db"
    result = runner.invoke(
        app,
        ["serve", "--database-url", f"sqlite:///{database}"],
        env={"RELAPSEWATCH_SECRET_KEY": key},
    )
    assert result.exit_code == 2, result.output
    assert "RELAPSEWATCH_SECRET_KEY" in result.output
    assert "relapsewatch secret-key" in result.output
    assert not database.exists()
