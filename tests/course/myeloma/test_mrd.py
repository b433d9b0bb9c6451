"""MRD status with its sensitivity (D1–D5)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import Case, Row, d, lines, measurements, patients, spep_visits


def _in_cr(results: list[Row], *, visits: tuple[str, ...] = ()) -> Case:
    """A patient in confirmed CR from 2024-03-01 (marrow 1 %), with MRD ``results``."""
    rows: list[Row] = [
        ("2024-01-01", "serum_m_protein", 2.0),
        ("2024-01-01", "urine_m_protein", 0.0),
        ("2024-01-01", "serum_ife", "positive"),
        ("2024-01-01", "urine_ife", "negative"),
        ("2024-03-02", "bm_plasma_cells", 1.0),
    ]
    for when in ("2024-03-01", "2024-04-01", "2024-05-01", *visits):
        rows += [
            (when, "serum_m_protein", 0.0),
            (when, "urine_m_protein", 0.0),
            (when, "serum_ife", "negative"),
            (when, "urine_ife", "negative"),
        ]
    return Case(
        measurements(rows + results), lines(["2024-01-05"]), patients([("p1", "IgA", "kappa")])
    )


def _rows(case: Case) -> list[tuple[str, str | None, bool]]:
    mrd = case.run().mrd
    return [(c, r, cr) for c, r, cr in mrd.select("category", "rule", "in_cr").rows()]


def test_mrd_negative_by_flow_or_sequencing_at_1e5_in_cr() -> None:
    case = _in_cr(
        [
            ("2024-04-10", "mrd", "negative", "NGF", 1e-5),
            ("2024-04-20", "mrd", "negative", "ngs", 1e-6),
        ]
    )
    assert _rows(case) == [("mrd_negative", "D1", True), ("mrd_negative", "D2", True)]
    mrd = case.run().mrd
    assert (
        mrd["criterion"][0] == "MRD negative by NGF at sensitivity 1e-5 on 2024-04-10, in CR (D1)"
    )
    assert mrd["sensitivity"].to_list() == [1e-5, 1e-6]  # D5: kept with every result


def test_negatives_that_do_not_meet_imwg_are_kept_and_labelled() -> None:
    case = _in_cr(
        [
            ("2024-02-01", "mrd", "negative", "NGF", 1e-5),
            ("2024-04-10", "mrd", "negative", "NGF", 1e-4),
            ("2024-04-12", "mrd", "negative", "PCR", 1e-5),
            ("2024-04-14", "mrd", "negative", "NGF", None),
            ("2024-04-16", "mrd", "positive", "NGS", 1e-6),
        ]
    )
    assert [c for c, _, _ in _rows(case)] == [
        "negative_not_in_cr",
        "negative_insufficient_sensitivity",
        "negative_method_not_imwg",
        "negative_insufficient_sensitivity",
        "mrd_positive",
    ]


def test_sustained_negativity_needs_365_days_with_the_same_method_and_sensitivity() -> None:
    later = ("2025-03-01", "2025-04-01", "2025-05-01")
    sustained = _in_cr(
        [
            ("2024-04-10", "mrd", "negative", "NGF", 1e-5),
            ("2025-04-10", "mrd", "negative", "NGF", 1e-5),
        ],
        visits=later,
    )
    mrd = sustained.run().mrd
    assert mrd["sustained_since"].to_list() == [None, d("2024-04-10")]
    assert mrd["rule"].to_list() == ["D1", "D1+D4"]
    one_day_short = _in_cr(
        [
            ("2024-04-10", "mrd", "negative", "NGF", 1e-5),
            ("2025-04-09", "mrd", "negative", "NGF", 1e-5),
        ],
        visits=later,
    )
    assert one_day_short.run().mrd["sustained_since"].to_list() == [None, None]


def test_negatives_at_different_sensitivities_are_never_pooled() -> None:
    later = ("2025-03-01", "2025-04-01", "2025-05-01")
    case = _in_cr(
        [
            ("2024-04-10", "mrd", "negative", "NGF", 1e-5),
            ("2025-04-20", "mrd", "negative", "NGF", 1e-6),
        ],
        visits=later,
    )
    assert case.run().mrd["sustained_since"].to_list() == [None, None]


def test_a_positive_result_between_negatives_breaks_sustained_negativity() -> None:
    later = ("2025-03-01", "2025-04-01", "2025-05-01")
    case = _in_cr(
        [
            ("2024-04-10", "mrd", "negative", "NGF", 1e-5),
            ("2024-10-01", "mrd", "positive", "NGF", 1e-5),
            ("2025-04-20", "mrd", "negative", "NGF", 1e-5),
        ],
        visits=later,
    )
    assert case.run().mrd["sustained_since"].to_list() == [None, None, None]


def test_mrd_results_before_the_first_line_are_not_reported() -> None:
    rows = [*spep_visits([("2024-01-01", 2.0)]), ("2023-12-01", "mrd", "positive", "NGF", 1e-5)]
    assert Case(measurements(rows), lines(["2024-01-05"])).run().mrd.height == 0
