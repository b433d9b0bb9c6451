"""The nadir in force (N1 pairwise-max, N2 raw minimum, N3 per line, N4 unquantifiable as 0)."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import Case, Row, ex1, ex2, ex3, ex7, lines, measurements, micro_values, spep_visits

from relapsewatch.course.myeloma.config import MyelomaCourseConfig
from relapsewatch.course.myeloma.nadir import nadir_in_force

G = 1_000_000  # micro-units per g/dL


def _nadirs(
    case: Case,
    column: str = "s_nad",
    patient: str = "p1",
    line: int = 1,
    config: MyelomaCourseConfig | None = None,
) -> dict[str, float | None]:
    values = micro_values(case.evaluate(config), column, patient, line)
    return {k: None if v is None else v / G for k, v in values.items()}


def test_ex2_nadir_in_force_at_each_date() -> None:
    assert _nadirs(ex2(), patient="ex2") == {
        "2024-02-12": 3.0,
        "2024-03-11": 3.0,
        "2024-04-08": 1.4,
        "2024-05-06": 1.2,
        "2024-06-03": 0.8,
        "2024-07-01": 0.8,
        "2024-07-29": 0.8,
    }


def test_ex1_nadir_in_force_reaches_6_only_after_the_second_6() -> None:
    assert _nadirs(ex1(), patient="ex1") == {
        "2024-02-01": 8.0,
        "2024-03-01": 8.0,
        "2024-04-01": 6.8,
        "2024-05-01": 6.0,
        "2024-06-03": 6.0,
    }


def test_ex3_dflc_nadir_is_the_best_confirmed_pair() -> None:
    nadirs = micro_values(ex3().evaluate(), "d_nad", "ex3")
    assert nadirs["2024-12-02"] == 2 * G
    assert nadirs["2024-04-01"] == 1240 * G  # the line baseline dFLC


def test_a_single_spurious_low_value_does_not_become_the_nadir() -> None:
    visits = [
        ("2024-01-01", 3.0),
        ("2024-02-01", 1.0),
        ("2024-03-01", 0.2),
        ("2024-04-01", 1.0),
        ("2024-05-01", 1.0),
    ]
    case = Case(measurements(spep_visits(visits)), lines(["2024-01-05"]))
    assert case.run().progression.height == 0
    raw = MyelomaCourseConfig().replace(nadir_mode="raw_min")
    assert _nadirs(case, config=raw)["2024-04-01"] == 0.2
    progression = case.run(raw).progression
    assert progression.select("date", "rule").rows()[0][1] == "P1"
    assert str(progression["date"].item()) == "2024-04-01"


def test_nadir_resets_at_each_line_to_the_line_baseline() -> None:
    assert _nadirs(ex7(), patient="ex7", line=2)["2024-02-05"] == 1.6
    assert _nadirs(ex7(), patient="ex7", line=3)["2024-09-23"] == 1.5


def test_unquantifiable_values_enter_the_nadir_as_zero() -> None:
    rows: list[Row] = [*spep_visits([("2024-01-01", 3.0)])]
    for when in ("2024-02-01", "2024-03-01"):
        rows += [
            (when, "serum_m_protein", "detected_nonquantifiable"),
            (when, "urine_m_protein", 0.0),
        ]
    rows += spep_visits([("2024-04-01", 0.6), ("2024-05-01", 0.7)])
    case = Case(measurements(rows), lines(["2024-01-05"]))
    assert _nadirs(case)["2024-04-01"] == 0.0
    assert str(case.run().progression["date"].item()) == "2024-04-01"


def _reference(values: list[int | None], baseline: int | None, mode: str) -> list[int | None]:
    """N1/N2 written out directly from the specification."""
    out: list[int | None] = []
    for t in range(len(values)):
        before = [v for v in values[:t] if v is not None]
        pairs = [max(a, b) for a, b in pairwise(before)]
        candidates = before if mode == "raw_min" else pairs
        pool = [x for x in [baseline, *candidates] if x is not None]
        out.append(min(pool) if pool else None)
    return out


sequences = st.lists(st.one_of(st.none(), st.integers(0, 50)), min_size=0, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    groups=st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 50)), sequences), min_size=1, max_size=4
    ),
    mode=st.sampled_from(["confirmed_pair", "raw_min"]),
)
def test_nadir_expression_matches_the_written_definition(
    groups: list[tuple[int | None, list[int | None]]], mode: str
) -> None:
    rows = [
        {"group": g, "x0": baseline, "x": v}
        for g, (baseline, values) in enumerate(groups)
        for v in values
    ]
    frame = pl.DataFrame(rows, schema={"group": pl.Int64, "x0": pl.Int64, "x": pl.Int64})
    got = frame.select(nadir_in_force("x", "x0", mode=mode)).to_series().to_list()  # type: ignore[arg-type]
    expected = [n for baseline, values in groups for n in _reference(values, baseline, mode)]
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(baseline=st.integers(0, 50), values=sequences)
def test_pair_nadir_is_never_below_the_raw_minimum_and_never_rises(
    baseline: int, values: list[int | None]
) -> None:
    frame = pl.DataFrame(
        {"group": [0] * len(values), "x0": [baseline] * len(values), "x": values},
        schema={"group": pl.Int64, "x0": pl.Int64, "x": pl.Int64},
    )
    pair = frame.select(nadir_in_force("x", "x0", mode="confirmed_pair")).to_series().to_list()
    raw = frame.select(nadir_in_force("x", "x0", mode="raw_min")).to_series().to_list()
    assert all(p >= r for p, r in zip(pair, raw, strict=True))
    assert all(p <= baseline for p in pair)
    assert all(a >= b for a, b in pairwise(pair))
