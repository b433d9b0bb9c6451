"""Derived frames survive the trip to database rows exactly: columns, dtypes, values."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from relapsewatch.errors import SchemaError
from relapsewatch.store.frames import (
    decode_frame,
    dtype_from_json,
    dtype_to_json,
    encode_frame,
    frame_schema_json,
    stored_schema,
    typed_columns,
)
from relapsewatch.store.models import CourseRelapse, CourseStatus

DTYPES: list[pl.DataType] = [
    pl.Boolean(),
    pl.Int8(),
    pl.Int32(),
    pl.UInt64(),
    pl.Float32(),
    pl.Float64(),
    pl.String(),
    pl.Date(),
    pl.Time(),
    pl.Datetime("us", None),
    pl.Datetime("ms", "UTC"),
    pl.Duration("us"),
    pl.List(pl.String()),
    pl.List(pl.List(pl.Date())),
    pl.Enum(["PR", "CR"]),
    pl.Struct([pl.Field("value", pl.Float64()), pl.Field("when", pl.Date())]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_supported_dtype_round_trips(dtype: pl.DataType) -> None:
    assert dtype_from_json(dtype_to_json(dtype)) == dtype


def test_unknown_dtype_descriptions_are_refused() -> None:
    with pytest.raises(SchemaError, match="unknown dtype"):
        dtype_from_json(["Object"])
    with pytest.raises(SchemaError, match="unknown dtype"):
        dtype_from_json("__import__('os')")


def _round_trip(frame: pl.DataFrame, model: Any) -> pl.DataFrame:
    typed = typed_columns(model, frame.schema)
    encoded = encode_frame(frame, typed)
    rows = [{**r.typed, "details": r.details} for r in encoded]
    schema = stored_schema(frame_schema_json(frame))
    return decode_frame(schema, rows, frame["patient_id"][0], typed)


def test_documented_columns_are_typed_and_the_rest_kept_in_details() -> None:
    frame = pl.DataFrame(
        {
            "patient_id": ["p", "p"],
            "relapse_number": pl.Series([1, 2], dtype=pl.Int32),
            "date": [dt.date(2024, 1, 2), dt.date(2025, 3, 4)],
            "kind": ["progression", "clinical"],
            "primary_refractory": [True, None],
            "line": ["1", "2"],  # text where the table has an integer: kept in details
            "evidence": [["m 0.5 -> 1.0"], []],
            "ratio": [math.inf, float("nan")],
        }
    )
    typed = typed_columns(CourseRelapse, frame.schema)
    assert typed == ["relapse_number", "date", "kind", "primary_refractory"]
    back = _round_trip(frame, CourseRelapse)
    assert back.columns == frame.columns
    assert_frame_equal(back, frame)


values = {
    "flag": st.none() | st.booleans(),
    "count": st.none() | st.integers(-(2**31), 2**31 - 1),
    "amount": st.none() | st.floats(allow_nan=True, allow_infinity=True),
    "text": st.none() | st.text(max_size=8),
    "day": st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)),
    "tags": st.none() | st.lists(st.text(max_size=3), max_size=3),
}
SCHEMA = {
    "patient_id": pl.String(),
    "flag": pl.Boolean(),
    "count": pl.Int64(),
    "amount": pl.Float64(),
    "text": pl.String(),
    "day": pl.Date(),
    "tags": pl.List(pl.String()),
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries(values), min_size=0, max_size=6))
def test_any_frame_of_these_dtypes_round_trips_exactly(rows: list[dict[str, Any]]) -> None:
    frame = pl.DataFrame([{"patient_id": "p", **r} for r in rows], schema=SCHEMA)
    if frame.is_empty():
        frame = pl.DataFrame(schema=SCHEMA)
        schema = stored_schema(frame_schema_json(frame))
        assert_frame_equal(decode_frame(schema, [], "p", []), frame)
        return
    assert_frame_equal(_round_trip(frame, CourseStatus), frame)
