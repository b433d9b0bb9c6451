"""Writing clinical data: whole imports and single form entries, each in one transaction.

Both paths share the same steps: validate (the caller for imports, :func:`entry_tables` for a
form), find what is new, insert it with the batch that added it, bump the patients' versions,
recompute their courses, and commit. Any failure before COMMIT leaves the database as it was.
See :mod:`relapsewatch.store.repository` for the semantics and the progress phases.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import case, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch import schema
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.course import data_cutoff
from relapsewatch.errors import DataError, Problem, echo
from relapsewatch.io import CanonicalTables, normalise_tables
from relapsewatch.store.canonical import (
    CLINICAL_MODELS,
    PreparedRows,
    chunks,
    entry_digest,
    prepare_rows,
)
from relapsewatch.store.courses import engine_version, recompute
from relapsewatch.store.db import write_session
from relapsewatch.store.errors import StaleVersionError, UnknownPatientError
from relapsewatch.store.models import CareTeamPatient, ImportBatch, Patient, table_of

__all__ = ["ImportPlan", "entry_tables", "plan_import", "run_entry", "run_import"]

Progress = Callable[[str, int], None]

_PATIENT_DETAILS = ("disease", "diagnosis_date", "heavy_chain", "light_chain", "sex", "birth_year")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _quiet(_phase: str, _rows: int) -> None:
    return None


@dataclass
class ImportPlan:
    """What an import would write, worked out against the stored data (no writes)."""

    prepared: PreparedRows
    new_patients: list[dict[str, Any]]
    existing: dict[str, tuple[int, dt.date]]
    new_rows: dict[str, list[dict[str, Any]]]
    rows_already_stored: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def touched_existing(self) -> list[str]:
        """Stored patients that receive at least one new row."""
        ids = {r["patient_id"] for rows in self.new_rows.values() for r in rows}
        return sorted(ids & set(self.existing))


def _conflicts(prepared: PreparedRows, stored: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    problems = []
    for row in prepared.patients:
        before = stored.get(row["patient_id"])
        if before is None:
            continue
        for column in _PATIENT_DETAILS:
            if row[column] != before[column]:
                problems.append(
                    Problem(
                        "patients",
                        None,
                        column,
                        f"{echo(row[column])} for patient {echo(row['patient_id'])}",
                        f"{echo(before[column])}, as already stored for this patient",
                        "correct the file, or change the stored patient first; an import adds "
                        "results and treatments but never changes a stored patient",
                    )
                )
    return problems


def plan_import(
    session: Session, tables: CanonicalTables, *, prepared: PreparedRows | None = None
) -> ImportPlan:
    """Compare canonical tables with the stored data: new patients, new rows, conflicts.

    ``prepared`` (from :func:`prepare_rows`) can be computed beforehand, outside the write lock.
    """
    prepared = prepared or prepare_rows(tables)
    ids = prepared.patient_ids
    columns = ["patient_id", *_PATIENT_DETAILS, "version", "records_as_of"]
    stored: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(ids)):
        query = select(*(getattr(Patient, c) for c in columns)).where(Patient.patient_id.in_(part))
        for row in session.execute(query):
            stored[row.patient_id] = dict(row._mapping)
    known: set[tuple[str, str]] = set()
    for model in CLINICAL_MODELS.values():
        for part in chunks(sorted(stored)):
            query = select(model.patient_id, model.row_digest).where(model.patient_id.in_(part))
            known.update((pid, digest) for pid, digest in session.execute(query))
    new_rows: dict[str, list[dict[str, Any]]] = {}
    already = 0
    for name, rows in prepared.clinical.items():
        fresh = [r for r in rows if (r["patient_id"], r["row_digest"]) not in known]
        already += len(rows) - len(fresh)
        new_rows[name] = fresh
    return ImportPlan(
        prepared=prepared,
        new_patients=[p for p in prepared.patients if p["patient_id"] not in stored],
        existing={pid: (row["version"], row["records_as_of"]) for pid, row in stored.items()},
        new_rows=new_rows,
        rows_already_stored=already,
        problems=_conflicts(prepared, stored),
    )


def _cutoff(tables: CanonicalTables) -> dt.date:
    return data_cutoff(tables.patients, tables.measurements, tables.treatments, tables.findings)


def _empty_problem() -> Problem:
    return Problem(
        "patients",
        None,
        None,
        "no patients",
        "at least one patient row",
        "add the patients to the patients table, with their results and treatments",
    )


def _insert_batch(
    session: Session,
    *,
    kind: str,
    source: str,
    content_hash: str,
    version: str,
    started: dt.datetime,
) -> int:
    values: dict[str, Any] = {
        "kind": kind,
        "source": source,
        "content_hash": content_hash,
        "engine_version": version,
        "started_at": started,
        "committed_at": started,
        "patients_new": 0,
        "patients_updated": 0,
        "measurements_added": 0,
        "treatments_added": 0,
        "findings_added": 0,
        "rows_already_stored": 0,
    }
    return int(
        session.execute(insert(ImportBatch).values(values).returning(ImportBatch.id)).scalar_one()
    )


def _bump_patients(session: Session, ids: Sequence[str], as_of: dt.date) -> None:
    """Version + 1 and ``records_as_of`` moved forward to ``as_of`` if later."""
    later = case((Patient.records_as_of < as_of, as_of), else_=Patient.records_as_of)
    for part in chunks(sorted(ids)):
        session.execute(
            update(Patient)
            .where(Patient.patient_id.in_(part))
            .values(version=Patient.version + 1, records_as_of=later)
        )


def run_import(
    session_factory: sessionmaker[Session],
    tables: CanonicalTables,
    *,
    source: str,
    progress: Progress | None,
    chunk_rows: int,
    config: MyelomaCourseConfig | None,
    care_teams: Sequence[int] = (),
) -> dict[str, Any]:
    """Import ``tables`` in one transaction; returns the fields of an ``ImportResult``.

    New patients join ``care_teams`` (the importing nurse's teams) in the same transaction."""
    if chunk_rows < 1:
        raise ValueError(f"`chunk_rows` must be at least 1, got {chunk_rows}")
    if tables.patients.is_empty():
        raise DataError([_empty_problem()])
    report = progress or _quiet
    version = engine_version(config or MyelomaCourseConfig())
    cutoff = _cutoff(tables)
    prepared = prepare_rows(tables)  # digests are pure work: done before taking the lock
    started = _now()
    with write_session(session_factory) as session:
        report("begin", 0)
        plan = plan_import(session, tables, prepared=prepared)
        duplicate = session.execute(
            select(ImportBatch).where(ImportBatch.content_hash == plan.prepared.content_hash)
        ).scalar_one_or_none()
        if duplicate is not None:
            result = _duplicate_result(duplicate)
        else:
            errors = [p for p in plan.problems if p.severity == "error"]
            if errors:
                raise DataError(
                    plan.problems, summary=f"{len(errors)} conflict(s) with stored patients"
                )
            batch_id = _insert_batch(
                session,
                kind="import",
                source=source,
                content_hash=plan.prepared.content_hash,
                version=version,
                started=started,
            )
            if plan.new_patients:
                session.execute(
                    insert(table_of(Patient)),
                    [
                        {**p, "version": 1, "records_as_of": cutoff, "batch_id": batch_id}
                        for p in plan.new_patients
                    ],
                )
                if care_teams:
                    session.execute(
                        insert(table_of(CareTeamPatient)),
                        [
                            {"team_id": team, "patient_id": p["patient_id"]}
                            for team in sorted(set(care_teams))
                            for p in plan.new_patients
                        ],
                    )
            touched_existing = plan.touched_existing
            _bump_patients(session, touched_existing, cutoff)
            done = 0
            for name, model in CLINICAL_MODELS.items():
                rows = plan.new_rows[name]
                for start in range(0, len(rows), chunk_rows):
                    part = [{**r, "batch_id": batch_id} for r in rows[start : start + chunk_rows]]
                    session.execute(insert(table_of(model)), part)
                    done += len(part)
                    report("rows", done)
            touched = sorted({p["patient_id"] for p in plan.new_patients} | set(touched_existing))
            recomputed, _ = recompute(session, touched, config=config)
            counts = {
                "patients_new": len(plan.new_patients),
                "patients_updated": len(touched_existing),
                "measurements_added": len(plan.new_rows["measurements"]),
                "treatments_added": len(plan.new_rows["treatments"]),
                "findings_added": len(plan.new_rows["findings"]),
                "rows_already_stored": plan.rows_already_stored,
            }
            session.execute(
                update(ImportBatch)
                .where(ImportBatch.id == batch_id)
                .values(**counts, committed_at=_now())
            )
            result = {
                "batch_id": batch_id,
                "content_hash": plan.prepared.content_hash,
                "source": source,
                "already_imported": False,
                "patients_new": counts["patients_new"],
                "patients_updated": counts["patients_updated"],
                "rows_added": {name: counts[f"{name}_added"] for name in CLINICAL_MODELS},
                "rows_already_stored": counts["rows_already_stored"],
                "courses_recomputed": recomputed,
            }
            report("before_commit", done)
    report("committed", sum(result["rows_added"].values()))
    result["warnings"] = tables.warnings
    return result


def _duplicate_result(batch: ImportBatch) -> dict[str, Any]:
    """The result of importing content already imported by ``batch``: nothing added."""
    return {
        "batch_id": batch.id,
        "content_hash": batch.content_hash,
        "source": batch.source,
        "already_imported": True,
        "patients_new": 0,
        "patients_updated": 0,
        "rows_added": dict.fromkeys(CLINICAL_MODELS, 0),
        "rows_already_stored": 0,
        "courses_recomputed": 0,
    }


# ---------------------------------------------------------------------------------------------
# Form entries
# ---------------------------------------------------------------------------------------------

_FORM_FILES = {
    "patients": "stored patient",
    "measurements": "result form",
    "treatments": "treatment form",
    "findings": "finding form",
}


def _cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _raw(columns: Sequence[str], rows: list[dict[str, str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row")
    return frame.with_row_index("__row", offset=2).with_columns(pl.col("__row").cast(pl.Int64))


def entry_tables(
    session: Session, patient_id: str, table: str, row: Mapping[str, object]
) -> CanonicalTables:
    """Validate one form row through :func:`relapsewatch.io.normalise_tables`, like a file.

    The stored patient is passed along so patient checks (e.g. dates after diagnosis) apply.
    Raises :class:`~relapsewatch.errors.DataError` (``column`` = the form field) on problems and
    :class:`~relapsewatch.store.errors.UnknownPatientError` when the patient is not stored.
    """
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise UnknownPatientError(patient_id)
    patient_columns = schema.FILE_TABLES["patients"].column_names
    stored = {c: _cell(getattr(patient, c)) for c in patient_columns}
    raw: dict[str, pl.DataFrame] = {"patients": _raw(patient_columns, [stored])}
    for name in ("measurements", "treatments"):
        raw[name] = _raw(schema.FILE_TABLES[name].required_columns, [])
    columns = schema.FILE_TABLES[table].column_names
    unknown = sorted(set(row) - set(columns) - {"patient_id"})
    if unknown:
        raise ValueError(
            f"`row` keys must be columns of {table} ({', '.join(columns)}), got {unknown}"
        )
    values = {c: _cell(row.get(c)) for c in columns}
    values["patient_id"] = patient_id
    raw[table] = _raw(columns, [values])
    tables, log = normalise_tables(raw, files=_FORM_FILES)
    if tables is None:
        raise DataError(log.problems, truncated=log.truncated, summary="The entry has problems")
    return tables


def run_entry(
    session_factory: sessionmaker[Session],
    patient_id: str,
    table: str,
    row: Mapping[str, object],
    *,
    expected_version: int | None,
    source: str,
    config: MyelomaCourseConfig | None,
) -> dict[str, Any]:
    """Add one form row (a regimen may become several drug rows) and recompute the course."""
    with session_factory() as session:
        tables = entry_tables(session, patient_id, table, row)
    entered = getattr(tables, table)
    version_text = engine_version(config or MyelomaCourseConfig())
    model = CLINICAL_MODELS[table]
    started = _now()
    with write_session(session_factory) as session:
        current = session.execute(
            select(Patient.version).where(Patient.patient_id == patient_id)
        ).scalar_one_or_none()
        if current is None:
            raise UnknownPatientError(patient_id)
        if expected_version is not None and expected_version != current:
            raise StaleVersionError(patient_id, expected_version, current)
        rows = [{**r, "row_digest": entry_digest(table, r)} for r in entered.iter_rows(named=True)]
        stored = set(
            session.execute(
                select(model.row_digest).where(
                    model.patient_id == patient_id,
                    model.row_digest.in_([r["row_digest"] for r in rows]),
                )
            ).scalars()
        )
        fresh = [r for r in rows if r["row_digest"] not in stored]
        if not fresh:
            return {
                "patient_id": patient_id,
                "rows_added": 0,
                "version": current,
                "batch_id": None,
                "warnings": tables.warnings,
            }
        content = "\n".join(sorted(r["row_digest"] for r in fresh))
        batch_id = _insert_batch(
            session,
            kind="entry",
            source=source,
            content_hash=hashlib.sha256(f"entry:{patient_id}\n{content}".encode()).hexdigest(),
            version=version_text,
            started=started,
        )
        session.execute(insert(table_of(model)), [{**r, "batch_id": batch_id} for r in fresh])
        _bump_patients(session, [patient_id], _cutoff(tables))
        recompute(session, [patient_id], config=config)
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch_id)
            .values(
                patients_updated=1,
                **{f"{table}_added": len(fresh)},
                committed_at=_now(),
            )
        )
        version = session.execute(
            select(Patient.version).where(Patient.patient_id == patient_id)
        ).scalar_one()
    return {
        "patient_id": patient_id,
        "rows_added": len(fresh),
        "version": int(version),
        "batch_id": batch_id,
        "warnings": tables.warnings,
    }
