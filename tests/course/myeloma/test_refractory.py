"""Drug refractoriness and patient-level states (spec §2.2, §2.6, F1–F4)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from course_frames import d, findings, patients, progression, treatments

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.lines import derive_lines
from relapsewatch.course.myeloma.refractory import (
    REFRACTORY_RULES,
    derive_refractoriness,
    first_response_dates,
    nonresponsive_lines,
    patient_states,
    refractory_conditions,
)
from relapsewatch.course.myeloma.relapses import progression_events

DEFAULT = MyelomaCourseConfig()
SUMMARY = {
    "patient_id": pl.String,
    "line": pl.Int32,
    "best_response": pl.String,
    "reached_mr": pl.Boolean,
    "evaluable_assessments": pl.Int64,
    "first_response_date": pl.Date,
}


def summary(rows: list[tuple[int, str, int, str | None]]) -> pl.DataFrame:
    """Rows ``(line, best_response, evaluable_assessments, first_response_date)``."""
    data = [
        {
            "patient_id": "p1",
            "line": line,
            "best_response": best,
            "reached_mr": best in ("sCR", "CR", "VGPR", "PR", "MR"),
            "evaluable_assessments": n,
            "first_response_date": None if f is None else d(f),
        }
        for line, best, n, f in rows
    ]
    return pl.DataFrame(data, schema=SUMMARY)


def run(rows, pd: list[str], line_summary: pl.DataFrame | None = None, config=DEFAULT):
    t = treatments(rows)
    pts = patients("p1")
    lines = derive_lines(t, pts, progression([("p1", x) for x in pd]), config=config)
    starts = lines.lines.select("patient_id", "line", "start_date").sort("start_date")
    pd_frame = (
        pl.DataFrame(
            {"patient_id": ["p1"] * len(pd), "date": [d(x) for x in pd]},
            schema={"patient_id": pl.String, "date": pl.Date},
        )
        .sort("date")
        .join_asof(
            starts, left_on="date", right_on="start_date", by="patient_id", check_sortedness=False
        )
        .drop("start_date")
        .with_columns(confirmed_date=pl.col("date"), criterion=pl.lit("serum"), rule=pl.lit("P1"))
    )
    events = progression_events(pd_frame, findings([]), lines.lines, config=config)
    line_summary = line_summary if line_summary is not None else summary([])
    nonresponsive = nonresponsive_lines(lines.lines, line_summary, lines.line_drugs, config=config)
    return derive_refractoriness(t, events, nonresponsive, lines.line_drugs, config=config)


def refractory_since(result) -> dict[str, str]:
    return {r["drug"]: r["since"].isoformat() for r in result.refractory.iter_rows(named=True)}


def test_rules_are_listed_with_sources():
    assert [r.code for r in REFRACTORY_RULES] == ["F1", "F2", "F3", "F4"]
    assert all("Rajkumar" in r.source for r in REFRACTORY_RULES)


# --- F1: progression on or within 60 days of the last dose -------------------------------------


@pytest.mark.parametrize(
    ("last_dose", "pd", "days", "refractory"),
    [
        ("2024-06-18", "2024-08-12", 55, True),  # Ex-7 PD #2: carfilzomib
        ("2024-06-18", "2024-08-19", 62, False),  # Ex-7 counterfactual
        ("2024-10-25", "2025-01-06", 73, False),  # Ex-3: bortezomib
        ("2023-06-20", "2023-10-02", 104, False),  # Ex-7 PD #1: bortezomib
        ("2023-08-20", "2024-03-04", 197, False),  # Ex-4: carfilzomib
        ("2024-06-18", "2024-08-17", 60, True),  # boundary: <= 60 days
    ],
)
def test_progression_within_60_days_of_the_last_dose_is_refractory(last_dose, pd, days, refractory):
    result = run(
        [("carfilzomib", "2024-01-02" if last_dose > "2024" else "2023-01-02", last_dose)], [pd]
    )
    pair = result.events.select("days_after_therapy").item()
    assert pair == days
    assert ("carfilzomib" in refractory_since(result)) is refractory


def test_progression_on_maintenance_makes_the_drug_refractory_but_not_earlier_drugs():
    # Ex-4: KRd, carfilzomib stopped 2023-08-20, lenalidomide maintenance ongoing at PD.
    result = run(
        [("KRd", "2023-01-09", "2023-08-20"), ("lenalidomide", "2023-09-01", None)], ["2024-03-04"]
    )
    assert refractory_since(result) == {"lenalidomide": "2024-03-04"}
    evidence = result.refractory.filter(pl.col("drug") == "lenalidomide")["evidence"].item()
    assert evidence == "progression on 2024-03-04 while on lenalidomide (taken since 2023-01-09)"


def test_restart_after_progression_does_not_count_as_being_on_the_drug():
    # Ex-8 case B: last dose 2023-02-28, PD 2023-05-08 (69 days), restarted 2023-05-15.
    result = run(
        [
            ("DRd", "2022-03-01", "2022-08-31"),
            ("DRd", "2022-10-20", "2023-02-28"),
            ("DRd", "2023-05-15", None),
        ],
        ["2023-05-08"],
    )
    assert refractory_since(result) == {}
    assert result.events["on_therapy"].to_list() == [False]


def test_evidence_names_the_dates_and_the_window():
    result = run([("Kd", "2024-01-02", "2024-06-18")], ["2024-08-12"])
    assert result.refractory["evidence"].to_list() == [
        "progression on 2024-08-12, 55 days after the last carfilzomib dose on 2024-06-18 "
        "(within 60 days)"
    ]


def test_steroids_are_never_reported_refractory():
    result = run([("Rd", "2024-01-05", None)], ["2024-05-01"])
    assert set(refractory_since(result)) == {"lenalidomide"}


def test_once_refractory_always_refractory_from_the_earliest_episode():
    # F3: lenalidomide refractory in line 1, progression on it again later.
    result = run(
        [
            ("Rd", "2022-01-01", "2022-12-31"),
            ("Kd", "2023-01-10", "2023-06-30"),
            ("lenalidomide", "2023-07-10", None),
        ],
        ["2022-12-01", "2024-01-01"],
    )
    assert refractory_since(result)["lenalidomide"] == "2022-12-01"
    assert result.episodes.filter(pl.col("drug") == "lenalidomide").height == 2


# --- F2: non-response ---------------------------------------------------------------------------

EX6 = [("Rd", "2024-01-08", None), ("daratumumab", "2024-03-25", "2024-03-25")]


def test_no_response_after_56_days_is_refractory_at_the_last_dose_in_the_line():
    # Ex-6: line 1 Rd, best SD after 77 days; lenalidomide refractory by non-response.
    result = run(EX6, [], summary([(1, "SD", 2, None), (2, "SD", 0, None)]))
    assert refractory_since(result) == {"lenalidomide": "2024-03-24"}
    assert result.refractory["clause"].to_list() == ["F2"]
    assert result.refractory["evidence"].item() == (
        "no response to lenalidomide in line 1: best response SD after 77 days on it "
        "(2 evaluable assessments)"
    )


@pytest.mark.parametrize(
    ("line_summary", "config"),
    [
        (summary([(1, "MR", 2, "2024-03-01")]), DEFAULT),  # reached MR
        (summary([(1, "SD", 1, None)]), DEFAULT),  # one evaluable assessment
        (summary([(1, "SD", 2, None)]), DEFAULT.replace(nonresponse_min_days=90)),
        (summary([(1, "SD", 2, None)]), DEFAULT.replace(refractory_include_nonresponse=False)),
        (summary([(1, "NE", 2, None)]), DEFAULT),  # not evaluable is not SD
    ],
)
def test_non_response_needs_a_finished_line_below_mr_long_enough(line_summary, config):
    assert refractory_since(run(EX6, [], line_summary, config)) == {}


def test_a_line_still_running_is_not_judged_non_responsive():
    result = run([("Rd", "2024-01-08", None)], [], summary([(1, "SD", 3, None)]))
    assert refractory_since(result) == {}


# --- conditions --------------------------------------------------------------------------------


def test_class_conditions_come_from_the_earliest_refractory_drug():
    result = run(
        [("Kd", "2024-01-02", "2024-06-18"), ("DPd", "2024-08-26", None)],
        ["2024-08-12", "2025-03-03"],
    )
    got = {
        r["condition"]: r["since"].isoformat()
        for r in refractory_conditions(result.refractory).iter_rows(named=True)
    }
    assert got == {
        "carfilzomib_refractory": "2024-08-12",
        "pi_refractory": "2024-08-12",
        "daratumumab_refractory": "2025-03-03",
        "anti_cd38_refractory": "2025-03-03",
        "pomalidomide_refractory": "2025-03-03",
        "imid_refractory": "2025-03-03",
    }


# --- F4: patient level -------------------------------------------------------------------------


def states_at(
    at: str,
    events: list[tuple[str, bool]],
    nonresponsive: list[tuple[int, str]],
    first_response: str | None,
) -> dict[str, object]:
    pts = pl.DataFrame({"patient_id": ["p1"], "at": [d(at)]})
    ev = pl.DataFrame(
        {
            "patient_id": ["p1"] * len(events),
            "date": [d(x) for x, _ in events],
            "on_therapy": [o for _, o in events],
        },
        schema={"patient_id": pl.String, "date": pl.Date, "on_therapy": pl.Boolean},
    )
    nr = pl.DataFrame(
        {
            "patient_id": ["p1"] * len(nonresponsive),
            "line": [n for n, _ in nonresponsive],
            "known_date": [d(x) for _, x in nonresponsive],
        },
        schema={"patient_id": pl.String, "line": pl.Int32, "known_date": pl.Date},
    )
    fr = summary([] if first_response is None else [(1, "MR", 2, first_response)])
    return patient_states(pts, ev, nr, first_response_dates(fr)).row(0, named=True)


def test_response_then_progression_on_therapy_is_relapsed_and_refractory():
    # Ex-1: MR from 2024-03-01, PD on Rd 2024-05-01.
    s = states_at("2024-06-10", [("2024-05-01", True)], [], "2024-03-01")
    assert s["refractory_state"] == "relapsed_and_refractory"
    assert not s["primary_refractory"] and not s["relapsed"]


def test_progression_off_therapy_after_a_response_is_relapsed():
    # Ex-8 case B: VGPR, PD 69 days after the last dose.
    s = states_at("2023-06-01", [("2023-05-08", False)], [], "2022-12-05")
    assert s["refractory_state"] == "relapsed" and s["relapsed"]


def test_never_responding_with_progression_is_primary_refractory_progressive():
    s = states_at("2024-06-01", [("2024-05-01", True)], [], None)
    assert (s["primary_refractory"], s["primary_refractory_type"]) == (True, "progressive")


def test_primary_refractory_by_non_response_ends_once_a_response_comes():
    # Ex-6: non-responsive line 1 known 2024-03-25; D-Rd then gives MR on 2024-06-03.
    before = states_at("2024-03-25", [], [(1, "2024-03-25")], "2024-06-03")
    after = states_at("2024-07-01", [], [(1, "2024-03-25")], "2024-06-03")
    assert (before["primary_refractory"], before["primary_refractory_type"]) == (
        True,
        "non_progressive",
    )
    assert not after["primary_refractory"] and after["refractory_state"] == "none"


def test_non_responsive_later_line_after_a_response_is_relapsed_and_refractory():
    s = states_at("2025-01-01", [("2024-01-01", False)], [(2, "2024-09-01")], "2023-03-01")
    assert s["relapsed_and_refractory"]


def test_no_events_means_no_state():
    s = states_at("2025-01-01", [], [], "2023-03-01")
    assert s["refractory_state"] == "none"


def test_states_only_look_at_the_past():
    s = states_at("2024-04-30", [("2024-05-01", True)], [], None)
    assert s["refractory_state"] == "none"


def test_first_response_ignores_lines_without_mr():
    fr = first_response_dates(
        summary([(1, "SD", 3, None), (2, "PR", 3, "2024-02-01"), (3, "VGPR", 3, "2025-01-01")])
    )
    assert fr.rows() == [("p1", d("2024-02-01"))]
