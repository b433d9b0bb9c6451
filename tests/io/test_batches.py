"""Reading a folder in patient batches gives exactly what read_tables gives, split by patient."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest

from relapsewatch.course.myeloma.course import data_cutoff
from relapsewatch.errors import DataError
from relapsewatch.io import read_tables, validate_folder
from relapsewatch.io.batches import PatientBatches

ROOT = Path(__file__).resolve().parents[2]
WORKED = ROOT / "tests" / "data" / "examples" / "worked"
INVALID = ROOT / "examples" / "invalid"


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    keys = [c for c, t in frame.schema.items() if not isinstance(t, pl.List)]
    return frame.sort(keys, nulls_last=True)


@pytest.mark.parametrize("batch_size", [1, 4, 100])
def test_batches_concatenate_to_the_whole_folder(batch_size: int) -> None:
    whole = read_tables(WORKED)
    with PatientBatches(WORKED, batch_size=batch_size) as batches:
        parts = list(batches)
        expected_batches = 1 if batch_size >= 11 else -(-11 // batch_size)
        assert batches.n_batches == len(parts) == expected_batches
        assert batches.cutoff == data_cutoff(
            whole.patients, whole.measurements, whole.treatments, whole.findings
        )
    for name in ("patients", "measurements", "treatments", "findings"):
        joined = pl.concat([getattr(p, name) for p in parts])
        assert _sorted(joined).equals(_sorted(getattr(whole, name))), name
    ranges = [(p.patients["patient_id"].min(), p.patients["patient_id"].max()) for p in parts]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))  # id ranges


def test_identifiers_with_spaces_reach_their_patients_batch(tmp_path: Path) -> None:
    # the batch of a row is found from its trimmed identifier, as the reader trims it
    patients = ["P1", "P2", "P3", "P4"]
    (tmp_path / "patients.csv").write_text(
        "patient_id,disease,diagnosis_date\n"
        + "".join(f"{p},myeloma,2024-01-01\n" for p in [" P3", "P1 ", "P4", "\tP2"])
    )
    (tmp_path / "measurements.csv").write_text(
        "patient_id,date,test,value,unit\n"
        + "".join(
            f"{p},2024-02-0{i},serum_m_protein,{i}.0,g/dL\n"
            for i, p in enumerate([" P4 ", "P1", "P3  ", " P2", "P4", "P2\t"], start=1)
        )
    )
    (tmp_path / "treatments.csv").write_text(
        "patient_id,therapy,start_date,end_date\n P3 ,VRd,2024-01-05,\nP1,VRd,2024-01-05,\n"
    )
    whole = read_tables(tmp_path)
    with PatientBatches(tmp_path, batch_size=1) as batches:
        parts = list(batches)
    assert [p.patients["patient_id"].to_list() for p in parts] == [[p] for p in patients]
    assert [sorted(set(p.measurements["patient_id"])) for p in parts] == [[p] for p in patients]
    assert [sorted(set(p.treatments["patient_id"])) for p in parts] == [["P1"], [], ["P3"], []]
    for name in ("measurements", "treatments"):
        joined = pl.concat([getattr(p, name) for p in parts])
        assert _sorted(joined).equals(_sorted(getattr(whole, name))), name


def test_batch_problems_are_the_readers_problems_with_original_rows() -> None:
    expected = sorted(str(p) for p in validate_folder(INVALID).errors)
    with pytest.raises(DataError) as caught, PatientBatches(INVALID, batch_size=1):
        pass
    assert sorted(str(p) for p in caught.value.errors) == expected


def test_unknown_patient_is_reported_from_its_batch(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text(
        "patient_id,disease,diagnosis_date\nA,myeloma,2024-01-01\nB,myeloma,2024-01-01\n"
    )
    (tmp_path / "treatments.csv").write_text(
        "patient_id,therapy,start_date,end_date\nA,VRd,2024-01-05,\nC,VRd,2024-01-05,\n"
    )
    (tmp_path / "measurements.csv").write_text(
        "patient_id,date,test,value,unit\nB,2024-01-02,serum_m_protein,2.0,g/dL\n"
    )
    with pytest.raises(DataError) as caught, PatientBatches(tmp_path, batch_size=1):
        pass
    assert [(p.file, p.row, p.column) for p in caught.value.errors] == [
        ("treatments.csv", 3, "patient_id")
    ]


def test_temporary_files_are_removed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with PatientBatches(WORKED, batch_size=2, workdir=work) as batches:
        assert any(work.iterdir())
        list(batches)
    assert not any(work.iterdir())


def test_a_removed_batch_leaves_the_others(tmp_path: Path) -> None:
    with PatientBatches(WORKED, batch_size=4, validate=False, workdir=tmp_path) as batches:
        parts = batches.raw_parts
        before = [parts.read(i)["measurements"].height for i in range(batches.n_batches)]
        parts.remove(0)
        after = [parts.read(i)["measurements"].height for i in range(batches.n_batches)]
        assert before[0] > 0
        assert after == [0, *before[1:]]
        assert set(parts.read(0)["measurements"].columns) == set(parts.schemas["measurements"])


@pytest.mark.parametrize(
    ("batch_size", "multiple_of", "sizes"),
    [(4, 1, [4, 4, 3]), (4, 2, [3, 3, 3, 2]), (5, 3, [4, 4, 3]), (2, 4, [2, 1, 2, 1, 1, 2, 1, 1])],
)
def test_batches_are_equal_and_as_many_as_workers_need(
    batch_size: int, multiple_of: int, sizes: list[int]
) -> None:
    with PatientBatches(WORKED, batch_size=batch_size, multiple_of=multiple_of) as batches:
        assert [p.patients.height for p in batches] == sizes
        assert batches.n_batches % multiple_of == 0 and max(sizes) <= batch_size
