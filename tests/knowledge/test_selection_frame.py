"""The whole-cohort selection agrees with the one-person selection; unknowns behave as unknowns."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relapsewatch.errors import SchemaError
from relapsewatch.knowledge.conditions import CARE_TEAM_CONDITIONS, CONDITIONS
from relapsewatch.knowledge.regimens import REGIONS, Region, load_regimens
from relapsewatch.knowledge.selection import options_for
from relapsewatch.knowledge.selection_frame import OPTIONS_FRAME, options_frame

RECORD_CONDITIONS = sorted(set(CONDITIONS) - CARE_TEAM_CONDITIONS)
MISSING = object()


@st.composite
def status_rows(draw: st.DrawFn) -> dict[str, object]:
    row: dict[str, object] = {"prior_lines": draw(st.integers(0, 6))}
    for name in RECORD_CONDITIONS:
        value = draw(st.sampled_from([True, False, None, MISSING]))
        if value is not MISSING:
            row[name] = value
    return row


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    columns: dict[str, pl.Series] = {
        "patient_id": pl.Series([f"p{i}" for i in range(len(rows))]),
        "prior_lines": pl.Series([r["prior_lines"] for r in rows], dtype=pl.Int64),
    }
    for name in RECORD_CONDITIONS:
        if any(name in r for r in rows):
            columns[name] = pl.Series([r.get(name) for r in rows], dtype=pl.Boolean)
    return pl.DataFrame(columns)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(status_rows(), min_size=1, max_size=4), region=st.sampled_from(REGIONS))
def test_frame_form_matches_the_one_person_form(
    rows: list[dict[str, object]], region: Region
) -> None:
    frame = options_frame(_frame(rows), region=region)
    for i, row in enumerate(rows):
        # A column present in the frame but absent for this row is null: unknown either way.
        expected = [
            (v.regimen_id, v.outcome, list(v.depends_on))
            for v in sorted(options_for(row, region=region), key=lambda v: _order(v.regimen_id))
        ]
        got = (
            frame.filter(pl.col("patient_id") == f"p{i}")
            .select("regimen_id", "outcome", "depends_on")
            .rows()
        )
        assert [(r, o, list(d)) for r, o, d in got] == expected


def _order(regimen_id: str) -> int:
    return [r.id for r in load_regimens().regimens].index(regimen_id)


@settings(max_examples=40, deadline=None)
@given(row=status_rows(), fill=st.data(), region=st.sampled_from(REGIONS))
def test_learning_an_unknown_fact_never_changes_a_settled_outcome(
    row: dict[str, object], fill: st.DataObject, region: Region
) -> None:
    before = {v.regimen_id: v.outcome for v in options_for(row, region=region)}
    known = dict(row)
    for name in RECORD_CONDITIONS:
        if known.get(name) is None:
            known[name] = fill.draw(st.booleans())
    after = {v.regimen_id: v.outcome for v in options_for(known, region=region)}
    assert before.keys() == after.keys()
    for rid, outcome in before.items():
        if outcome != "depends":
            assert after[rid] == outcome, rid


def test_frame_has_the_documented_columns_even_when_nothing_applies() -> None:
    out = options_frame(pl.DataFrame({"patient_id": ["a"], "prior_lines": [0]}), region="eu")
    assert dict(out.schema) == OPTIONS_FRAME
    assert out.height == 0


def test_frame_form_needs_patient_id_and_prior_lines() -> None:
    with pytest.raises(SchemaError, match="prior_lines"):
        options_frame(pl.DataFrame({"patient_id": ["a"]}), region="eu")


def test_frame_form_ignores_care_team_conditions_in_the_status() -> None:
    status = pl.DataFrame({"patient_id": ["a"], "prior_lines": [1], "t_11_14": [True]})
    out = options_frame(status, region="england").filter(
        pl.col("regimen_id") == "venetoclax_t11_14"
    )
    assert out.select("outcome", "depends_on").rows() == [("depends", ["t_11_14"])]
