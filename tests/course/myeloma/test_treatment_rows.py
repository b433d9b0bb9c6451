"""sort_by_codes: the order of ``frame.sort`` through one packed integer per row."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from relapsewatch.course.myeloma.treatment_rows import sort_by_codes

_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["p10", "p2", "P1", "p1", "a", " p3"]),
        st.integers(min_value=-3, max_value=40),
        st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)),
    ),
    max_size=40,
    unique=True,  # the keys identify the rows, as the engine's callers' keys do
)


def _frame(rows: list[tuple[str, int, dt.date]], text: pl.DataType) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=["patient_id", "line", "date"], orient="row")
    return frame.with_columns(pl.col("patient_id").cast(text))


@given(_ROWS)
def test_text_keys_sort_as_frame_sort(rows: list[tuple[str, int, dt.date]]) -> None:
    frame = _frame(rows, pl.String())
    assert sort_by_codes(frame, "patient_id", "line", "date").equals(
        frame.sort("patient_id", "line", "date")
    )


@given(_ROWS)
def test_categorical_keys_sort_by_their_text_not_their_codes(
    rows: list[tuple[str, int, dt.date]],
) -> None:
    # a categorical's codes follow the order the values arrived in; sorting goes by the text
    frame = _frame(rows, pl.Categorical())
    expected = frame.sort("patient_id", "line", "date")
    assert sort_by_codes(frame, "patient_id", "line", "date").equals(expected)


@given(_ROWS)
def test_enumeration_keys_sort_by_their_declared_order(
    rows: list[tuple[str, int, dt.date]],
) -> None:
    frame = _frame(rows, pl.Enum(["p2", "p10", "a", "P1", "p1", " p3"]))
    assert sort_by_codes(frame, "date", "patient_id").equals(frame.sort("date", "patient_id"))
