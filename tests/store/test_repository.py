"""The repository on both backends: import semantics, reads, form entries, concurrency guard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from relapsewatch.course.myeloma.course import derive_course
from relapsewatch.errors import DataError
from relapsewatch.io import CanonicalTables
from relapsewatch.store import repository as repo
from relapsewatch.store.errors import StaleVersionError, UnknownPatientError
from relapsewatch.store.models import (
    CourseLine,
    CourseResponse,
    CourseStatus,
    ImportBatch,
    Measurement,
    Patient,
    PatientCourse,
    Treatment,
)

Sessions = sessionmaker[Session]
MakeTables = Callable[..., CanonicalTables]


def _counts(sessions: Sessions) -> dict[str, int]:
    models = (Patient, Measurement, Treatment, ImportBatch, PatientCourse, CourseResponse)
    with sessions() as session:
        return {
            m.__tablename__: session.execute(select(func.count()).select_from(m)).scalar_one()
            for m in models
        }


def _patient(tables: CanonicalTables, patient_id: str) -> CanonicalTables:
    keep = pl.col("patient_id") == patient_id
    return CanonicalTables(
        patients=tables.patients.filter(keep),
        measurements=tables.measurements.filter(keep),
        treatments=tables.treatments.filter(keep),
        findings=tables.findings.filter(keep),
    )


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    keys = [
        pl.col(c).list.join("+") if isinstance(t, pl.List) else pl.col(c)
        for c, t in frame.schema.items()
    ]
    return frame.sort(keys, nulls_last=True)


def test_import_stores_every_row_and_a_course_per_patient(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(6, seed=11, prefix="A")
    result = repo.import_tables(db_sessions, tables, source="six.csv")
    assert result.patients_new == 6
    assert result.rows_added == {
        "measurements": tables.measurements.height,
        "treatments": tables.treatments.height,
        "findings": tables.findings.height,
    }
    assert result.courses_recomputed == 6
    assert not result.already_imported
    counts = _counts(db_sessions)
    assert counts["patients"] == 6
    assert counts["measurements"] == tables.measurements.height
    assert counts["patient_courses"] == 6
    assert counts["import_batches"] == 1


def test_stored_tables_equal_the_imported_ones(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(3, seed=12, prefix="B")
    repo.import_tables(db_sessions, tables, source="t")
    with db_sessions() as session:
        for pid in tables.patients["patient_id"]:
            stored = repo.load_patient_tables(session, pid)
            assert stored is not None
            given = _patient(tables, pid)
            for name, frame in given.as_dict().items():
                assert_frame_equal(_sorted(getattr(stored, name)), _sorted(frame))
        assert repo.load_patient_tables(session, "nobody") is None


def test_stored_course_equals_the_engine_run_on_the_patient_alone(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(4, seed=13, prefix="C")
    repo.import_tables(db_sessions, tables, source="t")
    with db_sessions() as session:
        for pid in tables.patients["patient_id"]:
            stored = repo.load_course(session, pid)
            assert stored is not None
            as_of = session.get_one(Patient, pid).records_as_of
            expected = derive_course(
                repo.load_patient_tables(session, pid),  # type: ignore[arg-type]
                as_of=as_of,
            )
            for name, frame in expected.tables().items():
                assert_frame_equal(getattr(stored, name), frame)
            assert_frame_equal(stored.conditions, expected.conditions)
            assert stored.engine_version.startswith("relapsewatch ")
        assert repo.load_course(session, "nobody") is None


def test_course_is_evaluated_at_the_data_cutoff_of_the_import(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(3, seed=14, prefix="D")
    cutoff = max(
        tables.measurements["date"].max(),  # type: ignore[type-var]
        tables.treatments["start_date"].max(),  # type: ignore[type-var]
        tables.treatments["end_date"].max() or dt.date.min,  # type: ignore[operator]
    )
    repo.import_tables(db_sessions, tables, source="t")
    with db_sessions() as session:
        course = repo.load_course(session, "D0000")
        assert course is not None
        assert course.status["as_of"].to_list() == [cutoff]


def test_importing_the_same_content_twice_is_one_batch(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(3, seed=15, prefix="E")
    first = repo.import_tables(db_sessions, tables, source="first")
    before = _counts(db_sessions)
    shuffled = CanonicalTables(
        patients=tables.patients.reverse(),
        measurements=tables.measurements.sample(fraction=1.0, shuffle=True, seed=1),
        treatments=tables.treatments.reverse(),
        findings=tables.findings,
    )
    phases: list[str] = []
    second = repo.import_tables(
        db_sessions, shuffled, source="again", progress=lambda p, n: phases.append(p)
    )
    assert second.already_imported
    assert second.batch_id == first.batch_id
    assert second.content_hash == first.content_hash
    assert sum(second.rows_added.values()) == 0
    assert _counts(db_sessions) == before
    assert phases == ["begin", "committed"]


def test_a_new_export_of_stored_patients_adds_only_the_new_rows(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    full = synthetic_tables(3, seed=16, prefix="F")
    last_day = full.measurements["date"].max()
    early = CanonicalTables(
        patients=full.patients,
        measurements=full.measurements.filter(pl.col("date") < last_day),
        treatments=full.treatments,
        findings=full.findings,
    )
    repo.import_tables(db_sessions, early, source="early")
    with db_sessions() as session:
        versions = {p.patient_id: p.version for p in repo.list_patients(session)}
    result = repo.import_tables(db_sessions, full, source="full")
    newest = full.measurements.filter(pl.col("date") == last_day)
    assert result.patients_new == 0
    assert result.rows_added["measurements"] == newest.height
    assert result.rows_added["treatments"] == 0
    assert result.rows_already_stored == early.measurements.height + full.treatments.height + (
        full.findings.height
    )
    assert _counts(db_sessions)["measurements"] == full.measurements.height
    with db_sessions() as session:
        after = {p.patient_id: p.version for p in repo.list_patients(session)}
    touched = set(newest["patient_id"])
    assert after == {pid: v + (pid in touched) for pid, v in versions.items()}


def test_identical_rows_in_one_file_are_both_kept(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(1, seed=17, prefix="G")
    doubled = CanonicalTables(
        patients=tables.patients,
        measurements=pl.concat([tables.measurements, tables.measurements.head(1)]),
        treatments=tables.treatments,
        findings=tables.findings,
    )
    result = repo.import_tables(db_sessions, doubled, source="t")
    assert result.rows_added["measurements"] == tables.measurements.height + 1


def test_different_details_for_a_stored_patient_are_refused_and_nothing_written(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(2, seed=18, prefix="H")
    repo.import_tables(db_sessions, tables, source="t")
    before = _counts(db_sessions)
    other = synthetic_tables(3, seed=99, prefix="H")  # same ids, other diagnosis dates
    with db_sessions() as session:
        preview = repo.preview_import(session, other)
    assert not preview.ok
    assert {p.column for p in preview.problems} >= {"diagnosis_date"}
    with pytest.raises(DataError) as caught:
        repo.import_tables(db_sessions, other, source="t2")
    assert any("H0000" in p.found for p in caught.value.problems)
    assert _counts(db_sessions) == before


def test_preview_counts_what_an_import_would_add(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(2, seed=19, prefix="I")
    with db_sessions() as session:
        preview = repo.preview_import(session, tables)
    assert preview.ok and not preview.already_imported
    assert preview.patients_new == 2
    assert preview.rows_new["measurements"] == tables.measurements.height
    result = repo.import_tables(db_sessions, tables, source="t")
    with db_sessions() as session:
        again = repo.preview_import(session, tables)
    assert again.already_imported and again.content_hash == result.content_hash
    assert again.patients_existing == 2 and sum(again.rows_new.values()) == 0


def test_progress_reports_each_phase_in_order(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(3, seed=20, prefix="J")
    reported: list[tuple[str, int]] = []
    repo.import_tables(
        db_sessions,
        tables,
        source="t",
        chunk_rows=40,
        progress=lambda p, n: reported.append((p, n)),
    )
    total = tables.measurements.height + tables.treatments.height + tables.findings.height
    phases = [p for p, _ in reported]
    assert phases[0] == "begin" and phases[-2:] == ["before_commit", "committed"]
    rows = [n for p, n in reported if p == "rows"]
    assert rows == sorted(rows) and rows[-1] == total and len(rows) > 3
    assert reported[-1] == ("committed", total)


def test_a_failure_before_commit_leaves_the_database_as_it_was(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    repo.import_tables(db_sessions, synthetic_tables(2, seed=21, prefix="K"), source="t")
    before = _counts(db_sessions)

    def fail_midway(phase: str, rows: int) -> None:
        if phase == "rows" and rows >= 50:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        repo.import_tables(
            db_sessions,
            synthetic_tables(3, seed=22, prefix="L"),
            source="t",
            chunk_rows=25,
            progress=fail_midway,
        )
    assert _counts(db_sessions) == before


def test_list_search_and_paging(db_sessions: Sessions, synthetic_tables: MakeTables) -> None:
    repo.import_tables(db_sessions, synthetic_tables(5, seed=23, prefix="Ab_"), source="t")
    repo.import_tables(db_sessions, synthetic_tables(3, seed=24, prefix="Zz%"), source="t")
    with db_sessions() as session:
        everyone = repo.list_patients(session, limit=100)
        assert [p.patient_id for p in everyone] == sorted(p.patient_id for p in everyone)
        assert repo.count_patients(session) == 8
        assert [p.patient_id for p in repo.list_patients(session, limit=3, offset=2)] == [
            p.patient_id for p in everyone[2:5]
        ]
        assert repo.count_patients(session, search="ab_") == 5
        assert repo.count_patients(session, search="%") == 3  # a wildcard matches only itself
        assert repo.count_patients(session, search="b%") == 0
        assert repo.list_patients(session, search="zZ%0002")[0].patient_id == "Zz%0002"
        with pytest.raises(ValueError, match="limit"):
            repo.list_patients(session, limit=0)


def test_summary_shows_the_stored_status(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(4, seed=25, prefix="M")
    repo.import_tables(db_sessions, tables, source="t")
    with db_sessions() as session:
        for summary in repo.list_patients(session):
            course = repo.load_course(session, summary.patient_id)
            assert course is not None
            status = course.status.row(0, named=True)
            assert summary.current_line == status["current_line"]
            assert summary.relapse_number == status["relapses"]
            assert summary.latest_response == status["latest_response"]
            assert summary.state == status["state"]
            last = tables.measurements.filter(pl.col("patient_id") == summary.patient_id)["date"]
            assert summary.last_result_date == last.max()
        assert repo.get_patient(session, "M0001") == repo.list_patients(session, search="M0001")[0]
        assert repo.get_patient(session, "nobody") is None


def test_progression_suspected_when_an_unconfirmed_pd_follows_the_last_confirmed_event() -> None:
    from relapsewatch.store.courses import _progression_suspected

    day = dt.date(2024, 1, 1)
    responses = pl.DataFrame(
        {
            "patient_id": ["rise", "rise", "confirmed", "confirmed", "old", "old"],
            "date": [day, day + dt.timedelta(30)] * 3,
            "response": ["PR", "PD", "PD", "PD", "PD", "PR"],
            "confirmed": [True, False, False, True, False, True],
        }
    )
    relapses = pl.DataFrame(schema={"patient_id": pl.String, "confirmed_date": pl.Date})
    unconfirmed = pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date})
    flagged = _progression_suspected(
        {"responses": responses, "relapses": relapses, "unconfirmed_progression": unconfirmed}
    )
    assert flagged["patient_id"].to_list() == ["rise"]


def test_added_result_is_validated_stored_and_the_course_recomputed(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(1, seed=26, prefix="N")
    repo.import_tables(db_sessions, tables, source="t")
    with db_sessions() as session:
        before = repo.get_patient(session, "N0000")
        old_course = repo.load_course(session, "N0000")
    assert before is not None and old_course is not None
    later = before.last_result_date + dt.timedelta(days=30)  # type: ignore[operator]
    row = {"date": later, "test": "33358-3", "value": "14", "unit": "g/L"}
    result = repo.add_measurement(db_sessions, "N0000", row, expected_version=before.version)
    assert result.added and result.rows_added == 1 and result.version == before.version + 1
    with db_sessions() as session:
        stored = repo.load_patient_tables(session, "N0000")
        after = repo.load_course(session, "N0000")
        summary = repo.get_patient(session, "N0000")
    assert stored is not None and after is not None and summary is not None
    added = stored.measurements.filter(pl.col("date") == later)
    assert added.select("test", "value", "unit").row(0) == ("serum_m_protein", 1.4, "g/dL")
    assert summary.last_result_date == later
    assert after.status["as_of"].to_list() == [later]
    assert after.course_digest != old_course.course_digest
    again = repo.add_measurement(db_sessions, "N0000", row)
    assert not again.added and again.version == result.version


def test_a_bad_entry_names_the_form_field_and_writes_nothing(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    repo.import_tables(db_sessions, synthetic_tables(1, seed=27, prefix="O"), source="t")
    before = _counts(db_sessions)
    with pytest.raises(DataError) as caught:
        repo.add_measurement(
            db_sessions,
            "O0000",
            {"date": "2024-13-40", "test": "serum_m_protein", "value": "1.2", "unit": "g/dL"},
        )
    assert [p.column for p in caught.value.errors] == ["date"]
    with pytest.raises(DataError) as caught:
        repo.add_measurement(
            db_sessions,
            "O0000",
            {"date": "2024-01-01", "test": "serum_m_protein", "value": "1.2", "unit": "furlongs"},
        )
    assert "unit" in {p.column for p in caught.value.errors}
    assert _counts(db_sessions) == before


def test_entries_for_unknown_patients_are_refused(db_sessions: Sessions) -> None:
    with pytest.raises(UnknownPatientError):
        repo.add_measurement(
            db_sessions,
            "ghost",
            {"date": "2024-01-01", "test": "serum_m_protein", "value": "1", "unit": "g/dL"},
        )


def test_a_stale_form_is_refused_with_the_current_version(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    repo.import_tables(db_sessions, synthetic_tables(1, seed=28, prefix="P"), source="t")
    with db_sessions() as session:
        version = repo.get_patient(session, "P0000").version  # type: ignore[union-attr]
    row = {"date": "2030-01-01", "test": "hemoglobin", "value": "11.5", "unit": "g/dL"}
    repo.add_measurement(db_sessions, "P0000", row, expected_version=version)
    before = _counts(db_sessions)
    with pytest.raises(StaleVersionError) as caught:
        repo.add_measurement(
            db_sessions, "P0000", {**row, "value": "11.0"}, expected_version=version
        )
    assert caught.value.found == version + 1
    assert _counts(db_sessions) == before


def test_a_regimen_entry_is_stored_as_one_row_per_drug(
    db_sessions: Sessions, synthetic_tables: MakeTables
) -> None:
    tables = synthetic_tables(1, seed=29, prefix="Q")
    repo.import_tables(db_sessions, tables, source="t")
    start = tables.measurements["date"].max()
    result = repo.add_treatment(
        db_sessions, "Q0000", {"therapy": "KRd", "start_date": start, "end_date": None}
    )
    assert result.rows_added == 3
    with db_sessions() as session:
        stored = repo.load_patient_tables(session, "Q0000")
        lines = session.execute(
            select(func.count()).select_from(CourseLine).where(CourseLine.patient_id == "Q0000")
        ).scalar_one()
        status_rows = session.execute(select(func.count()).select_from(CourseStatus)).scalar_one()
    assert stored is not None
    new = stored.treatments.filter(pl.col("start_date") == start)["therapy"].sort().to_list()
    assert new == ["carfilzomib", "dexamethasone", "lenalidomide"]
    assert lines >= 1 and status_rows == 1
