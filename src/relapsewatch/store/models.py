"""The app database: models of the canonical inputs, import batches and derived courses.

Tables
------
``import_batches``
    One row per committed import or form entry: source, content hash (idempotency), row counts,
    times. Clinical rows point at the batch that added them.
``patients`` / ``measurements`` / ``treatments`` / ``findings``
    The canonical frames of :mod:`relapsewatch.schema`, one row per fact. Each clinical row keeps
    ``row_digest``: the SHA-256 of its canonical JSON plus its occurrence number among identical
    rows of the same patient, so re-importing a file adds only what is new. ``patients.version``
    grows by one whenever the patient's records change (optimistic concurrency).
``patient_courses`` / ``course_lines`` / ``course_relapses`` / ``course_responses`` /
``course_status``
    The derived course of each patient as the engine returned it (DESIGN "Derived tables"),
    stored with the engine version, a digest of the inputs it was derived from and a digest of
    the course itself. The documented columns are typed; any further column the engine returns
    (evidence, exposure and refractory conditions) is kept in ``details`` as canonical JSON, and
    ``patient_courses.frame_schemas`` records every frame's columns and types so
    :func:`relapsewatch.store.repository.load_course` gives the frames back exactly.

``care_teams`` / ``care_team_members`` / ``care_team_patients``
    Who looks after whom: nurses and clinicians see the patients of the care teams they belong to.
``users`` / ``user_sessions`` / ``login_failures``
    Accounts (a patient account is linked to exactly one patient), server-side sessions (only a
    hash of the token is stored) and recent failed logins (for the B2 lockout).
``message_threads`` / ``messages``
    Questions from a patient to their care team, and the answers.
``patient_pseudonyms`` / ``audit_events`` / ``audit_head``
    The audit trail: one append-only row per request that touches patient data, chained by
    SHA-256 (:mod:`relapsewatch.store.audit`). Audit rows name a patient only by a random
    pseudonym; erasing the patient deletes the pseudonym's link, so the kept rows no longer
    point at anyone (RELIABILITY G2).

Every foreign key is covered by an index whose leading columns are the key (RELIABILITY F4f).
Patient references cascade on delete, so erasing a patient leaves no rows behind.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AuditEvent",
    "AuditHead",
    "Base",
    "CareTeam",
    "CareTeamMember",
    "CareTeamPatient",
    "CourseDetailRow",
    "CourseLine",
    "CourseRelapse",
    "CourseResponse",
    "CourseStatus",
    "Finding",
    "ImportBatch",
    "LoginFailure",
    "Measurement",
    "Message",
    "MessageThread",
    "Patient",
    "PatientCourse",
    "PatientPseudonym",
    "Treatment",
    "User",
    "UserSession",
    "table_of",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A 64-bit key that SQLite still treats as its auto-incrementing rowid.
RowId = BigInteger().with_variant(Integer(), "sqlite")
#: Hex SHA-256.
Digest = String(64)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model (for executemany inserts that need no ORM objects)."""
    return cast(Table, model.__table__)


def _patient_fk() -> Mapped[str]:
    return mapped_column(Text, ForeignKey("patients.patient_id", ondelete="CASCADE"))


def _batch_fk() -> Mapped[int]:
    return mapped_column(RowId, ForeignKey("import_batches.id"), index=True)


class ImportBatch(Base):
    """One committed import (``kind='import'``) or form entry (``kind='entry'``)."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the canonical content (row order ignored); identical content imports once.
    content_hash: Mapped[str] = mapped_column(Digest, unique=True)
    engine_version: Mapped[str] = mapped_column(Text)
    patients_new: Mapped[int] = mapped_column(Integer)
    patients_updated: Mapped[int] = mapped_column(Integer)
    measurements_added: Mapped[int] = mapped_column(Integer)
    treatments_added: Mapped[int] = mapped_column(Integer)
    findings_added: Mapped[int] = mapped_column(Integer)
    #: Rows of the input that were already stored (re-imported overlap), not added again.
    rows_already_stored: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: Set in the same transaction just before COMMIT: a batch row exists only if committed.
    committed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Patient(Base):
    """A patient (canonical ``patients`` frame) and the version of their records."""

    __tablename__ = "patients"

    patient_id: Mapped[str] = mapped_column(Text, primary_key=True)
    disease: Mapped[str] = mapped_column(String(32))
    diagnosis_date: Mapped[dt.date] = mapped_column(Date)
    heavy_chain: Mapped[str | None] = mapped_column(String(16))
    light_chain: Mapped[str | None] = mapped_column(String(16))
    sex: Mapped[str | None] = mapped_column(String(16))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    #: The data cut-off the course is evaluated at: the latest date in the import (or entry)
    #: that last changed this patient's records, never earlier than their own latest record.
    records_as_of: Mapped[dt.date] = mapped_column(Date)
    #: Grows by one with every change to the patient's records; writers compare it (409).
    version: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int] = _batch_fk()


class Measurement(Base):
    """One result in canonical units (canonical ``measurements`` frame)."""

    __tablename__ = "measurements"
    __table_args__ = (
        UniqueConstraint("patient_id", "row_digest"),
        Index(None, "patient_id", "date"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = _patient_fk()
    date: Mapped[dt.date] = mapped_column(Date)
    test: Mapped[str] = mapped_column(String(40))
    value: Mapped[float | None] = mapped_column(Double)
    result: Mapped[str | None] = mapped_column(String(40))
    limit: Mapped[float | None] = mapped_column(Double)
    unit: Mapped[str | None] = mapped_column(String(40))
    method: Mapped[str | None] = mapped_column(Text)
    sensitivity: Mapped[float | None] = mapped_column(Double)
    reported_test: Mapped[str | None] = mapped_column(Text)
    reported_unit: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[str | None] = mapped_column(Text)
    row_digest: Mapped[str] = mapped_column(Digest)
    batch_id: Mapped[int] = _batch_fk()


class Treatment(Base):
    """One drug or procedure, one administration or continuous course (``treatments`` frame)."""

    __tablename__ = "treatments"
    __table_args__ = (
        UniqueConstraint("patient_id", "row_digest"),
        Index(None, "patient_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = _patient_fk()
    therapy: Mapped[str] = mapped_column(Text)
    #: The drug classes of §2.3 as a JSON array, in the order the vocabulary gives them.
    drug_classes: Mapped[list[str]] = mapped_column(JSON)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    intent: Mapped[str | None] = mapped_column(String(32))
    reported_therapy: Mapped[str | None] = mapped_column(Text)
    row_digest: Mapped[str] = mapped_column(Digest)
    batch_id: Mapped[int] = _batch_fk()


class Finding(Base):
    """One clinical finding or event (``findings`` frame)."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("patient_id", "row_digest"),
        Index(None, "patient_id", "date"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = _patient_fk()
    date: Mapped[dt.date] = mapped_column(Date)
    finding: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    row_digest: Mapped[str] = mapped_column(Digest)
    batch_id: Mapped[int] = _batch_fk()


class PatientCourse(Base):
    """The header of a patient's stored course: versions, digests and list-view facts."""

    __tablename__ = "patient_courses"

    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True
    )
    #: ``relapsewatch <version>; <config name> <config digest>``: what derived this course.
    engine_version: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the patient's stored canonical inputs the course was derived from.
    input_digest: Mapped[str] = mapped_column(Digest)
    #: SHA-256 of the four derived frames (schemas and rows), for byte-identity checks (E7).
    course_digest: Mapped[str] = mapped_column(Digest)
    #: Canonical JSON: {frame: [[column, dtype], ...]} in the engine's column order.
    frame_schemas: Mapped[str] = mapped_column(Text)
    #: An unconfirmed PD after the last confirmed event (list flag "progression suspected").
    progression_suspected: Mapped[bool] = mapped_column(Boolean)
    #: Date of the patient's latest stored measurement.
    last_result_date: Mapped[dt.date | None] = mapped_column(Date)


class CourseLine(Base):
    """One line of therapy (derived ``lines`` frame)."""

    __tablename__ = "course_lines"

    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True
    )
    #: Position of the row in the engine's frame for this patient (0, 1, ...).
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    regimen: Mapped[str | None] = mapped_column(Text)
    best_response: Mapped[str | None] = mapped_column(String(16))
    progression_date: Mapped[dt.date | None] = mapped_column(Date)
    refractory_to: Mapped[str | None] = mapped_column(Text)
    end_reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)


class CourseRelapse(Base):
    """One numbered relapse (derived ``relapses`` frame)."""

    __tablename__ = "course_relapses"

    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    relapse_number: Mapped[int | None] = mapped_column(Integer)
    date: Mapped[dt.date | None] = mapped_column(Date)
    confirmed_date: Mapped[dt.date | None] = mapped_column(Date)
    line: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(32))
    criterion: Mapped[str | None] = mapped_column(Text)
    primary_refractory: Mapped[bool | None] = mapped_column(Boolean)
    details: Mapped[str] = mapped_column(Text)


class CourseResponse(Base):
    """One response assessment (derived ``responses`` frame)."""

    __tablename__ = "course_responses"

    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[dt.date | None] = mapped_column(Date)
    line: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(String(16))
    confirmed: Mapped[bool | None] = mapped_column(Boolean)
    pathway: Mapped[str | None] = mapped_column(String(32))
    flags: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)


class CourseStatus(Base):
    """Where the patient is now (derived ``status`` frame, one row per patient)."""

    __tablename__ = "course_status"

    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date | None] = mapped_column(Date)
    lines_received: Mapped[int | None] = mapped_column(Integer)
    current_line: Mapped[int | None] = mapped_column(Integer)
    relapses: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str | None] = mapped_column(String(32))
    latest_response: Mapped[str | None] = mapped_column(String(16))
    triple_class_exposed: Mapped[bool | None] = mapped_column(Boolean)
    triple_class_refractory: Mapped[bool | None] = mapped_column(Boolean)
    penta_refractory: Mapped[bool | None] = mapped_column(Boolean)
    details: Mapped[str] = mapped_column(Text)


class CourseDetailRow(Base):
    """A row of one of the engine's further frames kept for the patient page (``frame`` names it:
    ``unconfirmed_progression``, ``conditions``), all columns in ``details``."""

    __tablename__ = "course_detail_rows"

    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True
    )
    frame: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    details: Mapped[str] = mapped_column(Text)


class CareTeam(Base):
    """A care team (a clinic's myeloma team): its staff see its patients."""

    __tablename__ = "care_teams"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    #: Where new-question notifications go (no patient data in them); none = no e-mail.
    notify_email: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """An account: ``role`` is patient, nurse, clinician or admin.

    A patient account names exactly one patient (``patient_id``, unique); staff and admin
    accounts name none. ``username`` is stored case-folded.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[str | None] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), unique=True
    )
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Made by ``serve --demo``; labelled as such wherever accounts are listed.
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CareTeamMember(Base):
    """A nurse or clinician in a care team."""

    __tablename__ = "care_team_members"

    team_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("care_teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CareTeamPatient(Base):
    """A patient looked after by a care team."""

    __tablename__ = "care_team_patients"

    team_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("care_teams.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True, index=True
    )


class UserSession(Base):
    """A signed-in session. Only the SHA-256 of the cookie's token is stored (B3)."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(Digest, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    #: The session's CSRF token (synchroniser pattern; B5).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """A failed login, kept for the lockout window (B2). ``account_key`` is a keyed hash of the
    typed username, so unknown and known usernames are counted alike and none is stored."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "account_key", "at"), Index(None, "client_ip", "at"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    account_key: Mapped[str] = mapped_column(Digest)
    client_ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class MessageThread(Base):
    """A question from a patient to their care team: ``status`` is ``new`` until staff answer,
    then ``answered`` (and ``new`` again when the patient writes more)."""

    __tablename__ = "message_threads"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Message(Base):
    """One message in a thread. The author's account may be gone later (kept as null)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    thread_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("message_threads.id", ondelete="CASCADE"), index=True
    )
    author_user_id: Mapped[int | None] = mapped_column(
        RowId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    author_role: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class PatientPseudonym(Base):
    """The random name a patient has in the audit trail; deleted with the patient."""

    __tablename__ = "patient_pseudonyms"

    patient_id: Mapped[str] = mapped_column(
        Text, ForeignKey("patients.patient_id", ondelete="CASCADE"), primary_key=True
    )
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)


class AuditEvent(Base):
    """One audited request (RELIABILITY D1), append-only (D2) and hash-chained (D3).

    ``hash`` is the SHA-256 of the row's canonical form, which includes ``prev_hash`` (the
    previous row's hash; 64 zeros for the first row). ``subject`` is the patient's pseudonym.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(RowId)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(24))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(32), index=True)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))
    prev_hash: Mapped[str] = mapped_column(Digest)
    hash: Mapped[str] = mapped_column(Digest)


class AuditHead(Base):
    """The chain's newest row (one row, ``id=1``): a deleted tail is detected, and appenders
    lock this row to append one after another."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(RowId)
    last_hash: Mapped[str] = mapped_column(Digest)
