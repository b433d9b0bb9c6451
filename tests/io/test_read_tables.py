"""Reading canonical folders: every problem located by file, spreadsheet row and column."""

from pathlib import Path

import polars as pl
import pytest

from relapsewatch.errors import DataError
from relapsewatch.io import read_tables, validate_folder, write_tables

PATIENTS = "patient_id,disease,diagnosis_date\nP1,myeloma,2024-01-01\n"
TREATMENTS = "patient_id,therapy,start_date,end_date\nP1,VRd,2024-01-05,\n"


def test_valid_example_reads_into_canonical_frames(examples: Path) -> None:
    tables = read_tables(examples / "valid")
    assert tables.patients.height == 3
    spep = tables.measurements.filter(
        (pl.col("patient_id") == "EX-001") & (pl.col("date") == pl.date(2024, 2, 1))
    )
    # 68 g/L, reported by LOINC code, becomes 6.8 g/dL.
    assert spep.select("test", "value", "unit", "reported_test", "reported_unit").row(0) == (
        "serum_m_protein",
        6.8,
        "g/dL",
        "33358-3",
        "g/L",
    )


def test_brand_and_regimen_names_become_generic_drugs(examples: Path) -> None:
    treatments = read_tables(examples / "valid").treatments
    ex3 = treatments.filter(pl.col("patient_id") == "EX-003")
    assert sorted(ex3["therapy"].to_list()) == [
        "bortezomib",
        "daratumumab",
        "dexamethasone",
        "lenalidomide",
    ]
    krd = treatments.filter(pl.col("reported_therapy") == "KRd")["therapy"].to_list()
    assert sorted(krd) == ["carfilzomib", "dexamethasone", "lenalidomide"]


def test_below_quantitation_is_kept_as_detected_never_zero(examples: Path) -> None:
    m = read_tables(examples / "valid").measurements
    trace = m.filter((pl.col("patient_id") == "EX-002") & (pl.col("date") == pl.date(2023, 11, 6)))
    assert trace.select("value", "result", "limit").row(0) == (
        None,
        "detected_nonquantifiable",
        None,
    )
    below = m.filter((pl.col("patient_id") == "EX-002") & (pl.col("date") == pl.date(2023, 12, 4)))
    assert below.select("value", "result", "limit").row(0) == (
        None,
        "detected_nonquantifiable",
        0.2,
    )


def test_qualitative_results_are_kept_as_words(examples: Path) -> None:
    m = read_tables(examples / "valid").measurements
    ife = m.filter(pl.col("test") == "serum_ife").sort("date")
    assert ife["result"].to_list() == ["positive", "negative"]
    assert ife["value"].null_count() == 2
    mrd = m.filter(pl.col("test") == "mrd").row(0, named=True)
    assert (mrd["result"], mrd["method"], mrd["sensitivity"]) == ("negative", "NGF", 1e-5)


# (file, row, column, a word of the fix) for every error planted in examples/invalid.
PLANTED = [
    ("patients.csv", 3, "diagnosis_date", "year-month-day"),
    ("patients.csv", 3, "heavy_chain", "listed values"),
    ("patients.csv", 3, "patient_id", "duplicate"),
    ("patients.csv", 4, "patient_id", "duplicate"),
    ("patients.csv", 4, "birth_year", "year of birth"),
    ("measurements.csv", 2, "unit", "never guessed"),
    ("measurements.csv", 3, "unit", "24-hour"),
    ("measurements.csv", 4, "unit", "ratio"),
    ("measurements.csv", 5, "test", "serum_m_protein"),
    ("measurements.csv", 6, "value", "immunofixation"),
    ("measurements.csv", 7, "value", "negative"),
    ("measurements.csv", 8, "sensitivity", "D5"),
    ("measurements.csv", 9, "date", "year-month-day"),
    ("treatments.csv", 2, "therapy", "revlimid"),
    ("treatments.csv", 3, "end_date", "swap"),
    ("treatments.csv", 4, "patient_id", "add the patient"),
    ("findings.csv", 2, "finding", "listed values"),
]


def test_every_planted_error_is_named_with_file_row_column_and_fix(examples: Path) -> None:
    report = validate_folder(examples / "invalid")
    assert not report.ok
    located = {(p.file, p.row, p.column): p for p in report.errors}
    for file, row, column, fix_word in PLANTED:
        problem = located.get((file, row, column))
        assert problem is not None, f"no problem reported at {file} row {row} {column}"
        assert fix_word.lower() in (problem.fix + problem.expected).lower()
    assert len(report.errors) == len(PLANTED)


def test_warnings_do_not_stop_a_load(examples: Path) -> None:
    report = validate_folder(examples / "invalid")
    kinds = {(p.file, p.column) for p in report.warnings}
    assert ("findings.csv", "reviewer") in kinds  # extra column reported, not silently dropped
    assert ("measurements.csv", "unit") in kinds  # probable g/L mix-up (§5.1 U1)


def test_probable_unit_mixup_is_flagged_and_kept(write) -> None:  # type: ignore[no-untyped-def]
    folder = write(
        {
            "patients": PATIENTS,
            "treatments": TREATMENTS,
            "measurements": (
                "patient_id,date,test,value,unit\nP1,2024-01-02,serum_m_protein,22,g/dL\n"
            ),
        }
    )
    tables = read_tables(folder)
    row = tables.measurements.row(0, named=True)
    assert row["value"] == 22 and row["flags"] == "probable_g_per_l_mixup"
    assert len(tables.warnings) == 1


def test_nothing_is_half_read(write) -> None:  # type: ignore[no-untyped-def]
    folder = write(
        {
            "patients": PATIENTS,
            "treatments": TREATMENTS,
            "measurements": "patient_id,date,test,value,unit\n"
            "P1,2024-01-02,serum_m_protein,2.0,g/dL\nP1,2024-02-02,serum_m_protein,1.0,\n",
        }
    )
    with pytest.raises(DataError) as caught:
        read_tables(folder)
    assert [(p.file, p.row, p.column) for p in caught.value.errors] == [
        ("measurements.csv", 3, "unit")
    ]


def test_missing_required_table_and_column_are_file_level(write) -> None:  # type: ignore[no-untyped-def]
    folder = write({"patients": "patient_id,disease\nP1,myeloma\n", "treatments": TREATMENTS})
    report = validate_folder(folder)
    assert ("patients.csv", None, "diagnosis_date") in {
        (p.file, p.row, p.column) for p in report.errors
    }
    assert any("measurements" in p.found for p in report.errors)


def test_a_table_in_two_formats_is_ambiguous(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write(
        {
            "patients": PATIENTS,
            "treatments": TREATMENTS,
            "measurements": "patient_id,date,test,value,unit\n",
        }
    )
    pl.read_csv(folder / "patients.csv").write_parquet(folder / "patients.parquet")
    report = validate_folder(folder)
    assert not report.ok and "patients" in report.errors[0].fix


def test_problems_are_capped_but_counted(write) -> None:  # type: ignore[no-untyped-def]
    rows = "".join(f"P1,2024-01-{1 + i % 28:02d},serum_m_protein,1.0,\n" for i in range(120))
    folder = write(
        {
            "patients": PATIENTS,
            "treatments": TREATMENTS,
            "measurements": "patient_id,date,test,value,unit\n" + rows,
        }
    )
    report = validate_folder(folder)
    assert len(report.errors) == 50 and report.truncated == 70


def test_parquet_and_csv_give_the_same_canonical_frames(examples: Path, tmp_path: Path) -> None:
    csv_tables = read_tables(examples / "valid")
    raw = {
        n: pl.read_csv(examples / "valid" / f"{n}.csv", infer_schema=False)
        for n in ("patients", "measurements", "treatments", "findings")
    }
    write_tables(raw, tmp_path, format="parquet")
    parquet_tables = read_tables(tmp_path)
    for name, frame in csv_tables.as_dict().items():
        assert parquet_tables.as_dict()[name].equals(frame), name


def test_typed_parquet_columns_are_accepted(tmp_path: Path) -> None:
    import datetime as dt

    write_tables(
        {
            "patients": pl.DataFrame(
                {
                    "patient_id": ["P1"],
                    "disease": ["myeloma"],
                    "diagnosis_date": [dt.date(2024, 1, 1)],
                    "birth_year": [1950],
                }
            ),
            "measurements": pl.DataFrame(
                {
                    "patient_id": ["P1"],
                    "date": [dt.date(2024, 1, 2)],
                    "test": ["serum_m_protein"],
                    "value": [14.0],
                    "unit": ["g/L"],
                }
            ),
            "treatments": pl.DataFrame(
                {
                    "patient_id": ["P1"],
                    "therapy": ["Velcade"],
                    "start_date": [dt.date(2024, 1, 5)],
                    "end_date": pl.Series([None], dtype=pl.Date),
                }
            ),
        },
        tmp_path,
        format="parquet",
    )
    tables = read_tables(tmp_path)
    assert tables.measurements["value"].to_list() == [1.4]
    assert tables.treatments["therapy"].to_list() == ["bortezomib"]
    assert tables.patients["birth_year"].to_list() == [1950]
