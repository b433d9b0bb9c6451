"""Messages between a patient and their care team: threads, replies and the staff inbox.

A patient starts a thread (a subject and a first message) from their own record; the patient,
and the nurses and clinicians of the patient's care teams, write further messages in it.

Status
    A thread is ``new`` while its last message is from the patient and ``answered`` once a
    nurse or clinician has replied; it is ``new`` again when the patient writes more.

Belonging (RELIABILITY A3, A4)
    Every read and write names the patient as well as the thread, and the thread is only found
    when it belongs to that patient: a thread id of another patient's thread answers as if it
    did not exist (:class:`UnknownThreadError`; the web app answers 404). Nothing here can
    change a thread's patient, so a message can never be moved to another patient.

Limits
    A subject is 1 to :data:`SUBJECT_MAX_CHARS` characters on one line; a message is 1 to
    :data:`BODY_MAX_CHARS` characters. Both are stripped of surrounding spaces, and invisible
    control characters (other than new lines and tabs in a message) are dropped first. A value
    that breaks a limit is a :class:`MessageError` that names the field.

Times come from the caller (``now``), so tests set them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.selectable import Subquery

from relapsewatch.accounts.roles import STAFF_ROLES
from relapsewatch.store.accounts import Account, can_see_patient
from relapsewatch.store.db import as_utc, write_session
from relapsewatch.store.errors import StoreError
from relapsewatch.store.models import (
    CareTeam,
    CareTeamPatient,
    Message,
    MessageThread,
    Patient,
    User,
)

__all__ = [
    "BODY_MAX_CHARS",
    "STATUSES",
    "SUBJECT_MAX_CHARS",
    "MessageError",
    "MessageView",
    "TeamInbox",
    "ThreadSummary",
    "ThreadView",
    "UnknownThreadError",
    "care_team_addresses",
    "clean_body",
    "clean_subject",
    "inbox",
    "reply",
    "start_thread",
    "thread_with_messages",
    "threads_for_patient",
]

SUBJECT_MAX_CHARS = 120
BODY_MAX_CHARS = 5000
#: ``new``: waiting for the care team; ``answered``: the care team wrote last.
STATUSES = ("new", "answered")

_CONTROL_IN_BODY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_IN_SUBJECT = re.compile(r"[\x00-\x1f\x7f]")


class MessageError(StoreError, ValueError):
    """A subject or message breaks a limit; ``field`` names it (``subject`` or ``body``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class UnknownThreadError(StoreError, LookupError):
    """No thread with that id belongs to that patient (or the writer may not see the patient).

    The same error whether the thread is missing or another patient's, so nobody learns which
    thread ids exist (RELIABILITY A3)."""

    def __init__(self) -> None:
        super().__init__("no such message thread for this patient; open the patient's messages")


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """One thread in a list: no message text, only what the list shows."""

    id: int
    patient_id: str
    subject: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    message_count: int


@dataclass(frozen=True, slots=True)
class MessageView:
    """One message as a page shows it. ``author_name`` is ``None`` when the account is gone."""

    id: int
    author_role: str
    author_name: str | None
    author_user_id: int | None
    body: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ThreadView:
    """A thread with its messages, oldest first."""

    thread: ThreadSummary
    messages: tuple[MessageView, ...]


@dataclass(frozen=True, slots=True)
class TeamInbox:
    """The threads of one care team's patients, newest first, with the counts per status."""

    team_id: int
    team_name: str
    new_count: int
    answered_count: int
    threads: tuple[ThreadSummary, ...]


def clean_subject(subject: str) -> str:
    """The subject as stored: one line, spaces collapsed; :class:`MessageError` when empty or
    longer than :data:`SUBJECT_MAX_CHARS`."""
    cleaned = " ".join(_CONTROL_IN_SUBJECT.sub(" ", subject).split())
    if not cleaned:
        raise MessageError("subject", "Please write a few words about what your question is.")
    if len(cleaned) > SUBJECT_MAX_CHARS:
        raise MessageError(
            "subject",
            f"The subject has {len(cleaned)} characters. It can have up to {SUBJECT_MAX_CHARS}.",
        )
    return cleaned


def clean_body(body: str) -> str:
    """The message as stored: new lines kept, control characters dropped, stripped;
    :class:`MessageError` when empty or longer than :data:`BODY_MAX_CHARS`."""
    cleaned = _CONTROL_IN_BODY.sub("", body.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not cleaned:
        raise MessageError("body", "Please write your message.")
    if len(cleaned) > BODY_MAX_CHARS:
        raise MessageError(
            "body",
            f"The message has {len(cleaned)} characters. It can have up to {BODY_MAX_CHARS}. "
            "You can send the rest in a second message.",
        )
    return cleaned


def _may_write(session: Session, author: Account, patient_id: str) -> bool:
    """The patient themself, or a nurse or clinician of one of the patient's care teams."""
    if author.disabled:
        return False
    if author.role == "patient":
        return author.patient_id == patient_id
    if author.role in STAFF_ROLES:
        return can_see_patient(session, author, patient_id)
    return False


def _summary(thread: MessageThread, count: int) -> ThreadSummary:
    return ThreadSummary(
        id=thread.id,
        patient_id=thread.patient_id,
        subject=thread.subject,
        status=thread.status,
        created_at=as_utc(thread.created_at),
        updated_at=as_utc(thread.updated_at),
        message_count=count,
    )


def start_thread(
    session_factory: sessionmaker[Session],
    patient_id: str,
    author: Account,
    subject: str,
    body: str,
    now: dt.datetime,
) -> int:
    """A patient's new question to their care team; returns the new thread's id (status ``new``).

    Only the patient the record belongs to starts a thread (a thread is the patient's question);
    anyone else gets :class:`UnknownThreadError`. Limits: see the module's notes.
    """
    subject, body = clean_subject(subject), clean_body(body)
    with write_session(session_factory) as session:
        if author.role != "patient" or not _may_write(session, author, patient_id):
            raise UnknownThreadError
        if session.get(Patient, patient_id) is None:
            raise UnknownThreadError
        thread = MessageThread(
            patient_id=patient_id, subject=subject, status="new", created_at=now, updated_at=now
        )
        session.add(thread)
        session.flush()
        session.add(
            Message(
                thread_id=thread.id,
                author_user_id=author.id,
                author_role=author.role,
                body=body,
                created_at=now,
            )
        )
        return thread.id


def reply(
    session_factory: sessionmaker[Session],
    thread_id: int,
    patient_id: str,
    author: Account,
    body: str,
    now: dt.datetime,
) -> int:
    """Add a message to a thread of ``patient_id``; returns the message's id.

    The thread must belong to ``patient_id`` and the author must be that patient or a nurse or
    clinician of their care team, else :class:`UnknownThreadError` and nothing is written (A4).
    A patient's message makes the thread ``new``; a staff reply makes it ``answered``.
    """
    body = clean_body(body)
    with write_session(session_factory) as session:
        thread = session.scalar(
            select(MessageThread).where(
                MessageThread.id == thread_id, MessageThread.patient_id == patient_id
            )
        )
        if thread is None or not _may_write(session, author, patient_id):
            raise UnknownThreadError
        message = Message(
            thread_id=thread.id,
            author_user_id=author.id,
            author_role=author.role,
            body=body,
            created_at=now,
        )
        session.add(message)
        thread.status = "new" if author.role == "patient" else "answered"
        thread.updated_at = now
        session.flush()
        return message.id


def _counts() -> Subquery:
    """Messages per thread, as a subquery (thread_id, n)."""
    return select(Message.thread_id, func.count().label("n")).group_by(Message.thread_id).subquery()


def threads_for_patient(session: Session, patient_id: str) -> list[ThreadSummary]:
    """The patient's threads, the most recently active first."""
    counts = _counts()
    rows = session.execute(
        select(MessageThread, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.thread_id == MessageThread.id)
        .where(MessageThread.patient_id == patient_id)
        .order_by(MessageThread.updated_at.desc(), MessageThread.id.desc())
    )
    return [_summary(thread, int(n)) for thread, n in rows]


def thread_with_messages(session: Session, patient_id: str, thread_id: int) -> ThreadView | None:
    """The thread and its messages, oldest first; ``None`` when the thread is not this
    patient's (or does not exist)."""
    thread = session.scalar(
        select(MessageThread).where(
            MessageThread.id == thread_id, MessageThread.patient_id == patient_id
        )
    )
    if thread is None:
        return None
    rows = session.execute(
        select(Message, User.display_name)
        .outerjoin(User, User.id == Message.author_user_id)
        .where(Message.thread_id == thread.id)
        .order_by(Message.created_at, Message.id)
    )
    messages = tuple(
        MessageView(
            id=message.id,
            author_role=message.author_role,
            author_name=name,
            author_user_id=message.author_user_id,
            body=message.body,
            created_at=as_utc(message.created_at),
        )
        for message, name in rows
    )
    return ThreadView(_summary(thread, len(messages)), messages)


def inbox(session: Session, account: Account, *, limit: int = 200) -> list[TeamInbox]:
    """The threads of the patients of each of the account's care teams, newest first, with the
    number of ``new`` and ``answered`` threads per team (up to ``limit`` threads listed per
    team; the counts are of all of them). Empty for accounts that are not nurses or clinicians.
    """
    if account.role not in STAFF_ROLES or not account.team_ids:
        return []
    teams = session.execute(
        select(CareTeam.id, CareTeam.name)
        .where(CareTeam.id.in_(account.team_ids))
        .order_by(CareTeam.name)
    ).all()
    counts = _counts()
    result = []
    for team_id, team_name in teams:
        of_team = MessageThread.patient_id.in_(
            select(CareTeamPatient.patient_id).where(CareTeamPatient.team_id == team_id)
        )
        new_count, answered_count = session.execute(
            select(
                func.coalesce(func.sum(case((MessageThread.status == "new", 1), else_=0)), 0),
                func.coalesce(func.sum(case((MessageThread.status == "answered", 1), else_=0)), 0),
            ).where(of_team)
        ).one()
        rows = session.execute(
            select(MessageThread, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.thread_id == MessageThread.id)
            .where(of_team)
            .order_by(MessageThread.updated_at.desc(), MessageThread.id.desc())
            .limit(limit)
        )
        result.append(
            TeamInbox(
                team_id=team_id,
                team_name=team_name,
                new_count=int(new_count),
                answered_count=int(answered_count),
                threads=tuple(_summary(thread, int(n)) for thread, n in rows),
            )
        )
    return result


def care_team_addresses(session: Session, patient_id: str) -> list[str]:
    """The notification addresses of the patient's care teams (distinct, sorted; teams without
    one are left out). Used only to tell a team that a question is waiting."""
    rows = session.scalars(
        select(CareTeam.notify_email)
        .join(CareTeamPatient, CareTeamPatient.team_id == CareTeam.id)
        .where(CareTeamPatient.patient_id == patient_id, CareTeam.notify_email.is_not(None))
        .distinct()
    )
    return sorted({address.strip() for address in rows if address and address.strip()})
