"""RELIABILITY E7: stored courses are a pure, versioned function of the stored inputs."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.course.myeloma.config import preset
from relapsewatch.io import CanonicalTables
from relapsewatch.store import repository as repo
from relapsewatch.store.courses import DERIVED_FRAMES, engine_version
from relapsewatch.store.db import write_session
from relapsewatch.store.models import CourseDetailRow, PatientCourse

Sessions = sessionmaker[Session]
MakeTables = Callable[..., CanonicalTables]
COURSE_TABLES = [m.__table__ for m in (*DERIVED_FRAMES.values(), CourseDetailRow, PatientCourse)]


def _dump(sessions: Sessions) -> bytes:
    """Every stored course row, in primary-key order, as bytes."""
    lines = []
    with sessions() as session:
        for table in COURSE_TABLES:
            order = list(table.primary_key.columns)
            for row in session.execute(select(table).order_by(*order)):
                lines.append(f"{table.name}|{tuple(row)!r}")
    return "\n".join(lines).encode("utf-8")


def _import_in_batches(sessions: Sessions, make: MakeTables, n: int) -> list[str]:
    """Four imports with different data cut-offs, so courses are derived in several groups."""
    ids: list[str] = []
    for batch in range(4):
        tables = make(n // 4, seed=700 + batch, prefix=f"E{batch}-")
        repo.import_tables(sessions, tables, source=f"batch {batch}")
        ids += tables.patients["patient_id"].to_list()
    return ids


def test_recomputing_100_patients_is_byte_identical(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    ids = _import_in_batches(db_sessions, synthetic_tables, 100)
    assert len(ids) == 100
    before = _dump(db_sessions)
    chosen = random.Random(7).sample(ids, len(ids))
    with write_session(db_sessions) as session:
        unforced = repo.recompute_courses(session, chosen)
    assert unforced == repo.RecomputeResult(recomputed=100, changed=0)
    with write_session(db_sessions) as session:
        forced = repo.recompute_courses(session, chosen, force=True)
    assert forced.changed == 100
    after = _dump(db_sessions)
    assert hashlib.sha256(after).hexdigest() == hashlib.sha256(before).hexdigest()
    with db_sessions() as session:
        versions = set(session.execute(select(PatientCourse.engine_version)).scalars())
    assert versions == {engine_version(preset("imwg2016"))}


def test_a_patient_derived_alone_equals_the_patient_derived_with_others(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(12, seed=801, prefix="ALONE")
    repo.import_tables(db_sessions, tables, source="t")
    with db_sessions() as session:
        together = dict(
            session.execute(select(PatientCourse.patient_id, PatientCourse.course_digest)).all()
        )
    for pid in random.Random(3).sample(sorted(together), 5):
        with write_session(db_sessions) as session:
            repo.recompute_courses(session, [pid], force=True)
        with db_sessions() as session:
            assert session.get_one(PatientCourse, pid).course_digest == together[pid]


def test_the_loaded_course_hashes_to_the_stored_digest(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    """Load -> frames is exact: re-encoding the loaded frames gives the stored bytes."""
    from relapsewatch.store.frames import encode_frame, typed_columns

    repo.import_tables(db_sessions, synthetic_tables(3, seed=802, prefix="RT"), source="t")
    with db_sessions() as session:
        course = repo.load_course(session, "RT0001")
        assert course is not None
        for name, model in DERIVED_FRAMES.items():
            frame = getattr(course, name)
            typed = typed_columns(model, frame.schema)
            stored = session.execute(
                select(model.details).where(model.patient_id == "RT0001").order_by(model.seq)
            ).scalars()
            assert [r.details for r in encode_frame(frame, typed)] == list(stored)
        assert course.status.width > 20  # every condition column came back


def test_another_engine_configuration_is_a_new_version_and_changes_stored_courses(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    repo.import_tables(db_sessions, synthetic_tables(3, seed=803, prefix="V"), source="t")
    other = preset("parity-28-90")
    assert engine_version(other) != engine_version(preset("imwg2016"))
    with db_sessions() as session:
        assert repo.stale_courses(session) == []
        stale = repo.stale_courses(session, config=other)
    assert stale == ["V0000", "V0001", "V0002"]
    with write_session(db_sessions) as session:
        result = repo.recompute_courses(session, stale, config=other)
    assert result.changed == 3
    with db_sessions() as session:
        versions = set(session.execute(select(PatientCourse.engine_version)).scalars())
    assert versions == {engine_version(other)}
