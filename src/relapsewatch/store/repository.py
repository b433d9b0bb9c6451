"""The repository: every query the web app and the command line make goes through these functions.

Reads take a :class:`~sqlalchemy.orm.Session`; writes take the session factory and run their
own single transaction (all or nothing), because a write must choose how its transaction starts
(the SQLite write lock, the PostgreSQL writer lock; see :func:`relapsewatch.store.db.write_session`).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.errors import Problem
from relapsewatch.io import CanonicalTables

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

    def as_dict(self) -> dict[str, pl.DataFrame]:
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
    """What a form entry did: ``added`` is false when an identical row was already stored."""

    patient_id: str
    added: bool
    version: int
    batch_id: int | None
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class RecomputeResult:
    """``recomputed`` courses derived; ``changed`` of them differed from what was stored."""

    recomputed: int
    changed: int


def list_patients(
    session: Session, *, search: str | None = None, limit: int = 50, offset: int = 0
) -> list[PatientSummary]:
    """Patients ordered by id, optionally those whose id contains ``search`` (case-insensitive)."""
    raise NotImplementedError


def count_patients(session: Session, *, search: str | None = None) -> int:
    """How many patients :func:`list_patients` would page through."""
    raise NotImplementedError


def get_patient(session: Session, patient_id: str) -> PatientSummary | None:
    """One patient's summary, or ``None`` when no such patient is stored."""
    raise NotImplementedError


def load_patient_tables(session: Session, patient_id: str) -> CanonicalTables | None:
    """The patient's canonical frames as stored (``None`` when no such patient is stored)."""
    raise NotImplementedError


def load_course(session: Session, patient_id: str) -> StoredCourse | None:
    """The patient's stored derived course (``None`` when none is stored)."""
    raise NotImplementedError


def preview_import(session: Session, tables: CanonicalTables) -> ImportPreview:
    """What :func:`import_tables` would add, and any conflicts with stored patients."""
    raise NotImplementedError


def import_tables(
    session_factory: sessionmaker[Session],
    tables: CanonicalTables,
    *,
    source: str,
    progress: Progress | None = None,
    chunk_rows: int = 2000,
) -> ImportResult:
    """Import canonical tables whole or not at all, in one transaction (see module docstring).

    Raises :class:`~relapsewatch.errors.DataError` (nothing written) when a stored patient's
    details differ from the input.
    """
    raise NotImplementedError


def add_measurement(
    session_factory: sessionmaker[Session],
    patient_id: str,
    row: Mapping[str, object],
    *,
    expected_version: int | None = None,
    source: str = "form",
) -> EntryResult:
    """Add one result typed into a form; the patient's course is recomputed at once.

    ``row`` holds the file columns of ``measurements`` (``date``, ``test``, ``value``, ``unit``,
    optional ``method``, ``sensitivity``) as the user gave them; it is validated by the same
    :func:`relapsewatch.io.normalise_tables` path as a file. Problems raise
    :class:`~relapsewatch.errors.DataError` with ``column`` set to the form field.
    ``expected_version`` (the version the form was built from) makes a concurrent change a
    :class:`~relapsewatch.store.errors.StaleVersionError`.
    """
    raise NotImplementedError


def add_treatment(
    session_factory: sessionmaker[Session],
    patient_id: str,
    row: Mapping[str, object],
    *,
    expected_version: int | None = None,
    source: str = "form",
) -> EntryResult:
    """Add one treatment (``therapy``, ``start_date``, ``end_date``, optional ``intent``)."""
    raise NotImplementedError


def add_finding(
    session_factory: sessionmaker[Session],
    patient_id: str,
    row: Mapping[str, object],
    *,
    expected_version: int | None = None,
    source: str = "form",
) -> EntryResult:
    """Add one clinical finding (``date``, ``finding``, optional ``detail``)."""
    raise NotImplementedError


def recompute_courses(session: Session, patient_ids: list[str] | tuple[str, ...]) -> RecomputeResult:
    """Derive the courses of these patients from their stored inputs and store them.

    Deterministic: unchanged inputs give byte-identical stored rows and the same
    ``course_digest`` (RELIABILITY E7). Runs in the caller's transaction; the caller commits.
    """
    raise NotImplementedError
