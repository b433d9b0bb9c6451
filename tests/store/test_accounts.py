"""Accounts in the store: who may have which account, and who sees which patient (A3)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.accounts.passwords import PasswordRejectedError
from relapsewatch.store.accounts import (
    Account,
    SessionPolicy,
    add_patients_to_team,
    attempt_login,
    can_see_patient,
    create_team,
    create_user,
    patients_outside_teams,
    resolve_session,
    start_session,
)
from relapsewatch.store.db import create_engine_for, make_session_factory
from relapsewatch.store.errors import AccountError
from relapsewatch.store.migrate import upgrade_database
from relapsewatch.store.models import User, UserSession
from relapsewatch.store.repository import import_tables

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
KEY = b"k" * 32
STAFF_PASSWORD = "harbour pebble violin orchard"
PATIENT_PASSWORD = "tulip river lantern"


@pytest.fixture
def factory(database_url: str, synthetic_tables) -> sessionmaker[Session]:  # type: ignore[no-untyped-def]
    engine = create_engine_for(database_url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    import_tables(sessions, synthetic_tables(4, seed=3, prefix="ACC"), source="tests")
    yield sessions
    engine.dispose()


def _ids(factory: sessionmaker[Session]) -> list[str]:
    from relapsewatch.store.models import Patient

    with factory() as session:
        return sorted(session.scalars(select(Patient.patient_id)))


def _user(factory: sessionmaker[Session], username: str, role: str, **extra: object) -> Account:
    password = PATIENT_PASSWORD if role == "patient" else STAFF_PASSWORD
    return create_user(
        factory,
        username=username,
        password=password,
        role=role,
        display_name=username,
        now=NOW,
        **extra,  # type: ignore[arg-type]
    )


def test_staff_see_their_teams_patients_and_patients_see_only_themselves(
    factory: sessionmaker[Session],
) -> None:
    ids = _ids(factory)
    team_a = create_team(factory, "A")
    team_b = create_team(factory, "B")
    assert add_patients_to_team(factory, team_a, ids[:2]) == 2
    assert add_patients_to_team(factory, team_a, ids[:2]) == 0  # already there
    add_patients_to_team(factory, team_b, ids[2:3])
    nurse = _user(factory, "Nurse.A", "nurse", team_ids=[team_a])
    patient = _user(factory, "patient0", "patient", patient_id=ids[0])
    admin = _user(factory, "boss", "admin")
    assert nurse.username == "nurse.a"  # stored case-folded
    with factory() as session:
        assert [can_see_patient(session, nurse, p) for p in ids] == [True, True, False, False]
        assert [can_see_patient(session, patient, p) for p in ids] == [True, False, False, False]
        assert not any(can_see_patient(session, admin, p) for p in ids)
        assert not can_see_patient(session, nurse, "NO-SUCH-PATIENT")
        assert patients_outside_teams(session, nurse, [*ids, "NEW-ONE"]) == ids[2:]


def test_account_rules_refuse_what_would_break_access(factory: sessionmaker[Session]) -> None:
    ids = _ids(factory)
    team = create_team(factory, "A")
    with pytest.raises(AccountError, match="already exists"):
        create_team(factory, "A")
    with pytest.raises(AccountError, match="care team"):
        _user(factory, "nurse1", "nurse")
    with pytest.raises(AccountError, match="patient's record"):
        _user(factory, "patient1", "patient")
    with pytest.raises(AccountError, match="only a patient"):
        _user(factory, "admin1", "admin", patient_id=ids[0])
    with pytest.raises(AccountError, match="no stored patient"):
        _user(factory, "patient2", "patient", patient_id="NOBODY")
    _user(factory, "patient3", "patient", patient_id=ids[0])
    with pytest.raises(AccountError, match="already has an account"):
        _user(factory, "patient4", "patient", patient_id=ids[0])
    with pytest.raises(AccountError, match="taken"):
        _user(factory, "PATIENT3", "patient", patient_id=ids[1])
    with pytest.raises(AccountError, match="role must be"):
        _user(factory, "someone1", "superuser")
    with pytest.raises(PasswordRejectedError, match="at least 15"):
        create_user(
            factory,
            username="short.staff",
            password="tulip rivers",  # 12 characters: enough for a patient, not for staff
            role="nurse",
            display_name="x",
            now=NOW,
            team_ids=[team],
        )
    with factory() as session:
        assert session.scalar(select(User.id).where(User.username == "short.staff")) is None


def test_login_and_session_store_only_hashes(factory: sessionmaker[Session]) -> None:
    team = create_team(factory, "A")
    nurse = _user(factory, "nurse1", "nurse", team_ids=[team])
    outcome = attempt_login(
        factory, "NURSE1", STAFF_PASSWORD, client_ip="127.0.0.1", key=KEY, now=NOW
    )
    assert outcome.status == "ok" and outcome.account == nurse
    token, signed_in = start_session(factory, nurse.id, now=NOW)
    with factory() as session:
        stored = session.scalars(select(UserSession.token_hash)).all()
        hashes = session.scalars(select(User.password_hash)).all()
    assert token not in stored and signed_in.token_hash in stored
    assert all(STAFF_PASSWORD not in h for h in hashes)
    found = resolve_session(factory, token, now=NOW, policy=SessionPolicy())
    assert found is not None and found.account.id == nurse.id
    assert resolve_session(factory, token + "x", now=NOW, policy=SessionPolicy()) is None
