"""The status table: one row per patient as of a date (DESIGN.md; treatment-options vocabulary)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from course_frames import d, patients, progression, treatments

from relapsewatch.course.myeloma.exposure import (
    composite_conditions,
    derive_drug_exposure,
    exposure_conditions,
)
from relapsewatch.course.myeloma.lines import derive_lines
from relapsewatch.course.myeloma.status import (
    STATES,
    STATUS_CONDITIONS,
    asct_conditions,
    derive_status,
)

EVENTS = {"patient_id": pl.String, "date": pl.Date, "line": pl.Int32, "on_therapy": pl.Boolean}
RELAPSES = {"patient_id": pl.String, "relapse_number": pl.Int32, "date": pl.Date, "line": pl.Int32}


def status(
    rows,
    *,
    as_of: str,
    relapses=(),
    latest: str | None = None,
    events=(),
    states: dict[str, object] | None = None,
    ids=("p1",),
) -> dict[str, object]:
    t = treatments(rows)
    pts = patients(*ids)
    t = t.filter(pl.col("start_date") <= d(as_of))
    lines = derive_lines(t, pts, progression([("p1", x) for x, _ in relapses])).lines
    rel = pl.DataFrame(
        [
            {"patient_id": "p1", "relapse_number": i + 1, "date": d(x), "line": n}
            for i, (x, n) in enumerate(relapses)
        ],
        schema=RELAPSES,
    )
    ev = pl.DataFrame(
        [{"patient_id": "p1", "date": d(x), "line": n, "on_therapy": o} for x, n, o in events],
        schema=EVENTS,
    )
    latest_frame = pl.DataFrame(
        {"patient_id": ["p1"], "latest_response": [latest], "latest_response_date": [d(as_of)]}
    )
    atomic = exposure_conditions(derive_drug_exposure(t), t)
    conditions = pl.concat([atomic, composite_conditions(atomic)])
    state_frame = pl.DataFrame(
        [
            {
                "patient_id": "p1",
                "primary_refractory": False,
                "primary_refractory_type": None,
                "relapsed_and_refractory": False,
                "relapsed": False,
                **(states or {}),
            }
        ],
        schema_overrides={"primary_refractory_type": pl.String},
    )
    out = derive_status(pts, lines, rel, latest_frame, conditions, state_frame, ev, as_of=d(as_of))
    return out.filter(pl.col("patient_id") == ids[0]).row(0, named=True)


def test_columns_start_with_the_design_table():
    row = status([("Rd", "2024-01-05", None)], as_of="2024-02-01")
    assert list(row)[:10] == [
        "patient_id",
        "as_of",
        "lines_received",
        "current_line",
        "relapses",
        "state",
        "latest_response",
        "triple_class_exposed",
        "triple_class_refractory",
        "penta_refractory",
    ]


def test_every_records_condition_of_the_options_vocabulary_is_a_column():
    from relapsewatch.knowledge.conditions import CONDITIONS

    row = status([("Rd", "2024-01-05", None)], as_of="2024-02-01")
    from_records = {n for n, info in CONDITIONS.items() if info.known_from == "records"}
    assert from_records <= set(row)
    care_team = {n for n, info in CONDITIONS.items() if info.known_from == "care_team"}
    assert not care_team & set(row)  # not invented


def test_untreated_patient():
    row = status([], as_of="2024-02-01")
    assert (
        row["state"],
        row["lines_received"],
        row["current_line"],
        row["prior_lines"],
        row["relapse_label"],
    ) == ("untreated", 0, None, 0, "NDMM")
    assert row["no_prior_asct"] and not row["triple_class_exposed"]


def test_on_treatment_does_not_count_the_current_line_as_prior():
    row = status([("Rd", "2024-01-05", None)], as_of="2024-06-01", latest="PR")
    assert (row["state"], row["current_line"], row["lines_received"], row["prior_lines"]) == (
        "on_treatment",
        1,
        1,
        0,
    )
    assert row["as_of"] == dt.date(2024, 6, 1)


def test_progressing_until_a_new_line_starts():
    rows = [("Rd", "2024-01-05", None), ("DKd", "2024-06-10", None)]
    progressing = status(
        rows, as_of="2024-06-01", relapses=[("2024-05-01", 1)], events=[("2024-05-01", 1, True)]
    )
    assert (
        progressing["state"],
        progressing["prior_lines"],
        progressing["relapses"],
        progressing["relapse_label"],
        progressing["progressed_on_last_therapy"],
    ) == ("progressing", 1, 1, "1st relapse", True)
    treated = status(
        rows, as_of="2024-07-01", relapses=[("2024-05-01", 1)], events=[("2024-05-01", 1, True)]
    )
    assert (
        treated["state"],
        treated["current_line"],
        treated["prior_lines"],
        treated["progressed_on_last_therapy"],
    ) == ("on_treatment", 2, 1, False)


def test_off_treatment_in_remission_or_not():
    rows = [("VRd", "2024-01-05", "2024-06-30")]
    assert status(rows, as_of="2024-09-01", latest="VGPR")["state"] == "remission"
    assert status(rows, as_of="2024-09-01", latest="SD")["state"] == "off_treatment"


def test_conditions_are_true_only_from_their_date():
    rows = [("VRd", "2022-11-07", "2023-06-20"), ("DPd", "2024-08-26", None)]
    before = status(rows, as_of="2024-08-01")
    after = status(rows, as_of="2024-09-01")
    assert not before["triple_class_exposed"] and after["triple_class_exposed"]
    assert after["pomalidomide_exposed"] and after["imid_exposed"]
    assert not after["penta_exposed"]  # no carfilzomib


def test_patient_states_pass_through():
    row = status(
        [("Rd", "2024-01-05", None)],
        as_of="2024-06-01",
        states={"primary_refractory": True, "primary_refractory_type": "progressive"},
    )
    assert row["primary_refractory"] and row["primary_refractory_type"] == "progressive"


def test_one_row_per_patient_including_untreated_ones():
    t = treatments([("Rd", "2024-01-05", None)])
    pts = patients("p1", "p2")
    lines = derive_lines(t, pts).lines
    empty_conditions = pl.DataFrame(
        schema={"patient_id": pl.String, "condition": pl.String, "since": pl.Date}
    )
    states = pl.DataFrame(
        schema={
            "patient_id": pl.String,
            "primary_refractory": pl.Boolean,
            "primary_refractory_type": pl.String,
            "relapsed_and_refractory": pl.Boolean,
            "relapsed": pl.Boolean,
        }
    )
    latest = pl.DataFrame(
        schema={
            "patient_id": pl.String,
            "latest_response": pl.String,
            "latest_response_date": pl.Date,
        }
    )
    out = derive_status(
        pts,
        lines,
        pl.DataFrame(schema=RELAPSES),
        latest,
        empty_conditions,
        states,
        pl.DataFrame(schema=EVENTS),
        as_of=d("2024-06-01"),
    )
    assert out["patient_id"].to_list() == ["p1", "p2"]
    assert out["state"].to_list() == ["on_treatment", "untreated"]
    assert set(out["state"]) <= set(STATES)
    assert all(out[c].dtype == pl.Boolean for c in STATUS_CONDITIONS)


ASCT = [
    ("VRd", "2021-02-01", "2021-05-10"),
    ("melphalan", "2021-07-10", "2021-07-10"),
    ("autologous_transplant", "2021-07-11", "2021-07-11"),
    ("lenalidomide", "2021-10-16", None),
]


@pytest.mark.parametrize(
    ("pd", "as_of", "expected"),
    [
        (None, "2022-12-31", {"lenalidomide_maintenance_after_asct"}),
        (
            None,
            "2023-02-01",
            {"lenalidomide_maintenance_after_asct", "remission_after_prior_asct_ge_18m"},
        ),
        (
            "2024-09-01",
            "2025-01-01",
            {
                "lenalidomide_maintenance_after_asct",
                "remission_after_prior_asct_ge_18m",
                "remission_after_prior_asct_ge_36m",
            },
        ),
        ("2022-06-01", "2025-01-01", {"lenalidomide_maintenance_after_asct"}),
    ],
)
def test_asct_conditions(pd, as_of, expected):
    events = pl.DataFrame(
        {"patient_id": ["p1"] if pd else [], "date": [d(pd)] if pd else []},
        schema={"patient_id": pl.String, "date": pl.Date},
    )
    got = asct_conditions(treatments(ASCT), events, d(as_of))
    held = set(got.filter(pl.col("since") <= d(as_of))["condition"])
    assert held == expected
