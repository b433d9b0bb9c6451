"""Confirmation and best response (C1–C6) on the worked examples, small scenarios and
properties."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from imwg_cases import (
    Case,
    all_examples,
    d,
    ex1,
    ex2,
    ex3,
    ex4,
    flags_on,
    lines,
    measurements,
    responses_of,
    spep_visits,
)

from relapsewatch.course.myeloma.confirmation import (
    confirm_timepoint_responses,
    confirmed_category,
)
from relapsewatch.course.myeloma.timepoint import RANK


def test_ex2_confirmed_flags_follow_c2() -> None:
    result = ex2().run()
    assert responses_of(result, "ex2") == [
        ("2024-02-12", "PR", True),
        ("2024-03-11", "PR", True),
        ("2024-04-08", "PR", True),
        ("2024-05-06", "PR", False),  # followed by PD: confirmed as SD
        ("2024-06-03", "PD", False),  # unconfirmed PD: NE
        ("2024-07-01", "PR", True),
        ("2024-07-29", "PR", False),
    ]
    assert "confirmed_as=SD" in flags_on(result, "2024-05-06", "ex2")
    assert {"confirmed_as=SD", "awaiting_confirmation"} <= flags_on(result, "2024-07-29", "ex2")


def test_ex3_cr_followed_by_vgpr_is_confirmed_as_vgpr_but_the_best_stays_cr() -> None:
    result = ex3().run()
    assert "confirmed_as=VGPR" in flags_on(result, "2024-08-05", "ex3")
    assert result.line_summary.select("best_response", "best_response_date").row(0) == (
        "CR",
        d("2024-07-01"),
    )


def test_best_confirmed_response_of_every_worked_example() -> None:
    summary = all_examples().run().line_summary
    got = {
        (p, line): (best, None if when is None else str(when))
        for p, line, best, when in summary.select(
            "patient_id", "line", "best_response", "best_response_date"
        ).rows()
    }
    assert got == {
        ("ex1", 1): ("MR", "2024-03-01"),
        ("ex1", 2): ("NE", None),
        ("ex2", 1): ("PR", "2024-02-12"),
        ("ex3", 1): ("CR", "2024-07-01"),
        ("ex4", 1): ("CR", "2023-05-08"),
        ("ex5", 1): ("VGPR", "2024-01-08"),
        ("ex5", 2): ("NE", None),
        ("ex6", 1): ("SD", "2024-02-05"),
        ("ex6", 2): ("NE", None),
        ("ex7", 1): ("VGPR", "2023-05-08"),
        ("ex7", 2): ("PR", "2024-04-01"),
        ("ex7", 3): ("MR", "2024-11-04"),
        ("ex7", 4): ("NE", None),
        ("ex8a", 1): ("VGPR", "2022-11-07"),
        ("ex8a", 2): ("NE", None),
        ("ex8b", 1): ("VGPR", "2022-11-07"),
        ("ex8b", 2): ("NE", None),
    }


def test_line_summary_reports_first_response_nadir_and_evaluable_assessments() -> None:
    summary = all_examples().run().line_summary
    row = summary.filter((pl.col("patient_id") == "ex6") & (pl.col("line") == 1)).row(0, named=True)
    assert row["reached_mr"] is False
    assert row["evaluable_assessments"] == 2
    assert row["first_response_date"] is None
    ex7_lines = summary.filter(pl.col("patient_id") == "ex7").sort("line")
    assert ex7_lines["nadir"].to_list() == [
        "serum M-protein 0.2 g/dL",
        "serum M-protein 0.7 g/dL",
        "serum M-protein 1.1 g/dL",
        None,
    ]
    assert ex7_lines["reached_mr"].to_list() == [True, True, True, False]
    assert "serum M-protein 3 g/dL (2022-11-01)" in ex7_lines["baseline"][0]


def test_a_response_is_not_confirmed_by_an_assessment_after_the_next_line_start() -> None:
    visits = [("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-03-01", 1.0), ("2024-04-20", 1.0)]
    case = Case(measurements(spep_visits(visits)), lines(["2024-01-05", "2024-04-10"]))
    assert responses_of(case.run())[:2] == [("2024-02-01", "PR", True), ("2024-03-01", "PR", False)]
    on_the_day = Case(
        measurements(spep_visits([*visits[:3], ("2024-04-10", 1.0)])),
        lines(["2024-01-05", "2024-04-10"]),
    )
    assert responses_of(on_the_day.run())[1] == ("2024-03-01", "PR", True)


def test_confirmation_more_than_84_days_later_is_flagged() -> None:
    visits = [("2024-01-01", 3.0), ("2024-02-01", 1.0), ("2024-04-26", 1.0), ("2024-07-19", 1.0)]
    result = Case(measurements(spep_visits(visits)), lines(["2024-01-05"])).run()
    assert "confirmation_late" in flags_on(result, "2024-02-01")  # 85 days later
    assert "confirmation_late" not in flags_on(result, "2024-04-26")  # 84 days later


def test_best_response_stops_at_the_confirmed_pd_of_the_line() -> None:
    visits = [
        ("2024-01-01", 3.0),
        ("2024-02-01", 2.0),
        ("2024-03-01", 2.0),
        ("2024-04-01", 2.9),
        ("2024-05-01", 3.0),
        ("2024-06-01", 0.2),
        ("2024-07-01", 0.2),
    ]
    result = Case(measurements(spep_visits(visits)), lines(["2024-01-05"])).run()
    assert str(result.progression["date"].item()) == "2024-04-01"
    assert result.line_summary["best_response"].item() == "MR"
    assert "after_progression" in flags_on(result, "2024-06-01")


def _c2(tp: str, nxt: str | None, *, after_limit: bool = False, pd_ok: bool = False) -> str:
    frame = pl.DataFrame(
        {
            "tp": [RANK[tp]],
            "next_tp": [None if nxt is None else RANK[nxt]],
            "next_date": [dt.date(2024, 7, 1) if after_limit else dt.date(2024, 5, 1)],
            "limit": [dt.date(2024, 6, 1)],
            "pd_ok": [pd_ok],
        },
        schema={
            "tp": pl.Int8,
            "next_tp": pl.Int8,
            "next_date": pl.Date,
            "limit": pl.Date,
            "pd_ok": pl.Boolean,
        },
    )
    rank = frame.select(
        confirmed_category(
            pl.col("tp"), pl.col("next_tp"), pl.col("next_date"), pl.col("limit"), pl.col("pd_ok")
        )
    ).item()
    return {v: k for k, v in RANK.items()}[rank]


def test_c2_c3_decision_table() -> None:
    assert _c2("VGPR", "CR") == "VGPR"  # same or better keeps the category
    assert _c2("VGPR", "VGPR") == "VGPR"
    assert _c2("CR", "PR") == "PR"  # a lower response gives that category
    assert _c2("PR", "SD") == "SD"
    assert _c2("PR", "PD") == "SD"  # PD next: SD
    assert _c2("PR", None) == "SD"  # nothing next: SD
    assert _c2("PR", "CR", after_limit=True) == "SD"  # after the next line start: SD
    assert _c2("SD", None) == "SD"  # SD needs no confirmation
    assert _c2("NE", "PR") == "NE"
    assert _c2("PD", "PD", pd_ok=True) == "PD"
    assert _c2("PD", "PR", pd_ok=False) == "NE"


RESPONSES = ["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(RESPONSES), st.booleans(), st.booleans()), min_size=1, max_size=10
    )
)
def test_oracle_confirmed_response_is_never_better_than_its_supporting_responses(
    visits: list[tuple[str, bool, bool]],
) -> None:
    start = dt.date(2024, 1, 1)
    frame = pl.DataFrame(
        {
            "patient_id": ["x"] * len(visits),
            "date": [start + dt.timedelta(days=30 * i) for i in range(len(visits))],
            "response": [v[0] for v in visits],
            "pd_other": [v[1] for v in visits],
            "pd_imaging": [v[2] for v in visits],
        }
    )
    out = confirm_timepoint_responses(frame)
    tp = [RANK[r] for r in out["response"]]
    conf = [RANK[r] for r in out["record_confirmed_response"]]
    assessed = [i for i, r in enumerate(tp) if r != RANK["NE"]]
    for position, i in enumerate(assessed):
        if conf[i] >= RANK["MR"]:
            nxt = assessed[position + 1]
            assert conf[i] <= tp[i]
            assert conf[i] <= tp[nxt]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=2, max_size=10), st.integers(10, 40))
def test_engine_confirmed_response_is_never_better_than_its_supporting_responses(
    values: list[int], baseline: int
) -> None:
    start = dt.date(2024, 1, 1)
    visits = [(str(start), baseline / 10)] + [
        (str(start + dt.timedelta(days=28 * (i + 1))), v / 10) for i, v in enumerate(values)
    ]
    frame = Case(measurements(spep_visits(visits)), lines(["2024-01-05"])).evaluate().frame
    own = frame.filter(~pl.col("is_tail"))
    next_tp = own["next_tp"].to_list()
    for tp, conf, nxt in zip(own["tp"], own["conf"], next_tp, strict=True):
        if conf >= RANK["MR"]:
            assert conf <= tp
            assert nxt is not None and conf <= nxt


def _running(case: Case, patient: str) -> list[tuple[str, str]]:
    """The last column of the §8 tables: the confirmed response as a running best (C4)."""
    frame = (
        case.evaluate()
        .with_patient_ids()
        .filter((pl.col("patient_id") == patient) & ~pl.col("is_tail"))
    )
    names = {v: k for k, v in RANK.items()}
    return [(str(w), names[r]) for w, r in frame.select("date", "running").rows()]


def test_running_confirmed_response_of_the_worked_examples() -> None:
    assert _running(ex1(), "ex1") == [
        ("2024-02-01", "SD"), ("2024-03-01", "MR"), ("2024-04-01", "MR"),
        ("2024-05-01", "PD"), ("2024-06-03", "PD"),
    ]  # fmt: skip
    assert {r for _, r in _running(ex2(), "ex2")} == {"PR"}
    assert _running(ex3(), "ex3") == [
        ("2024-04-01", "PR"), ("2024-05-01", "VGPR"), ("2024-06-03", "VGPR"),
        ("2024-07-01", "CR"), ("2024-08-05", "CR"), ("2024-09-02", "CR"), ("2024-10-07", "CR"),
        ("2024-11-04", "CR"), ("2024-12-02", "CR"), ("2025-01-06", "PD"), ("2025-02-03", "PD"),
    ]  # fmt: skip
    ex4_running = dict(_running(ex4(), "ex4"))
    assert [ex4_running[w] for w in ("2023-02-06", "2023-03-06", "2023-04-03", "2023-05-08",
                                     "2023-10-02", "2023-11-06", "2023-12-04", "2024-03-04",
                                     "2024-04-01")] == [
        "PR", "PR", "VGPR", "CR", "CR", "CR", "CR", "PD", "PD"]  # fmt: skip


def test_confirmed_categories_are_dated_at_the_first_of_the_pair() -> None:
    confirmed = [(w, r) for w, r, ok in responses_of(ex3().run(), "ex3") if ok]
    assert confirmed[:4] == [("2024-04-01", "PR"), ("2024-05-01", "VGPR"),
                             ("2024-06-03", "VGPR"), ("2024-07-01", "CR")]  # fmt: skip
    confirmed = [(w, r) for w, r, ok in responses_of(ex4().run(), "ex4") if ok]
    assert confirmed[:4] == [("2023-02-06", "PR"), ("2023-03-06", "PR"),
                             ("2023-04-03", "VGPR"), ("2023-05-08", "CR")]  # fmt: skip


def test_worked_example_baselines_and_confirmed_nadirs() -> None:
    summary = all_examples().run().line_summary
    rows = {(p, line): (baseline, nadir) for p, line, baseline, nadir in summary.select(
        "patient_id", "line", "baseline", "nadir").rows()}  # fmt: skip
    assert "involved chain κ, dFLC 1240 mg/L" in rows[("ex3", 1)][0]
    assert rows[("ex3", 1)][1] == "dFLC 2 mg/L"
    assert rows[("ex5", 1)] == (
        "serum M-protein 4.2 g/dL (2023-01-27); urine M-protein 0 mg/24h (2023-01-27)",
        "serum M-protein 0.3 g/dL",
    )
    assert rows[("ex8a", 1)][1] == rows[("ex8b", 1)][1] == "serum M-protein 0.3 g/dL"
    assert rows[("ex1", 1)][1] == "serum M-protein 6 g/dL"
    assert rows[("ex7", 2)][0].startswith("serum M-protein 1.6 g/dL (2023-12-18)")
    assert rows[("ex7", 3)][0].startswith("serum M-protein 1.5 g/dL (2024-08-23)")
