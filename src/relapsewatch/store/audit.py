"""The audit trail: one append-only, hash-chained row per request that touches patient data.

What a row holds (RELIABILITY D1; ONC 170.315(d)(2); HIPAA 164.312(b))
    who (user id and role), what (action, resource type and id), whose record (the patient's
    pseudonym), when (UTC, to the millisecond), from where (client address), the outcome
    (``success``, ``denied``, ``failure``, ``error``) and the request id shown on error pages.

Append-only (D2)
    Database triggers refuse UPDATE and DELETE of ``audit_events`` (migration 0002).

Tamper evidence (D3)
    Each row's ``hash`` is the SHA-256 of its canonical form (:func:`canonical_row`), which
    includes its id and the previous row's hash; ``audit_head`` keeps the newest id and hash.
    :func:`verify_chain` walks the rows in id order and names the first row that does not fit:
    an edited field, a deleted, inserted or reordered row, or a removed tail.

Pseudonyms (G2)
    Rows name a patient by a random pseudonym kept in ``patient_pseudonyms``. Erasing the
    patient deletes that link, so the kept audit rows no longer point at anyone, and the chain
    stays intact.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Select, bindparam, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.store.accounts import touch_session
from relapsewatch.store.db import as_utc, is_sqlite, small_write_session
from relapsewatch.store.models import (
    AuditEvent,
    AuditHead,
    Patient,
    PatientPseudonym,
    User,
    table_of,
)

__all__ = [
    "GENESIS_HASH",
    "OUTCOMES",
    "AccessEntry",
    "AuditRecord",
    "ChainReport",
    "access_log",
    "append_audit",
    "audit_rows",
    "canonical_row",
    "count_audit",
    "pseudonym_of",
    "row_hash",
    "verify_audit",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
OUTCOMES = ("success", "denied", "failure", "error")

#: The columns of a row, in the order its canonical form lists them.
CHAINED_COLUMNS = (
    "id",
    "at",
    "user_id",
    "role",
    "action",
    "resource_type",
    "resource_id",
    "subject",
    "client_ip",
    "outcome",
    "request_id",
    "detail",
    "prev_hash",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event to append. ``patient_id`` is turned into the patient's pseudonym on the way in
    (``None`` when no stored patient has that id)."""

    at: dt.datetime
    user_id: int | None
    role: str
    action: str
    resource_type: str
    outcome: str
    request_id: str
    resource_id: str | None = None
    patient_id: str | None = None
    client_ip: str | None = None
    detail: str | None = None


class ChainedRow(Protocol):
    """What :func:`verify_chain` reads of a row (an :class:`AuditEvent` or a test double)."""

    id: int
    at: dt.datetime
    user_id: int | None
    role: str
    action: str
    resource_type: str
    resource_id: str | None
    subject: str | None
    client_ip: str | None
    outcome: str
    request_id: str
    detail: str | None
    prev_hash: str
    hash: str


def _utc_ms(moment: dt.datetime) -> dt.datetime:
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def canonical_row(values: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers: its chained columns as a JSON array, times in UTC ms.

    >>> canonical_row({"id": 1, "at": dt.datetime(2026, 1, 2, 3, 4, 5, 678900, dt.UTC),
    ...     "user_id": 7, "role": "nurse", "action": "read", "resource_type": "course",
    ...     "resource_id": None, "subject": "s1", "client_ip": "127.0.0.1",
    ...     "outcome": "success", "request_id": "ab", "detail": None, "prev_hash": "0"})
    b'[1,"2026-01-02T03:04:05.678Z",7,"nurse","read","course",null,"s1","127.0.0.1","success","ab",null,"0"]'
    """
    ordered = []
    for column in CHAINED_COLUMNS:
        value = values[column]
        if column == "at":
            value = _utc_ms(value).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        ordered.append(value)
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()


def row_hash(values: dict[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical_row`."""
    return hashlib.sha256(canonical_row(values)).hexdigest()


def _values(row: ChainedRow) -> dict[str, Any]:
    return {column: getattr(row, column) for column in CHAINED_COLUMNS}


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of a check: ``ok``, rows checked, and the first bad row and why."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""


def verify_chain(rows: Iterable[ChainedRow], *, head: tuple[int, str] | None) -> ChainReport:
    """Check rows given in id order against each other and against the head ``(id, hash)``.

    Ids must run 1, 2, 3 ... without gaps; each row's ``prev_hash`` must be the previous row's
    ``hash`` and its ``hash`` must match its content; the last row must be the head.
    """
    expected_id = 1
    previous = GENESIS_HASH
    checked = 0
    for row in rows:
        if row.id != expected_id:
            return ChainReport(
                False, checked, row.id, f"expected row {expected_id} here, found row {row.id}"
            )
        if row.prev_hash != previous:
            return ChainReport(False, checked, row.id, "does not follow the row before it")
        if row_hash(_values(row)) != row.hash:
            return ChainReport(False, checked, row.id, "its content does not match its hash")
        previous = row.hash
        expected_id += 1
        checked += 1
    last_id, last_hash = head if head is not None else (0, GENESIS_HASH)
    if (expected_id - 1, previous) != (last_id, last_hash):
        return ChainReport(
            False,
            checked,
            expected_id,
            f"the chain ends at row {expected_id - 1} but the head names row {last_id}",
        )
    return ChainReport(True, checked)


def _head(session: Session, *, lock: bool) -> AuditHead:
    query = select(AuditHead).where(AuditHead.id == 1)
    if lock and not is_sqlite(session.connection()):
        query = query.with_for_update()
    head = session.scalar(query)
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


@functools.cache
def _pseudonym_statement() -> Select[str]:
    return select(PatientPseudonym.pseudonym).where(
        PatientPseudonym.patient_id == bindparam("patient_id")
    )


def pseudonym_of(session: Session, patient_id: str, *, create: bool = False) -> str | None:
    """The patient's pseudonym in the audit trail (made on first use when ``create``)."""
    found = session.scalar(_pseudonym_statement(), {"patient_id": patient_id})
    if found is not None or not create:
        return found
    if session.get(Patient, patient_id) is None:
        return None
    made = secrets.token_hex(16)
    session.add(PatientPseudonym(patient_id=patient_id, pseudonym=made))
    session.flush()
    return made


def append_audit(
    session_factory: sessionmaker[Session],
    records: Sequence[AuditRecord],
    *,
    touches: Sequence[tuple[str, dt.datetime]] = (),
) -> list[int]:
    """Append events to the chain in one transaction; returns their ids.

    The transaction holds the chain's head (SQLite's write lock; the head row's lock on
    PostgreSQL), so appends run one after another without waiting for clinical writers.
    Each of ``touches`` = ``(session token hash, now)`` also moves that session's last activity
    in the same transaction: one write per request instead of two.
    """
    ids: list[int] = []
    with small_write_session(session_factory) as session:
        for token_hash, now in touches:
            touch_session(session, token_hash, now)
        if not records:
            return ids
        head = _head(session, lock=True)
        last_id, last_hash = head.last_id, head.last_hash
        subjects: dict[str, str | None] = {}
        rows: list[dict[str, Any]] = []
        for record in records:
            subject = None
            if record.patient_id is not None:
                if record.patient_id not in subjects:
                    subjects[record.patient_id] = pseudonym_of(
                        session, record.patient_id, create=True
                    )
                subject = subjects[record.patient_id]
            values: dict[str, Any] = {
                "id": last_id + 1,
                "at": _utc_ms(record.at),
                "user_id": record.user_id,
                "role": record.role,
                "action": record.action,
                "resource_type": record.resource_type,
                "resource_id": None if record.resource_id is None else record.resource_id[:64],
                "subject": subject,
                "client_ip": None if record.client_ip is None else record.client_ip[:64],
                "outcome": record.outcome,
                "request_id": record.request_id[:32],
                "detail": None if record.detail is None else record.detail[:200],
                "prev_hash": last_hash,
            }
            values["hash"] = row_hash(values)
            rows.append(values)
            last_id, last_hash = values["id"], values["hash"]
            ids.append(last_id)
        session.execute(insert(table_of(AuditEvent)), rows)
        head.last_id, head.last_hash = last_id, last_hash
    return ids


def verify_audit(session: Session, *, batch: int = 5000) -> ChainReport:
    """Check the whole stored chain (see :func:`verify_chain`), reading ``batch`` rows a time."""
    head = session.scalar(select(AuditHead).where(AuditHead.id == 1))

    def rows() -> Iterator[AuditEvent]:
        yield from session.scalars(
            select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
        )

    return verify_chain(rows(), head=None if head is None else (head.last_id, head.last_hash))


def count_audit(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def audit_rows(
    session: Session,
    *,
    limit: int = 100,
    before_id: int | None = None,
    user_id: int | None = None,
    outcome: str | None = None,
) -> list[AuditEvent]:
    """Newest first, at most ``limit`` rows (paged by ``before_id``), optionally filtered."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if outcome is not None:
        query = query.where(AuditEvent.outcome == outcome)
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One line of "who has looked at my record"."""

    at: dt.datetime
    who: str
    role: str
    action: str
    resource_type: str
    outcome: str
    audit_id: int


def access_log(
    session: Session, patient_id: str, *, limit: int = 200, offset: int = 0
) -> list[AccessEntry]:
    """Every audited request on this patient's record, newest first (RELIABILITY D7); at most
    ``limit`` entries after skipping the ``offset`` newest."""
    subject = pseudonym_of(session, patient_id)
    if subject is None:
        return []
    rows = session.execute(
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.user_id)
        .where(AuditEvent.subject == subject)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        AccessEntry(
            at=_utc_ms(event.at),
            who=name
            if name is not None
            else ("Not signed in" if event.user_id is None else "A removed account"),
            role=event.role,
            action=event.action,
            resource_type=event.resource_type,
            outcome=event.outcome,
            audit_id=event.id,
        )
        for event, name in rows
    ]
