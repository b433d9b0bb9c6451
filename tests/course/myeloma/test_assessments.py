"""Assessments (A-28, A-29, U7), line baselines (M1), measurability and pathway (M2–M6)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import Case, Row, d, flags_on, lines, measurements, responses_of, spep_visits

from relapsewatch.course.myeloma.assessments import PatientIndex, daily_results
from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.errors import SchemaError

BASELINE: list[Row] = [*spep_visits([("2024-01-01", 3.0)])]


def _dates(case: Case) -> list[str]:
    return [when for when, _, _ in responses_of(case.run())]


def test_results_within_7_days_join_the_serum_m_protein_date() -> None:
    rows = [
        *BASELINE,
        ("2024-03-01", "serum_m_protein", 0.0),
        ("2024-02-28", "urine_m_protein", 0.0),
        ("2024-03-04", "serum_ife", "negative"),
        ("2024-03-08", "urine_ife", "negative"),
        ("2024-03-05", "bm_plasma_cells", 2.0),
    ]
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    assert responses_of(result) == [("2024-03-01", "CR", False)]
    assert "results_combined_within_tolerance" in flags_on(result, "2024-03-01")


def test_a_result_8_days_away_is_not_joined() -> None:
    rows = [
        *BASELINE,
        ("2024-03-01", "serum_m_protein", 0.0),
        ("2024-03-01", "urine_m_protein", 0.0),
        ("2024-03-09", "serum_ife", "negative"),
        ("2024-03-01", "urine_ife", "negative"),
        ("2024-03-01", "bm_plasma_cells", 2.0),
    ]
    # the lone immunofixation 8 days later supports nothing: no CR
    assert responses_of(Case(measurements(rows), lines(["2024-01-05"])).run()) == [
        ("2024-03-01", "VGPR", False)
    ]


def test_two_serum_m_protein_dates_are_always_two_assessments() -> None:
    visits = [("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-02-05", 1.0)]
    case = Case(measurements(spep_visits(visits)), lines(["2024-01-05"]))
    assert _dates(case) == ["2024-02-01", "2024-02-05"]


def test_a_result_between_two_anchors_joins_the_nearer_and_the_later_on_a_tie() -> None:
    rows = [
        *BASELINE,
        *spep_visits([("2024-03-01", 1.0), ("2024-03-09", 1.0)], urine=None),
        ("2024-03-03", "urine_m_protein", 50.0),
        ("2024-03-05", "urine_m_protein", 60.0),
    ]
    evaluated = Case(measurements(rows), lines(["2024-01-05"])).evaluate()
    urine = dict(evaluated.with_patient_ids().select("date", "u").iter_rows())
    assert urine == {d("2024-03-01"): 50_000_000, d("2024-03-09"): 60_000_000}


def test_free_light_chains_anchor_an_assessment_when_no_serum_m_protein_is_near() -> None:
    rows: list[Row] = []
    for when, kappa in [("2024-01-01", 1010.0), ("2024-02-01", 300.0), ("2024-03-01", 200.0)]:
        rows += [(when, "flc_kappa", kappa), (when, "flc_lambda", 10.0)]
    rows += [("2024-02-05", "serum_ife", "positive"), ("2024-03-01", "serum_m_protein", 0.0)]
    evaluated = Case(measurements(rows), lines(["2024-01-05"])).evaluate()
    frame = evaluated.with_patient_ids().filter(~pl.col("is_tail"))
    assert frame["date"].to_list() == [d("2024-02-01"), d("2024-03-01")]
    assert frame["sife_plain"].to_list() == [5, None]  # positive joined the FLC date


def test_lone_urine_and_marrow_results_are_assessments_of_their_own() -> None:
    rows = [
        *BASELINE,
        ("2024-03-01", "urine_m_protein", 0.0),
        ("2024-04-01", "serum_ife", "positive"),
    ]
    assert _dates(Case(measurements(rows), lines(["2024-01-05"]))) == ["2024-03-01"]


def test_same_day_duplicates_keep_the_worse_value_and_are_flagged() -> None:
    rows = [
        *BASELINE,
        *spep_visits([("2024-02-01", 1.0), ("2024-03-01", 1.0)]),
        ("2024-02-01", "serum_m_protein", 1.6),
    ]
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    # 1.6 from 3.0 is 46.7 %: MR, not the PR that 1.0 alone would give
    assert responses_of(result)[0] == ("2024-02-01", "MR", True)
    assert "duplicate_same_day" in flags_on(result, "2024-02-01")


def test_daily_results_store_unquantifiable_as_zero_with_a_flag() -> None:
    index = PatientIndex.of(pl.Series(["p1"]))
    m = index.encode(
        measurements(
            [
                ("2024-01-01", "serum_m_protein", "detected_nonquantifiable"),
                ("2024-01-02", "serum_m_protein", "negative"),
            ]
        )
    )
    daily = daily_results(m, ["serum_m_protein"])
    assert daily.select("value", "nonquantifiable").rows() == [(0, True), (0, False)]


def test_patient_index_gives_the_same_ids_for_sorted_and_unsorted_input() -> None:
    ids = pl.Series(["b", "a", "c", "a"])
    index = PatientIndex.of(ids)
    unsorted = index.encode(pl.DataFrame({"patient_id": ids}))["pid"].to_list()
    ordered = index.encode(pl.DataFrame({"patient_id": ids.sort()}))["pid"].to_list()
    assert unsorted == [1, 0, 2, 0]
    assert ordered == [0, 0, 1, 2]
    assert index.decode(pl.DataFrame({"pid": pl.Series([2, 0], dtype=pl.UInt32)}))[
        "patient_id"
    ].to_list() == ["c", "a"]


def _summary(rows: list[Row], start: str = "2024-01-05") -> dict[str, object]:
    result = Case(measurements(rows), lines([start])).run()
    return result.line_summary.row(0, named=True)


def test_baseline_is_the_latest_value_in_the_30_days_before_the_line() -> None:
    rows = [
        ("2023-11-20", "serum_m_protein", 9.0),
        ("2023-12-10", "serum_m_protein", 4.0),
        ("2024-01-02", "serum_m_protein", 3.0),
        ("2024-02-01", "serum_m_protein", 1.5),
    ]
    summary = _summary(rows)
    assert summary["baseline"] == "serum M-protein 3 g/dL (2024-01-02)"


def test_baseline_falls_back_to_the_first_value_within_7_days_after_the_start() -> None:
    rows = [
        ("2023-11-20", "serum_m_protein", 9.0),
        ("2024-01-10", "serum_m_protein", 3.0),
        ("2024-02-01", "serum_m_protein", 1.5),
        ("2024-03-01", "serum_m_protein", 1.5),
    ]
    summary = _summary(rows)
    assert summary["baseline"] == "serum M-protein 3 g/dL (2024-01-10)"
    # the look-ahead baseline is not itself a response assessment
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    assert [w for w, _, _ in responses_of(result)] == ["2024-02-01", "2024-03-01"]


def test_no_baseline_within_the_windows_means_not_evaluable() -> None:
    rows = [("2023-11-20", "serum_m_protein", 9.0), ("2024-01-13", "serum_m_protein", 3.0)]
    summary = _summary(rows)
    assert summary["pathway"] == "not_evaluable"
    assert summary["baseline"] == "no baseline results"


@pytest.mark.parametrize(
    ("serum", "urine", "pathway"),
    [(1.0, 0.0, "serum_urine"), (0.99, 199.0, "not_evaluable"), (0.5, 200.0, "serum_urine")],
)
def test_measurable_serum_and_urine_thresholds_are_inclusive(
    serum: float, urine: float, pathway: str
) -> None:
    rows: list[Row] = [
        ("2024-01-01", "serum_m_protein", serum),
        ("2024-01-01", "urine_m_protein", urine),
    ]
    assert _summary(rows)["pathway"] == pathway


@pytest.mark.parametrize(
    ("kappa", "lam", "pathway"),
    [
        (100.0, 60.0, "flc_only"),
        (100.0, 60.606061, "not_evaluable"),
        (99.999999, 10.0, "not_evaluable"),
        (10.0, 100.0, "flc_only"),
    ],
)
def test_flc_measurable_needs_100_mg_l_involved_and_an_abnormal_ratio(
    kappa: float, lam: float, pathway: str
) -> None:
    # 100 / 60 = 1.667 > 1.65; 100 / 60.606061 = 1.64999… ≤ 1.65; 10 / 100 = 0.1 < 0.26 (λ)
    rows: list[Row] = [("2024-01-01", "flc_kappa", kappa), ("2024-01-01", "flc_lambda", lam)]
    assert _summary(rows)["pathway"] == pathway


def test_marrow_only_pathway_needs_30_percent_plasma_cells() -> None:
    assert _summary([("2024-01-01", "bm_plasma_cells", 30.0)])["pathway"] == "marrow_only"
    assert _summary([("2024-01-01", "bm_plasma_cells", 29.9)])["pathway"] == "not_evaluable"


def test_urine_zero_at_baseline_is_not_involved_and_raises_no_urine_flag() -> None:
    visits = [("2024-01-01", 4.0), ("2024-02-01", 1.0), ("2024-03-01", 1.0)]
    result = Case(measurements(spep_visits(visits)), lines(["2024-01-05"])).run()
    assert "urine_unassessed" not in flags_on(result, "2024-02-01")


def test_impossible_values_are_rejected_with_a_fix() -> None:
    rows = [("2024-01-01", "serum_m_protein", -1.0)]
    with pytest.raises(SchemaError, match="fix the values or their units"):
        Case(measurements(rows), lines(["2024-01-05"])).run()


def test_assessment_tolerance_is_configurable() -> None:
    rows = [
        *BASELINE,
        ("2024-03-01", "serum_m_protein", 0.0),
        ("2024-03-01", "urine_m_protein", 0.0),
        ("2024-03-05", "serum_ife", "negative"),
        ("2024-03-05", "urine_ife", "negative"),
        ("2024-03-01", "bm_plasma_cells", 2.0),
    ]
    case = Case(measurements(rows), lines(["2024-01-05"]))
    assert responses_of(case.run())[0][1] == "CR"
    narrow = MyelomaCourseConfig().replace(assessment_tolerance_days=3)
    assert responses_of(case.run(narrow))[0][1] == "VGPR"
