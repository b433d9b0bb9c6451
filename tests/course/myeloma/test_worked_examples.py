"""Every worked example of spec §8, end to end: CSV fixtures -> reader -> derive_course.

The fixtures in ``tests/data/examples/worked`` hold the examples as a user would write them (urine
M-protein 0 mg/24 h unless stated; CR backed by negative immunofixation and marrow < 5 %). EX3MG is
Ex-3 with the free light chains reported in mg/dL; EX6B is Ex-6's day-49 counter-case.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from relapsewatch.course.myeloma import Course, derive_course, preset
from relapsewatch.io import CanonicalTables, read_tables

WORKED = Path(__file__).resolve().parents[2] / "data" / "examples" / "worked"


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture(scope="module")
def tables() -> CanonicalTables:
    return read_tables(WORKED)


@pytest.fixture(scope="module")
def course(tables: CanonicalTables) -> Course:
    return derive_course(tables)


def at(tables: CanonicalTables, as_of: str, **settings: object) -> Course:
    config = preset("imwg2016").replace(**settings)
    return derive_course(tables, config=config, as_of=d(as_of))


def rows(frame: pl.DataFrame, patient: str, *columns: str) -> list[tuple[object, ...]]:
    return frame.filter(pl.col("patient_id") == patient).select(columns).rows()


def responses(course: Course, patient: str) -> dict[str, str]:
    got = rows(course.responses, patient, "date", "response")
    return {day.isoformat(): response for day, response in got}


def refractory(course: Course, patient: str) -> dict[str, str]:
    return {
        drug: since.isoformat() for drug, since in rows(course.refractory, patient, "drug", "since")
    }


def condition(course: Course, patient: str, name: str) -> str | None:
    got = course.conditions.filter(
        (pl.col("patient_id") == patient) & (pl.col("condition") == name)
    )["since"]
    return got.item().isoformat() if got.len() else None


def status(course: Course, patient: str) -> dict[str, object]:
    return course.status.filter(pl.col("patient_id") == patient).row(0, named=True)


def test_design_tables_have_exactly_the_design_columns(course: Course) -> None:
    assert course.lines.columns == [
        "patient_id",
        "line",
        "start_date",
        "end_date",
        "regimen",
        "best_response",
        "progression_date",
        "refractory_to",
        "end_reason",
    ]
    assert course.relapses.columns == [
        "patient_id",
        "relapse_number",
        "date",
        "confirmed_date",
        "line",
        "kind",
        "criterion",
        "primary_refractory",
    ]
    assert course.responses.columns == [
        "patient_id",
        "date",
        "line",
        "response",
        "confirmed",
        "pathway",
        "flags",
    ]
    assert course.status.columns[:7] == [
        "patient_id",
        "as_of",
        "lines_received",
        "current_line",
        "relapses",
        "state",
        "latest_response",
    ]
    assert course.unconverged == ()


# --- Ex-1: nadir >= 5 g/dL -----------------------------------------------------------------------


def test_ex1_nadir_of_5_or_more_needs_only_1_g_dl(course: Course, tables) -> None:
    assert responses(course, "EX1") == {
        "2024-02-01": "SD",
        "2024-03-01": "MR",
        "2024-04-01": "MR",
        "2024-05-01": "PD",
        "2024-06-03": "PD",
    }
    assert rows(
        course.line_detail,
        "EX1",
        "line",
        "start_date",
        "regimen",
        "best_response",
        "best_response_date",
        "relapse_number_at_line_start",
    ) == [
        (1, d("2024-01-05"), "dexamethasone+lenalidomide", "MR", d("2024-03-01"), 0),
        (2, d("2024-06-10"), "carfilzomib+daratumumab+dexamethasone", "NE", None, 1),
    ]
    assert rows(
        course.relapses, "EX1", "relapse_number", "date", "confirmed_date", "line", "kind"
    ) == [(1, d("2024-05-01"), d("2024-06-03"), 1, "progression")]
    assert "nadir 6 g/dL" in rows(course.relapses, "EX1", "criterion")[0][0]
    assert refractory(course, "EX1") == {"lenalidomide": "2024-05-01"}
    after_pd = status(at(tables, "2024-06-05"), "EX1")
    assert after_pd["relapsed_and_refractory"] and after_pd["state"] == "progressing"
    # Without the >= 5 g/dL rule the threshold would be 7.5 g/dL: no PD at all.
    without = at(tables, "2025-04-21", pd_serum_high_nadir_g_dl=100.0)
    assert rows(without.relapses, "EX1", "date") == []


# --- Ex-2: unconfirmed rise ----------------------------------------------------------------------


def test_ex2_unconfirmed_rise_is_not_progression(course: Course) -> None:
    assert responses(course, "EX2") == {
        "2024-02-12": "PR",
        "2024-03-11": "PR",
        "2024-04-08": "PR",
        "2024-05-06": "PR",
        "2024-06-03": "PD",
        "2024-07-01": "PR",
        "2024-07-29": "PR",
    }
    flagged = course.responses.filter(
        (pl.col("patient_id") == "EX2") & (pl.col("date") == d("2024-06-03"))
    )
    assert "pd_unconfirmed" in flagged["flags"].item()
    assert rows(course.lines, "EX2", "line", "best_response", "progression_date") == [
        (1, "PR", None)
    ]
    assert rows(course.line_summary, "EX2", "best_response_date") == [(d("2024-02-12"),)]
    assert rows(course.relapses, "EX2", "date") == []
    assert status(course, "EX2")["relapses"] == 0


# --- Ex-3: FLC-only disease, and the same data in mg/dL -------------------------------------------


def test_ex3_flc_only_progression_and_refractoriness(course: Course) -> None:
    assert rows(
        course.line_summary, "EX3", "pathway", "best_response", "best_response_date", "nadir"
    ) == [("flc_only", "CR", d("2024-07-01"), "dFLC 2 mg/L")]
    assert responses(course, "EX3") == {
        "2024-04-01": "PR",
        "2024-05-01": "VGPR",
        "2024-06-03": "VGPR",
        "2024-07-01": "CR",
        "2024-08-05": "CR",
        "2024-09-02": "VGPR",
        "2024-10-07": "VGPR",
        "2024-11-04": "VGPR",
        "2024-12-02": "VGPR",
        "2025-01-06": "PD",
        "2025-02-03": "PD",
    }
    assert rows(course.lines, "EX3", "line", "regimen") == [
        (1, "bortezomib+daratumumab+dexamethasone+lenalidomide")
    ]  # maintenance stays line 1
    assert rows(course.relapses, "EX3", "relapse_number", "date", "confirmed_date") == [
        (1, d("2025-01-06"), d("2025-02-03"))
    ]
    assert refractory(course, "EX3") == {"daratumumab": "2025-01-06", "lenalidomide": "2025-01-06"}
    events = rows(course.progression_events, "EX3", "days_after_therapy")
    assert events == [(0,)]
    # Bortezomib: last dose 2024-10-25, PD 73 days later -> exposed only.
    assert condition(course, "EX3", "bortezomib_exposed") == "2024-03-01"
    assert condition(course, "EX3", "bortezomib_refractory") is None
    assert condition(course, "EX3", "triple_class_exposed") == "2024-03-01"
    assert condition(course, "EX3", "triple_class_refractory") is None


def test_ex3_in_mg_dl_gives_identical_results(course: Course) -> None:
    for name, frame in course.tables().items():
        if name == "status":
            frame = frame.drop("as_of")
        mg_l = frame.filter(pl.col("patient_id") == "EX3")
        mg_dl = frame.filter(pl.col("patient_id") == "EX3MG").with_columns(patient_id=pl.lit("EX3"))
        assert mg_l.height > 0 and mg_l.equals(mg_dl), name


# --- Ex-4: relapse from CR by immunofixation ------------------------------------------------------


def test_ex4_relapse_from_cr_is_not_counted_but_pd_is(course: Course) -> None:
    assert rows(course.lines, "EX4", "line", "best_response") == [(1, "CR")]
    assert rows(course.line_summary, "EX4", "best_response_date") == [(d("2023-05-08"),)]
    assert rows(course.relapse_from_cr, "EX4", "date", "confirmed_date") == [
        (d("2023-11-06"), d("2023-12-04"))
    ]
    assert responses(course, "EX4")["2023-11-06"] == "VGPR"
    assert responses(course, "EX4")["2023-12-04"] == "VGPR"
    assert rows(course.relapses, "EX4", "relapse_number", "date", "confirmed_date") == [
        (1, d("2024-03-04"), d("2024-04-01"))
    ]
    assert refractory(course, "EX4") == {"lenalidomide": "2024-03-04"}
    # Carfilzomib: last dose 2023-08-20 -> 197 days before PD.
    assert condition(course, "EX4", "carfilzomib_refractory") is None


# --- Ex-5: ASCT workflow is one line --------------------------------------------------------------


def test_ex5_transplant_workflow_is_one_line(course: Course) -> None:
    detail = rows(
        course.line_detail, "EX5", "line", "start_date", "induction", "procedures", "regimen"
    )
    assert detail[0][:4] == (
        1,
        d("2023-02-01"),
        ["bortezomib", "dexamethasone", "lenalidomide"],
        ["apheresis", "autologous_transplant"],
    )
    assert detail[1][:2] == (2, d("2025-04-21"))
    assert detail[1][4] == "daratumumab+dexamethasone+pomalidomide"
    assert rows(course.lines, "EX5", "best_response", "progression_date") == [
        ("VGPR", d("2025-04-07")),
        ("NE", None),
    ]
    assert rows(course.line_summary, "EX5", "best_response_date", "nadir")[0] == (
        d("2024-01-08"),
        "serum M-protein 0.3 g/dL",
    )
    assert rows(course.relapses, "EX5", "relapse_number", "date", "confirmed_date") == [
        (1, d("2025-04-07"), d("2025-04-14"))
    ]
    assert refractory(course, "EX5") == {"lenalidomide": "2025-04-07"}
    assert condition(course, "EX5", "triple_class_exposed") == "2025-04-21"
    assert condition(course, "EX5", "prior_asct") == "2023-07-11"
    assert condition(course, "EX5", "lenalidomide_maintenance_after_asct") == "2023-10-16"


@pytest.mark.parametrize("name", ["parity-28-180", "parity-28-90"])
def test_ex5_peer_without_transplant_logic_splits_line_one(tables, name: str) -> None:
    parity = derive_course(tables, config=preset(name))
    starts = [s for (s,) in rows(parity.lines, "EX5", "start_date")]
    assert starts == [
        d("2023-02-01"),
        d("2023-05-25"),
        d("2023-07-10"),
        d("2023-10-16"),
        d("2025-04-21"),
    ]
    # Consequence of the split: the maintenance line's own baseline (0.5 g/dL on 2023-10-02) is
    # not measurable (M2), so the 2025 rise can no longer be called progression.
    assert rows(parity.line_summary, "EX5", "line", "pathway")[3] == (4, "not_evaluable")
    assert rows(parity.relapses, "EX5", "date") == []


# --- Ex-6: drug added after 60 days ---------------------------------------------------------------


def test_ex6_added_drug_opens_line_two_without_a_relapse(course: Course, tables) -> None:
    assert rows(
        course.lines,
        "EX6",
        "line",
        "start_date",
        "end_date",
        "regimen",
        "best_response",
        "end_reason",
    ) == [
        (1, d("2024-01-08"), d("2024-03-24"), "dexamethasone+lenalidomide", "SD", "drug_added"),
        (2, d("2024-03-25"), None, "daratumumab+dexamethasone+lenalidomide", "MR", "ongoing"),
    ]
    assert responses(course, "EX6")["2024-02-05"] == "SD"
    assert responses(course, "EX6")["2024-03-04"] == "SD"
    assert rows(course.relapses, "EX6", "date") == []
    assert (status(course, "EX6")["current_line"], status(course, "EX6")["relapses"]) == (2, 0)
    assert rows(course.refractory, "EX6", "drug", "since", "clause") == [
        ("lenalidomide", d("2024-03-24"), "F2")
    ]
    early = status(at(tables, "2024-04-30"), "EX6")
    assert (early["primary_refractory"], early["primary_refractory_type"]) == (
        True,
        "non_progressive",
    )
    # Re-evaluated: D-Rd gives a confirmed MR (2024-05-20), so no longer primary refractory.
    assert not status(course, "EX6")["primary_refractory"]


def test_ex6_counter_case_day_49_is_one_line_but_a_28_day_peer_splits_it(course, tables) -> None:
    assert rows(course.lines, "EX6B", "line", "regimen") == [
        (1, "daratumumab+dexamethasone+lenalidomide")
    ]
    parity = derive_course(tables, config=preset("parity-28-180"))
    assert [s for (s,) in rows(parity.lines, "EX6B", "start_date")] == [
        d("2024-01-08"),
        d("2024-02-26"),
    ]


# --- Ex-7: 60-day rule, relapse numbering to 3+, triple-class refractory ------------------------


def test_ex7_lines_relapses_and_refractoriness(course: Course) -> None:
    assert rows(
        course.lines,
        "EX7",
        "line",
        "start_date",
        "regimen",
        "best_response",
        "progression_date",
        "refractory_to",
    ) == [
        (
            1,
            d("2022-11-07"),
            "bortezomib+dexamethasone+lenalidomide",
            "VGPR",
            d("2023-10-02"),
            None,
        ),
        (2, d("2024-01-02"), "carfilzomib+dexamethasone", "PR", d("2024-08-12"), "carfilzomib"),
        (
            3,
            d("2024-08-26"),
            "daratumumab+dexamethasone+pomalidomide",
            "MR",
            d("2025-03-03"),
            "daratumumab+pomalidomide",
        ),
        (4, d("2025-03-17"), "teclistamab", "NE", None, None),
    ]  # step-up doses: one line
    assert rows(course.line_summary, "EX7", "nadir")[:3] == [
        ("serum M-protein 0.2 g/dL",),
        ("serum M-protein 0.7 g/dL",),
        ("serum M-protein 1.1 g/dL",),
    ]
    assert rows(course.relapses, "EX7", "relapse_number", "date", "confirmed_date", "line") == [
        (1, d("2023-10-02"), d("2023-11-06"), 1),
        (2, d("2024-08-12"), d("2024-08-23"), 2),
        (3, d("2025-03-03"), d("2025-03-10"), 3),
    ]
    # PD #1 104 days after VRd; PD #2 55 days after carfilzomib; PD #3 on DPd.
    assert rows(course.progression_events, "EX7", "days_after_therapy", "on_therapy") == [
        (104, False),
        (55, True),
        (0, True),
    ]
    assert refractory(course, "EX7") == {
        "carfilzomib": "2024-08-12",
        "daratumumab": "2025-03-03",
        "pomalidomide": "2025-03-03",
    }
    assert condition(course, "EX7", "triple_class_exposed") == "2024-08-26"
    assert condition(course, "EX7", "penta_exposed") == "2024-08-26"
    assert condition(course, "EX7", "triple_class_refractory") == "2025-03-03"
    assert condition(course, "EX7", "penta_refractory") is None
    assert condition(course, "EX7", "prior_bcma") == "2025-03-17"
    now = status(course, "EX7")
    assert (
        now["relapses"],
        now["relapse_label"],
        now["triple_class_refractory"],
        now["penta_refractory"],
        now["prior_bcma"],
    ) == (3, "3rd+ relapse", True, False, True)


def test_ex7_relapsed_and_refractory_after_pd_two(tables) -> None:
    before = status(at(tables, "2024-08-10"), "EX7")
    pending = status(at(tables, "2024-08-20"), "EX7")  # the confirming result is 2024-08-23
    after = status(at(tables, "2024-08-24"), "EX7")
    assert (before["relapse_label"], before["relapsed"]) == ("1st relapse", True)
    assert pending["relapse_label"] == "1st relapse"
    assert (after["relapse_label"], after["relapsed_and_refractory"], after["state"]) == (
        "2nd relapse",
        True,
        "progressing",
    )


def test_ex7_progression_62_days_after_the_last_dose_is_not_refractory(tables) -> None:
    moved = tables.measurements.with_columns(
        date=pl.when((pl.col("patient_id") == "EX7") & (pl.col("date") == d("2024-08-12")))
        .then(pl.lit(d("2024-08-19")))
        .otherwise(pl.col("date"))
    )
    counterfactual = derive_course({**tables.as_dict(), "measurements": moved})
    assert rows(counterfactual.relapses, "EX7", "date")[1] == (d("2024-08-19"),)
    assert "carfilzomib" not in refractory(counterfactual, "EX7")


# --- Ex-8: gap in therapy -----------------------------------------------------------------------


def test_ex8a_long_gap_without_pd_is_a_new_line_without_a_relapse(course: Course) -> None:
    assert rows(
        course.line_detail, "EX8A", "line", "start_date", "end_date", "regimen", "opened_by"
    ) == [
        (
            1,
            d("2022-03-01"),
            d("2023-02-28"),
            "daratumumab+dexamethasone+lenalidomide",
            "first_line",
        ),
        (2, d("2023-08-15"), None, "daratumumab+dexamethasone+lenalidomide", "treatment_gap"),
    ]
    assert rows(course.line_summary, "EX8A", "best_response", "best_response_date", "nadir")[0] == (
        "VGPR",
        d("2022-12-05"),
        "serum M-protein 0.3 g/dL",
    )
    assert responses(course, "EX8A")["2023-07-10"] == "PR"
    assert rows(course.relapses, "EX8A", "date") == []
    assert status(course, "EX8A")["relapses"] == 0


def test_ex8b_pd_in_a_short_gap_makes_the_restart_a_new_line(course: Course) -> None:
    assert rows(course.line_detail, "EX8B", "line", "start_date", "opened_by") == [
        (1, d("2022-03-01"), "first_line"),
        (2, d("2023-05-15"), "progression_in_gap"),
    ]
    assert rows(course.relapses, "EX8B", "relapse_number", "date", "confirmed_date", "line") == [
        (1, d("2023-05-08"), d("2023-05-12"), 1)
    ]
    # 69 days after the last dose: relapsed, not refractory.
    assert rows(course.progression_events, "EX8B", "days_after_therapy") == [(69,)]
    assert refractory(course, "EX8B") == {}
    assert status(course, "EX8B")["relapsed"]
    assert not status(course, "EX8B")["relapsed_and_refractory"]


def test_public_api_is_deliberate() -> None:
    import relapsewatch.course.myeloma as package

    assert sorted(package.__all__) == sorted(
        [
            "EXPOSURE_RULES",
            "LINE_RULES",
            "PRESETS",
            "REFRACTORY_RULES",
            "RELAPSE_RULES",
            "Course",
            "Criteria",
            "Lines",
            "MyelomaCourseConfig",
            "Refractoriness",
            "ResponseResult",
            "criteria",
            "derive_course",
            "derive_drug_exposure",
            "derive_lines",
            "derive_refractoriness",
            "derive_relapses",
            "derive_responses",
            "derive_status",
            "patient_states",
            "preset",
            "progression_events",
        ]
    )
    assert all(hasattr(package, name) for name in package.__all__)
