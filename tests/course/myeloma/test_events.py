"""Relapse from CR (X1), relapse from MRD negativity (X2), candidate CRAB signals and clinical
relapse (X3)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import (
    Case,
    Row,
    d,
    ex3,
    ex4,
    findings,
    lines,
    measurements,
    patients,
    spep_visits,
    treatments,
)


def test_ex4_relapse_from_cr_is_dated_at_the_first_positive_immunofixation() -> None:
    result = ex4().run()
    relapse = result.relapse_from_cr.row(0, named=True)
    assert (relapse["line"], relapse["date"], relapse["confirmed_date"], relapse["cr_date"]) == (
        1,
        d("2023-11-06"),
        d("2023-12-04"),
        d("2023-05-08"),
    )
    assert relapse["criterion"].startswith("serum immunofixation positive on 2023-11-06")
    assert "not counted as a numbered relapse (X1)" in relapse["criterion"]
    # it is not PD: the PD (relapse #1 for the lines engine) is 2024-03-04
    assert result.progression["date"].to_list() == [d("2024-03-04")]


def test_ex3_abnormal_ratio_without_immunofixation_is_not_relapse_from_cr() -> None:
    assert ex3().run().relapse_from_cr.height == 0


def _cr_then(later: list[Row], *, heavy: str = "IgA", light: str = "kappa") -> Case:
    rows: list[Row] = [
        ("2024-01-01", "serum_m_protein", 2.0),
        ("2024-01-01", "urine_m_protein", 0.0),
        ("2024-01-01", "serum_ife", "positive"),
        ("2024-01-01", "urine_ife", "negative"),
        ("2024-03-02", "bm_plasma_cells", 1.0),
    ]
    for when in ("2024-03-01", "2024-04-01"):
        rows += [
            (when, "serum_m_protein", 0.0),
            (when, "urine_m_protein", 0.0),
            (when, "serum_ife", "negative"),
            (when, "urine_ife", "negative"),
        ]
    return Case(measurements(rows + later), lines(["2024-01-05"]), patients([("p1", heavy, light)]))


def test_a_single_positive_immunofixation_after_cr_is_not_yet_a_relapse() -> None:
    later = [
        *spep_visits([("2024-05-01", 0.0), ("2024-06-01", 0.0)]),
        ("2024-05-01", "serum_ife", "positive"),
        ("2024-05-01", "urine_ife", "negative"),
        ("2024-06-01", "serum_ife", "negative"),
        ("2024-06-01", "urine_ife", "negative"),
    ]
    assert _cr_then(later).run().relapse_from_cr.height == 0


def test_marrow_plasma_cells_of_5_percent_after_cr_is_relapse_without_a_second_test() -> None:
    later = [
        *spep_visits([("2024-05-01", 0.0), ("2024-06-01", 0.0)]),
        ("2024-05-01", "serum_ife", "negative"),
        ("2024-05-01", "urine_ife", "negative"),
        ("2024-06-01", "bm_plasma_cells", 5.0),
    ]
    relapse = _cr_then(later).run().relapse_from_cr
    assert relapse.select("date", "confirmed_date").rows() == [(d("2024-06-01"), d("2024-06-01"))]
    assert "marrow plasma cells 5%" in relapse["criterion"].item()


def test_antibody_interference_never_triggers_relapse_from_cr() -> None:
    later: list[Row] = []
    for when in ("2024-05-01", "2024-06-01"):
        later += [
            *spep_visits([(when, 0.0)]),
            (when, "serum_ife", "positive"),
            (when, "urine_ife", "negative"),
        ]
    exposed = _cr_then(later, heavy="IgG", light="kappa")
    exposed.treatments = treatments([("daratumumab", "2024-01-05", None)])
    assert exposed.run().relapse_from_cr.height == 0
    unexposed = _cr_then(later, heavy="IgG", light="kappa")
    assert unexposed.run().relapse_from_cr["date"].to_list() == [d("2024-05-01")]


def _mrd_case(results: list[Row]) -> Case:
    case = _cr_then([*spep_visits([("2024-05-01", 0.0), ("2024-06-01", 0.0)]), *results])
    return case


def test_relapse_from_mrd_negativity_is_the_first_mrd_positive_after_it() -> None:
    case = _mrd_case(
        [
            ("2024-04-15", "mrd", "negative", "NGF", 1e-5),
            ("2024-06-10", "mrd", "positive", "NGF", 1e-5),
        ]
    )
    relapse = case.run().relapse_from_mrd
    assert relapse.select("date", "mrd_negative_date").rows() == [
        (d("2024-06-10"), d("2024-04-15"))
    ]
    assert relapse["criterion"].item().startswith("MRD positive by NGF on 2024-06-10")


def test_no_relapse_from_mrd_without_imwg_mrd_negativity() -> None:
    case = _mrd_case(
        [
            ("2024-04-15", "mrd", "negative", "NGF", 1e-4),
            ("2024-06-10", "mrd", "positive", "NGF", 1e-5),
        ]
    )
    assert case.run().relapse_from_mrd.height == 0


def test_crab_candidates_are_compared_exactly_and_never_counted() -> None:
    rows: list[Row] = [
        *spep_visits([("2024-01-01", 3.0), ("2024-02-01", 2.5)]),
        ("2024-01-01", "hemoglobin", 12.0),
        ("2024-01-01", "creatinine", 1.1),
        ("2024-02-01", "calcium", 11.0),
        ("2024-03-01", "calcium", 11.1),
        ("2024-02-01", "hemoglobin", 10.1),
        ("2024-03-01", "hemoglobin", 10.0),
        ("2024-03-01", "creatinine", 3.1),
    ]
    case = Case(
        measurements(rows),
        lines(["2024-01-05"]),
        findings=findings([("2024-04-01", "new_bone_lesion", "rib")]),
    )
    signals = case.run().crab_signals
    assert signals.select("date", "signal").rows() == [
        (d("2024-03-01"), "creatinine_rise"),
        (d("2024-03-01"), "haemoglobin_drop"),
        (d("2024-03-01"), "hypercalcaemia"),
        (d("2024-04-01"), "new_bone_lesion"),
    ]
    text = dict(signals.select("signal", "criterion").iter_rows())
    assert text["haemoglobin_drop"].startswith("haemoglobin 12 -> 10 g/dL")
    assert "the care team decides" in text["hypercalcaemia"]


def test_clinical_relapse_is_passed_through_with_its_line() -> None:
    case = Case(
        measurements(spep_visits([("2024-01-01", 3.0)])),
        lines(["2024-01-05", "2024-06-01"]),
        findings=findings(
            [
                ("2024-05-20", "clinical_relapse", "new hypercalcaemia"),
                ("2024-06-01", "clinical_relapse", None),
                ("2023-12-01", "clinical_relapse", None),
            ]
        ),
    )
    relapses = case.run().clinical_relapses
    # one dated on the day line 2 starts is why line 2 started: it belongs to line 1
    assert relapses.select("line", "date").rows() == [(1, d("2024-05-20")), (1, d("2024-06-01"))]
    assert relapses["criterion"][0] == (
        "clinical relapse recorded by the care team: new hypercalcaemia"
    )
    assert relapses.filter(pl.col("line") == 2).height == 0
