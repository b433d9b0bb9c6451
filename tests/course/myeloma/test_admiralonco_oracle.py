"""The admiralonco IMWG confirmation oracle (spec §4): all 65 COVR values, every CBOR and first
PD date of the vignette, reproduced by :func:`confirm_timepoint_responses`.

The expected values are in ``tests/data/admiralonco`` with their provenance.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from relapsewatch.course.myeloma.confirmation import (
    best_confirmed_responses,
    confirm_timepoint_responses,
)
from relapsewatch.errors import SchemaError

DATA = Path(__file__).resolve().parents[2] / "data" / "admiralonco"


def _read(name: str) -> pl.DataFrame:
    return pl.read_csv(DATA / name, infer_schema=False)


def _timepoint_responses() -> pl.DataFrame:
    """The RS records in relapsewatch's names (USUBJID → patient_id, …)."""
    flag = lambda name: (pl.col(name) == "Y").fill_null(False)  # noqa: E731
    return _read("covr.csv").select(
        patient_id="USUBJID",
        date=pl.col("ADT").str.to_date(),
        response="OVR",
        pd_other=flag("PDOFL"),
        pd_imaging=flag("PDIFL"),
        death_from_pd=flag("DTHPDFL"),
        new_therapy_date=pl.col("NACTDT").str.to_date(),
        expected="COVR",
    )


def test_all_65_confirmed_responses_match_the_vignette() -> None:
    records = _timepoint_responses()
    assert records.height == 65
    confirmed = confirm_timepoint_responses(records.drop("expected"))
    joined = confirmed.join(
        records.select("patient_id", "date", "expected"), on=["patient_id", "date"]
    )
    mismatches = joined.filter(pl.col("confirmed_response") != pl.col("expected"))
    assert joined.height == 65
    assert (
        mismatches.select("patient_id", "date", "response", "confirmed_response", "expected").rows()
        == []
    )


def test_best_confirmed_response_and_first_pd_date_match_the_vignette() -> None:
    confirmed = confirm_timepoint_responses(_timepoint_responses().drop("expected"))
    best = best_confirmed_responses(confirmed)
    expected = (
        _read("cbor.csv")
        .select(
            patient_id="USUBJID",
            best_response="CBOR",
            best_response_date=pl.col("CBOR_ADT").str.to_date(),
            progression_date=pl.col("PD_ADT").str.to_date(),
        )
        .sort("patient_id")
    )
    assert best.height == expected.height == 23
    assert best.rows() == expected.rows()


def test_input_row_order_does_not_change_the_oracle_result() -> None:
    records = _timepoint_responses().drop("expected")
    forward = confirm_timepoint_responses(records)
    shuffled = confirm_timepoint_responses(records.sample(fraction=1.0, shuffle=True, seed=7))
    assert forward.equals(shuffled)


def test_a_confirmation_more_than_84_days_later_is_flagged_like_the_vignette_warning() -> None:
    records = pl.DataFrame(
        {
            "patient_id": ["a", "a", "a"],
            "date": [dt.date(2024, 1, 1), dt.date(2024, 3, 26), dt.date(2024, 6, 18)],
            "response": ["PR", "PR", "PR"],
        }
    )
    confirmed = confirm_timepoint_responses(records)
    # 2024-01-01 → 2024-03-26 is 85 days (late); 2024-03-26 → 2024-06-18 is 84 days
    assert confirmed["confirmation_late"].to_list() == [True, False, False]


def test_wrong_column_names_are_reported_with_the_mapping() -> None:
    with pytest.raises(SchemaError, match="USUBJID -> patient_id"):
        confirm_timepoint_responses(_read("covr.csv"))
