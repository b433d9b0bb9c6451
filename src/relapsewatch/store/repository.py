"""The repository: every query the web app and the command line make goes through these functions.

Reads take a :class:`~sqlalchemy.orm.Session`; writes take the session factory and run their
own single transaction (all or nothing), because a write must choose how its transaction starts
(the SQLite write lock, the PostgreSQL writer lock; see
:func:`relapsewatch.store.db.write_session`).

Import semantics (decided here; see ``docs/decisions.md``)
---------------------------------------------------------
* An import **adds**: rows not yet stored for a patient are added; rows already stored (same
  canonical content, counted with multiplicity) are skipped, so re-importing an updated export
  adds only the new results. Nothing stored is changed or deleted by an import.
* A patient already stored must have the same ``patients`` row (diagnosis date, chains, sex,
  birth year); a different one is a :class:`~relapsewatch.errors.DataError` naming the patient
  and the column, and nothing is written. (Corrections are a deliberate edit, not an import.)
* Importing identical content twice (same canonical rows in any order) gives one batch: the
  second call writes nothing and returns the first batch with ``already_imported=True``.
* The course of every patient whose records changed is recomputed inside the same transaction,
  so stored courses always match stored inputs.

Progress phases reported by :func:`import_tables` (``progress(phase, rows_so_far)``):
``begin`` (transaction open, 0), ``rows`` (after each chunk of inserted rows), ``before_commit``
(all rows and courses written, COMMIT next), ``committed`` (COMMIT acknowledged). A duplicate
import reports ``begin`` then ``committed`` with 0.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.errors import Problem
from relapsewatch.io import CanonicalTables
from relapsewatch.store import courses, importer
from relapsewatch.store.canonical import load_tables
from relapsewatch.store.models import CourseStatus, Patient, PatientCourse

__all__ = [
    "DERIVED_FRAMES",
    "EntryResult",
    "ImportPreview",
    "ImportResult",
    "PatientSummary",
    "Progress",
    "RecomputeResult",
    "StoredCourse",
    "add_finding",
    "add_measurement",
    "add_treatment",
    "count_patients",
    "get_patient",
    "import_tables",
    "list_patients",
    "load_course",
    "load_patient_tables",
    "preview_import",
    "recompute_courses",
    "stale_courses",
]

#: ``progress(phase, rows_so_far)``; phases ``begin``, ``rows``, ``before_commit``, ``committed``.
Progress = Callable[[str, int], None]

#: The derived frames stored per patient, in this order.
DERIVED_FRAMES = ("lines", "relapses", "responses", "status")


@dataclass(frozen=True, slots=True)
class PatientSummary:
    """One row of the nurse's patient list: where the patient is at a glance.

    ``current_line``, ``latest_response`` and ``state`` are ``None`` until a course is stored
    (e.g. a patient with no treatment yet has ``current_line=None``); ``relapse_number`` is the
    number of confirmed relapses (0 = none). ``progression_suspected`` is true when an
    unconfirmed PD was assessed after the last confirmed event (confirmed response or relapse).
    """

    patient_id: str
    disease: str
    diagnosis_date: dt.date
    current_line: int | None
    relapse_number: int
    latest_response: str | None
    state: str | None
    last_result_date: dt.date | None
    progression_suspected: bool
    version: int


@dataclass(frozen=True)
class StoredCourse:
    """A patient's stored derived course: the engine's frames as they were returned.

    ``lines``, ``relapses``, ``responses`` and ``status`` have the columns and dtypes the engine
    produced (DESIGN "Derived tables"); ``engine_version`` says what derived them and
    ``input_digest`` which stored inputs they were derived from.
    """

    patient_id: str
    engine_version: str
    input_digest: str
    course_digest: str
    lines: pl.DataFrame
    relapses: pl.DataFrame
    responses: pl.DataFrame
    status: pl.DataFrame
    #: The engine's unconfirmed-progression frame (evidence of a suspected rise).
    unconfirmed_progression: pl.DataFrame
    #: Every exposure, refractory and composite condition with ``since``, ``rule``, ``evidence``.
    conditions: pl.DataFrame

    def as_dict(self) -> dict[str, pl.DataFrame]:
        """The four DESIGN.md tables by name."""
        return {name: getattr(self, name) for name in DERIVED_FRAMES}


@dataclass(frozen=True)
class ImportResult:
    """What an import did. ``rows_added`` maps table name to rows added."""

    batch_id: int
    content_hash: str
    source: str
    already_imported: bool
    patients_new: int
    patients_updated: int
    rows_added: Mapping[str, int]
    rows_already_stored: int
    courses_recomputed: int
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class ImportPreview:
    """What an import would do, computed without writing (for the web app's preview page).

    ``problems`` lists conflicts with stored data (a patient stored with other details); when it
    holds an error, :func:`import_tables` would refuse the same tables.
    """

    content_hash: str
    already_imported: bool
    patients_new: int
    patients_existing: int
    rows_new: Mapping[str, int]
    rows_already_stored: int
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class EntryResult:
    """What a form entry did.

    ``rows_added`` is 0 when identical rows were already stored (a repeated submit), and can be
    more than 1 when a regimen abbreviation stands for several drugs. ``version`` is the
    patient's version after the entry (send it with the next form).
    """

    patient_id: str
    rows_added: int
    version: int
    batch_id: int | None
    warnings: tuple[Problem, ...] = ()

    @property
    def added(self) -> bool:
        return self.rows_added > 0


@dataclass(frozen=True)
class RecomputeResult:
    """``recomputed`` courses derived; ``changed`` of them differed from what was stored."""

    recomputed: int
    changed: int


@functools.cache
def _summary_query() -> Select[*tuple[Any, ...]]:
    """The patient-list query (built once: statements are immutable, and building one costs
    more than running it on a page view)."""
    return (
        select(
            Patient.patient_id,
            Patient.disease,
            Patient.diagnosis_date,
            CourseStatus.current_line,
            func.coalesce(CourseStatus.relapses, 0).label("relapse_number"),
            CourseStatus.latest_response,
            CourseStatus.state,
            PatientCourse.last_result_date,
            func.coalesce(PatientCourse.progression_suspected, False).label(
                "progression_suspected"
            ),
            Patient.version,
        )
        .outerjoin(PatientCourse, PatientCourse.patient_id == Patient.patient_id)
        .outerjoin(
            CourseStatus,
            and_(CourseStatus.patient_id == Patient.patient_id, CourseStatus.seq == 0),
        )
    )


@functools.cache
def _patient_query() -> Select[*tuple[Any, ...]]:
    return _summary_query().where(Patient.patient_id == bindparam("patient_id"))


def _summary(row: Any) -> PatientSummary:
    return PatientSummary(
        patient_id=row.patient_id,
        disease=row.disease,
        diagnosis_date=row.diagnosis_date,
        current_line=row.current_line,
        relapse_number=int(row.relapse_number),
        latest_response=row.latest_response,
        state=row.state,
        last_result_date=row.last_result_date,
        progression_suspected=bool(row.progression_suspected),
        version=int(row.version),
    )


def _search(
    query: Select[*tuple[Any, ...]],
    search: str | None,
    where: ColumnElement[bool] | None = None,
) -> Select[*tuple[Any, ...]]:
    if where is not None:
        query = query.where(where)
    if search is None or not search.strip():
        return query
    needle = search.strip().lower()
    return query.where(func.lower(Patient.patient_id).contains(needle, autoescape=True))


def list_patients(
    session: Session,
    *,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
    where: ColumnElement[bool] | None = None,
) -> list[PatientSummary]:
    """Patients ordered by id, optionally those whose id contains ``search`` (case-insensitive)
    and only those ``where`` selects (e.g. :func:`relapsewatch.store.accounts.visible_patients`).

    ``limit`` must be 1..1000 and ``offset`` at least 0. Wildcards in ``search`` (``%``, ``_``)
    match themselves.
    """
    if not 1 <= limit <= 1000:
        raise ValueError(f"`limit` must be between 1 and 1000, got {limit}")
    if offset < 0:
        raise ValueError(f"`offset` must be 0 or more, got {offset}")
    query = _search(_summary_query(), search, where).order_by(Patient.patient_id)
    return [_summary(r) for r in session.execute(query.limit(limit).offset(offset))]


def count_patients(
    session: Session, *, search: str | None = None, where: ColumnElement[bool] | None = None
) -> int:
    """How many patients :func:`list_patients` would page through."""
    query = _search(select(func.count()).select_from(Patient), search, where)
    return int(session.execute(query).scalar_one())


def get_patient(session: Session, patient_id: str) -> PatientSummary | None:
    """One patient's summary, or ``None`` when no such patient is stored."""
    row = session.execute(_patient_query(), {"patient_id": patient_id}).first()
    return None if row is None else _summary(row)


def load_patient_tables(session: Session, patient_id: str) -> CanonicalTables | None:
    """The patient's canonical frames as stored (``None`` when no such patient is stored).

    Rows come in a fixed order (by date, then name, then content), so the same stored records
    always give the same frames.
    """
    tables = load_tables(session, [patient_id])
    return tables if tables.patients.height else None


def load_course(session: Session, patient_id: str) -> StoredCourse | None:
    """The patient's stored derived course (``None`` when none is stored)."""
    record = courses.load_stored_course(session, patient_id)
    if record is None:
        return None
    return StoredCourse(
        patient_id=patient_id,
        engine_version=record.engine_version,
        input_digest=record.input_digest,
        course_digest=record.course_digest,
        **record.frames,
    )


def preview_import(session: Session, tables: CanonicalTables) -> ImportPreview:
    """What :func:`import_tables` would add, and any conflicts with stored patients."""
    plan = importer.plan_import(session, tables)
    from relapsewatch.store.models import ImportBatch

    already = session.execute(
        select(ImportBatch.id).where(ImportBatch.content_hash == plan.prepared.content_hash)
    ).first()
    return ImportPreview(
        content_hash=plan.prepared.content_hash,
        already_imported=already is not None,
        patients_new=len(plan.new_patients),
        patients_existing=len(plan.existing),
        rows_new={name: len(rows) for name, rows in plan.new_rows.items()},
        rows_already_stored=plan.rows_already_stored,
        problems=tuple(plan.problems),
    )


def import_tables(
    session_factory: sessionmaker[Session],
    tables: CanonicalTables,
    *,
    source: str,
    progress: Progress | None = None,
    chunk_rows: int = 2000,
    config: MyelomaCourseConfig | None = None,
    care_teams: Sequence[int] = (),
) -> ImportResult:
    """Import canonical tables whole or not at all, in one transaction (see module docstring).

    Parameters
    ----------
    session_factory:
        From :func:`relapsewatch.store.db.make_session_factory`.
    tables:
        Validated canonical tables (:func:`relapsewatch.io.read_tables` or
        :func:`relapsewatch.io.normalise_tables`).
    source:
        Where the tables came from (a folder or upload name), kept with the batch.
    progress:
        Called with ``(phase, rows_so_far)``; see the module docstring for the phases.
    chunk_rows:
        Rows per INSERT round trip (and per ``rows`` progress report).
    config:
        Course engine settings (default: :class:`MyelomaCourseConfig` defaults).
    care_teams:
        Care teams the new patients join (the importing nurse's), in the same transaction.

    Raises
    ------
    DataError
        Nothing written: the tables hold no patient, or a stored patient's details differ.
    """
    fields = importer.run_import(
        session_factory,
        tables,
        source=source,
        progress=progress,
        chunk_rows=chunk_rows,
        config=config,
        care_teams=care_teams,
    )
    return ImportResult(**fields)


def _entry(
    session_factory: sessionmaker[Session],
    patient_id: str,
    table: str,
    row: Mapping[str, object],
    expected_version: int | None,
    source: str,
    config: MyelomaCourseConfig | None,
) -> EntryResult:
    fields = importer.run_entry(
        session_factory,
        patient_id,
        table,
        row,
        expected_version=expected_version,
        source=source,
        config=config,
    )
    return EntryResult(**fields)


def add_measurement(
    session_factory: sessionmaker[Session],
    patient_id: str,
    row: Mapping[str, object],
    *,
    expected_version: int | None = None,
    source: str = "form",
    config: MyelomaCourseConfig | None = None,
) -> EntryResult:
    """Add one result typed into a form; the patient's course is recomputed at once.

    ``row`` holds the file columns of ``measurements`` (``date``, ``test``, ``value``, ``unit``,
    optional ``method``, ``sensitivity``) as the user gave them (text, numbers or dates); it is
    validated by the same :func:`relapsewatch.io.normalise_tables` path as a file. Problems raise
    :class:`~relapsewatch.errors.DataError` whose problems have ``column`` set to the form field
    (file name ``result form``). ``expected_version`` (the version the form was built from) turns
    a concurrent change into :class:`~relapsewatch.store.errors.StaleVersionError`; an unknown
    patient raises :class:`~relapsewatch.store.errors.UnknownPatientError`.
    """
    return _entry(
        session_factory, patient_id, "measurements", row, expected_version, source, config
    )


def add_treatment(
    session_factory: sessionmaker[Session],
    patient_id: str,
    row: Mapping[str, object],
    *,
    expected_version: int | None = None,
    source: str = "form",
    config: MyelomaCourseConfig | None = None,
) -> EntryResult:
    """Add one treatment (``therapy``, ``start_date``, ``end_date``, optional ``intent``).

    A regimen abbreviation (``VRd``) is stored as one row per drug, as in a file. Errors as for
    :func:`add_measurement` (file name ``treatment form``).
    """
    return _entry(session_factory, patient_id, "treatments", row, expected_version, source, config)


def add_finding(
    session_factory: sessionmaker[Session],
    patient_id: str,
    row: Mapping[str, object],
    *,
    expected_version: int | None = None,
    source: str = "form",
    config: MyelomaCourseConfig | None = None,
) -> EntryResult:
    """Add one clinical finding (``date``, ``finding``, optional ``detail``)."""
    return _entry(session_factory, patient_id, "findings", row, expected_version, source, config)


def recompute_courses(
    session: Session,
    patient_ids: Sequence[str],
    *,
    config: MyelomaCourseConfig | None = None,
    force: bool = False,
) -> RecomputeResult:
    """Derive the courses of these patients from their stored inputs and store them.

    Deterministic: unchanged inputs give byte-identical stored rows and the same
    ``course_digest`` (RELIABILITY E7); a course equal to the stored one is not rewritten unless
    ``force``. Runs in the caller's transaction; the caller commits (use
    :func:`relapsewatch.store.db.write_session`).
    """
    recomputed, changed = courses.recompute(session, patient_ids, config=config, force=force)
    return RecomputeResult(recomputed=recomputed, changed=changed)


def stale_courses(session: Session, *, config: MyelomaCourseConfig | None = None) -> list[str]:
    """Patients whose stored course is missing or was derived by another engine version.

    After an upgrade of relapsewatch (or a change of engine settings), pass these to
    :func:`recompute_courses` so every stored course is again what this version derives.
    """
    version = courses.engine_version(config or MyelomaCourseConfig())
    query = (
        select(Patient.patient_id)
        .outerjoin(PatientCourse, PatientCourse.patient_id == Patient.patient_id)
        .where((PatientCourse.engine_version.is_(None)) | (PatientCourse.engine_version != version))
        .order_by(Patient.patient_id)
    )
    return list(session.execute(query).scalars())
