"""Derive patients' courses with the engine and store them, deterministically and versioned.

A stored course is a pure function of the patient's stored inputs (their canonical rows and
``records_as_of``) and the engine version (relapsewatch version, config name and a digest of every
config field). Patients are derived together, grouped by ``records_as_of``: the engine is
vectorised across patients and each patient's result does not depend on who else is in the
group (checked by ``tests/store/test_course_determinism.py``). RELIABILITY E7.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from relapsewatch._version import __version__
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.course import derive_course
from relapsewatch.io import CanonicalTables
from relapsewatch.store.canonical import chunks, load_tables_with_digests
from relapsewatch.store.frames import (
    EncodedRow,
    decode_frame,
    encode_frame,
    frame_schema_json,
    stored_schema,
    typed_columns,
)
from relapsewatch.store.models import (
    CourseDetailRow,
    CourseLine,
    CourseRelapse,
    CourseResponse,
    CourseStatus,
    Patient,
    PatientCourse,
    table_of,
)

__all__ = [
    "DERIVED_FRAMES",
    "DETAIL_FRAMES",
    "CourseRecord",
    "course_input_digest",
    "engine_version",
    "load_stored_course",
    "recompute",
]

#: The four derived tables of DESIGN.md and their models.
DERIVED_FRAMES: dict[str, type[CourseLine | CourseRelapse | CourseResponse | CourseStatus]] = {
    "lines": CourseLine,
    "relapses": CourseRelapse,
    "responses": CourseResponse,
    "status": CourseStatus,
}
#: Further engine frames kept for the patient page (evidence of a suspected rise, conditions).
DETAIL_FRAMES = ("unconfirmed_progression", "conditions")
_COURSE_TABLES = (*DERIVED_FRAMES.values(), CourseDetailRow, PatientCourse)


def engine_version(config: MyelomaCourseConfig) -> str:
    """``relapsewatch <version>; <config name> <digest of every config field>``.

    >>> engine_version(MyelomaCourseConfig()).startswith("relapsewatch ")
    True
    """
    fields = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    digest = hashlib.sha256(fields.encode("utf-8")).hexdigest()[:12]
    return f"relapsewatch {__version__}; {config.name} {digest}"


@dataclass(frozen=True)
class CourseRecord:
    """A stored course as frames (see :class:`relapsewatch.store.repository.StoredCourse`)."""

    engine_version: str
    input_digest: str
    course_digest: str
    frames: dict[str, pl.DataFrame]


def course_input_digest(rows_digest: str, as_of: dt.date) -> str:
    """The input digest stored with a course: the patient's stored rows and ``records_as_of``."""
    return hashlib.sha256(f"{rows_digest}as_of:{as_of}".encode()).hexdigest()


def _as_of_by_patient(session: Session, ids: Sequence[str]) -> dict[str, dt.date]:
    found: dict[str, dt.date] = {}
    for part in chunks(sorted(ids)):
        rows = session.execute(
            select(Patient.patient_id, Patient.records_as_of).where(Patient.patient_id.in_(part))
        )
        found.update({pid: as_of for pid, as_of in rows})
    return found


def _subset(tables: CanonicalTables, ids: list[str]) -> CanonicalTables:
    keep = pl.col("patient_id").is_in(pl.Series(ids, dtype=pl.String).implode())
    return CanonicalTables(
        patients=tables.patients.filter(keep),
        measurements=tables.measurements.filter(keep),
        treatments=tables.treatments.filter(keep),
        findings=tables.findings.filter(keep),
    )


def _progression_suspected(frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Patients with an unconfirmed PD dated after their last confirmed event."""
    responses = frames["responses"]
    confirmed = responses.filter(
        pl.col("confirmed").cast(pl.Boolean, strict=False).fill_null(False)
    )
    last_confirmed = (
        pl.concat(
            [
                confirmed.select("patient_id", "date"),
                frames["relapses"].select("patient_id", pl.col("confirmed_date").alias("date")),
            ]
        )
        .group_by("patient_id")
        .agg(last=pl.col("date").max())
    )
    unconfirmed = pl.concat(
        [
            responses.filter(
                (pl.col("response") == "PD")
                & ~pl.col("confirmed").cast(pl.Boolean, strict=False).fill_null(False)
            ).select("patient_id", "date"),
            frames["unconfirmed_progression"].select("patient_id", "date"),
        ]
    )
    return (
        unconfirmed.join(last_confirmed, on="patient_id", how="left")
        .filter(pl.col("last").is_null() | (pl.col("date") > pl.col("last")))
        .select("patient_id")
        .unique()
    )


def _derive_group(
    tables: CanonicalTables, as_of: dt.date, config: MyelomaCourseConfig
) -> dict[str, pl.DataFrame]:
    course = derive_course(tables, config=config, as_of=as_of)
    frames = course.frames()
    return {name: frames[name] for name in (*DERIVED_FRAMES, *DETAIL_FRAMES)}


def recompute(
    session: Session,
    patient_ids: Iterable[str],
    *,
    config: MyelomaCourseConfig | None = None,
    force: bool = False,
) -> tuple[int, int]:
    """Derive and store the courses of ``patient_ids``; returns ``(recomputed, changed)``.

    A course whose digest, input digest and engine version equal the stored ones is left as it
    is (``force`` rewrites it anyway, row for row identical). Runs in the caller's transaction.
    """
    config = config or MyelomaCourseConfig()
    version = engine_version(config)
    ids = sorted(set(patient_ids))
    if not ids:
        return 0, 0
    tables, digests = load_tables_with_digests(session, ids)
    as_of = _as_of_by_patient(session, ids)
    last_results = dict(
        tables.measurements.group_by("patient_id").agg(pl.col("date").max()).iter_rows()
    )
    stored = {
        row.patient_id: row
        for part in chunks(ids)
        for row in session.execute(
            select(
                PatientCourse.patient_id,
                PatientCourse.engine_version,
                PatientCourse.input_digest,
                PatientCourse.course_digest,
            ).where(PatientCourse.patient_id.in_(part))
        )
    }
    by_date: dict[dt.date, list[str]] = {}
    for pid in ids:
        by_date.setdefault(as_of[pid], []).append(pid)
    changed: list[str] = []
    headers: list[dict[str, Any]] = []
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in (*DERIVED_FRAMES, "detail")}
    for day in sorted(by_date):
        group = by_date[day]
        frames = _derive_group(_subset(tables, group), day, config)
        schemas = {name: frame_schema_json(frame) for name, frame in frames.items()}
        schema_text = json.dumps(schemas, sort_keys=True, separators=(",", ":"))
        suspected = set(_progression_suspected(frames)["patient_id"].to_list())
        encoded: dict[str, dict[str, list[EncodedRow]]] = {}
        for name, frame in frames.items():
            derived_model = DERIVED_FRAMES.get(name)
            typed = typed_columns(derived_model, frame.schema) if derived_model else []
            by_patient: dict[str, list[EncodedRow]] = {}
            for row in encode_frame(frame, typed):
                by_patient.setdefault(row.patient_id, []).append(row)
            encoded[name] = by_patient
        for pid in group:
            hasher = hashlib.sha256(schema_text.encode("utf-8"))
            for name in frames:
                hasher.update(f"\n#{name}\n".encode())
                for row in encoded[name].get(pid, ()):
                    hasher.update(row.text.encode("utf-8") + b"\n")
            digest = hasher.hexdigest()
            input_digest = course_input_digest(digests[pid], day)
            before = stored.get(pid)
            if (
                not force
                and before is not None
                and (before.engine_version, before.input_digest, before.course_digest)
                == (version, input_digest, digest)
            ):
                continue
            changed.append(pid)
            headers.append(
                {
                    "patient_id": pid,
                    "engine_version": version,
                    "input_digest": input_digest,
                    "course_digest": digest,
                    "frame_schemas": schema_text,
                    "progression_suspected": pid in suspected,
                    "last_result_date": last_results.get(pid),
                }
            )
            for name in frames:
                target = rows[name] if name in DERIVED_FRAMES else rows["detail"]
                extra = {} if name in DERIVED_FRAMES else {"frame": name}
                for seq, row in enumerate(encoded[name].get(pid, ())):
                    target.append(
                        {
                            "patient_id": pid,
                            "seq": seq,
                            **extra,
                            **row.typed,
                            "details": row.details,
                        }
                    )
    for part in chunks(changed):
        for model in _COURSE_TABLES:
            session.execute(delete(model).where(model.patient_id.in_(part)))
    if headers:
        # Core inserts (executemany), not the ORM's bulk path: these rows need no objects.
        session.execute(insert(table_of(PatientCourse)), headers)
        for name, model in DERIVED_FRAMES.items():
            if rows[name]:
                session.execute(insert(table_of(model)), rows[name])
        if rows["detail"]:
            session.execute(insert(table_of(CourseDetailRow)), rows["detail"])
    return len(ids), len(changed)


def load_stored_course(session: Session, patient_id: str) -> CourseRecord | None:
    """The stored course of one patient as frames, or ``None`` when none is stored."""
    header = session.get(PatientCourse, patient_id)
    if header is None:
        return None
    schemas = json.loads(header.frame_schemas)
    frames: dict[str, pl.DataFrame] = {}
    for name, model in DERIVED_FRAMES.items():
        schema = stored_schema(schemas[name])
        typed = typed_columns(model, schema)
        columns = [model.seq, model.details, *(getattr(model, c) for c in typed)]
        result = session.execute(
            select(*columns).where(model.patient_id == patient_id).order_by(model.seq)
        )
        frames[name] = decode_frame(schema, [dict(r._mapping) for r in result], patient_id, typed)
    detail_rows: dict[str, list[Mapping[str, Any]]] = {name: [] for name in DETAIL_FRAMES}
    for row in session.execute(
        select(CourseDetailRow.frame, CourseDetailRow.details)
        .where(CourseDetailRow.patient_id == patient_id)
        .order_by(CourseDetailRow.frame, CourseDetailRow.seq)
    ):
        detail_rows.setdefault(row.frame, []).append(dict(row._mapping))
    for name in DETAIL_FRAMES:
        frames[name] = decode_frame(stored_schema(schemas[name]), detail_rows[name], patient_id, ())
    return CourseRecord(
        engine_version=header.engine_version,
        input_digest=header.input_digest,
        course_digest=header.course_digest,
        frames=frames,
    )
