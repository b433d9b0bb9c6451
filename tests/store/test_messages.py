"""Messages in the store: status, limits, the inbox, and a thread never changes patient (A4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.io import CanonicalTables
from relapsewatch.store.accounts import Account, add_patients_to_team, create_team, create_user
from relapsewatch.store.messages import (
    BODY_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    MessageError,
    UnknownThreadError,
    care_team_addresses,
    inbox,
    reply,
    start_thread,
    thread_with_messages,
    threads_for_patient,
)
from relapsewatch.store.models import Message, MessageThread
from relapsewatch.store.repository import import_tables

Sessions = sessionmaker[Session]
MakeTables = Callable[..., CanonicalTables]

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
PATIENT_PASSWORD = "tulip river lantern"
STAFF_PASSWORD = "harbour pebble violin orchard"
ADMIN_PASSWORD = "cobalt thimble lighthouse fern"


@dataclass(frozen=True)
class World:
    """Three patients: team A (with a notification address) looks after the first two, team B
    (none) the third, team C (another address) the first again."""

    sessions: Sessions
    p0: str
    p1: str
    p2: str
    users: dict[str, Account]


@pytest.fixture
def world(db_sessions: Sessions, synthetic_tables: MakeTables) -> World:
    tables = synthetic_tables(3, seed=5, prefix="MSG")
    import_tables(db_sessions, tables, source="messages test")
    p0, p1, p2 = sorted(tables.patients["patient_id"].to_list())
    team_a = create_team(db_sessions, "Team A", notify_email="team-a@example.test")
    team_b = create_team(db_sessions, "Team B")
    team_c = create_team(db_sessions, "Team C", notify_email=" team-c@example.test ")
    add_patients_to_team(db_sessions, team_a, [p0, p1])
    add_patients_to_team(db_sessions, team_b, [p2])
    add_patients_to_team(db_sessions, team_c, [p0])
    users: dict[str, Account] = {}
    for name, role, password, extra in (
        ("patient.0", "patient", PATIENT_PASSWORD, {"patient_id": p0}),
        ("patient.1", "patient", PATIENT_PASSWORD, {"patient_id": p1}),
        ("nurse.a", "nurse", STAFF_PASSWORD, {"team_ids": [team_a]}),
        ("clinician.b", "clinician", STAFF_PASSWORD, {"team_ids": [team_b]}),
        ("admin", "admin", ADMIN_PASSWORD, {}),
    ):
        users[name] = create_user(
            db_sessions,
            username=name,
            password=password,
            role=role,
            display_name=name.replace(".", " ").title(),
            now=T0,
            **extra,  # type: ignore[arg-type]
        )
    return World(db_sessions, p0, p1, p2, users)


def _at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _message_count(sessions: Sessions) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def test_a_question_is_new_until_staff_reply_and_new_again_when_the_patient_writes(
    world: World,
) -> None:
    s, u = world.sessions, world.users
    thread_id = start_thread(s, world.p0, u["patient.0"], "  My new tablets ", "Hello?", _at(0))
    with s() as session:
        (listed,) = threads_for_patient(session, world.p0)
    assert (listed.id, listed.subject, listed.status, listed.message_count) == (
        thread_id,
        "My new tablets",
        "new",
        1,
    )
    reply(s, thread_id, world.p0, u["nurse.a"], "We will call you.", _at(5))
    with s() as session:
        assert threads_for_patient(session, world.p0)[0].status == "answered"
    reply(s, thread_id, world.p0, u["patient.0"], "Thank you.\r\nOne more thing.", _at(9))
    with s() as session:
        view = thread_with_messages(session, world.p0, thread_id)
    assert view is not None
    assert view.thread.status == "new"
    assert view.thread.updated_at == _at(9)
    assert [(m.author_role, m.author_name, m.body) for m in view.messages] == [
        ("patient", "Patient 0", "Hello?"),
        ("nurse", "Nurse A", "We will call you."),
        ("patient", "Patient 0", "Thank you.\nOne more thing."),
    ]


def test_empty_and_too_long_texts_are_refused_with_the_field_named(world: World) -> None:
    s, patient = world.sessions, world.users["patient.0"]
    cases = [
        ("", "Hello", "subject"),
        ("   \n ", "Hello", "subject"),
        ("x" * (SUBJECT_MAX_CHARS + 1), "Hello", "subject"),
        ("Tablets", "", "body"),
        ("Tablets", " \n\t ", "body"),
        ("Tablets", "\x00\x01", "body"),
        ("Tablets", "y" * (BODY_MAX_CHARS + 1), "body"),
    ]
    for subject, body, field in cases:
        with pytest.raises(MessageError) as caught:
            start_thread(s, world.p0, patient, subject, body, _at(0))
        assert caught.value.field == field, (subject[:10], body[:10])
    with s() as session:
        assert threads_for_patient(session, world.p0) == []
    longest = start_thread(
        s, world.p0, patient, "x" * SUBJECT_MAX_CHARS, "y" * BODY_MAX_CHARS, _at(1)
    )
    with pytest.raises(MessageError) as caught:
        reply(s, longest, world.p0, world.users["nurse.a"], "   ", _at(2))
    assert caught.value.field == "body"
    assert _message_count(s) == 1
    cleaned = start_thread(s, world.p0, patient, "Line\none", "a\x00b\x07c", _at(3))
    with s() as session:
        view = thread_with_messages(session, world.p0, cleaned)
    assert view is not None
    assert (view.thread.subject, view.messages[0].body) == ("Line one", "abc")


def test_a_thread_is_found_and_written_only_under_its_own_patient(world: World) -> None:
    s, u = world.sessions, world.users
    thread_id = start_thread(s, world.p0, u["patient.0"], "Tablets", "Question", _at(0))
    # nurse.a may see both p0 and p1, but the thread is p0's: under p1 it does not exist (A4).
    with pytest.raises(UnknownThreadError):
        reply(s, thread_id, world.p1, u["nurse.a"], "Moved?", _at(1))
    # The other patient, staff of another team and an admin cannot write in it at all.
    for account, patient_id in (
        (u["patient.1"], world.p1),
        (u["patient.1"], world.p0),
        (u["clinician.b"], world.p0),
        (u["admin"], world.p0),
    ):
        with pytest.raises(UnknownThreadError):
            reply(s, thread_id, patient_id, account, "Hello", _at(1))
    with pytest.raises(UnknownThreadError):
        reply(s, thread_id + 1000, world.p0, u["nurse.a"], "Hello", _at(1))
    # Only the patient starts a thread, and only on their own record.
    for account, patient_id in (
        (u["patient.0"], world.p1),
        (u["nurse.a"], world.p0),
        (u["admin"], world.p0),
    ):
        with pytest.raises(UnknownThreadError):
            start_thread(s, patient_id, account, "Tablets", "Question", _at(1))
    with s() as session:
        assert thread_with_messages(session, world.p1, thread_id) is None
        assert threads_for_patient(session, world.p1) == []
        stored = session.get(MessageThread, thread_id)
        assert stored is not None and stored.patient_id == world.p0
    assert _message_count(s) == 1


def test_the_inbox_lists_each_teams_threads_newest_first_with_counts(world: World) -> None:
    s, u = world.sessions, world.users
    older = start_thread(s, world.p0, u["patient.0"], "Older", "First", _at(0))
    newer = start_thread(s, world.p1, u["patient.1"], "Newer", "Second", _at(10))
    with s() as session:
        (team_a,) = inbox(session, u["nurse.a"])
    assert team_a.team_name == "Team A"
    assert [t.id for t in team_a.threads] == [newer, older]
    assert (team_a.new_count, team_a.answered_count) == (2, 0)
    reply(s, older, world.p0, u["nurse.a"], "Answer", _at(20))
    with s() as session:
        (team_a,) = inbox(session, u["nurse.a"])
        (team_b,) = inbox(session, u["clinician.b"])
        assert inbox(session, u["patient.0"]) == []
        assert inbox(session, u["admin"]) == []
    assert [(t.id, t.status, t.message_count) for t in team_a.threads] == [
        (older, "answered", 2),
        (newer, "new", 1),
    ]
    assert (team_a.new_count, team_a.answered_count) == (1, 1)
    assert (team_b.team_name, team_b.threads, team_b.new_count, team_b.answered_count) == (
        "Team B",
        (),
        0,
        0,
    )


def test_notification_addresses_are_those_of_the_patients_care_teams(world: World) -> None:
    with world.sessions() as session:
        assert care_team_addresses(session, world.p0) == [
            "team-a@example.test",
            "team-c@example.test",
        ]
        assert care_team_addresses(session, world.p1) == ["team-a@example.test"]
        assert care_team_addresses(session, world.p2) == []
