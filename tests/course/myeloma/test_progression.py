"""Progressive disease P1–P8 and its confirmation C3: the worked examples of spec §8 and small
hand-written scenarios."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import (
    Case,
    d,
    ex1,
    ex2,
    ex3,
    ex4,
    ex5,
    ex7,
    ex8a,
    ex8b,
    findings,
    flags_on,
    lines,
    measurements,
    spep_visits,
)

from relapsewatch.course.myeloma.config import MyelomaCourseConfig


def _pd(case: Case, config: MyelomaCourseConfig | None = None) -> list[tuple[int, str, str, str]]:
    result = case.run(config)
    return [
        (line, str(when), str(confirmed), rule)
        for line, when, confirmed, rule in result.progression.select(
            "line", "date", "confirmed_date", "rule"
        ).rows()
    ]


def test_ex1_high_nadir_needs_one_g_dl_and_pd_is_dated_at_the_first_of_the_pair() -> None:
    result = ex1().run()
    assert result.progression.select("line", "date", "confirmed_date", "rule").rows() == [
        (1, d("2024-05-01"), d("2024-06-03"), "P1")
    ]
    criterion = result.progression["criterion"].item()
    assert "6 -> 7 g/dL" in criterion
    assert "nadir ≥ 5 g/dL, so needs +1 g/dL" in criterion
    assert "confirmed 2024-06-03" in criterion


def test_ex1_without_the_five_g_dl_rule_there_is_no_pd() -> None:
    config = MyelomaCourseConfig().replace(pd_serum_high_nadir_g_dl=100.0)
    result = ex1().run(config)
    assert result.progression.height == 0


def test_ex2_unconfirmed_rise_is_not_an_event_and_is_flagged() -> None:
    result = ex2().run()
    assert result.progression.height == 0
    unconfirmed = result.unconfirmed_progression
    assert unconfirmed.select("line", "date", "rule").rows() == [(1, d("2024-06-03"), "P1")]
    assert "0.8 -> 1.4 g/dL (+0.6 g/dL, +75% from nadir 0.8 g/dL" in unconfirmed["criterion"][0]
    assert "not confirmed: the next assessment (2024-07-01)" in unconfirmed["criterion"][0]
    assert "pd_unconfirmed" in flags_on(result, "2024-06-03", "ex2")


def test_ex3_flc_only_pd_needs_more_than_100_mg_l_over_the_pair_nadir() -> None:
    result = ex3().run()
    assert _pd(ex3()) == [(1, "2025-01-06", "2025-02-03", "P3")]
    criterion = result.progression["criterion"].item()
    assert "dFLC) 2 -> 119 mg/L (+117 mg/L" in criterion
    # 2024-12-02: dFLC 68 is 66 over the nadir of 2, not more than 100: not PD
    december = result.responses.filter(pl.col("date") == d("2024-12-02"))
    assert december["response"].item() == "VGPR"
    assert result.unconfirmed_progression.height == 0


def test_ex4_pd_after_relapse_from_cr_is_dated_2024_03_04() -> None:
    assert _pd(ex4()) == [(1, "2024-03-04", "2024-04-01", "P1")]
    # 2023-12-04: 0.2 g/dL over a nadir of 0 is below +0.5 g/dL
    result = ex4().run()
    assert result.responses.filter(pl.col("date") == d("2023-12-04"))["response"].item() == "VGPR"


def test_ex5_ex7_ex8_pd_dates() -> None:
    assert _pd(ex5()) == [(1, "2025-04-07", "2025-04-14", "P1")]
    assert _pd(ex7()) == [
        (1, "2023-10-02", "2023-11-06", "P1"),
        (2, "2024-08-12", "2024-08-23", "P1"),
        (3, "2025-03-03", "2025-03-10", "P1"),
    ]
    assert _pd(ex8a()) == []
    assert _pd(ex8b()) == [(1, "2023-05-08", "2023-05-12", "P1")]


def test_ex7_line_2_pd_is_measured_from_the_line_2_nadir_not_line_1() -> None:
    criterion = ex7().run().progression.filter(pl.col("line") == 2)["criterion"].item()
    assert "0.7 -> 1.3 g/dL" in criterion


def test_pd_may_be_confirmed_by_an_assessment_after_the_next_line_starts() -> None:
    visits = [
        ("2024-01-01", 3.0),
        ("2024-02-01", 1.0),
        ("2024-03-01", 1.0),
        ("2024-04-01", 1.6),
        ("2024-04-20", 1.8),
    ]
    case = Case(measurements(spep_visits(visits)), lines(["2024-01-05", "2024-04-10"]))
    result = case.run()
    assert result.progression.select("date", "confirmed_date").rows() == [
        (d("2024-04-01"), d("2024-04-20"))
    ]
    assert "after the next line started" in result.progression["criterion"].item()
    assert "pd_confirmed_after_next_line_start" in flags_on(result, "2024-04-01")


def test_imaging_progression_needs_no_confirmation_and_wins_over_a_reduction() -> None:
    visits = [("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-03-01", 1.0)]
    case = Case(
        measurements(spep_visits(visits)),
        lines(["2024-01-05"]),
        findings=findings([("2024-03-01", "new_bone_lesion", "T7 vertebra")]),
    )
    result = case.run()
    assert result.progression.select("date", "confirmed_date", "rule").rows() == [
        (d("2024-03-01"), d("2024-03-01"), "P5")
    ]
    assert "new bone lesion on imaging" in result.progression["criterion"].item()
    assert {"imaging_progression"} <= flags_on(result, "2024-03-01")


def test_death_from_myeloma_confirms_a_pending_pd() -> None:
    visits = [("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-03-01", 1.0), ("2024-04-01", 1.6)]
    base = Case(measurements(spep_visits(visits)), lines(["2024-01-05"]))
    assert base.run().progression.height == 0
    died = Case(
        base.measurements,
        base.lines,
        findings=findings([("2024-04-15", "death", "progressive myeloma")]),
    )
    result = died.run()
    assert result.progression.select("date", "confirmed_date").rows() == [
        (d("2024-04-01"), d("2024-04-15"))
    ]
    assert "confirmed by death on 2024-04-15" in result.progression["criterion"].item()
    other_cause = Case(
        base.measurements, base.lines, findings=findings([("2024-04-15", "death", "road accident")])
    )
    assert other_cause.run().progression.height == 0


def test_option_a8_takes_a_new_line_without_labs_as_confirmation() -> None:
    visits = [("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-03-01", 1.0), ("2024-04-01", 1.6)]
    case = Case(measurements(spep_visits(visits)), lines(["2024-01-05", "2024-04-10"]))
    assert case.run().progression.height == 0
    config = MyelomaCourseConfig().replace(accept_treatment_change_as_confirmation=True)
    result = case.run(config)
    assert result.progression.select("date", "confirmed_date").rows() == [
        (d("2024-04-01"), d("2024-04-10"))
    ]


def test_urine_pd_needs_200_mg_and_25_percent_over_the_nadir() -> None:
    rows = [("2024-01-01", "serum_m_protein", 0.0), ("2024-01-01", "urine_m_protein", 800.0)]
    for when, urine in [
        ("2024-02-01", 100.0),
        ("2024-03-01", 100.0),
        ("2024-04-01", 299.0),
        ("2024-05-01", 300.0),
        ("2024-06-01", 350.0),
    ]:
        rows += [(when, "serum_m_protein", 0.0), (when, "urine_m_protein", urine)]
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    # nadir 100: 299 is +199 (not PD); 300 is +200 and +200 % (PD), confirmed by 350
    assert result.progression.select("date", "confirmed_date", "rule").rows() == [
        (d("2024-05-01"), d("2024-06-01"), "P2")
    ]


def test_marrow_only_pd_needs_no_confirmation() -> None:
    rows = [
        ("2024-01-01", "bm_plasma_cells", 40.0),
        ("2024-03-01", "bm_plasma_cells", 12.0),
        ("2024-06-01", "bm_plasma_cells", 22.0),
    ]
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    assert result.responses.select("date", "response", "pathway").rows() == [
        (d("2024-03-01"), "PR", "marrow_only"),
        (d("2024-06-01"), "PD", "marrow_only"),
    ]
    assert result.progression.select("date", "confirmed_date", "rule").rows() == [
        (d("2024-06-01"), d("2024-06-01"), "P4")
    ]


def test_later_pd_assessments_of_the_same_line_are_absorbed_not_unconfirmed() -> None:
    result = ex1().run()
    assert flags_on(result, "2024-06-03", "ex1") == {"after_progression"}
    assert result.unconfirmed_progression.height == 0


def test_imaging_progression_on_the_day_a_new_line_starts_belongs_to_the_line_before() -> None:
    visits = [("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-03-01", 1.0), ("2024-05-01", 1.0)]
    case = Case(
        measurements(spep_visits(visits)),
        lines(["2024-01-05", "2024-04-01"]),
        findings=findings([("2024-04-01", "new_plasmacytoma", None)]),
    )
    result = case.run()
    assert result.progression.select("line", "date", "rule").rows() == [(1, d("2024-04-01"), "P5")]
    assert result.responses.filter(pl.col("line") == 2)["date"].to_list() == [d("2024-05-01")]


def test_flc_pd_from_a_nadir_of_zero_reads_without_a_percentage() -> None:
    rows: list[tuple[object, ...]] = []
    for when, kappa in [("2024-01-01", 1010.0), ("2024-02-01", 10.0), ("2024-03-01", 9.0),
                        ("2024-04-01", 150.0), ("2024-05-01", 160.0)]:  # fmt: skip
        rows += [(when, "flc_kappa", kappa), (when, "flc_lambda", 10.0)]
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    assert result.progression.select("date", "rule").rows() == [(d("2024-04-01"), "P3")]
    assert (
        "dFLC) 0 -> 140 mg/L (+140 mg/L from nadir 0 mg/L" in result.progression["criterion"].item()
    )
