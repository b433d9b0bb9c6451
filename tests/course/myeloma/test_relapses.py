"""Relapse numbering (spec §2.7, K1–K4)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from course_frames import d, findings, patients, progression, treatments

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.lines import derive_lines
from relapsewatch.course.myeloma.relapses import (
    RELAPSE_RULES,
    RELAPSES,
    derive_relapses,
    progression_events,
    relapse_label,
    relapse_number_at,
)

DEFAULT = MyelomaCourseConfig()
# Ex-7: four lines; PD 2023-10-02 (line 1), 2024-08-12 (line 2), 2025-03-03 (line 3).
EX7 = [
    ("VRd", "2022-11-07", "2023-06-20"),
    ("Kd", "2024-01-02", "2024-06-18"),
    ("DPd", "2024-08-26", "2025-03-10"),
    ("teclistamab", "2025-03-17", None),
]
EX7_PD = [
    ("2023-10-02", "2023-11-06", 1),
    ("2024-08-12", "2024-08-23", 2),
    ("2025-03-03", "2025-03-10", 3),
]


def pd_frame(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "patient_id": "p1",
                "line": line,
                "date": d(a),
                "confirmed_date": d(b),
                "criterion": f"serum M-protein rose ({a})",
                "rule": "P1",
            }
            for a, b, line in rows
        ],
        schema={
            "patient_id": pl.String,
            "line": pl.Int32,
            "date": pl.Date,
            "confirmed_date": pl.Date,
            "criterion": pl.String,
            "rule": pl.String,
        },
    )


def first_response(date: str | None) -> pl.DataFrame:
    return pl.DataFrame(
        {"patient_id": ["p1"], "first_response_date": [None if date is None else d(date)]},
        schema={"patient_id": pl.String, "first_response_date": pl.Date},
    )


def run(rows, pds, found=(), config=DEFAULT, responded: str | None = "2022-12-01"):
    lines = derive_lines(
        treatments(rows), patients("p1"), progression([("p1", a) for a, _, _ in pds]), config=config
    ).lines
    events = progression_events(pd_frame(pds), findings(found), lines, config=config)
    return lines, events, derive_relapses(events, first_response(responded))


def test_rules_are_listed():
    assert [r.code for r in RELAPSE_RULES] == ["K1", "K2", "K3", "K4"]


def test_relapses_are_numbered_one_per_line_interval():
    lines, _, relapses = run(EX7, EX7_PD)
    assert relapses.columns == list(RELAPSES)
    assert relapses.select("relapse_number", "date", "line").rows() == [
        (1, d("2023-10-02"), 1),
        (2, d("2024-08-12"), 2),
        (3, d("2025-03-03"), 3),
    ]
    assert relapses["confirmed_date"].to_list() == [
        d("2023-11-06"),
        d("2024-08-23"),
        d("2025-03-10"),
    ]
    assert relapses["kind"].unique().to_list() == ["progression"]
    numbers = relapse_number_at(relapses, lines, on="start_date").to_list()
    assert numbers == [0, 1, 2, 3]  # relapse number at each line start (K4)


def test_only_the_first_event_in_a_line_interval_counts():
    pds = [("2024-05-01", "2024-06-03", 1), ("2024-09-01", "2024-10-01", 1)]
    _, events, relapses = run([("Rd", "2024-01-05", None)], pds)
    assert events.height == 2
    assert relapses.select("relapse_number", "date").rows() == [(1, d("2024-05-01"))]


def test_adjudicated_clinical_relapse_counts_and_says_who_recorded_it():
    found = [("2024-06-01", "clinical_relapse", "new rib lesion on CT")]
    _, _, relapses = run([("Rd", "2024-01-05", None)], [], found)
    assert relapses.select("relapse_number", "kind", "line").rows() == [(1, "clinical", 1)]
    assert relapses["criterion"].item() == (
        "clinical relapse recorded by the care team on 2024-06-01: new rib lesion on CT"
    )


def test_clinical_relapse_can_be_left_out_of_numbering():
    found = [("2024-06-01", "clinical_relapse", None)]
    config = DEFAULT.replace(clinical_relapse_is_progression=False)
    _, _, relapses = run([("Rd", "2024-01-05", None)], [], found, config=config)
    assert relapses.is_empty()


def test_progression_and_clinical_relapse_in_one_line_count_once():
    found = [("2024-05-20", "clinical_relapse", None)]
    _, _, relapses = run([("Rd", "2024-01-05", None)], [("2024-05-01", "2024-06-03", 1)], found)
    assert relapses.select("kind", "date").rows() == [("progression", d("2024-05-01"))]


def test_other_findings_and_events_before_any_line_do_not_count():
    found = [("2023-06-01", "clinical_relapse", None), ("2024-02-01", "new_bone_lesion", None)]
    _, _, relapses = run([("Rd", "2024-01-05", None)], [], found)
    assert relapses.is_empty()


def test_criterion_names_the_confirming_result():
    _, _, relapses = run([("Rd", "2024-01-05", None)], [("2024-05-01", "2024-06-03", 1)])
    assert relapses["criterion"].item() == (
        "serum M-protein rose (2024-05-01); confirmed by the next result on 2024-06-03"
    )


@pytest.mark.parametrize(
    ("responded", "flag"), [(None, True), ("2024-03-01", False), ("2024-06-01", True)]
)
def test_first_event_before_any_response_is_flagged_primary_refractory(responded, flag):
    _, _, relapses = run(
        [("Rd", "2024-01-05", None)], [("2024-05-01", "2024-06-03", 1)], responded=responded
    )
    assert relapses["primary_refractory"].to_list() == [flag]


def test_labels_follow_the_count():
    got = pl.select(relapse_label(pl.Series([0, 1, 2, 3, 4]))).to_series().to_list()
    assert got == ["NDMM", "1st relapse", "2nd relapse", "3rd+ relapse", "3rd+ relapse"]


def test_relapse_number_as_of_a_date_counts_events_on_or_before_it():
    _, _, relapses = run(EX7, EX7_PD)
    points = pl.DataFrame(
        {
            "patient_id": ["p1"] * 4,
            "at": [d("2023-10-01"), d("2023-10-02"), d("2024-12-31"), d("2026-01-01")],
        }
    )
    assert relapse_number_at(relapses, points, on="at", strict=False).to_list() == [0, 1, 2, 3]
