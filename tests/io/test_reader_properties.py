"""Properties of the readers: round trips, and arbitrary bytes never crash them."""

import datetime as dt
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relapsewatch.errors import DataError
from relapsewatch.io import read_tables, write_tables
from relapsewatch.schema import FILE_TABLES

PATIENTS = pl.DataFrame(
    {
        "patient_id": ["P1", "P2"],
        "disease": ["myeloma", "myeloma"],
        "diagnosis_date": ["2020-01-01", "2020-06-01"],
    }
)
TREATMENTS = pl.DataFrame(
    {
        "patient_id": ["P1"],
        "therapy": ["lenalidomide"],
        "start_date": ["2020-02-01"],
        "end_date": [None],
    },
    schema_overrides={"end_date": pl.String},
)

QUANTITATIVE = {
    "serum_m_protein": "g/dL",
    "urine_m_protein": "mg/24h",
    "flc_kappa": "mg/L",
    "flc_lambda": "mg/L",
    "bm_plasma_cells": "%",
    "calcium": "mg/dL",
}

measurement_rows = st.lists(
    st.tuples(
        st.sampled_from(["P1", "P2"]),
        st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)),
        st.sampled_from(sorted(QUANTITATIVE)),
        st.decimals(min_value=0, max_value=99, places=2, allow_nan=False),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=measurement_rows, fmt=st.sampled_from(["csv", "parquet"]))
def test_valid_rows_round_trip_through_write_then_read(rows, fmt) -> None:  # type: ignore[no-untyped-def]
    measurements = pl.DataFrame(
        {
            "patient_id": [r[0] for r in rows],
            "date": [r[1].isoformat() for r in rows],
            "test": [r[2] for r in rows],
            "value": [str(r[3]) for r in rows],
            "unit": [QUANTITATIVE[r[2]] for r in rows],
        }
    )
    with tempfile.TemporaryDirectory() as folder:
        write_tables(
            {"patients": PATIENTS, "treatments": TREATMENTS, "measurements": measurements},
            folder,
            format=fmt,
        )
        got = read_tables(folder).measurements
    assert got.height == len(rows)
    assert got["patient_id"].to_list() == [r[0] for r in rows]
    assert got["date"].to_list() == [r[1] for r in rows]
    assert got["test"].to_list() == [r[2] for r in rows]
    assert got["value"].to_list() == [float(r[3]) for r in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.binary(max_size=400) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_load_or_raise_a_located_error(payload: bytes) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_tables({"patients": PATIENTS, "treatments": TREATMENTS}, folder, format="csv")
        (folder / "measurements.csv").write_bytes(payload)
        try:
            read_tables(folder)
        except DataError as err:
            assert err.problems
            for problem in err.problems:
                assert problem.file
                assert problem.row is None or problem.row >= 2
                if problem.row is not None:  # echoes of input are short (no PHI floods)
                    assert len(problem.found) <= 40


csv_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(st.tuples(csv_cell, csv_cell, csv_cell, csv_cell, csv_cell), max_size=8))
def test_arbitrary_cells_load_or_name_row_and_column(cells) -> None:  # type: ignore[no-untyped-def]
    frame = pl.DataFrame(
        cells, schema=["patient_id", "date", "test", "value", "unit"], orient="row"
    )
    with tempfile.TemporaryDirectory() as folder:
        write_tables(
            {"patients": PATIENTS, "treatments": TREATMENTS, "measurements": frame},
            folder,
            format="csv",
        )
        try:
            read_tables(folder)
        except DataError as err:
            for problem in err.errors:
                if problem.file == "measurements.csv":
                    assert problem.row is not None and 2 <= problem.row <= len(cells) + 1
                    assert problem.column in FILE_TABLES["measurements"].column_names
