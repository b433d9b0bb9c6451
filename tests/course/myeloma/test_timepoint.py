"""Time-point responses (R rules per pathway, A-9 urine, A-10 marrow, U6 antibody interference,
U7 unquantifiable results), from the worked examples and small scenarios."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import (
    Case,
    Row,
    d,
    ex1,
    ex2,
    ex3,
    ex4,
    ex5,
    ex6,
    ex7,
    ex8a,
    flags_on,
    lines,
    measurements,
    patients,
    responses_of,
    spep_visits,
    treatments,
)

from relapsewatch.course.myeloma.config import MyelomaCourseConfig


def _tp(
    case: Case, config: MyelomaCourseConfig | None = None, patient: str = "p1"
) -> list[tuple[str, str]]:
    return [(when, response) for when, response, _ in responses_of(case.run(config), patient)]


def test_ex2_time_point_responses() -> None:
    assert [r for _, r in _tp(ex2(), patient="ex2")] == ["PR", "PR", "PR", "PR", "PD", "PR", "PR"]


def test_ex3_flc_only_time_point_responses_in_mg_l() -> None:
    assert _tp(ex3(), patient="ex3") == [
        ("2024-04-01", "PR"),
        ("2024-05-01", "VGPR"),
        ("2024-06-03", "VGPR"),
        ("2024-07-01", "CR"),
        ("2024-08-05", "CR"),
        ("2024-09-02", "VGPR"),
        ("2024-10-07", "VGPR"),
        ("2024-11-04", "VGPR"),
        ("2024-12-02", "VGPR"),
        ("2025-01-06", "PD"),
        ("2025-02-03", "PD"),
    ]
    result = ex3().run()
    assert set(result.responses["pathway"]) == {"flc_only"}
    assert "scr_unassessed_no_clonality" in flags_on(result, "2024-07-01", "ex3")


def test_ex4_cr_then_vgpr_when_immunofixation_turns_positive() -> None:
    tp = dict(_tp(ex4(), patient="ex4"))
    assert [tp[w] for w in ("2023-02-06", "2023-03-06", "2023-04-03", "2023-05-08")] == [
        "PR",
        "PR",
        "VGPR",
        "CR",
    ]
    assert tp["2023-10-02"] == "CR"
    assert tp["2023-11-06"] == "VGPR"
    assert tp["2023-12-04"] == "VGPR"


def test_exact_thresholds_25_50_and_90_percent_are_met_exactly() -> None:
    line2 = [r for r in _tp(ex7(), patient="ex7") if r[0] in ("2024-02-05", "2024-06-03")]
    # 1.6 -> 1.2 is exactly 25 % (MR); 1.6 -> 0.8 exactly 50 % (PR)
    assert line2 == [("2024-02-05", "MR"), ("2024-06-03", "PR")]
    # 3.5 -> 0.35 is exactly 90 % (VGPR), which float division would call 89.999…
    assert dict(_tp(ex8a(), patient="ex8a"))["2022-11-07"] == "VGPR"


def test_flc_vgpr_needs_strictly_more_than_90_percent() -> None:
    rows: list[Row] = []
    for when, kappa in [("2024-01-01", 1010.0), ("2024-02-01", 110.0), ("2024-03-01", 109.0)]:
        rows += [(when, "flc_kappa", kappa), (when, "flc_lambda", 10.0)]
    # dFLC 1000 -> 100 is exactly 90 %: PR; -> 99 is 90.1 %: VGPR
    assert _tp(Case(measurements(rows), lines(["2024-01-05"]))) == [
        ("2024-02-01", "PR"),
        ("2024-03-01", "VGPR"),
    ]


def _cr_case(
    marrow: float | None,
    clonality: str | None = None,
    ratio: float | None = None,
    heavy: str = "IgA",
    light: str = "kappa",
    serum_ife: str = "negative",
    extra: list[Row] | None = None,
) -> Case:
    rows: list[Row] = [
        ("2024-01-01", "serum_m_protein", 2.0),
        ("2024-01-01", "urine_m_protein", 0.0),
        ("2024-01-01", "serum_ife", "positive"),
        ("2024-01-01", "urine_ife", "negative"),
    ]
    for when in ("2024-03-01", "2024-04-01"):
        rows += [
            (when, "serum_m_protein", 0.0),
            (when, "urine_m_protein", 0.0),
            (when, "serum_ife", serum_ife),
            (when, "urine_ife", "negative"),
        ]
        if ratio is not None:
            rows.append((when, "flc_ratio", ratio))
    if marrow is not None:
        rows.append(("2024-03-03", "bm_plasma_cells", marrow))
    if clonality is not None:
        rows.append(("2024-03-03", "bm_clonality", clonality))
    rows += extra or []
    return Case(measurements(rows), lines(["2024-01-05"]), patients([("p1", heavy, light)]))


def test_cr_needs_negative_immunofixation_and_a_marrow_below_5_percent() -> None:
    assert [r for _, r in _tp(_cr_case(marrow=3.0))] == ["CR", "CR"]
    assert [r for _, r in _tp(_cr_case(marrow=5.0))] == ["VGPR", "VGPR"]


def test_cr_without_marrow_is_capped_at_vgpr_and_flagged_unless_configured() -> None:
    case = _cr_case(marrow=None)
    result = case.run()
    assert [r for _, r, _ in responses_of(result)] == ["VGPR", "VGPR"]
    assert "cr_unconfirmed_marrow" in flags_on(result, "2024-03-01")
    relaxed = MyelomaCourseConfig().replace(require_marrow_for_cr=False)
    assert [r for _, r in _tp(case, relaxed)] == ["CR", "CR"]


def test_marrow_up_to_30_days_after_the_confirming_assessment_counts_for_cr() -> None:
    late = _cr_case(marrow=None, extra=[("2024-05-01", "bm_plasma_cells", 2.0)])
    # the lone marrow result is an assessment of its own, NE for a serum pathway
    assert [r for _, r in _tp(late)] == ["CR", "CR", "NE"]
    too_late = _cr_case(marrow=None, extra=[("2024-05-02", "bm_plasma_cells", 2.0)])
    assert _tp(too_late)[0][1] == "VGPR"


def test_scr_needs_normal_ratio_and_not_clonal_marrow_and_collapses_to_cr() -> None:
    assert [r for _, r in _tp(_cr_case(marrow=2.0, clonality="not_clonal", ratio=1.0))] == [
        "sCR",
        "sCR",
    ]
    assert [r for _, r in _tp(_cr_case(marrow=2.0, clonality="not_clonal", ratio=1.7))] == [
        "CR",
        "CR",
    ]
    assert [r for _, r in _tp(_cr_case(marrow=2.0, clonality="clonal", ratio=1.0))] == ["CR", "CR"]
    no_scr = MyelomaCourseConfig().replace(include_scr=False)
    case = _cr_case(marrow=2.0, clonality="not_clonal", ratio=1.0)
    assert [r for _, r in _tp(case, no_scr)] == ["CR", "CR"]


def test_mr_collapses_to_sd_when_switched_off() -> None:
    visits = [("2024-01-01", 4.0), ("2024-02-01", 3.0), ("2024-03-01", 2.9)]
    case = Case(measurements(spep_visits(visits)), lines(["2024-01-05"]))
    assert [r for _, r in _tp(case)] == ["MR", "MR"]
    no_mr = MyelomaCourseConfig().replace(include_mr=False)
    assert [r for _, r in _tp(case, no_mr)] == ["SD", "SD"]


def test_urine_never_measured_gives_up_to_pr_from_serum_alone_and_is_flagged() -> None:
    visits = [("2024-01-01", 4.0), ("2024-02-01", 0.2), ("2024-03-01", 0.2)]
    case = Case(measurements(spep_visits(visits, urine=None)), lines(["2024-01-05"]))
    result = case.run()
    assert [r for _, r, _ in responses_of(result)] == ["PR", "PR"]
    assert "urine_unassessed" in flags_on(result, "2024-02-01")
    with_urine = Case(
        measurements([*spep_visits(visits, urine=None), ("2024-02-01", "urine_m_protein", 50.0)]),
        lines(["2024-01-05"]),
    )
    # one urine value < 100 mg/24h at or before the assessment allows VGPR
    assert [r for _, r in _tp(with_urine)] == ["VGPR", "VGPR"]


def test_involved_urine_must_fall_90_percent_or_below_200_mg_for_pr() -> None:
    rows: list[Row] = [
        ("2024-01-01", "serum_m_protein", 3.0),
        ("2024-01-01", "urine_m_protein", 3000.0),
    ]
    rows += [
        ("2024-02-01", "serum_m_protein", 1.0),
        ("2024-02-01", "urine_m_protein", 400.0),
        ("2024-03-01", "serum_m_protein", 1.0),
        ("2024-03-01", "urine_m_protein", 300.0),
    ]
    # serum down 66.7 %, urine down 86.7 % then 90 %: MR (urine ≥ 50 %) then PR
    assert _tp(Case(measurements(rows), lines(["2024-01-05"]))) == [
        ("2024-02-01", "MR"),
        ("2024-03-01", "PR"),
    ]


def test_daratumumab_band_in_igg_kappa_is_indeterminate_and_caps_at_vgpr() -> None:
    case = _cr_case(marrow=2.0, heavy="IgG", light="kappa", serum_ife="positive")
    case.treatments = treatments([("daratumumab", "2024-01-05", "2024-02-20")])
    result = case.run()
    assert [r for _, r, _ in responses_of(result)] == ["VGPR", "VGPR"]
    assert "antibody_interference_possible" in flags_on(result, "2024-03-01")
    dira = _cr_case(
        marrow=2.0,
        heavy="IgG",
        light="kappa",
        serum_ife="positive",
        extra=[
            ("2024-03-01", "serum_ife", "negative", "DIRA"),
            ("2024-04-01", "serum_ife", "negative", "Hydrashift"),
        ],
    )
    dira.treatments = case.treatments
    assert [r for _, r in _tp(dira)] == ["CR", "CR"]


def test_positive_ife_without_antibody_exposure_or_in_other_isotypes_stays_positive() -> None:
    igg_lambda = _cr_case(marrow=2.0, heavy="IgG", light="lambda", serum_ife="positive")
    igg_lambda.treatments = treatments([("daratumumab", "2024-01-05", None)])
    result = igg_lambda.run()
    assert "antibody_interference_possible" not in flags_on(result, "2024-03-01")
    long_ago = _cr_case(marrow=2.0, heavy="IgG", light="kappa", serum_ife="positive")
    long_ago.treatments = treatments([("daratumumab", "2023-01-01", "2023-08-01")])
    assert "antibody_interference_possible" not in flags_on(long_ago.run(), "2024-03-01")


def test_ife_positive_only_from_the_therapeutic_antibody_counts_as_negative() -> None:
    case = _cr_case(marrow=2.0, serum_ife="positive_therapeutic_mab_only")
    assert [r for _, r in _tp(case)] == ["CR", "CR"]


def test_no_measurable_disease_gives_ne_throughout() -> None:
    visits = [("2024-01-01", 0.5), ("2024-02-01", 0.2), ("2024-03-01", 0.9)]
    result = Case(measurements(spep_visits(visits)), lines(["2024-01-05"])).run()
    assert result.responses.select("response", "pathway").rows() == [
        ("NE", "not_evaluable"),
        ("NE", "not_evaluable"),
    ]
    assert "no_measurable_disease" in flags_on(result, "2024-02-01")
    assert result.line_summary["best_response"].item() == "NE"


def test_missing_serum_value_at_an_assessment_is_ne() -> None:
    rows = [
        *spep_visits([("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-03-01", 1.0)]),
        ("2024-04-15", "urine_m_protein", 0.0),
    ]
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    assert responses_of(result)[-1] == ("2024-04-15", "NE", False)
    assert "missing_tracking_value" in flags_on(result, "2024-04-15")


def test_unquantifiable_band_counts_as_not_detected_for_vgpr_and_is_flagged() -> None:
    rows = [
        *spep_visits([("2024-01-01", 3.0)]),
        ("2024-02-01", "serum_m_protein", "detected_nonquantifiable"),
        ("2024-02-01", "urine_m_protein", 0.0),
        ("2024-03-01", "serum_m_protein", "detected_nonquantifiable"),
        ("2024-03-01", "urine_m_protein", 0.0),
    ]
    result = Case(measurements(rows), lines(["2024-01-05"])).run()
    assert [r for _, r, _ in responses_of(result)] == ["VGPR", "VGPR"]
    assert "nonquantifiable_as_zero" in flags_on(result, "2024-02-01")


def test_pathway_is_fixed_per_line_from_its_own_baseline() -> None:
    rows: list[Row] = [*spep_visits([("2024-01-01", 3.0), ("2024-02-01", 0.8)])]
    for when, kappa in [("2024-02-01", 900.0), ("2024-03-01", 300.0), ("2024-04-01", 80.0)]:
        rows += [(when, "flc_kappa", kappa), (when, "flc_lambda", 8.0)]
    result = Case(measurements(rows), lines(["2024-01-05", "2024-02-10"])).run()
    assert result.line_summary.select("line", "pathway").rows() == [
        (1, "serum_urine"),
        (2, "flc_only"),
    ]
    assert result.responses.filter(pl.col("line") == 2)["response"].to_list() == ["PR", "VGPR"]
    assert result.responses.filter(pl.col("line") == 2)["date"].to_list() == [
        d("2024-03-01"),
        d("2024-04-01"),
    ]


def test_ex1_ex6_ex8_time_point_responses() -> None:
    assert _tp(ex1(), patient="ex1") == [
        ("2024-02-01", "SD"), ("2024-03-01", "MR"), ("2024-04-01", "MR"),
        ("2024-05-01", "PD"), ("2024-06-03", "PD"),
    ]  # fmt: skip
    assert _tp(ex6(), patient="ex6") == [("2024-02-05", "SD"), ("2024-03-04", "SD")]
    ex8 = dict(_tp(ex8a(), patient="ex8a"))
    assert ex8["2023-07-10"] == "PR"  # 0.7 from 3.5 is 80 %
    assert ex8["2022-12-05"] == ex8["2023-01-09"] == "VGPR"  # 91.43 %
    ex5_tp = dict(_tp(ex5(), patient="ex5"))
    assert ex5_tp["2024-01-08"] == ex5_tp["2024-02-05"] == "VGPR"  # 92.86 %
