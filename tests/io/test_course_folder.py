"""The course of a folder in patient batches and worker processes (io/course_folder.py)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

import relapsewatch.io.course_folder as folder_run
from relapsewatch.course.myeloma import MyelomaCourseConfig, derive_course
from relapsewatch.errors import DataError
from relapsewatch.io import TableWriter, read_tables
from relapsewatch.io.batches import PatientBatches, RawParts, cutoff_of
from relapsewatch.io.course_folder import derive_folder

ROOT = Path(__file__).resolve().parents[2]
WORKED = ROOT / "tests" / "data" / "examples" / "worked"
INVALID = ROOT / "examples" / "invalid"
CONFIG = MyelomaCourseConfig()


def _write_folder(path: Path, end_date: str) -> Path:
    path.mkdir()
    (path / "patients.csv").write_text(
        "patient_id,disease,diagnosis_date\nA,myeloma, 2024-01-01 \nB,myeloma,2024-02-01\n"
    )
    (path / "treatments.csv").write_text(
        f"patient_id,therapy,start_date,end_date\nA,VRd,2024-01-05,{end_date}\nB,Rd,2024-02-05,\n"
    )
    (path / "measurements.csv").write_text(
        "patient_id,date,test,value,unit\n"
        "A,2024-01-02,serum_m_protein,2.0,g/dL\nB,2024-02-02 ,serum_m_protein,1.0,g/dL\n"
    )
    return path


@pytest.mark.parametrize("end_date", ["", "2024-09-30", " 2024-10-31 "])
def test_cutoff_read_from_the_raw_dates_is_the_validated_cutoff(
    tmp_path: Path, end_date: str
) -> None:
    source = _write_folder(tmp_path / "in", end_date)
    with PatientBatches(source, batch_size=1, validate=False) as batches:
        assert batches.raw_parts.cutoff() == cutoff_of(read_tables(source))
    with PatientBatches(WORKED, batch_size=3, validate=False) as batches:
        assert batches.raw_parts.cutoff() == cutoff_of(read_tables(WORKED))


def test_one_process_and_batches_write_what_one_pass_derives(tmp_path: Path) -> None:
    with TableWriter(tmp_path / "out", format="parquet") as writer:
        done = derive_folder(WORKED, writer, config=CONFIG, batch_size=4, jobs=1)
    expected = derive_course(read_tables(WORKED)).tables()
    assert (done.patients, done.batches, done.jobs) == (11, 3, 1)
    for name, frame in expected.items():
        assert pl.read_parquet(tmp_path / "out" / f"{name}.parquet").equals(frame), name


def test_batches_written_as_csv_are_the_csv_of_one_pass(tmp_path: Path) -> None:
    # the batches come back from the workers as Arrow IPC files; as CSV they must read as one
    # table written whole (one header, the same cells)
    with TableWriter(tmp_path / "out", format="csv") as writer:
        derive_folder(WORKED, writer, config=CONFIG, batch_size=4, jobs=1)
    with TableWriter(tmp_path / "whole", format="csv") as writer:
        for name, frame in derive_course(read_tables(WORKED)).tables().items():
            writer.write(name, frame)
    for name in ("lines", "relapses", "responses", "status"):
        written = (tmp_path / "out" / f"{name}.csv").read_text()
        assert written == (tmp_path / "whole" / f"{name}.csv").read_text(), name


def test_batches_after_a_bad_one_are_only_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _write_folder(tmp_path / "in", "")
    with (source / "patients.csv").open("a") as rows:
        rows.write("C,myeloma,2024-03-01\n")
    with (source / "measurements.csv").open("a") as rows:
        rows.write("B,2024-03-02,serum_m_protein,1.0,\nC,2024-03-02,serum_m_protein,1.0,g/dL\n")
    derived: list[str] = []
    real = folder_run.derive_course

    def counting(tables, **kwargs):  # type: ignore[no-untyped-def]
        derived.extend(tables.patients["patient_id"])
        return real(tables, **kwargs)

    monkeypatch.setattr(folder_run, "derive_course", counting)
    with (
        pytest.raises(DataError) as caught,
        TableWriter(tmp_path / "out", format="parquet") as writer,
    ):
        derive_folder(source, writer, config=CONFIG, batch_size=1, jobs=1)
    assert [(p.file, p.row, p.column) for p in caught.value.errors] == [
        ("measurements.csv", 4, "unit")
    ]
    assert derived == ["A"]  # B is bad, so C (after it) is only validated


def test_every_problem_of_every_batch_is_reported(tmp_path: Path) -> None:
    with (
        pytest.raises(DataError) as caught,
        TableWriter(tmp_path / "out", format="parquet") as writer,
    ):
        derive_folder(INVALID, writer, config=CONFIG, batch_size=1, jobs=1)
    assert {str(p) for p in caught.value.problems} == {str(p) for p in read_problems(INVALID)}


def read_problems(source: Path) -> tuple[object, ...]:
    with pytest.raises(DataError) as caught:
        read_tables(source)
    return caught.value.problems


def test_a_cutoff_that_moves_on_validation_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RawParts, "cutoff", lambda self: dt.date(2030, 1, 1))
    with (
        pytest.raises(RuntimeError, match="fault in relapsewatch"),
        TableWriter(tmp_path / "out", format="parquet") as writer,
    ):
        derive_folder(WORKED, writer, config=CONFIG, batch_size=4, jobs=1)
    assert not any((tmp_path / "out").glob("*.parquet"))


def test_a_failing_batch_stops_the_run_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(tables, **kwargs):  # type: ignore[no-untyped-def]
        raise MemoryError("out of memory in the engine")

    monkeypatch.setattr(folder_run, "derive_course", broken)
    with (
        pytest.raises(MemoryError),
        TableWriter(tmp_path / "out", format="parquet") as writer,
    ):
        derive_folder(WORKED, writer, config=CONFIG, batch_size=4, jobs=1)
    assert not any((tmp_path / "out").iterdir())


def test_worker_environment_is_set_only_while_workers_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLARS_MAX_THREADS", "7")
    monkeypatch.delenv("_RJEM_MALLOC_CONF", raising=False)
    with folder_run._environment({**folder_run.WORKER_ALLOCATOR, "POLARS_MAX_THREADS": "1"}):
        assert os.environ["POLARS_MAX_THREADS"] == "1"
        assert os.environ["_RJEM_MALLOC_CONF"] == "dirty_decay_ms:-1,muzzy_decay_ms:-1"
    assert os.environ["POLARS_MAX_THREADS"] == "7" and "_RJEM_MALLOC_CONF" not in os.environ


def test_workers_share_the_cores_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder_run, "default_jobs", lambda: 4)
    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    assert folder_run.worker_environment(2)["POLARS_MAX_THREADS"] == "2"
    assert folder_run.worker_environment(8)["POLARS_MAX_THREADS"] == "1"
    monkeypatch.setenv("POLARS_MAX_THREADS", "3")
    assert folder_run.worker_environment(2)["POLARS_MAX_THREADS"] == "3"


def test_a_batch_of_patients_without_results_writes_the_same_columns(tmp_path: Path) -> None:
    source = _write_folder(tmp_path / "in", "")
    with (source / "patients.csv").open("a") as rows:
        rows.write("C,myeloma,2024-03-01\n")  # no results yet: a batch with no responses
    with (source / "measurements.csv").open("a") as rows:
        rows.write("A,2024-02-02,serum_m_protein,0.8,g/dL\nB,2024-03-02,serum_m_protein,0.4,g/dL\n")
    with TableWriter(tmp_path / "out", format="parquet") as writer:
        derive_folder(source, writer, config=CONFIG, batch_size=1, jobs=1)
    responses = pl.read_parquet(tmp_path / "out" / "responses.parquet")
    assert responses.schema == derive_course(read_tables(source)).responses.schema
    assert set(responses["patient_id"]) == {"A", "B"}
